"""Is one variant better than another? Paired tests on the same examples, from the runs' files.

A variant is one run, or several runs that differ only in their seed (replicates). Two single
runs are compared example by example (a paired bootstrap interval of the accuracy difference,
McNemar's exact test). Two variants with seeds are compared over seeds: runs of the same seed
are paired (they share the split and batch order), and the mean of their accuracy differences
gets Student's t interval and test, so the seeds' own spread counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats as scipy_stats

from mnistlab.analysis.predictions import SplitPredictions
from mnistlab.analysis.run_rows import RunRow
from mnistlab.analysis.stats import ALPHA, Replicates, compare_paired, holm, verdict
from mnistlab.errors import UserError

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

    def validation_accuracy(self) -> tuple[float, float] | None:
        """The tested weights' validation accuracy and its standard error: a binomial one for a
        single run, the mean's over seeds (None for runs older than per-example results)."""
        scores = [r.metrics.get("val") for r in self.runs]
        if not all(scores):
            return None
        accuracies = Replicates([s["acc"] for s in scores])
        if accuracies.n == 1:
            p, n = accuracies.mean, scores[0]["size"]
            return p, float(np.sqrt(p * (1 - p) / n))
        return accuracies.mean, accuracies.std / float(np.sqrt(accuracies.n))

    def test_accuracy(self) -> Replicates:
        return Replicates([r.test_acc for r in self.runs])

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
    """The completed runs grouped by what sets them apart (their labels: a sweep's overrides, a
    lab's variants) but their seed, in the order first seen."""
    grouped: dict[str, Variant] = {}
    for row in (r for r in rows if r.ok):
        label = without_seed(row.label.split()) or "every run"
        key = f"{label} | {row.metrics['run'].get('title', '')}"
        grouped.setdefault(key, Variant(label)).runs.append(row)
    return list(grouped.values())


@dataclass
class Result:
    """A's accuracy minus B's on one split, how sure, and the verdict."""

    a: str
    b: str
    split: str
    examples: int
    accuracy_a: float
    accuracy_b: float
    difference: float
    low: float
    high: float
    p_value: float
    method: str  # how the p-value was computed
    seeds: int = 1
    only: tuple[int, int] | None = None  # examples only A gets right, only B (single runs)
    adjusted: float | None = None  # Holm's, when several pairs were tested together

    @property
    def p(self) -> float:
        """The p-value the verdict uses: Holm's when several pairs were tested together."""
        return self.p_value if self.adjusted is None else self.adjusted

    @property
    def detected(self) -> bool:
        """Whether the difference is one the test can tell from noise (at the 5% level)."""
        return self.p < ALPHA

    def verdict(self, a: str = "", b: str = "") -> str:
        return verdict(self.difference, self.p, a or self.a, b or self.b)


def same_examples(
    a: SplitPredictions, b: SplitPredictions, names: tuple[str, str], split: str
) -> None:
    if a.label.shape != b.label.shape or not (
        np.array_equal(a.index, b.index) and np.array_equal(a.label, b.label)
    ):
        raise UserError(
            f"{names[0]} and {names[1]} were scored on different {split} examples (another "
            "dataset, or another split: a seed draws its own validation images), so they cannot "
            "be compared example by example; compare runs of the same data, or their test sets."
        )


def compare(a: Variant, b: Variant, split: str = "test") -> Result:
    """A against B on `split` (val or test)."""
    pa, pb = a.predictions(split), b.predictions(split)
    if len(a.runs) == 1 and len(b.runs) == 1:
        same_examples(pa[0], pb[0], (a.label, b.label), split)
        paired = compare_paired(pa[0].correct, pb[0].correct)
        return Result(
            a.label, b.label, split, paired.n, pa[0].accuracy, pb[0].accuracy, paired.difference,
            paired.low, paired.high, paired.p_value, "McNemar's exact test",
            only=(paired.only_a, paired.only_b),
        )  # fmt: skip
    by_seed_b = dict(zip(b.seeds, pb, strict=True))
    pairs = [(p, by_seed_b[s]) for s, p in zip(a.seeds, pa, strict=True) if s in by_seed_b]
    if len(pairs) < 2:
        raise UserError(
            f"{a.label} (seeds {a.seeds}) and {b.label} (seeds {b.seeds}) share fewer than two "
            "seeds: run both with the same seeds (e.g. seed=1,2,3) to compare them over seeds."
        )
    for x, y in pairs:
        same_examples(x, y, (a.label, b.label), split)
    differences = Replicates([x.accuracy - y.accuracy for x, y in pairs])
    low, high = differences.mean_interval()
    if differences.std == 0:
        p_value = 1.0 if differences.mean == 0 else 0.0
    else:
        p_value = float(scipy_stats.ttest_1samp(differences.values, 0.0).pvalue)
    return Result(
        a.label, b.label, split, len(pairs[0][0].label),
        float(np.mean([x.accuracy for x, _ in pairs])),
        float(np.mean([y.accuracy for _, y in pairs])),
        differences.mean, low, high, p_value, f"paired t-test over {len(pairs)} seeds",
        seeds=len(pairs),
    )  # fmt: skip


def against_the_first(chosen: list[Variant], split: str) -> list[Result]:
    """The first variant against each of the others, with Holm's correction when there are several."""
    return corrected([compare(chosen[0], other, split) for other in chosen[1:]])


def corrected(results: list[Result]) -> list[Result]:
    """Holm's adjusted p-values for `results` tested together (none for a single test)."""
    if len(results) > 1:
        for result, adjusted in zip(results, holm([r.p_value for r in results]), strict=True):
            result.adjusted = adjusted
    return results


def step_by_step(chosen: list[Variant], split: str) -> list[Result | None]:
    """Each variant against the one before it (a ladder's rungs, a Pareto front's neighbours),
    Holm-corrected together; None where a pair cannot be compared (no per-example results,
    other examples)."""
    results: list[Result | None] = []
    for later, before in zip(chosen[1:], chosen[:-1], strict=True):
        try:
            results.append(compare(later, before, split))
        except UserError:
            results.append(None)
    corrected([r for r in results if r is not None])
    return results


def ranked_variants(rows: list[RunRow]) -> list[Variant]:
    """The variants, best on validation first (their runs' mean validation rank)."""
    return sorted(variants(rows), key=lambda v: -v.rank)


def run_folders(paths: list[Path]) -> list[Path]:
    """Run folders (a folder holding metrics.json), each given or found under a given folder."""
    found = []
    for path in paths:
        if (path / "metrics.json").is_file():
            found.append(path)
        elif path.is_dir():
            found += sorted(p.parent for p in path.rglob("metrics.json"))
        else:
            raise UserError(f"{path} is neither a run's folder nor a folder of runs.")
    return found
