"""RMSprop exactly as the lab's Keras computes it."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch


class KerasRMSprop(torch.optim.Optimizer):
    """RMSprop with Keras' update, where epsilon sits inside the square root.

    Keras (TensorFlow's ApplyRMSProp): ms = rho*ms + (1-rho)*g^2, w -= lr*g / sqrt(ms + eps).
    PyTorch's torch.optim.RMSprop divides by sqrt(ms) + eps instead, and defaults to lr 1e-2,
    alpha 0.99; with Keras' eps of 1e-7 the two differ wherever gradients are tiny.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict],
        lr: float = 1e-3,
        rho: float = 0.9,
        eps: float = 1e-7,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        if lr <= 0:
            raise ValueError(f"lr must be positive, got {lr}")
        defaults = {"lr": lr, "rho": rho, "eps": eps, "momentum": momentum, "centered": centered}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            states = [self.state[p] for p in params]
            for p, state in zip(params, states, strict=True):
                if not state:
                    state["ms"] = torch.zeros_like(p)
                    if group["momentum"] > 0:
                        state["mom"] = torch.zeros_like(p)
                    if group["centered"]:
                        state["mg"] = torch.zeros_like(p)
            rho = group["rho"]
            ms = [s["ms"] for s in states]
            torch._foreach_mul_(ms, rho)
            torch._foreach_addcmul_(ms, grads, grads, value=1 - rho)
            if group["centered"]:
                mg = [s["mg"] for s in states]
                torch._foreach_mul_(mg, rho)
                torch._foreach_add_(mg, grads, alpha=1 - rho)
                denom = torch._foreach_addcmul(ms, mg, mg, value=-1)
                torch._foreach_add_(denom, group["eps"])
            else:
                denom = torch._foreach_add(ms, group["eps"])
            torch._foreach_sqrt_(denom)
            if group["momentum"] > 0:
                mom = [s["mom"] for s in states]
                torch._foreach_mul_(mom, group["momentum"])
                torch._foreach_addcdiv_(mom, grads, denom, value=group["lr"])
                torch._foreach_sub_(params, mom)
            else:
                torch._foreach_addcdiv_(params, grads, denom, value=-group["lr"])
        return loss
