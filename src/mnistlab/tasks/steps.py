"""How many minibatches one Lightning step trains on: several only where nobody can tell.

A Lightning step that trains on a group of minibatches (one optimizer step each) gives the same
updates as one minibatch per step, and pays Lightning's per-step cost once per group: on a
small MLP that cost is a third of the training time. But Lightning counts some settings in its
own steps (validation and checkpoint intervals, batch limits, accumulation, clipping,
schedulers, logging callbacks). Wherever one of those is in play, the run uses Lightning's own
loop, one minibatch per step, and says so.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint, Timer

from mnistlab.callbacks.interrupt import InterruptGuard
from mnistlab.callbacks.progress import MinibatchProgressBar
from mnistlab.callbacks.recorder import RunRecorder

# Callbacks that act per epoch, on time, or count minibatches as the project does.
GROUP_SAFE_CALLBACKS = (
    MinibatchProgressBar, RunRecorder, InterruptGuard, ModelCheckpoint, EarlyStopping, Timer,
)  # fmt: skip
STEP_TRIGGERS = ("every_n_train_steps", "train_time_interval")


def lightning_step_settings(
    trainer: pl.Trainer, scheduler: Any, callbacks_cfg: dict[str, Any]
) -> list[str]:
    """The settings in play that Lightning counts in its own steps, in words."""
    found = []
    if trainer.world_size > 1:
        found.append(f"distributed training ({trainer.world_size} processes)")
    for name, default in (
        ("val_check_interval", 1.0),
        ("limit_train_batches", 1.0),
        ("accumulate_grad_batches", 1),
        ("overfit_batches", 0.0),
    ):
        value = getattr(trainer, name)
        if value != default:
            found.append(f"trainer.{name}={value}")
    if trainer.gradient_clip_val:
        found.append(f"trainer.gradient_clip_val={trainer.gradient_clip_val}")
    if trainer.min_steps not in (None, -1):
        found.append(f"trainer.min_steps={trainer.min_steps}")
    if trainer.fast_dev_run:
        found.append(f"trainer.fast_dev_run={trainer.fast_dev_run}")
    if scheduler:
        found.append("a learning-rate scheduler (Lightning steps it)")
    for name, callback in (callbacks_cfg or {}).items():
        for key in STEP_TRIGGERS:
            if callback and callback.get(key):
                found.append(f"callbacks.{name}.{key}={callback[key]}")
    for callback in trainer.callbacks:
        if not isinstance(callback, GROUP_SAFE_CALLBACKS):
            found.append(f"the {type(callback).__name__} callback")
    return found


def minibatches_per_step(requested: int, settings: list[str]) -> tuple[int, str]:
    """`requested` when no setting counts Lightning steps; else 1, with a sentence saying why."""
    if requested == 1 or not settings:
        return requested, ""
    return 1, (
        f"One minibatch per Lightning step (Lightning's own loop), because {', '.join(settings)} "
        f"count(s) Lightning's steps; otherwise {requested} per step give the same updates faster."
    )
