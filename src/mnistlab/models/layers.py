"""Building blocks shared by the models: activations, Keras' initialisation, value checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from mnistlab.errors import ConfigError

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
}


def activation(name: str, key: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ConfigError(
            f"{key}={name!r} is not an activation this project knows: use one of "
            f"{', '.join(ACTIVATIONS)} (the lab uses relu)."
        )
    return ACTIVATIONS[name]()


def sizes(values: Any, key: str, what: str, allow_empty: bool = False) -> list[int]:
    """A list of positive whole numbers from config, or a clear error naming the key."""
    if isinstance(values, int) and not isinstance(values, bool):
        values = [values]
    ok = isinstance(values, Sequence) and not isinstance(values, str)
    items = list(values) if ok else []
    if ok and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in items):
        if items or allow_empty:
            return items
        raise ConfigError(
            f"{key}=[] is empty, but this model needs at least one entry: it lists {what}. "
            f"Give e.g. {key}=[300]."
        )
    raise ConfigError(
        f"{key}={values!r} must be a list of positive whole numbers: it lists {what}. "
        f"Give e.g. {key}=[300] (a value of 0 or below makes no layer)."
    )


def dropout(p: Any, key: str) -> float:
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p < 1:
        raise ConfigError(
            f"{key}={p!r} is outside [0, 1): it is the fraction of units dropped while "
            f"training. Use e.g. {key}=0.5, or {key}=0 for none."
        )
    return float(p)


INITS = ("keras", "torch")


def initialize(net: nn.Module, scheme: str) -> None:
    """Keras' defaults (glorot-uniform weights, zero biases) or PyTorch's own (left as built)."""
    if scheme not in INITS:
        raise ConfigError(
            f"model.init={scheme!r} is not one of {', '.join(INITS)}: 'keras' is the lab's "
            "glorot-uniform weights with zero biases, 'torch' is PyTorch's default."
        )
    if scheme == "torch":
        return
    for module in net.modules():
        if isinstance(module, nn.Linear | nn.Conv2d):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
