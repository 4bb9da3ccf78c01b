"""The models the page offers: every completed training run under the log folder, named for a person."""

from __future__ import annotations

from pathlib import Path

from mnistlab.runs.identity import newest_each
from mnistlab.serve.predictor import Predictor
from mnistlab.terminal import with_interval
from mnistlab.training.checkpoints import last_checkpoint, runs_with_checkpoints


def run_choices(log_dir: str | Path, first: Predictor) -> list[tuple[str, str]]:
    """(label, checkpoint) for each completed run, newest first: 'CNN on MNIST · test 99.21% (99.02-99.37) ·
    runs/2026-11-29_10-02-11_4242'; a run found in several folders (a copy, a rerun of the same
    settings) once, its newest. The first model leads when it is not one of them (a best.ckpt,
    a checkpoint kept elsewhere)."""
    train = Path(log_dir, "train")
    choices = []
    for run in newest_each(runs_with_checkpoints(log_dir)).values():
        checkpoint, status = last_checkpoint(run.path), run.status
        acc = status.get("test_acc")
        interval = status.get("test_acc_interval")  # runs before intervals have none
        score = f"test {with_interval(acc, interval)}" if isinstance(acc, float) else "not tested"
        folder = checkpoint.parent.parent.relative_to(train)
        title = status.get("title") or "a run"
        choices.append((f"{title} · {score} · {folder}", str(checkpoint)))
    if all(Path(path).resolve() != first.path.resolve() for _, path in choices):
        choices.insert(0, (f"{first.title} · {first.path}", str(first.path)))
    return choices
