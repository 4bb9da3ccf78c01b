"""Which variants validation cannot tell apart from the best, and the one a stated rule picks.

Validation data only: the test set chooses nothing (unless the runs validated on it,
data.val_on_test=true, which the reports then say).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mnistlab.errors import UserError
from mnistlab.reports.comparison import Result, compare, corrected
from mnistlab.reports.stats import ALPHA, holm
from mnistlab.reports.variants import Variant


@dataclass
class Ties:
    """Which variants validation cannot tell apart from the best, and the one a rule picks."""

    tied: list[Variant]  # the best on validation first
    untested: list[Variant]  # no per-example results, or not on the same validation images
    results: list[Result]  # the best against each tested variant, Holm-corrected
    pick: Variant  # the one-standard-error rule among the tied
    margin: float | None = None  # compare.margin: a tie within it is an equivalence
    # Tied over seeds, yet told apart from the best in these seeds' own runs (McNemar stratified
    # by seed, Holm-corrected): only whether a new seed would is uncertain.
    apart_in_these_runs: list[Variant] = field(default_factory=list)

    RULE = (
        "the one-standard-error rule: the fewest weights among them whose validation accuracy is "
        "within one standard error of the best's, then the better validation score"
    )


def ties_on_validation(ranked: list[Variant], margin: float | None = None) -> Ties:
    """Compare the best variant on validation with each other one on the validation images
    (McNemar for single runs, over seeds for replicates; Holm for testing them together)."""
    tested, untested = [], []
    for other in ranked[1:]:
        try:
            tested.append((other, compare(ranked[0], other, "val")))
        except UserError:
            untested.append(other)
    results = corrected([result for _, result in tested])
    for result in results:
        result.margin = margin
    tied = [ranked[0]] + [v for v, r in tested if not r.detected]
    seeded = [(v, r) for v, r in tested if r.over_seeds is not None]
    pooled = holm([r.over_seeds.pooled_p for _, r in seeded])
    apart = [v for (v, r), p in zip(seeded, pooled, strict=True) if not r.detected and p < ALPHA]
    return Ties(tied, untested, results, one_standard_error(tied), margin, apart)


def one_standard_error(tied: list[Variant]) -> Variant:
    """The simplest variant within one standard error of the best's validation accuracy
    (Breiman et al., 1984): among variants a test cannot tell apart, a much weaker one may
    hide behind a weak test (three seeds give little power), so closeness is asked as well.
    Over seeds the standard error is never below the examples' own (Variant.validation_accuracy)."""
    best = tied[0].validation_accuracy()
    if best is None:
        return tied[0]
    floor = best[0] - best[1]
    close = [v for v in tied if (v.validation_accuracy() or (float("-inf"),))[0] >= floor]
    return min(close, key=lambda v: (v.weights, -v.rank))
