"""How sure a sweep's answers are, in its report: each accuracy with its 95% interval, seeds as
replicates, and the variants that validation cannot tell apart from the best.

Reads only the runs' files (metrics.json, predictions.npz): no torch here.
"""

from __future__ import annotations

from typing import Any

from mnistlab.analysis.comparison import Result, Variant
from mnistlab.analysis.run_rows import RunRow
from mnistlab.analysis.stats import accuracy_interval
from mnistlab.analysis.ties import Ties
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
        "| variant | seeds | objective (validation), mean | test acc, mean (95% interval of "
        "the mean) | sd | min-max |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for v in ranked:
        test = v.test_accuracy()
        name = v.runs[0].objective[0]
        values = [r.objective[1] for r in v.runs if r.objective[1] is not None]
        objective = f"{name} {sum(values) / len(values):.4f}" if values else f"{name} -"
        lines.append(
            f"| `{v.label}` | {test.n} ({', '.join(map(str, sorted(v.seeds)))}) | {objective} | "
            f"{with_interval(test.mean, test.mean_interval())} | {100 * test.std:.2f} pts | "
            f"{_spread(test.values)} |"
        )
    return lines


def ties_sentences(ranked: list[Variant], ties: Ties | None) -> list[str]:
    """Which variants tie with the best on validation, and which one the report's rule picks."""
    if ties is None or len(ranked) < 2:
        return []
    best, lines = ranked[0], []
    if len(best.runs) > 1:
        test = best.test_accuracy()
        lines.append(
            f"Best on validation over seeds: `{best.label}` ({test.n} seeds), test accuracy "
            f"{with_interval(test.mean, test.mean_interval())} (mean, 95% interval of the mean)."
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
            f"never by the test set: `{pick.label}`, {pick.weights:,} weights, "
            f"{variant_accuracy(pick)} on the test set."
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


def result_text(result: Result) -> str:
    """'+0.50 pts (+0.31 to +0.70), p 1.2e-06: significant': A minus B, its interval, the
    (Holm-corrected, where several were tested) p-value and what it means at the 5% level."""
    words = "significant" if result.detected else "not significant"
    return (
        f"{points_interval(result.difference, result.low, result.high)}, p {result.p:.2g}: {words}"
    )


def variant_accuracy(variant: Variant) -> str:
    """One run's test accuracy with its Wilson interval; over seeds, the mean with the interval
    of the mean."""
    test = variant.test_accuracy()
    text = with_interval(test.mean, variant_interval(variant))
    return text if test.n == 1 else f"{text} (mean of {test.n} seeds)"


def variant_interval(variant: Variant) -> tuple[float, float] | None:
    """The 95% interval of a variant's test accuracy: one run's Wilson interval, or over seeds
    the t interval of the mean."""
    if len(variant.runs) == 1:
        return acc_interval(variant.runs[0].metrics["test"])
    return variant.test_accuracy().mean_interval()
