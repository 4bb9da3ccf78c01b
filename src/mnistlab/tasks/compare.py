"""The compare task: which of some runs differ from one another beyond noise, printed as a table."""

from __future__ import annotations

from pathlib import Path

import yaml
from rich.table import Table

from mnistlab.errors import ConfigError, UserError
from mnistlab.reports.certainty import seeds_sentence
from mnistlab.reports.comparison import Result, against_the_first
from mnistlab.reports.protocol import margin_setting, validated_on_test
from mnistlab.reports.run_rows import RunRow, collect_runs, count_once, read_run, run_folders
from mnistlab.reports.variants import Variant, ranked_variants
from mnistlab.runs.folders import METRICS
from mnistlab.terminal import console, percent, points_interval

MARGIN = "compare.margin"


def split_arguments(items: list[str]) -> tuple[list[Path], float | None]:
    """The folders given, and compare.margin=<points> when given (the one setting)."""
    paths, margin = [], None
    for item in items:
        key, equals, value = item.partition("=")
        if not equals or Path(item).exists():
            paths.append(Path(item))
        elif key == MARGIN:
            margin = margin_setting(yaml.safe_load(value))
        else:
            raise ConfigError(
                f"{item!r} is neither a folder nor a setting known here: the one setting is "
                f"{MARGIN}=<points> (e.g. {MARGIN}=0.2); give runs as their folders."
            )
    return paths, margin


def chosen_variants(paths: list[Path]) -> tuple[list[Variant], str, list[RunRow], list[str]]:
    """The variants to compare, how the one the others are compared with was chosen, the runs,
    and a note for each run found in several folders (counted once)."""
    if len(paths) == 1 and not (paths[0] / METRICS).is_file():
        distinct = count_once(collect_runs(paths[0]), paths[0])
        found = ranked_variants(distinct.rows)
        if len(found) < 2:
            raise UserError(
                f"{paths[0]} holds {len(found)} completed variant(s): a comparison needs two. "
                "Give a sweep's folder, or two run folders."
            )
        how = "each variant against A, the best on validation" + (
            " (the test set here: data.val_on_test=true)"
            if validated_on_test(distinct.rows)
            else ""
        )
        return found, how, distinct.rows, distinct.notes
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
    distinct = count_once(rows)
    if len(distinct.rows) < 2:
        raise UserError(
            f"{' and '.join(map(str, folders))} hold one run (the same settings and results): "
            "there is nothing to compare it with. Give runs that differ."
        )
    rows = distinct.rows
    how = "the two runs" if len(rows) == 2 else "the first (A) against each of the others"
    return [Variant(row.label, [row]) for row in rows], how, rows, distinct.notes


def run_label(folder: Path) -> str:
    """A run's folder name, with its sweep's when the name alone is a job number."""
    return f"{folder.parent.name}/{folder.name}" if folder.name.isdigit() else folder.name


def letter(i: int) -> str:
    return chr(ord("A") + i) if i < 26 else f"#{i + 1}"


def result_table(chosen: list[Variant], results: list[Result], title: str) -> Table:
    """A row for the reference (A), then one for each run or variant compared with it; over
    seeds, a column for the probability that a run of the row's variant beats one of A's."""
    seeded = any(r.over_seeds for r in results)
    table = Table(title=title, title_justify="left")
    columns = ["", "seeds", "accuracy", "minus A (95% interval)", "p", "verdict"]
    if seeded:
        columns.insert(5, "P(> A) (95% interval)")
    for column in columns:
        table.add_column(
            column, justify="right" if column in ("seeds", "accuracy", "p") else "left"
        )
    seeds = [",".join(map(str, sorted(v.seeds))) for v in chosen]
    first = ["A", seeds[0], percent(results[0].accuracy_a), "", ""]
    table.add_row(*first, *([""] if seeded else []), "reference")
    for i, r in enumerate(results, start=1):
        p = f"{r.p_value:.3g}" + (f" (Holm {r.p:.3g})" if r.adjusted is not None else "")
        # Shown from this row's side: its accuracy minus the reference's.
        cells = [
            letter(i), seeds[i], percent(r.accuracy_b),
            points_interval(0.0 - r.difference, 0.0 - r.high, 0.0 - r.low), p,
        ]  # fmt: skip
        if seeded:
            cells.append(_improvement(r))
        table.add_row(*cells, r.verdict("A", letter(i)))
    return table


def _improvement(result: Result) -> str:
    """P(B > A) with its interval, from A-minus-B's P(A > B)."""
    if result.over_seeds is None:
        return "-"
    p, low, high = result.over_seeds.improvement
    return f"{1 - p:.2f} ({1 - high:.2f}-{1 - low:.2f})"


def compare_command(items: list[str], split: str) -> int:
    paths, margin = split_arguments(items)
    chosen, how, rows, notes = chosen_variants(paths)
    results = against_the_first(chosen, split)
    for result in results:
        result.margin = margin
    for note in notes:
        console.print(note, highlight=False, soft_wrap=True)
    on_test = validated_on_test(rows)
    images = "test" if split == "test" or on_test else "validation"
    examples = f"{results[0].examples:,} {images} images"
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
        if r.over_seeds:
            console.print(
                f"{letter(i)} vs A: {seeds_sentence(r, 'A', letter(i))}",
                highlight=False,
                soft_wrap=True,
            )
    methods = sorted({r.method for r in results})
    tail = "; Holm's correction for testing them together" if len(results) > 1 else ""
    console.print(f"p: {', '.join(methods)}{tail}.", highlight=False)
    if margin is not None:
        console.print(
            f"{MARGIN}={100 * margin:g}: a difference whose whole 95% interval lies within "
            f"±{100 * margin:.2f} pts is called equivalent; without that, a tie is only "
            '"no detectable difference".',
            highlight=False,
        )
    if on_test:
        console.print(
            "These runs validated on the test set (data.val_on_test=true): their validation "
            "images are the test images, and whatever was chosen on validation was chosen on them.",
            highlight=False,
        )
    return 0
