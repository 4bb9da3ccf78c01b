"""The lab's runs: reuse the completed ones under logs/, run the others as `src/train.py` does.

Each missing run is the user's own command in a child process (its bar, its tables, its folder
under logs/train/runs/), with one line of overall progress printed above it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnistlab.errors import Interrupted
from mnistlab.lab.plan import PlannedRun
from mnistlab.lab.slurm_runs import run_on_slurm
from mnistlab.runs import folders
from mnistlab.runs.identity import newest_each
from mnistlab.terminal import console

# What the report reads in a run's folder; a run without one of them is not reused.
NEEDED_FILES = (
    folders.METRICS, folders.CONFIG, "params.md", "confusion_matrix.png", "mistakes.png",
    "predictions.npz",  # the per-example results every comparison is computed from
)  # fmt: skip


def completed_runs(log_dir: Path) -> dict[str, Path]:
    """The newest completed training run under `log_dir`/train for each identity, among those
    holding every file the report reads."""
    usable = [
        run for run in folders.completed_runs(log_dir)
        if all((run.path / name).is_file() for name in NEEDED_FILES)
    ]  # fmt: skip
    return {key: run.path for key, run in newest_each(usable).items()}


def _timing_kind(run: PlannedRun) -> tuple[str, str, bool]:
    """Runs of one kind: the same data, features and type of network."""
    config = run.config
    return (
        config["data"]["dataset"],
        config["model"]["net"]["_target_"],
        bool(config["data"]["hog"]),
    )


def planned_weights(config: dict) -> int | None:
    """The trainable weights of the network `config` describes, built without loading data."""
    from omegaconf import OmegaConf

    from mnistlab.analysis.params import total_parameters
    from mnistlab.data.catalog import DATASETS
    from mnistlab.data.inputs import input_shape
    from mnistlab.models.build import build_net

    shape = input_shape(config["data"].get("hog"))
    classes = len(DATASETS[config["data"]["dataset"]].class_names)
    try:
        return total_parameters(build_net(OmegaConf.create(config["model"]), shape, classes))
    except Exception:  # a run that cannot be built fails on its own, with its reason
        return None


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


@dataclass
class Progress:
    """One line per run: run n of N, time elapsed, and the time left, estimated from the
    finished runs of the same kind, scaled by the square root of the weights (here, a CNN with
    5.9 times the notebook CNN's weights took 2.1 times as long; the square root says 2.4)."""

    todo: list[PlannedRun]
    started: float = field(default_factory=time.monotonic)
    # kind -> seconds per square root of a weight, one value per finished run
    rates: dict[tuple, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sizes = [max(planned_weights(run.config) or 1, 1) ** 0.5 for run in self.todo]

    def finished(self, index: int, seconds: float) -> None:
        self.rates.setdefault(_timing_kind(self.todo[index]), []).append(
            seconds / self.sizes[index]
        )

    def estimate_left(self, index: int) -> str:
        every = [rate for rates in self.rates.values() for rate in rates]
        if not every:
            return "time left: known after the first run"
        left = 0.0
        for run, size in zip(self.todo[index:], self.sizes[index:], strict=True):
            rates = self.rates.get(_timing_kind(run), every)
            left += size * sum(rates) / len(rates)
        return f"about {_clock(left)} left"

    def line(self, index: int, title: str) -> str:
        elapsed = _clock(time.monotonic() - self.started)
        return (
            f"[bold cyan]Lab: run {index + 1} of {len(self.todo)}[/bold cyan] · {title} · "
            f"{elapsed} elapsed · {self.estimate_left(index)}"
        )


def _command(train_script: Path, run: PlannedRun, run_dir: Path) -> list[str]:
    return [
        sys.executable, str(train_script), *run.overrides,
        "hydra.mode=RUN", f"hydra.run.dir='{run_dir}'",
    ]  # fmt: skip


def _run_dir(log_dir: Path, index: int) -> Path:
    """The folder of the lab's run `index`, named when it is started or submitted."""
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    return log_dir / "train" / "runs" / f"{stamp}_lab{os.getpid()}-{index + 1}"


def _launch(command: list[str], run_dir: Path, env: dict[str, str]) -> int:
    child = subprocess.Popen(command, env=env)
    try:
        return child.wait()
    except KeyboardInterrupt:
        # Ctrl-C reached the run too: let it record where it stopped before the lab stops.
        child.wait(timeout=120)
        raise Interrupted(
            f"Interrupted during {run_dir}. The lab's completed runs are kept under logs/train/, "
            "and the same `python src/lab.py` command reuses them.",
            exit_code=130,
        ) from None


def run_missing(
    todo: list[PlannedRun],
    train_script: Path,
    log_dir: Path,
    data_dir: Path,
    slurm: dict[str, Any] | None = None,
) -> tuple[dict[str, Path], dict[str, str]]:
    """Run each planned run in turn here, or all at once as SLURM jobs with the `slurm`
    settings (lab.launcher=slurm); return their folders and, for failed ones, the reason."""
    if not todo:
        return {}, {}
    paths = {
        "MNISTLAB_LOG_DIR": str(log_dir.resolve()),
        "MNISTLAB_DATA_DIR": str(data_dir.resolve()),
    }
    if slurm is not None:
        dirs = [_run_dir(log_dir, index) for index in range(len(todo))]
        commands = [_command(train_script, run, d) for run, d in zip(todo, dirs, strict=True)]
        ended = run_on_slurm(todo, commands, dirs, paths, slurm)
        return {run.key: d for run, d in zip(todo, dirs, strict=True)}, {
            todo[i].key: why if isinstance(why, str) else _failure_reason(dirs[i], why)
            for i, why in ended.items()
        }
    progress = Progress(todo)
    folders: dict[str, Path] = {}
    failures: dict[str, str] = {}
    for index, run in enumerate(todo):
        run_dir = _run_dir(log_dir, index)
        console.print(progress.line(index, run.name))
        began = time.monotonic()
        code = _launch(_command(train_script, run, run_dir), run_dir, {**os.environ, **paths})
        progress.finished(index, time.monotonic() - began)
        folders[run.key] = run_dir
        if code != 0:
            failures[run.key] = _failure_reason(run_dir, code)
    return folders, failures


def _failure_reason(run_dir: Path, code: int) -> str:
    status = folders.read_status(run_dir)
    if status is None:
        return f"src/train.py exited with code {code} before writing its status"
    return status.get("reason") or f"src/train.py exited with code {code}"
