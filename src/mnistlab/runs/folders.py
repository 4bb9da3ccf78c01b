"""Where runs are: the files a run folder holds, its status (written and read here), and the
run folders under a folder.

Every place that looks for runs asks here: the lab (runs to reuse), ckpt_path=last and the
demo's menu (runs with a checkpoint), the reports and compare.py (every run of a folder).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATUS, METRICS, CONFIG = "status.json", "metrics.json", "config.yaml"
PRUNED = "pruned"  # a search's trial stopped early by its pruner: neither failed nor ranked
# What the reports read in a run's folder: a completed run without one of them is not reused.
REPORTED = (
    METRICS, CONFIG, "params.md", "confusion_matrix.png", "mistakes.png",
    "predictions.npz",  # the per-example results every comparison is computed from
)  # fmt: skip


def run_dirs(folder: Path) -> list[Path]:
    """Every run folder under `folder` (itself included), sorted: one holding a status.json
    (written from a job's start) or a metrics.json (runs older than status.json)."""
    folder = Path(folder)
    return sorted({p.parent for name in (STATUS, METRICS) for p in folder.rglob(name)})


def write_status(
    out_dir: Path, status: str, this_job: bool = True, trains: bool = True, **details: Any
) -> None:
    """status.json: running, completed, pruned or failed (with the reason) or interrupted (with the
    resume command); written by the run's own job in SLURM (`this_job`), with the job, its restarts and
    how each earlier attempt ended. Written by the first process of a distributed run only;
    a job that `trains` nothing (a reused run) writes the same record from any process, without
    loading Lightning to ask which it is."""
    from mnistlab.launch.slurm import job_facts
    from mnistlab.runs.ranks import is_rank_zero

    if trains and not is_rank_zero():
        return
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        facts = job_facts() if this_job else {}
        if facts.get("slurm_restarts"):
            facts["attempts"] = _earlier_attempts(out_dir, facts["slurm_restarts"])
        record = {"status": status, **details, **facts, f"{status}_unix": round(time.time(), 3)}
        (out_dir / STATUS).write_text(json.dumps(record, indent=2) + "\n")
    except OSError as e:  # a full disk must not hide the reason the job stopped
        print(f"(Could not write {out_dir / STATUS}: {e.strerror}.)", file=sys.stderr)


def _earlier_attempts(out_dir: Path, restarts: int) -> list[dict[str, Any]]:
    """How the earlier attempts of this requeued job ended (each its status record): those
    recorded before, and the last status an earlier attempt wrote."""
    previous = read_status(out_dir)
    if previous is None:
        return []
    attempts = previous.pop("attempts", [])
    if previous.get("slurm_restarts", 0) < restarts:  # written by an earlier attempt
        attempts.append(previous)
    return attempts


def run_name(run_dir: Path) -> str:
    """A run's short name: its folder's, or for a sweep's job (numbered), its sweep's and number."""
    run_dir = Path(run_dir)
    return f"{run_dir.parent.name}/{run_dir.name}" if run_dir.name.isdigit() else run_dir.name


def read_status(run_dir: Path) -> dict[str, Any] | None:
    """A run folder's status.json; None where there is none, or one being written or damaged."""
    try:
        status = json.loads((Path(run_dir) / STATUS).read_text())
    except (OSError, ValueError):
        return None
    return status if isinstance(status, dict) else None


@dataclass
class Completed:
    """A training run whose status says it completed."""

    path: Path
    status: dict[str, Any]  # its status.json: title, test accuracy, completed_unix


def completed_runs(log_dir: str | Path) -> list[Completed]:
    """Every training run under `log_dir`/train whose status says it completed, newest first."""
    return completed_under(Path(log_dir, "train"))


def completed_under(folder: str | Path) -> list[Completed]:
    """Every run under `folder` whose status says it completed, newest first (runs that
    completed in the same second in a fixed order)."""
    found = []
    for run_dir in run_dirs(Path(folder)):
        status = read_status(run_dir)
        if status is not None and status.get("status") == "completed":
            status.setdefault("completed_unix", (run_dir / STATUS).stat().st_mtime)
            found.append(Completed(run_dir, status))
    return sorted(found, key=lambda r: (r.status["completed_unix"], str(r.path)), reverse=True)
