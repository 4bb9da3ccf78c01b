"""Stopping cleanly on Ctrl-C or SIGTERM: a checkpoint to resume from, and the command that does it."""

from __future__ import annotations

import signal
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.utilities.exceptions import SIGTERMException

from mnistlab.checkpoints import read_checkpoint, saved_at
from mnistlab.errors import Interrupted, UserError


class InterruptGuard(pl.Callback):
    """Keep a checkpoint from the start of training and, on Ctrl-C or SIGTERM, say how to resume.

    Resuming continues from the checkpoint's optimizer step: the batch order and the random
    state are stored with it, so the result equals an uninterrupted run's.
    """

    def __init__(self, command: str) -> None:
        self.command = command
        self.interruption: Interrupted | None = None

    def _last_path(self, trainer: pl.Trainer) -> Path | None:
        callback = trainer.checkpoint_callback
        if not isinstance(callback, pl.callbacks.ModelCheckpoint) or callback.dirpath is None:
            return None
        return Path(callback.dirpath) / f"{callback.CHECKPOINT_NAME_LAST}{callback.FILE_EXTENSION}"

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # So that even a run stopped in its first epoch leaves a checkpoint to resume from.
        path = self._last_path(trainer)
        if path is not None and not path.exists():
            trainer.save_checkpoint(path, weights_only=False)

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        if isinstance(exception, KeyboardInterrupt):
            how, code = "Ctrl-C", 128 + signal.SIGINT
        elif isinstance(exception, SIGTERMException):
            how, code = "SIGTERM", 128 + signal.SIGTERM
        else:
            return
        path = self._last_path(trainer)
        # Describe what the checkpoint holds, not the loop: it may be a few steps behind.
        try:
            held = saved_at(read_checkpoint(path)) if path and path.is_file() else "nothing yet"
        except UserError:  # never hide the interruption behind a second error
            held = "(unreadable)"
        resume = f"{self.command} ckpt_path={path}"
        self.interruption = Interrupted(
            f"Interrupted by {how} during epoch {trainer.current_epoch + 1} of {trainer.max_epochs}. "
            f"The checkpoint {path} holds the model {held}. Resume with: {resume}",
            exit_code=code,
            resume=resume,
            checkpoint=str(path),
        )
