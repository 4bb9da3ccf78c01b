"""How sure a result is: intervals for one run's scores, paired tests of two runs on the same
examples, and seeds as replicates. The statistics are scipy's; this module only applies them.

Every interval is a 95% one. Bootstraps are seeded (`BOOTSTRAP_SEED`), so a report written twice
from the same files says the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
NO_DIFFERENCE = "no detectable difference"


def accuracy_interval(correct: int, n: int) -> tuple[float, float]:
    """The Wilson score interval of an accuracy of `correct` out of `n`."""
    ci = stats.binomtest(int(correct), int(n)).proportion_ci(CONFIDENCE, method="wilson")
    return float(ci.low), float(ci.high)


def macro_f1(labels: np.ndarray, predicted: np.ndarray, classes: int) -> float:
    """Macro F1 (classes absent from both labels and predictions score 0, as torchmetrics
    counts them)."""
    return float(_macro_f1_of_cells(_cells(labels, predicted, classes), classes))


def _cells(labels: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """Each example's cell of the confusion matrix, as one number."""
    return np.asarray(labels, np.int64) * classes + np.asarray(predicted, np.int64)


def _macro_f1_of_cells(cells: np.ndarray, classes: int, axis: int = -1) -> np.ndarray:
    """Macro F1 of each row of confusion cells along `axis` (vectorized for the bootstrap)."""
    rows = np.moveaxis(cells, axis, -1)
    flat = rows.reshape(-1, rows.shape[-1])
    offsets = np.arange(len(flat))[:, None] * classes**2
    counts = np.bincount((flat + offsets).ravel(), minlength=len(flat) * classes**2)
    confusion = counts.reshape(len(flat), classes, classes)
    tp = np.diagonal(confusion, axis1=1, axis2=2)
    wrong = confusion.sum(2) + confusion.sum(1) - 2 * tp  # false negatives and false positives
    denominator = 2 * tp + wrong
    f1 = np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)
    return f1.mean(1).reshape(rows.shape[:-1])


def macro_f1_interval(
    labels: np.ndarray, predicted: np.ndarray, classes: int, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float]:
    """A percentile bootstrap interval of macro F1, resampling examples (seeded): each example
    resampled as its confusion cell, which carries both its label and its prediction."""
    result = stats.bootstrap(
        (_cells(labels, predicted, classes),),
        lambda cells, axis: _macro_f1_of_cells(cells, classes, axis),
        vectorized=True,
        n_resamples=BOOTSTRAP_RESAMPLES,
        batch=100,
        confidence_level=CONFIDENCE,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


@dataclass
class PairedComparison:
    """Two classifiers on the same examples: A's accuracy minus B's, its interval, McNemar."""

    n: int
    difference: float
    low: float
    high: float
    only_a: int  # examples A gets right and B wrong
    only_b: int
    p_value: float

    def verdict(self, a: str = "A", b: str = "B") -> str:
        return verdict(self.difference, self.p_value, a, b, (self.low, self.high))


def verdict(
    difference: float,
    p_value: float,
    a: str,
    b: str,
    interval: tuple[float, float] | None = None,
    margin: float | None = None,
) -> str:
    """A difference of A minus B in words, at the 5% level: "A is better", "B is better", or,
    when the test cannot tell, "equivalent within ±m pts" where the whole 95% `interval` lies
    inside the `margin` (a fraction; a region of practical equivalence), else "no detectable
    difference" (`p_value`: Holm's where several pairs were tested together)."""
    if p_value < ALPHA:
        return f"{a} is better" if difference > 0 else f"{b} is better"
    if within_margin(interval, margin):
        return f"equivalent within ±{100 * margin:.2f} pts"
    return NO_DIFFERENCE


def within_margin(interval: tuple[float, float] | None, margin: float | None) -> bool:
    """Whether the whole `interval` lies within ±`margin` (False without either)."""
    if margin is None or interval is None:
        return False
    return -margin <= interval[0] <= interval[1] <= margin


# Pseudo-examples (value, weight) that keep a variance from being zero: half an example in each
# cell of a 2x2 table of two models (Agresti & Min 2005), or of one model's right and wrong.
DIFFERENCE_PSEUDO = ((1.0, 0.5), (-1.0, 0.5), (0.0, 1.0))
ACCURACY_PSEUDO = ((1.0, 0.5), (0.0, 0.5))


def mean_variance(values: np.ndarray, pseudo: tuple[tuple[float, float], ...]) -> float:
    """The sampling variance of the mean of per-example `values`, with `pseudo`-examples."""
    extra_values, extra_weights = np.array(pseudo).T
    weights = np.concatenate([np.ones(len(values)), extra_weights])
    points = np.concatenate([values, extra_values])
    mean = np.average(points, weights=weights)
    return float(np.average((points - mean) ** 2, weights=weights) / weights.sum())


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[int, int, float]:
    """The examples only A gets right, only B, and McNemar's exact p-value (a binomial test on
    those examples)."""
    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    if a.shape != b.shape:
        raise ValueError(f"paired results need the same examples: {a.shape} != {b.shape}")
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    discordant = only_a + only_b
    return only_a, only_b, float(stats.binomtest(only_a, discordant).pvalue) if discordant else 1.0


def compare_paired(
    correct_a: np.ndarray, correct_b: np.ndarray, seed: int = BOOTSTRAP_SEED
) -> PairedComparison:
    """A's accuracy minus B's on the same examples (`correct_*`: one boolean per example), with a
    paired bootstrap interval and McNemar's exact p-value (a binomial test on the examples only
    one of the two gets right)."""
    only_a, only_b, p_value = mcnemar(correct_a, correct_b)
    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    discordant = only_a + only_b
    difference = a.astype(float) - b.astype(float)
    if discordant:
        result = stats.bootstrap(
            (difference,), np.mean, n_resamples=BOOTSTRAP_RESAMPLES, batch=200,
            confidence_level=CONFIDENCE, method="percentile", rng=np.random.default_rng(seed),
        )  # fmt: skip
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    else:  # the two agree on every example: the half examples of Agresti & Min leave some doubt
        half = stats.norm.ppf(0.5 + CONFIDENCE / 2) * np.sqrt(
            mean_variance(difference, DIFFERENCE_PSEUDO)
        )
        low, high = -float(half), float(half)
    return PairedComparison(
        len(a), float(difference.mean()), low, high, only_a, only_b, float(p_value)
    )


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment of `p_values` for testing them together (same order)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted
