"""What one run folder says about its run (status, metrics, overrides), read without torch."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from mnistlab.errors import UserError
from mnistlab.reports.predictions import SplitPredictions, read_predictions
from mnistlab.runs.cache import pointed_run
from mnistlab.runs.folders import METRICS, PRUNED, read_status, run_dirs
from mnistlab.runs.identity import read_config, result_key, variant_key
from mnistlab.runs.objectives import lower_is_better


@dataclass
class RunRow:
    path: Path
    overrides: list[str]
    status: str
    reason: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    finished: float = 0.0  # when it completed (seconds since the epoch; 0 when not known)
    _predictions: dict[str, SplitPredictions] | None = field(
        default=None, repr=False, compare=False
    )
    _config: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    def predictions(self) -> dict[str, SplitPredictions]:
        """The run's per-example results by split, read once ({} for a run without them)."""
        if self._predictions is None:
            self._predictions = read_predictions(self.path)
        return self._predictions

    @property
    def config(self) -> dict[str, Any]:
        """The run's resolved config (config.yaml), read once ({} for a folder without one)."""
        if self._config is None:
            self._config = read_config(self.path) or {}
        return self._config

    @property
    def identity(self) -> str | None:
        """What makes it this run (mnistlab.runs.identity); None without a config."""
        return result_key(self.config) if self.config else None

    @property
    def variant(self) -> str | None:
        """What its replicates share: the identity less the seed; None without a config."""
        return variant_key(self.config) if self.config else None

    @property
    def validated_on_test(self) -> bool:
        """Whether its validation set was the test set (data.val_on_test=true)."""
        return bool(self.config.get("data", {}).get("val_on_test"))

    @property
    def ok(self) -> bool:
        return self.status == "completed" and bool(self.metrics)

    @property
    def pruned(self) -> bool:
        """A search's trial its pruner stopped: neither failed nor ranked."""
        return self.status == PRUNED

    @property
    def test_acc(self) -> float:
        return self.metrics["test"]["acc"] if self.ok else float("-inf")

    @property
    def objective(self) -> tuple[str, float | None]:
        """The validation metric the run returned to Hydra (older runs: the best validation loss)."""
        found = self.metrics.get("run", {}).get("objective") or {}
        if "metric" in found:
            return found["metric"], found.get("value")
        return "val/loss", self.metrics.get("best_val_loss")

    @property
    def rank(self) -> float:
        """Larger is better: validation accuracy as is, a validation loss negated."""
        name, value = self.objective
        if not self.ok or value is None:
            return float("-inf")
        return -value if lower_is_better(name) else value


def _overrides(run_dir: Path, status: dict) -> list[str]:
    """The run's overrides, as Hydra wrote them; for a job that died before Hydra could, as its
    launcher recorded them in status.json."""
    path = run_dir / ".hydra" / "overrides.yaml"
    if path.is_file():
        return list(yaml.safe_load(path.read_text()) or [])
    return list(status.get("overrides", []))


def read_run(run_dir: Path, label: str = "") -> RunRow:
    """What one run folder says about the run: its status, metrics and overrides. A sweep's job
    that reused a completed run (mnistlab.runs.cache) reads as that run, with the job's overrides."""
    status = read_status(run_dir) or {}
    target = pointed_run(run_dir, status)
    if target is not None:
        row = read_run(target, label)
        row.overrides = _overrides(run_dir, status)
        return row
    metrics_file = run_dir / METRICS
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    state = status.get("status", "completed" if metrics else "unknown")
    overrides = _overrides(run_dir, status)
    finished = float(status.get("completed_unix") or 0.0)
    return RunRow(run_dir, overrides, state, status.get("reason", ""), metrics, label, finished)


def collect_runs(folder: Path) -> list[RunRow]:
    """Every run under `folder`: one with a status.json or a metrics.json."""
    folder = Path(folder)
    found = {}  # a run and the jobs that reused it are one row
    for run_dir in run_dirs(folder):
        row = read_run(run_dir)
        found.setdefault(row.path, row)
    rows = list(found.values())
    # Label each run by what sets it apart: the overrides not shared by every run.
    common = set.intersection(*(set(r.overrides) for r in rows)) if rows else set()
    for row in rows:
        own = [o for o in row.overrides if o not in common]
        row.label = " ".join(own) or os.path.relpath(row.path, folder)
    return rows


