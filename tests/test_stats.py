"""The statistics behind every comparison, checked against values known independently of the code:
textbook cases, the closed-form formulas, torchmetrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchmetrics.classification import MulticlassF1Score

from mnistlab.reports.stats import (
    accuracy_interval,
    compare_paired,
    holm,
    macro_f1,
    macro_f1_interval,
)

Z = 1.959963984540054  # the standard normal's 97.5% quantile


def wilson_by_formula(k: int, n: int) -> tuple[float, float]:
    p = k / n
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z / (1 + Z**2 / n) * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))
    return centre - half, centre + half


@pytest.mark.parametrize(("k", "n"), [(81, 263), (9_857, 10_000), (4_949, 5_000), (0, 20)])
def test_the_accuracy_interval_is_wilsons(k, n):
    assert accuracy_interval(k, n) == pytest.approx(wilson_by_formula(k, n), abs=1e-12)


def test_the_interval_of_99_percent_on_10000_images_is_about_two_standard_errors():
    low, high = accuracy_interval(9_900, 10_000)
    standard_error = math.sqrt(0.99 * 0.01 / 10_000)  # 0.1 points, as mission.md says
    assert (high - low) / 2 == pytest.approx(Z * standard_error, rel=0.02)


def test_macro_f1_is_torchmetrics_macro_f1():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 10, 5_000)
    predicted = np.where(rng.random(5_000) < 0.8, labels, rng.integers(0, 10, 5_000))
    expected = MulticlassF1Score(10, average="macro")(
        torch.from_numpy(predicted), torch.from_numpy(labels)
    )
    assert macro_f1(labels, predicted, 10) == pytest.approx(float(expected), abs=1e-6)


def test_the_macro_f1_bootstrap_repeats_exactly_with_its_seed_and_surrounds_the_estimate():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 10, 2_000)
    predicted = np.where(rng.random(2_000) < 0.9, labels, rng.integers(0, 10, 2_000))
    first, again = (
        macro_f1_interval(labels, predicted, 10),
        macro_f1_interval(labels, predicted, 10),
    )
    other = macro_f1_interval(labels, predicted, 10, seed=1)
    assert first == again and first != other
    low, high = first
    assert low < macro_f1(labels, predicted, 10) < high and high - low < 0.05


def test_mcnemars_exact_test_gives_the_binomial_textbook_value():
    # 10 examples only A gets right, 2 only B: p = 2 * P(X <= 2 | 12, 1/2) = 2 * 79 / 4096.
    a = np.array([True] * 10 + [False] * 2 + [True] * 50 + [False] * 5)
    b = np.array([False] * 10 + [True] * 2 + [True] * 50 + [False] * 5)
    result = compare_paired(a, b)
    assert (result.only_a, result.only_b) == (10, 2)
    assert result.p_value == pytest.approx(2 * 79 / 4096, rel=1e-12)
    assert result.difference == pytest.approx(8 / 67)


def test_two_identical_prediction_files_show_no_difference_with_a_little_doubt_left():
    correct = np.random.default_rng(5).random(10_000) < 0.98
    result = compare_paired(correct, correct.copy())
    assert result.p_value == 1.0 and result.difference == 0
    assert result.verdict("A", "B") == "no detectable difference"
    # Finite data never gives a zero-width interval: Agresti & Min's half example in each cell of
    # the 2x2 table (n' = n + 2, one discordant example in all) gives Wald's +-1.96 sqrt(1/n'^2).
    n = 10_002
    assert result.high == pytest.approx(Z * math.sqrt(1 / n) / math.sqrt(n), rel=1e-9)
    assert result.low == -result.high


def test_a_planted_two_point_difference_on_10000_examples_is_detected():
    rng = np.random.default_rng(6)
    b = rng.random(10_000) < 0.96
    a = b.copy()
    flip = rng.choice(np.flatnonzero(~b), size=300, replace=False)  # A fixes 300 of B's errors
    a[flip] = True
    harm = rng.choice(np.flatnonzero(b), size=100, replace=False)  # and makes 100 of its own
    a[harm] = False
    result = compare_paired(a, b)
    assert result.difference == pytest.approx(0.02)
    assert result.p_value < 1e-10 and result.verdict("A", "B") == "A is better"
    # The paired bootstrap's interval is close to the normal one, mean +- 1.96 sd / sqrt(n).
    d = a.astype(float) - b.astype(float)
    half = Z * d.std(ddof=1) / math.sqrt(len(d))
    assert result.low == pytest.approx(0.02 - half, abs=0.001)
    assert result.high == pytest.approx(0.02 + half, abs=0.001)
    assert result.low > 0 and compare_paired(a, b) == result  # seeded: the same interval again


def test_a_small_difference_within_noise_is_a_tie():
    rng = np.random.default_rng(7)
    b = rng.random(5_000) < 0.99
    a = b.copy()
    a[rng.choice(np.flatnonzero(~b), size=3, replace=False)] = True  # 3 examples of 5,000
    result = compare_paired(a, b)
    assert result.p_value > 0.05 and result.verdict("A", "B") == "no detectable difference"
    assert result.low <= 0 <= result.high


def test_holm_adjusts_as_the_textbook_does():
    # Sorted 0.005, 0.01, 0.03, 0.04 are multiplied by 4, 3, 2, 1 and kept non-decreasing.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []
