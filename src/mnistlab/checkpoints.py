"""Checkpoints: finding and checking one, and stopping cleanly on Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.exceptions import SIGTERMException

from mnistlab.errors import ConfigError, Interrupted

HINT = "Checkpoints are written to logs/train/runs/<time>/checkpoints/ (best.ckpt, last.ckpt)."


def resolve_ckpt_path(value: str, log_dir: str | Path) -> Path:
    """`last` means the newest last.ckpt of any training run under `log_dir`; else a path."""
    if value != "last":
        return Path(value)
    found = sorted(Path(log_dir, "train").rglob("last.ckpt"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise ConfigError(
            f"ckpt_path=last found no last.ckpt under {Path(log_dir) / 'train'}. {HINT}"
        )
    return found[-1]


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint written by this project's training, or a clear error saying what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"ckpt_path={path} does not exist. {HINT}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ConfigError(
            f"ckpt_path={path} is not a checkpoint that can be read ({type(e).__name__}). {HINT}"
        ) from None
    stored = checkpoint.get("hyper_parameters", {}) if isinstance(checkpoint, dict) else {}
    if not stored.get("config") or "state_dict" not in checkpoint:
        raise ConfigError(
            f"ckpt_path={path} was not written by this project's training (it lacks the run's "
            f"configuration). {HINT}"
        )
    return checkpoint


def _what(config: dict[str, Any]) -> str:
    data, net = config["data"], dict(config["model"]["net"])
    target = net.pop("_target_", "?").rsplit(".", 1)[-1]
    hog = f" HOG {data['hog']}" if data.get("hog") else ""
    return f"{target} {net} on {data['dataset']}{hog}"


def check_resumable(checkpoint: dict[str, Any], path: Path, config: dict[str, Any]) -> None:
    """Refuse to resume a checkpoint saved for another model or dataset than this run's."""
    saved = checkpoint["hyper_parameters"]["config"]
    same = (
        saved["data"]["dataset"] == config["data"]["dataset"]
        and saved["data"].get("hog") == config["data"].get("hog")
        and saved["model"]["net"] == config["model"]["net"]
    )
    if not same:
        raise ConfigError(
            f"ckpt_path={path} was saved for {_what(saved)}, but this run is {_what(config)}. "
            "Resume with the same model and data (the overrides in that run's "
            ".hydra/overrides.yaml), or start afresh without ckpt_path."
        )


class InterruptGuard(pl.Callback):
    """Keep a checkpoint at every epoch boundary and, on Ctrl-C or SIGTERM, say how to resume.

    Resuming restarts the interrupted epoch from its first batch: batch order and random state
    depend only on the seed and the epoch, so the result equals an uninterrupted run's.
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
            trainer.save_checkpoint(path)
            # ModelCheckpoint then overwrites this file instead of writing last-v1.ckpt beside it.
            trainer.checkpoint_callback.last_model_path = str(path)

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
        # Count what the checkpoint holds, not the loop: the two differ for the instant between
        # an epoch's checkpoint and the loop counting that epoch done.
        saved = (
            torch.load(path, map_location="cpu", weights_only=True)
            if path and path.is_file()
            else {}
        )
        done = len([row for row in saved.get("history", []) if "val/loss" in row])
        resume = f"{self.command} ckpt_path={path}"
        self.interruption = Interrupted(
            f"Interrupted by {how} during epoch {trainer.current_epoch + 1} of {trainer.max_epochs}. "
            f"The model after {done} completed epoch(s) is saved in {path}. Resume with: {resume}",
            exit_code=code,
            resume=resume,
            checkpoint=str(path),
            epochs_completed=done,
        )
