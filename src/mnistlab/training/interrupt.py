"""Stopping cleanly on Ctrl-C, SIGTERM or SLURM's warning: a checkpoint to resume from, and the
command that does it."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.utilities.exceptions import SIGTERMException

from mnistlab.errors import Interrupted, UserError
from mnistlab.launch.slurm import job_id
from mnistlab.training.checkpoints import read_checkpoint, saved_at

# The signal SLURM sends before a job's time limit: the one submitit asks sbatch for.
SLURM_WARNING = getattr(signal, "SIGUSR2", None)


class InterruptGuard(pl.Callback):
    """Keep a checkpoint from the start of training and, when training is stopped, say how to
    resume. Resuming continues from the checkpoint's optimizer step: the batch order and the
    random state are stored with it, so the result equals an uninterrupted run's.

    - Ctrl-C stops wherever it lands: the checkpoint is the last one written (each validation's).
    - SIGTERM (scancel, a requeue, a preemption) is Lightning's: it stops when the optimizer step
      under way ends, and the checkpoint is written there.
    - SLURM's warning before a time limit is submitit's (hydra/launcher=slurm): its handler
      resubmits the job and exits at once, wherever training is. While training runs, the
      warning waits for the step under way to end; the checkpoint is written, then submitit's
      handler runs. The requeued job resumes from it (mnistlab.tasks.train).
    """

    def __init__(self, command: str) -> None:
        self.command = command
        self.interruption: Interrupted | None = None
        self.warned = False  # SLURM's warning arrived during training
        self.requeued = False  # and its handler (submitit's) resubmitted the job
        self._held: Any = None  # the warning's handler while it waits for a step's end

    def _last_path(self, trainer: pl.Trainer) -> Path | None:
        callback = trainer.checkpoint_callback
        if not isinstance(callback, pl.callbacks.ModelCheckpoint) or callback.dirpath is None:
            return None
        return Path(callback.dirpath) / f"{callback.CHECKPOINT_NAME_LAST}{callback.FILE_EXTENSION}"

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # So that even a run stopped in its first epoch leaves a checkpoint to resume from.
        path = self._last_path(trainer)
        # Every process saves or none (the save waits for all): rank zero's file decides.
        if path is not None and not trainer.strategy.broadcast(path.exists()):
            trainer.save_checkpoint(path, weights_only=False)
        # One process: several would each save at the step their signal reached (a collective
        # save needs them all at one step); they keep submitit's handler as it is.
        if SLURM_WARNING is not None and job_id() is not None and trainer.world_size == 1:
            self._held = signal.signal(SLURM_WARNING, self._note_warning)

    def _note_warning(self, signum: int, frame: Any) -> None:
        self.warned = True

    def _release(self) -> Any:
        """Give the warning its handler back; return that handler (None if none was held)."""
        held, self._held = self._held, None
        if held is not None:
            signal.signal(SLURM_WARNING, held)
        return held

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if self.warned:
            self._stop_for_requeue(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.warned:
            self._stop_for_requeue(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        held = self._release()  # training is over: a warning now needs no step to end
        self.requeued = self.warned and callable(held)
        if self.requeued:
            held(SLURM_WARNING, None)

    def _stop_for_requeue(self, trainer: pl.Trainer) -> None:
        """At a step's end: write the checkpoint, then let the warning's handler act (submitit
        resubmits the job and exits); with none, stop as SIGTERM does."""
        path = self._last_path(trainer)
        if path is not None:
            trainer.save_checkpoint(path, weights_only=False)
        held = self._release()
        self.requeued = callable(held)
        if self.requeued:
            held(SLURM_WARNING, None)
        raise SIGTERMException

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self._release()
        if isinstance(exception, KeyboardInterrupt):
            how, code = "Ctrl-C", 128 + signal.SIGINT
        elif self.warned and isinstance(exception, SystemExit):
            how, code = "SLURM's warning before the job's time limit", 128 + SLURM_WARNING
        elif isinstance(exception, SIGTERMException):
            how, code = "SIGTERM", 128 + signal.SIGTERM
            path = self._last_path(trainer)
            if path is not None and trainer.training:  # Lightning stopped at a step's end
                trainer.save_checkpoint(path, weights_only=False)
        else:
            return
        path = self._last_path(trainer)
        # Describe what the checkpoint holds, not the loop: it may be a few steps behind.
        try:
            held = saved_at(read_checkpoint(path)) if path and path.is_file() else "nothing yet"
        except UserError:  # never hide the interruption behind a second error
            held = "(unreadable)"
        resume = f"{self.command} ckpt_path={path}"
        requeue = (
            " SLURM requeues the job, which resumes from it." if self.requeued
            else " If SLURM requeues the job, it resumes from it." if job_id() else ""
        )  # fmt: skip
        self.interruption = Interrupted(
            f"Interrupted by {how} during epoch {trainer.current_epoch + 1} of {trainer.max_epochs}. "
            f"The checkpoint {path} holds the model {held}.{requeue} Resume with: {resume}",
            exit_code=code,
            resume=resume,
            checkpoint=str(path),
        )
