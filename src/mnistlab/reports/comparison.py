"""Is one variant better than another? Paired tests on the same examples, from the runs' files.

Two single runs are compared example by example (a paired bootstrap interval of the accuracy
difference, McNemar's exact test). Two variants with seeds are compared over seeds, runs of the
same seed paired (they share the split and batch order), with both sources of noise counted:
the seeds and the examples (mnistlab.reports.seeds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mnistlab.errors import UserError
from mnistlab.reports.predictions import SplitPredictions
from mnistlab.reports.seeds import SeedsComparison, compare_over_seeds
from mnistlab.reports.stats import ALPHA, compare_paired, holm, verdict, within_margin
from mnistlab.reports.variants import Variant


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
    over_seeds: SeedsComparison | None = None  # seed by seed, pooled, P(A > B) (seeds only)
    adjusted: float | None = None  # Holm's, when several pairs were tested together
    margin: float | None = None  # a difference within ±margin is one of no practical matter

    @property
    def p(self) -> float:
        """The p-value the verdict uses: Holm's when several pairs were tested together."""
        return self.p_value if self.adjusted is None else self.adjusted

    @property
    def detected(self) -> bool:
        """Whether the difference is one the test can tell from noise (at the 5% level)."""
        return self.p < ALPHA

    @property
    def equivalent(self) -> bool:
        """Whether the whole 95% interval lies within ±margin (and no difference was detected)."""
        return not self.detected and within_margin((self.low, self.high), self.margin)

    def verdict(self, a: str = "", b: str = "") -> str:
        return verdict(
            self.difference, self.p, a or self.a, b or self.b, (self.low, self.high), self.margin
        )


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
    pairs = [(pa[i], pb[j]) for i, j in _paired_by_seed(a, b)]
    for x, y in pairs:
        same_examples(x, y, (a.label, b.label), split)
    found = compare_over_seeds(pairs)
    difference = found.difference
    return Result(
        a.label, b.label, split, len(pairs[0][0].label),
        float(np.mean([x.accuracy for x, _ in pairs])),
        float(np.mean([y.accuracy for _, y in pairs])),
        difference.mean, difference.low, difference.high, difference.p_value,
        f"t-test over {len(pairs)} seeds and their examples", seeds=len(pairs), over_seeds=found,
    )  # fmt: skip


def _paired_by_seed(a: Variant, b: Variant) -> list[tuple[int, int]]:
    """The positions of A's and B's runs of each seed both have; a seed twice in a variant
    (runs without a config, so with no identity to tell copies by) is refused by name."""
    for variant in (a, b):
        twice = sorted({s for s in variant.seeds if variant.seeds.count(s) > 1})
        if twice:
            raise UserError(
                f"{variant.label} has seed {twice[0]} in more than one run "
                f"({', '.join(str(r.path) for r in variant.runs if r.metrics['run']['seed'] == twice[0])}) "
                "and no config.yaml tells whether they are copies: remove the copies, or "
                "compare the folders two at a time."
            )
    where_b = {s: j for j, s in enumerate(b.seeds)}
    pairs = [(i, where_b[s]) for i, s in enumerate(a.seeds) if s in where_b]
    if len(pairs) < 2:
        raise UserError(
            f"{a.label} (seeds {a.seeds}) and {b.label} (seeds {b.seeds}) share fewer than two "
            "seeds: run both with the same seeds (e.g. seed=1,2,3) to compare them over seeds."
        )
    return pairs


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
