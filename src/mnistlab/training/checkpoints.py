"""Checkpoints written by this project's training: finding one, reading it, and what it holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mnistlab.errors import ConfigError
from mnistlab.launch import slurm
from mnistlab.runs.describe import describe
from mnistlab.runs.folders import Completed, completed_runs
from mnistlab.runs.ranks import is_rank_zero
from mnistlab.terminal import console, percent

HINT = "Checkpoints are written to logs/train/runs/<time>/checkpoints/ (best.ckpt, last.ckpt)."
RECORDER_KEY = "RunRecorder"  # where the run's history sits among the checkpoint's callback states


def last_checkpoint(run_dir: Path) -> Path:
    """Where a training run keeps its newest model (conf/callbacks/default.yaml's last.ckpt)."""
    return run_dir / "checkpoints" / "last.ckpt"


def runs_with_checkpoints(log_dir: str | Path) -> list[Completed]:
    """Every completed training run under `log_dir` that kept its last.ckpt, newest first."""
    return [run for run in completed_runs(log_dir) if last_checkpoint(run.path).is_file()]


def newest_completed_run(log_dir: str | Path) -> tuple[Path, dict[str, Any]]:
    """The newest training run under `log_dir` whose status says it completed: its last.ckpt
    and its status."""
    found = runs_with_checkpoints(log_dir)
    if not found:
        raise ConfigError(
            f"ckpt_path=last found no completed training run under {Path(log_dir) / 'train'} "
            "(a run's status.json says whether it completed; failed, interrupted and running runs "
            f"are never picked). Give a checkpoint's path instead. {HINT}"
        )
    return last_checkpoint(found[0].path), found[0].status


def resolve_ckpt_path(value: str, log_dir: str | Path) -> tuple[Path, str]:
    """The checkpoint `value` names (`last`: the newest completed run's last.ckpt), and a line saying which."""
    if value != "last":
        return Path(value), ""
    checkpoint, status = newest_completed_run(log_dir)
    what = status.get("title", "")
    acc = status.get("test_acc")
    score = f", test accuracy {percent(acc)}" if isinstance(acc, float) else ""
    return checkpoint, f"ckpt_path=last: {checkpoint} ({what}{score}), the newest completed run."


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
    # Older checkpoints name minibatches_per_step as a data setting (it never changed the model).
    stored["config"].get("data", {}).pop("steps_per_execution", None)
    return checkpoint


def history(checkpoint: dict[str, Any]) -> list[dict[str, float]]:
    """The per-epoch rows recorded up to the checkpoint."""
    return checkpoint.get("callbacks", {}).get(RECORDER_KEY, {}).get("history", [])


def saved_at(checkpoint: dict[str, Any]) -> str:
    """Where training was when the checkpoint was written, in words."""
    done = sum(1 for row in history(checkpoint) if "train/loss" in row)
    return f"at optimizer step {checkpoint.get('global_step', 0):,} ({done} epoch(s) completed)"


def checkpoint_to_resume(
    ckpt_path: str | None, log_dir: str | Path, config: dict[str, Any], out_dir: Path
) -> Path | None:
    """The checkpoint `ckpt_path` names, checked to hold this run's model and data; in a job
    SLURM requeued (time limit, preemption), the one its earlier attempt saved in this run's
    folder (a requeued job reruns in the same folder); else None."""
    if ckpt_path:
        path, chosen = resolve_ckpt_path(str(ckpt_path), log_dir)
    elif slurm.restarts() and last_checkpoint(out_dir).is_file():
        path, chosen = last_checkpoint(out_dir), ""
    else:
        return None
    checkpoint = read_checkpoint(path)
    if not ckpt_path:
        chosen = (
            f"SLURM requeued job {slurm.job_id()} (restart {slurm.restarts()}): resuming from "
            f"{path}, {saved_at(checkpoint)}."
        )
    if chosen and is_rank_zero():
        console.print(chosen)
    check_resumable(checkpoint, path, config)
    return path


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
            f"ckpt_path={path} was saved for {describe(saved, detailed=True)}, but this run is "
            f"{describe(config, detailed=True)}. Resume with the same model and data (the "
            "overrides in that run's .hydra/overrides.yaml), or start afresh without ckpt_path."
        )
