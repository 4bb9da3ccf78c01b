"""Variants: runs that differ only in their seed, as one thing to compare.

A variant is one run, or several runs with the same identity less the seed
(mnistlab.runs.identity): replicates. Its accuracy over seeds counts both sources of noise, the
seeds and the examples (mnistlab.reports.seeds). Copies of a run are not replicates: gather runs
with run_rows.count_once first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mnistlab.errors import UserError
from mnistlab.reports.predictions import SplitPredictions
from mnistlab.reports.run_rows import RunRow
from mnistlab.reports.seeds import OverSeeds, accuracy_over_seeds, mean_over_seeds

SEED = "seed="


@dataclass
class Variant:
    """Runs that differ only in their seed."""

    label: str
    runs: list[RunRow] = field(default_factory=list)

    @property
    def seeds(self) -> list[int]:
        return [row.metrics["run"]["seed"] for row in self.runs]

    @property
    def rank(self) -> float:
        """The mean of its runs' validation ranks (larger is better)."""
        return sum(r.rank for r in self.runs) / len(self.runs)

    @property
    def weights(self) -> int:
        return self.runs[0].metrics["run"]["parameters"]

    def accuracies(self, split: str) -> list[float]:
        """Each run's accuracy on `split`."""
        return [r.metrics[split]["acc"] for r in self.runs]

    def mean_accuracy(self, split: str) -> float:
        """Its runs' mean accuracy on `split`."""
        return float(np.mean(self.accuracies(split)))

    def over_seeds(self, split: str) -> OverSeeds | None:
        """The mean accuracy over its seeds on `split`, with its interval (both the seeds and
        the examples counted); None for a single run or runs that did not store `split`. Runs
        older than per-example results: the examples' variance from the accuracies and sizes
        alone, as if the seeds shared every example (the larger of the two possibilities)."""
        if len(self.runs) < 2 or not all(r.metrics.get(split) for r in self.runs):
            return None
        try:
            return accuracy_over_seeds(self.predictions(split))
        except UserError:
            scores = [r.metrics[split] for r in self.runs]
            variance = float(np.mean([s["acc"] * (1 - s["acc"]) / s["size"] for s in scores]))
            return mean_over_seeds(self.accuracies(split), variance, (0.0, 1.0))

    def validation_accuracy(self) -> tuple[float, float] | None:
        """The tested weights' validation accuracy and its standard error: a binomial one for a
        single run; over seeds, the mean's, never below the examples' sampling error (None for
        runs older than per-example results)."""
        if not all(r.metrics.get("val") for r in self.runs):
            return None
        if len(self.runs) == 1:
            p, n = self.runs[0].metrics["val"]["acc"], self.runs[0].metrics["val"]["size"]
            return p, float(np.sqrt(p * (1 - p) / n))
        mean = self.over_seeds("val")
        return mean.mean, mean.standard_error

    def predictions(self, split: str) -> list[SplitPredictions]:
        found = []
        for row in self.runs:
            splits = row.predictions()
            if split not in splits:
                raise UserError(
                    f"{row.path} has no per-example results for its {split} set (predictions.npz, "
                    "written by runs of this version): run it again, or compare newer runs."
                )
            found.append(splits[split])
        return found


def without_seed(overrides: list[str]) -> str:
    """The overrides but a seed, as one line."""
    return " ".join(o for o in overrides if not o.lstrip("+").startswith(SEED))


def variants(rows: list[RunRow]) -> list[Variant]:
    """The completed runs grouped into variants (the same identity but the seed), each labelled
    by what sets it apart (a sweep's overrides, a lab's variants) less its seed, in the order
    first seen. Count copies once first (run_rows.count_once): a copy is not a replicate."""
    grouped: dict[str, Variant] = {}
    for row in (r for r in rows if r.ok):
        label = without_seed(row.label.split()) or "every run"
        # Runs without a config (older versions): grouped by what their labels say.
        key = row.variant or f"{label} | {row.metrics['run'].get('title', '')}"
        grouped.setdefault(key, Variant(label)).runs.append(row)
    return list(grouped.values())


def ranked_variants(rows: list[RunRow]) -> list[Variant]:
    """The variants, best on validation first (their runs' mean validation rank)."""
    return sorted(variants(rows), key=lambda v: -v.rank)
