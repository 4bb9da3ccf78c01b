"""Runs repeated with several seeds: how sure a mean over seeds, or a difference over seeds, is.

Two sources of noise move a result, the seed (initial weights, batch order, the validation
split) and the examples it is scored on, and both count here:

- A mean over k seeds (a variant's accuracy; two variants' accuracy difference, paired by seed)
  gets Student's t interval and test with k - 1 degrees of freedom, on the larger of two
  variances: the seeds' own spread, and what the examples alone give. This is the modified
  Hartung-Knapp method of random-effects meta-analysis with each seed a study, equally weighted
  (Röver, Knapp & Friede 2015): the spread of 2 or 3 values can be tiny, even zero, by chance,
  and the examples' sampling error is a floor it never goes below, so no p-value is 0 and no
  interval has zero width.
- The examples' variance comes from each example's results: seeds scored on the same examples
  (the test set) are resampled together, seeds with their own (validation splits) apart, with
  half an example added to each cell of each 2x2 table (Agresti & Min 2005), so two models that
  agree on every example still leave a little doubt.
- Over these seeds' runs together: McNemar's test stratified by seed (the exact binomial test on
  the examples only one model gets right, pooled over seeds: the Mantel-Haenszel test for
  matched pairs). It speaks of these runs, not of a new seed.
- The probability of improvement P(A > B) (Agarwal et al. 2021, the rliable library), seed by
  seed since the runs are paired by seed: the chance that on a new seed A's run scores higher
  than B's, estimated by the share of seeds where it did (a tie counts half), with the Wilson
  score interval over the seeds. (rliable's bootstrap interval collapses to a point whenever
  every run of A beats every run of B, as with 2 or 3 seeds it often does.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from mnistlab.reports.predictions import SplitPredictions as Scored
from mnistlab.reports.stats import (
    ACCURACY_PSEUDO,
    CONFIDENCE,
    DIFFERENCE_PSEUDO,
    mcnemar,
    mean_variance,
)


def examples_variance(
    runs: list[tuple[np.ndarray, np.ndarray]], pseudo: tuple[tuple[float, float], ...]
) -> float:
    """The examples' sampling variance of the mean over runs of each run's mean per-example
    value (`runs`: each run's example indices and values): runs on the same examples are
    averaged example by example first, runs on other examples are independent."""
    groups: dict[bytes, list[np.ndarray]] = {}
    for index, values in runs:
        groups.setdefault(np.asarray(index).tobytes(), []).append(np.asarray(values, float))
    k = len(runs)
    return sum(
        (len(members) / k) ** 2 * mean_variance(np.mean(members, axis=0), pseudo)
        for members in groups.values()
    )


@dataclass
class OverSeeds:
    """A mean over k seeds, its 95% interval and the p-value of a test that it is zero."""

    k: int
    mean: float
    low: float
    high: float
    p_value: float
    standard_error: float


def mean_over_seeds(
    values: list[float], variance_of_examples: float, bounds: tuple[float, float] = (-1.0, 1.0)
) -> OverSeeds:
    """The mean of one value per seed, on the larger of the seeds' spread and the examples'
    sampling variance of the mean (Student's t, k - 1 degrees of freedom); the interval kept
    within the value's `bounds` (an accuracy is never above 1)."""
    k = len(values)
    if k < 2:
        raise ValueError("a mean over seeds needs at least two seeds")
    mean = float(np.mean(values))
    spread = float(np.var(values, ddof=1)) / k
    standard_error = float(np.sqrt(max(spread, variance_of_examples)))
    t = stats.t(k - 1)
    half = float(t.ppf(0.5 + CONFIDENCE / 2)) * standard_error
    p_value = float(2 * t.sf(abs(mean) / standard_error))
    low, high = max(bounds[0], mean - half), min(bounds[1], mean + half)
    return OverSeeds(k, mean, low, high, p_value, standard_error)


def accuracy_over_seeds(runs: list[Scored]) -> OverSeeds:
    """One variant's mean accuracy over its seeds' runs."""
    variance = examples_variance([(r.index, r.correct) for r in runs], ACCURACY_PSEUDO)
    return mean_over_seeds([float(r.correct.mean()) for r in runs], variance, (0.0, 1.0))


@dataclass
class SeedsComparison:
    """A minus B over seeds, paired by seed."""

    difference: OverSeeds  # of the mean over seeds of A's accuracy minus B's
    per_seed: list[tuple[float, int, int, float]]  # each seed: difference, only A, only B, p
    pooled_p: float  # McNemar stratified by seed: these runs, not a new seed
    improvement: tuple[float, float, float]  # P(A > B) and its 95% interval


def compare_over_seeds(pairs: list[tuple[Scored, Scored]]) -> SeedsComparison:
    """A against B over the seeds of `pairs` (A's run and B's run of one seed, on the same
    examples)."""
    per_seed = []
    for a, b in pairs:
        only_a, only_b, p = mcnemar(a.correct, b.correct)
        per_seed.append((float(a.correct.mean() - b.correct.mean()), only_a, only_b, p))
    deltas = [(a.index, a.correct.astype(float) - b.correct) for a, b in pairs]
    difference = mean_over_seeds(
        [d for d, *_ in per_seed], examples_variance(deltas, DIFFERENCE_PSEUDO)
    )
    only_a, only_b = sum(s[1] for s in per_seed), sum(s[2] for s in per_seed)
    pooled = stats.binomtest(only_a, only_a + only_b).pvalue if only_a + only_b else 1.0
    improvement = probability_of_improvement([d for d, *_ in per_seed])
    return SeedsComparison(difference, per_seed, float(pooled), improvement)


def probability_of_improvement(differences: list[float]) -> tuple[float, float, float]:
    """P(A > B): the share of seeds on which A's run scores higher than B's (a tie counts half),
    and its Wilson score interval over the seeds (`differences`: A minus B, one per seed)."""
    k = len(differences)
    wins = sum(1.0 if d > 0 else 0.5 if d == 0 else 0.0 for d in differences)
    return wins / k, *wilson_interval(wins, k)


def wilson_interval(successes: float, n: int) -> tuple[float, float]:
    """The Wilson score interval of a proportion, written out because `successes` may count
    halves (ties), which scipy's binomtest (stats.accuracy_interval) does not take."""
    z = float(stats.norm.ppf(0.5 + CONFIDENCE / 2))
    p = successes / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return max(0.0, float(centre - half)), min(1.0, float(centre + half))
