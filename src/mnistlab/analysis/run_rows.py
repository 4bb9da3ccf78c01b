"""What one run folder says about its run (status, metrics, overrides), read without torch."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mnistlab.analysis.predictions import SplitPredictions, read_predictions
from mnistlab.objectives import lower_is_better


@dataclass
class RunRow:
    path: Path
    overrides: list[str]
    status: str
    reason: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    _predictions: dict[str, SplitPredictions] | None = field(
        default=None, repr=False, compare=False
    )

    def predictions(self) -> dict[str, SplitPredictions]:
        """The run's per-example results by split, read once ({} for a run without them)."""
        if self._predictions is None:
            self._predictions = read_predictions(self.path)
        return self._predictions

    @property
    def ok(self) -> bool:
        return self.status == "completed" and bool(self.metrics)

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
    """What one run folder says about the run: its status, metrics and overrides."""
    status_file, metrics_file = run_dir / "status.json", run_dir / "metrics.json"
    status = json.loads(status_file.read_text()) if status_file.is_file() else {}
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    state = status.get("status", "completed" if metrics else "unknown")
    overrides = _overrides(run_dir, status)
    return RunRow(run_dir, overrides, state, status.get("reason", ""), metrics, label)


def collect_runs(folder: Path) -> list[RunRow]:
    """Every run under `folder`: one with a status.json or a metrics.json."""
    folder = Path(folder)
    dirs = {p.parent for name in ("status.json", "metrics.json") for p in folder.rglob(name)}
    rows = [read_run(run_dir) for run_dir in sorted(dirs)]
    # Label each run by what sets it apart: the overrides not shared by every run.
    common = set.intersection(*(set(r.overrides) for r in rows)) if rows else set()
    for row in rows:
        own = [o for o in row.overrides if o not in common]
        row.label = " ".join(own) or str(row.path.relative_to(folder)) or row.path.name
    return rows
