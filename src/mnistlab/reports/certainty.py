"""How sure a sweep's answers are, in its report: each accuracy with its 95% interval, seeds as
replicates, and the variants that validation cannot tell apart from the best.

Reads only the runs' files (metrics.json, predictions.npz): no torch here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mnistlab.reports.comparison import Result
from mnistlab.reports.protocol import never_the_test_set
from mnistlab.reports.run_rows import RunRow
from mnistlab.reports.stats import ALPHA, accuracy_interval
from mnistlab.reports.ties import Ties
from mnistlab.reports.variants import Variant
from mnistlab.terminal import points_interval, with_interval


def acc_interval(scores: dict[str, Any]) -> tuple[float, float] | None:
    """The Wilson interval a run stored for an accuracy, or computed from the accuracy and the
    number of images (runs older than intervals); None without a size."""
    if scores.get("acc_interval"):
        return tuple(scores["acc_interval"])
    if not scores.get("size"):
        return None
    return accuracy_interval(round(scores["acc"] * scores["size"]), scores["size"])


def test_acc_text(row: RunRow) -> str:
    """'98.57% (98.32-98.79)': the test accuracy and its 95% interval."""
    return with_interval(row.test_acc, acc_interval(row.metrics["test"]))


def f1_text(scores: dict[str, Any]) -> str:
    """'0.9856 (0.9831-0.9879)': macro F1 and its bootstrap interval (the value alone for a run
    without one)."""
    interval = scores.get("f1_macro_interval")
    text = f"{scores['f1_macro']:.4f}"
    return f"{text} ({interval[0]:.4f}-{interval[1]:.4f})" if interval else text


def objective_text(row: RunRow, interval: bool = True) -> str:
    """'val/acc 0.9898 (0.9868-0.9921)': the validation objective, with its interval when it is
    an accuracy on a known number of images (and `interval`)."""
    name, value = row.objective
    if value is None:
        return f"{name} -"
    size = row.metrics.get("val", {}).get("size")
    if name != "val/acc" or not size or not interval:
        return f"{name} {value:.4f}"
    low, high = accuracy_interval(round(value * size), size)
    return f"{name} {value:.4f} ({low:.4f}-{high:.4f})"


def _spread(values: list[float]) -> str:
    return f"{100 * min(values):.2f}-{100 * max(values):.2f}"


def variants_markdown(ranked: list[Variant], heading: str = "##") -> list[str]:
    """One row per variant over its seeds (n, mean, sd, min-max, the mean's 95% interval);
    [] when no variant was run with several seeds."""
    if all(len(v.runs) == 1 for v in ranked):
        return []
    lines = [
        f"{heading} Variants over seeds, best on validation first",
        "",
        "| variant | seeds | objective (validation), mean | test acc, mean (95% interval: seeds "
        "and examples) | sd | min-max |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for v in ranked:
        accuracies = v.accuracies("test")
        name = v.runs[0].objective[0]
        values = [r.objective[1] for r in v.runs if r.objective[1] is not None]
        objective = f"{name} {sum(values) / len(values):.4f}" if values else f"{name} -"
        sd = float(np.std(accuracies, ddof=1)) if len(accuracies) > 1 else 0.0
        lines.append(
            f"| `{v.label}` | {len(accuracies)} ({', '.join(map(str, sorted(v.seeds)))}) | "
            f"{objective} | {with_interval(v.mean_accuracy('test'), variant_interval(v))} | "
            f"{100 * sd:.2f} pts | {_spread(accuracies)} |"
        )
    return lines


def ties_sentences(ranked: list[Variant], ties: Ties | None, rows: list[RunRow]) -> list[str]:
    """Which variants tie with the best on validation, which of them are equivalent within the
    margin, and which one the report's rule picks (`rows`: the runs, for what validation was)."""
    if ties is None or len(ranked) < 2:
        return []
    best, lines = ranked[0], []
    if len(best.runs) > 1:
        lines.append(
            f"Best on validation over seeds: `{best.label}` ({len(best.runs)} seeds), test accuracy "
            f"{variant_accuracy(best)}."
        )
    methods = sorted({r.method for r in ties.results})
    how = f"{', '.join(methods)} on the validation images" + (
        ", Holm-corrected for testing them together" if len(ties.results) > 1 else ""
    )
    if len(ties.tied) > 1:
        names = ", ".join(f"`{v.label}`" for v in ties.tied[1:])
        pick = ties.pick
        lines.append(
            f"Validation cannot tell `{best.label}` apart from {names} ({how}: p >= 0.05): "
            f"{len(ties.tied)} variants tie on validation. The tie is broken by {Ties.RULE}, "
            f"{never_the_test_set(rows)}: `{pick.label}`, {pick.weights:,} weights, "
            f"{variant_accuracy(pick)} on the test set."
        )
        lines += equivalence_sentences(best, ties)
        if ties.apart_in_these_runs:
            k = len(best.runs)
            lines.append(
                f"Of these, {', '.join(f'`{v.label}`' for v in ties.apart_in_these_runs)} "
                f"differ from `{best.label}` in these {k} seeds' runs themselves (McNemar's "
                "test stratified by seed on the validation images, Holm-corrected): what "
                f"{k} seeds cannot tell is whether a new seed would too."
            )
    elif ties.results:
        lines.append(
            f"Validation tells `{best.label}` apart from every other variant tested ({how}: "
            "p < 0.05)."
        )
    if ties.untested:
        named = [f"`{v.label}`" for v in ties.untested[:5]]
        more = len(ties.untested) - len(named)
        lines.append(
            "Not tested against the best (no per-example results, or other validation images): "
            + ", ".join(named)
            + (f" and {more} more" if more else "")
            + "."
        )
    return lines


def equivalence_sentences(best: Variant, ties: Ties) -> list[str]:
    """With a margin (compare.margin), which tied variants are equivalent to the best: a tie
    says the data cannot tell, equivalence that any difference is within the margin."""
    if ties.margin is None:
        return []
    tied = [r for r in ties.results if not r.detected]
    within = [f"`{r.b}`" for r in tied if r.equivalent]
    beyond = [f"`{r.b}`" for r in tied if not r.equivalent]
    margin = f"±{100 * ties.margin:.2f} pts (compare.margin)"
    lines = []
    if within:
        lines.append(
            f"Equivalent to `{best.label}` within {margin}, the whole 95% interval of the "
            f"difference inside it: {', '.join(within)}."
        )
    if beyond:
        lines.append(
            f"A tie, not equivalence, for {', '.join(beyond)}: the data cannot tell them from "
            f"`{best.label}`, but their intervals reach beyond {margin}."
        )
    return lines


def result_text(result: Result) -> str:
    """'+0.50 pts (+0.31 to +0.70), p 1.2e-06: significant': A minus B, its interval, the
    (Holm-corrected, where several were tested) p-value and what it means at the 5% level."""
    words = "significant" if result.detected else "not significant"
    return (
        f"{points_interval(result.difference, result.low, result.high)}, p {result.p:.2g}: {words}"
    )


def seeds_sentence(result: Result, a: str, b: str) -> str:
    """What a comparison over seeds can and cannot tell, in words: each seed's own test, these
    seeds' runs together, and a new seed. Differences are shown from B's side (B minus A)."""
    found = result.over_seeds
    shown = [100 * (0.0 - d) for d, *_ in found.per_seed]  # B minus A, in points
    seeds = "; ".join(
        f"{d:+.2f} pts (McNemar p {s[3]:.2g})" for d, s in zip(shown, found.per_seed, strict=True)
    )
    k, pooled = result.seeds, found.pooled_p
    each = f"seed by seed, {b} minus {a}: {seeds}."
    if result.detected:
        return f"{each} Over the {k} seeds, {result.verdict(a, b)}."
    if pooled < ALPHA:
        better = a if sum(s[1] for s in found.per_seed) > sum(s[2] for s in found.per_seed) else b
        return (
            f"{each} These {k} seeds' runs together favour {better} on their own examples "
            f"(McNemar's test stratified by seed, p {pooled:.2g}), but {k} seeds cannot tell "
            f"whether a new seed would: their differences run from {min(shown):+.2f} to "
            f"{max(shown):+.2f} pts. More seeds (e.g. seed=1,2,3,4,5) can tell."
        )
    return (
        f"{each} Neither a new seed (p {result.p:.2g}) nor these {k} seeds' runs together "
        f"(McNemar's test stratified by seed, p {pooled:.2g}) tell {a} and {b} apart."
    )


def variant_accuracy(variant: Variant) -> str:
    """One run's test accuracy with its Wilson interval; over seeds, the mean with the interval
    of the mean."""
    text = with_interval(variant.mean_accuracy("test"), variant_interval(variant))
    seeds = len(variant.runs)
    return text if seeds == 1 else f"{text} (mean of {seeds} seeds)"


def variant_interval(variant: Variant) -> tuple[float, float] | None:
    """The 95% interval of a variant's test accuracy: one run's Wilson interval, or over seeds
    the interval of the mean (mnistlab.reports.seeds: the seeds and the examples)."""
    if len(variant.runs) == 1:
        return acc_interval(variant.runs[0].metrics["test"])
    mean = variant.over_seeds("test")
    return (mean.low, mean.high) if mean else None
