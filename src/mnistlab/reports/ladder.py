"""A ladder of runs, each rung adding one technique to the one before: what each step added.

A rung is a run whose config names it (`rung:`, set by the configs in conf/ladder/); the sweep
report of a ladder reads its runs in rung order. Test scores are reported, never used to choose:
the best rung is the one best on validation. Each rung's gain over the one before is tested on
the same test images (McNemar's exact test, Holm-corrected over the ladder's steps): a gain
within noise says "not significant".
"""

from __future__ import annotations

from mnistlab.errors import UserError
from mnistlab.reports.certainty import objective_text, result_text, test_acc_text
from mnistlab.reports.comparison import Result, compare, step_by_step
from mnistlab.reports.run_rows import RunRow
from mnistlab.reports.variants import Variant
from mnistlab.terminal import percent


def rungs(rows: list[RunRow]) -> list[RunRow]:
    """The completed runs that are rungs of a ladder, in rung order; [] when any run is not one."""
    if not rows or any(not r.metrics.get("run", {}).get("rung") for r in rows if r.ok):
        return []
    return sorted((r for r in rows if r.ok), key=lambda r: r.metrics["run"]["rung"]["step"])


def _classes(row: RunRow) -> tuple[str, str]:
    f1 = row.metrics["test"]["f1_per_class"]
    best, worst = max(f1, key=f1.get), min(f1, key=f1.get)
    return f"{best} ({f1[best]:.3f})", f"{worst} ({f1[worst]:.3f})"


def _errors(row: RunRow) -> int:
    return round((1 - row.test_acc) * row.metrics["test"]["size"])


def ladder_markdown(ladder: list[RunRow]) -> list[str]:
    """'What each rung added': a table in rung order and a sentence on the whole climb."""
    lines = [
        "## What each rung added",
        "",
        "| rung | adds | weights | objective (validation) | test acc (95% interval) | gain vs "
        "previous rung (95% interval), p | test errors | best class (F1) | worst class (F1) | "
        "most-confused pair |",
        "|---:|---|---:|---|---:|---:|---:|---|---|---|",
    ]
    steps = step_by_step([Variant(str(i), [row]) for i, row in enumerate(ladder)], "test")
    previous = None
    for row, step in zip(ladder, [None, *steps], strict=True):
        rung = row.metrics["run"]["rung"]
        gain = _gain(row, previous, step) if previous is not None else "-"
        best, worst = _classes(row)
        pair = row.metrics["most_confused"][0]["text"] if row.metrics.get("most_confused") else ""
        lines.append(
            f"| {rung['step']} | {rung['adds']} | {row.metrics['run']['parameters']:,} | "
            f"{objective_text(row)} | {test_acc_text(row)} | {gain} | {_errors(row)} | {best} | "
            f"{worst} | {pair} |"
        )
        previous = row
    first, last = ladder[0], ladder[-1]
    best = max(ladder, key=lambda r: r.rank)
    try:
        climb = compare(Variant("last", [last]), Variant("first", [first]), "test")
        whole = f" ({result_text(climb)})"
    except UserError:
        whole = ""
    lines += [
        "",
        f"From rung {first.metrics['run']['rung']['step']} to rung "
        f"{last.metrics['run']['rung']['step']}: test accuracy {percent(first.test_acc)} -> "
        f"{percent(last.test_acc)}{whole}, test errors {_errors(first)} -> {_errors(last)} "
        f"({100 * (_errors(last) - _errors(first)) / max(1, _errors(first)):+.0f}%), weights "
        f"{first.metrics['run']['parameters']:,} -> {last.metrics['run']['parameters']:,}. "
        f"Best on validation: rung {best.metrics['run']['rung']['step']} "
        f"({best.metrics['run']['rung']['adds']}), {percent(best.test_acc)} on the test set.",
    ]
    return lines


def _gain(row: RunRow, previous: RunRow, step: Result | None) -> str:
    """The gain over the previous rung with its interval and test, or its point estimate alone
    for runs without per-example results."""
    if step is None:
        return f"{100 * (row.test_acc - previous.test_acc):+.2f} pts (untested)"
    return result_text(step)