@dataclass
class Distinct:
    """Runs counted once: copies and reruns of one run (the same identity) are one run."""

    rows: list[RunRow]
    notes: list[str]  # a sentence for each run found in several folders


def _same_results(a: RunRow, b: RunRow) -> bool:
    """Whether two completed runs found the same: every example predicted the same, or (runs
    without per-example results) the same test metrics."""
    pa, pb = a.predictions(), b.predictions()
    if pa and pb and pa.keys() == pb.keys():
        return all(np.array_equal(pa[s].predicted, pb[s].predicted) for s in pa)
    keys = ("acc", "loss", "f1_macro")
    return [a.metrics["test"].get(k) for k in keys] == [b.metrics["test"].get(k) for k in keys]


def _names(rows: list[RunRow], folder: Path | None) -> str:
    def name(row: RunRow) -> str:
        if folder is not None and row.path.is_relative_to(folder):
            return str(row.path.relative_to(folder)) or row.path.name
        return str(row.path)

    return ", ".join(name(r) for r in rows)


def count_once(rows: list[RunRow], folder: Path | None = None) -> Distinct:
    """`rows` with each run once: of several completed folders with one identity, the newest
    (said in a note; when they found different results, named as such, never averaged), and no
    failed or unfinished attempt of a run that completed elsewhere. Folder names in the notes
    are relative to `folder`."""
    groups: dict[str, list[RunRow]] = {}
    for row in rows:
        groups.setdefault(row.identity or f"folder {row.path}", []).append(row)
    kept, copies, notes = [], [], []
    for group in groups.values():
        done = sorted((r for r in group if r.ok), key=lambda r: (r.finished, str(r.path)))
        if not done:
            kept += group
            continue
        newest, label = done[-1], f"`{done[-1].label}`"
        kept.append(newest)
        if len(done) > 1 and all(_same_results(newest, r) for r in done[:-1]):
            copies.append(f"{label} ({_names(done, folder)})")
        elif len(done) > 1:
            scores = "; ".join(f"{_names([r], folder)}: test {100 * r.test_acc:.2f}%" for r in done)
            notes.append(
                f"{label}: {len(done)} folders with the same settings but different results "
                f"({scores}), so not averaged: the newest, {_names([newest], folder)}, is used "
                "(another machine or thread count can change the order of float operations)."
            )
        unfinished = [r for r in group if not r.ok]
        if unfinished:
            notes.append(
                f"{label}: {len(unfinished)} failed or unfinished attempt(s) "
                f"({_names(unfinished, folder)}) left out, the run completed in "
                f"{_names([newest], folder)}."
            )
    if copies:
        runs = "1 run" if len(copies) == 1 else f"{len(copies)} runs"
        notes.insert(
            0,
            f"Counted once: {runs} found in several folders with the same settings and results "
            f"(copies or reruns), {'; '.join(copies)}.",
        )
    order = {id(r): i for i, r in enumerate(rows)}
    return Distinct(sorted(kept, key=lambda r: order[id(r)]), notes)


def run_folders(paths: list[Path]) -> list[Path]:
    """Run folders (a folder holding metrics.json), each given or found under a given folder; a
    sweep's job that reused a run stands for that run's folder (found once under a folder)."""
    found: list[Path] = []
    for path in paths:
        if not path.is_dir():
            raise UserError(f"{path} is neither a run's folder nor a folder of runs.")
        under: dict[Path, None] = {}
        for run_dir in [path] if (path / METRICS).is_file() else run_dirs(path):
            run_dir = pointed_run(run_dir, read_status(run_dir) or {}) or run_dir
            if (run_dir / METRICS).is_file():
                under.setdefault(run_dir)
        found += list(under)
    return found
