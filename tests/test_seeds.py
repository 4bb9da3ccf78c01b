"""Comparisons over seeds, checked against known answers: closed-form values, scipy's own tests,
and how often repeated synthetic data (where the truth is known) is called a difference."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from mnistlab.reports.predictions import SplitPredictions
from mnistlab.reports.run_rows import RunRow
from mnistlab.reports.seeds import compare_over_seeds, probability_of_improvement
from mnistlab.reports.stats import verdict
from mnistlab.reports.ties import one_standard_error
from mnistlab.reports.variants import Variant

T1 = stats.t(1).ppf(0.975)  # 12.706: Student's t with one degree of freedom (two seeds)


def scored(correct: np.ndarray, start: int = 0) -> SplitPredictions:
    """One model's results on examples start, start + 1, ...: right where `correct`."""
    n = len(correct)
    label = np.zeros(n, np.uint8)
    predicted = np.where(correct, 0, 1).astype(np.uint8)
    return SplitPredictions(np.arange(start, start + n), label, predicted, np.zeros((n, 2)))


def pair(only_a: int, only_b: int, both: int, n: int, start: int = 0):
    """A's and B's runs of one seed with that many examples only A gets right, only B, both."""
    a = np.zeros(n, bool)
    b = np.zeros(n, bool)
    a[:only_a] = True
    b[only_a : only_a + only_b] = True
    a[only_a + only_b : only_a + only_b + both] = b[only_a + only_b : only_a + only_b + both] = True
    return scored(a, start), scored(b, start)


def agresti_min_variance(only_a: int, only_b: int, n: int) -> float:
    """The variance of a paired accuracy difference with half an example added to each cell of
    its 2x2 table (Agresti & Min 2005), written out."""
    b, c, m = only_a + 0.5, only_b + 0.5, n + 2
    return ((b + c) / m - ((b - c) / m) ** 2) / m


def test_two_seeds_with_identical_differences_give_a_nonzero_p_and_a_real_interval():
    # Both seeds: A right on 95 examples B gets wrong, B on 30 of A's: -1.30 points for B, twice.
    pairs = [pair(95, 30, 4700, 5000, start=0), pair(95, 30, 4700, 5000, start=10_000)]
    found = compare_over_seeds(pairs).difference
    # The seeds agree exactly, so their spread is 0: the examples' variance is the floor (two
    # seeds on their own validation images: independent, each a quarter of the mean's).
    se = math.sqrt(agresti_min_variance(95, 30, 5000) / 2)
    assert found.mean == pytest.approx(0.013)
    assert found.standard_error == pytest.approx(se, rel=1e-9)
    assert found.p_value == pytest.approx(2 * stats.t(1).sf(0.013 / se), rel=1e-9)
    assert (found.low, found.high) == pytest.approx((0.013 - T1 * se, 0.013 + T1 * se), rel=1e-9)
    assert found.p_value > 0 and found.high - found.low > 0


def test_when_the_seeds_disagree_it_is_students_paired_t_test():
    pairs = [
        pair(150, 50, 4700, 5000, 0),
        pair(25, 75, 4800, 5000, 5000),
        pair(50, 25, 4800, 5000, 9000),
    ]
    differences = [0.02, -0.01, 0.005]
    found = compare_over_seeds(pairs).difference
    assert found.p_value == pytest.approx(stats.ttest_1samp(differences, 0).pvalue, rel=1e-9)
    low, high = stats.t.interval(0.95, 2, np.mean(differences), stats.sem(differences))
    assert (found.low, found.high) == pytest.approx((low, high), rel=1e-9)


def test_these_seeds_runs_together_are_mcnemars_test_stratified_by_seed():
    pairs = [pair(40, 20, 4800, 5000, 0), pair(33, 21, 4800, 5000, 5000)]
    found = compare_over_seeds(pairs)
    assert found.pooled_p == pytest.approx(stats.binomtest(73, 114).pvalue, rel=1e-12)
    assert [(s[1], s[2]) for s in found.per_seed] == [(40, 20), (33, 21)]
    assert found.per_seed[0][3] == pytest.approx(stats.binomtest(40, 60).pvalue, rel=1e-12)


