"""The compare task: which of some runs differ from one another beyond noise, printed as a table."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from mnistlab.analysis.comparison import (
    Result,
    Variant,
    against_the_first,
    ranked_variants,
    run_folders,
)
from mnistlab.analysis.run_rows import collect_runs, read_run
from mnistlab.errors import UserError
from mnistlab.terminal import console, percent, points_interval


def chosen_variants(paths: list[Path]) -> tuple[list[Variant], str]:
    """The variants to compare, the one the others are compared with first, and how it was chosen."""
    if len(paths) == 1 and not (paths[0] / "metrics.json").is_file():
        found = ranked_variants(collect_runs(paths[0]))
        if len(found) < 2:
            raise UserError(
                f"{paths[0]} holds {len(found)} completed variant(s): a comparison needs two. "
                "Give a sweep's folder, or two run folders."
            )
        return found, "each variant against A, the best on validation"
    folders = run_folders(paths)
    if len(folders) < 2:
        raise UserError("Give at least two runs to compare (or one sweep's folder).")
    rows = [read_run(folder, label=run_label(folder)) for folder in folders]
    unfinished = [r for r in rows if not r.ok]
    if unfinished:
        raise UserError(
            f"{unfinished[0].path} did not complete ({unfinished[0].status}): only completed runs "
            "can be compared."
        )
    how = "the two runs" if len(rows) == 2 else "the first (A) against each of the others"
    return [Variant(row.label, [row]) for row in rows], how


def run_label(folder: Path) -> str:
    """A run's folder name, with its sweep's when the name alone is a job number."""
    return f"{folder.parent.name}/{folder.name}" if folder.name.isdigit() else folder.name


def letter(i: int) -> str:
    return chr(ord("A") + i) if i < 26 else f"#{i + 1}"


def result_table(chosen: list[Variant], results: list[Result], title: str) -> Table:
    """A row for the reference (A), then one for each run or variant compared with it."""
    table = Table(title=title, title_justify="left")
    for column in ("", "seeds", "accuracy", "minus A (95% interval)", "p", "verdict"):
        table.add_column(
            column, justify="right" if column in ("seeds", "accuracy", "p") else "left"
        )
    seeds = [",".join(map(str, sorted(v.seeds))) for v in chosen]
    table.add_row("A", seeds[0], percent(results[0].accuracy_a), "", "", "reference")
    for i, r in enumerate(results, start=1):
        p = f"{r.p_value:.3g}" + (f" (Holm {r.p:.3g})" if r.adjusted is not None else "")
        # Shown from this row's side: its accuracy minus the reference's.
        table.add_row(
            letter(i), seeds[i], percent(r.accuracy_b),
            points_interval(0.0 - r.difference, 0.0 - r.high, 0.0 - r.low), p, r.verdict("A", letter(i)),
        )  # fmt: skip
    return table


def compare_command(paths: list[Path], split: str) -> int:
    chosen, how = chosen_variants(paths)
    results = against_the_first(chosen, split)
    examples = f"{results[0].examples:,} {'test' if split == 'test' else 'validation'} images"
    console.print(result_table(chosen, results, f"Compared on the same {examples}: {how}"))
    for i, variant in enumerate(chosen):
        console.print(f"{letter(i)}: {variant.label}", highlight=False)
    for i, r in enumerate(results, start=1):
        if r.only:
            console.print(
                f"{letter(i)} vs A: {r.only[1]} examples only {letter(i)} gets right, "
                f"{r.only[0]} only A.",
                highlight=False,
            )
    methods = sorted({r.method for r in results})
    tail = "; Holm's correction for testing them together" if len(results) > 1 else ""
    console.print(f"p: {', '.join(methods)}{tail}.", highlight=False)
    return 0
