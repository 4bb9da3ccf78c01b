"""Learning-rate schedules that need the run's length, and the length itself.

A scheduler config may name, under `length_arg`, the argument that receives how many times the
schedule steps in this run: the optimizer steps (`interval: step`) or the epochs
(`interval: epoch`), divided by its `frequency`. One-cycle and cosine-with-warm-up use it, so
their shape follows `trainer.max_epochs`, `trainer.max_steps` and batch limits by themselves.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

from mnistlab.checks import fraction
from mnistlab.errors import ConfigError

# Keys of a scheduler config that are ours, not Lightning's scheduler settings.
OWN_KEYS = ("scheduler", "length_arg")


def run_length(trainer: pl.Trainer, interval: str, frequency: int) -> int:
    """How many times a schedule stepping every `frequency` `interval`s steps in this run."""
    if interval == "epoch":
        total = trainer.max_epochs
    else:
        total = trainer.estimated_stepping_batches  # Lightning's count: limits and max_steps too
    if total is None or total < 0 or not math.isfinite(total):
        raise ConfigError(
            f"This schedule spreads over the run's length, but the run has no end "
            f"(trainer.max_epochs={trainer.max_epochs}, trainer.max_steps={trainer.max_steps}): "
            "give trainer.max_epochs or trainer.max_steps."
        )
    return max(1, int(total) // frequency)


def build_scheduler(
    config: dict[str, Any], optimizer: torch.optim.Optimizer, trainer: Callable[[], pl.Trainer]
) -> dict[str, Any]:
    """Lightning's scheduler dictionary from a scheduler config (its `scheduler` a partial);
    `trainer()` is asked for the run's length only by a schedule that needs it."""
    settings = {k: v for k, v in config.items() if k not in OWN_KEYS}
    factory: Callable[..., LRScheduler] = config["scheduler"]
    length = {}
    if config.get("length_arg"):
        interval, frequency = settings.get("interval", "epoch"), settings.get("frequency", 1)
        steps = run_length(trainer(), interval, frequency)
        length = {config["length_arg"]: steps}
    return {"scheduler": factory(optimizer=optimizer, **length), **settings}


def warmup_cosine(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    warmup: float = 0.05,
    final: float = 0.0,
) -> LambdaLR:
    """The rate rises linearly to the optimizer's over the first `warmup` of the run's steps,
    then follows half a cosine down to `final` times it at the last step: a new rate each step."""
    warmup = fraction("scheduler.scheduler.warmup", warmup, "the share of the run spent warming up")
    final = fraction("scheduler.scheduler.final", final, "the last rate, as a share of the peak")
    warm = max(1, round(warmup * total_steps)) if warmup > 0 else 0

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = min(1.0, (step - warm + 1) / max(1, total_steps - warm))
        return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)