def test_the_probability_of_improvement_is_the_share_of_seeds_with_its_wilson_interval():
    p, low, high = probability_of_improvement([0.01, 0.002])
    wilson = stats.binomtest(2, 2).proportion_ci(0.95, method="wilson")
    assert (p, low, high) == pytest.approx((1.0, wilson.low, wilson.high), rel=1e-9)
    assert high - low > 0.5  # two seeds say little
    assert probability_of_improvement([0.01, 0.0, -0.01])[0] == 0.5  # a tie counts half


def test_a_margin_turns_a_tie_into_equivalence_only_when_the_whole_interval_lies_inside():
    assert verdict(0.001, 0.4, "A", "B", (-0.001, 0.0015), 0.002) == "equivalent within ±0.20 pts"
    assert verdict(0.001, 0.4, "A", "B", (-0.003, 0.0015), 0.002) == "no detectable difference"
    assert verdict(0.001, 0.4, "A", "B", (-0.001, 0.0015)) == "no detectable difference"
    assert verdict(0.001, 0.01, "A", "B", (0.0005, 0.0015), 0.002) == "A is better"


def synthetic_seeds(rng, k: int, n: int, gap: float, seed_sd: float):
    """k seeds of A and B on n validation images each, A `gap` more accurate on average, each
    model's accuracy moved by its seed (sd `seed_sd`); their errors correlated, as two models'
    of the same images are."""
    pairs = []
    for s in range(k):
        p_a = 0.95 + gap / 2 + rng.normal(0, seed_sd)
        p_b = 0.95 - gap / 2 + rng.normal(0, seed_sd)
        u = rng.random(n)
        v = np.where(rng.random(n) < 0.8, u, rng.random(n))  # B often errs where A does
        pairs.append((scored(u < p_a, s * n), scored(v < p_b, s * n)))
    return pairs


@pytest.mark.parametrize(("k", "seed_sd"), [(2, 0.0), (3, 0.0), (3, 0.004), (5, 0.004)])
def test_no_difference_is_found_more_often_than_the_nominal_rate_on_repeated_null_data(k, seed_sd):
    rng = np.random.default_rng(k * 100 + int(seed_sd * 1000))
    repeats = 300
    found = sum(
        compare_over_seeds(synthetic_seeds(rng, k, 2000, 0.0, seed_sd)).difference.p_value < 0.05
        for _ in range(repeats)
    )
    # 5% nominal; 300 repeats put 8% about 2.4 standard errors above it.
    assert found / repeats <= 0.08


def test_a_planted_difference_over_seeds_is_found():
    rng = np.random.default_rng(11)
    found = [
        compare_over_seeds(synthetic_seeds(rng, 3, 5000, 0.02, 0.002)).difference for _ in range(50)
    ]
    assert sum(f.p_value < 0.05 for f in found) >= 45
    assert sum(f.low < 0.02 < f.high for f in found) >= 45  # the interval holds the truth


def run(seed: int, correct: np.ndarray, start: int, weights: int) -> RunRow:
    """A completed run as the reports read it, with its validation results."""
    predictions = {"val": scored(correct, start)}
    metrics = {
        "run": {"seed": seed, "parameters": weights},
        "val": {"acc": float(correct.mean()), "size": len(correct)},
    }
    row = RunRow(Path(f"run-{seed}-{weights}"), [], "completed", metrics=metrics)
    row._predictions = predictions
    return row


def test_the_one_standard_error_rule_never_uses_less_than_the_examples_standard_error():
    rng = np.random.default_rng(3)
    n = 5000
    # Two seeds of the best variant agree to the image count: their spread alone is 0.
    best = [run(s, rng.permutation(np.arange(n) < 4850), s * n, 25_802) for s in (1, 2)]
    mean, se = Variant("best", best).validation_accuracy()
    # The mean over 2 x 5,000 independent validation images has a sampling error of its own.
    examples = math.sqrt(2 * 0.97 * 0.03 / n) / 2
    assert mean == pytest.approx(0.97) and se == pytest.approx(examples, rel=0.01)
    # A smaller variant 0.16 points lower (within that error, 0.17 points) is picked ...
    close = [run(s, rng.permutation(np.arange(n) < 4842), s * n, 12_906) for s in (1, 2)]
    assert one_standard_error([Variant("best", best), Variant("small", close)]).label == "small"
    # ... and one 0.3 points lower is not.
    far = [run(s, rng.permutation(np.arange(n) < 4835), s * n, 12_906) for s in (1, 2)]
    assert one_standard_error([Variant("best", best), Variant("small", far)]).label == "best"
