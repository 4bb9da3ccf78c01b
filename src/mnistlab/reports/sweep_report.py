"""One report for a folder of runs (a sweep, or all of logs/): a table, a figure, and words.

Reads only what runs wrote (metrics.json, status.json, .hydra/overrides.yaml), so it works on
any folder at any time: `python src/report.py <folder>`. No torch here: Hydra calls it at the
end of every sweep.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from pathlib import Path
from typing import Any

from mnistlab.reports.certainty import (
    acc_interval,
    objective_text,
    test_acc_text,
    ties_sentences,
    variants_markdown,
)
from mnistlab.reports.ladder import ladder_markdown, rungs
from mnistlab.reports.plots import save_figure, val_loss_figure
from mnistlab.reports.protocol import CHOSEN_ON_TEST, validated_on_test
from mnistlab.reports.run_rows import RunRow, collect_runs, count_once
from mnistlab.reports.search_report import search_markdown
from mnistlab.reports.search_trials import read_search
from mnistlab.reports.ties import ties_on_validation
from mnistlab.reports.variants import ranked_variants
from mnistlab.runs.folders import run_name

REPORT_MD, REPORT_CSV, REPORT_PNG = "sweep_report.md", "sweep_report.csv", "sweep_val_loss.png"


def _columns(row: RunRow, folder: Path) -> dict[str, Any]:
    m = row.metrics
    base = {
        "run": os.path.relpath(row.path, folder),  # a reused run's folder is another sweep's
        "overrides": row.label,
        "status": row.status,
        "objective": objective_text(row, interval=False) if row.ok else "",
    }
    if not row.ok:
        return {**base, "reason": row.reason}
    pair = m["most_confused"][0]["text"] if m.get("most_confused") else ""
    return {
        **base,
        "parameters": m["run"]["parameters"],
        "epochs": m["run"]["epochs"],
        "wall_time_s": m["run"]["wall_time_s"],
        "best_val_loss": m.get("best_val_loss"),
        "test_acc": m["test"]["acc"],
        **dict(zip(("test_acc_low", "test_acc_high"), acc_interval(m["test"]), strict=True)),
        "test_f1_macro": m["test"]["f1_macro"],
        "weakest_class": f"{m['weakest_class']['name']} ({m['weakest_class']['f1']:.3f})",
        "most_confused": pair,
        "reason": "",
    }


def conclusions(rows: list[RunRow], margin: float | None = None) -> list[str]:
    """What the sweep found, in sentences a student can paste into a lab report (`rows`: each
    run once, ranked; `margin`: compare.margin, a difference of no practical matter)."""
    done = [r for r in rows if r.ok]
    failed = [r for r in rows if not r.ok and not r.pruned and r.status != "running"]
    pruned = [r for r in rows if r.pruned]
    running = [r for r in rows if r.status == "running"]
    lines: list[str] = [CHOSEN_ON_TEST] if validated_on_test(rows) else []
    if done:
        best, worst = done[0], done[-1]  # ranked on validation data: the test set chooses nothing
        lines.append(
            f"Best on validation: `{best.label}`, {objective_text(best)}, with "
            f"{best.metrics['run']['parameters']:,} weights; on the test set it reached "
            f"{test_acc_text(best)} accuracy (macro F1 {best.metrics['test']['f1_macro']:.4f})."
        )
        ranked_ = ranked_variants(done)
        if len(ranked_) > 1:
            lines += ties_sentences(ranked_, ties_on_validation(ranked_, margin), rows)
        if len(done) > 1:
            accuracies = [r.test_acc for r in done]
            lines.append(
                f"Worst on validation: `{worst.label}`, {objective_text(worst)}, "
                f"{test_acc_text(worst)} test accuracy; the {len(done)} runs' test accuracies "
                f"span {100 * (max(accuracies) - min(accuracies)):.2f} percentage points."
            )
        top_pairs = Counter()
        total_pairs = Counter()
        for r in done:
            for pair in r.metrics["most_confused"]:
                key = f"{pair['true']} taken for {pair['predicted']}"
                top_pairs[key] += 1
                total_pairs[key] += pair["count"]
        if top_pairs:
            common = sorted(top_pairs, key=lambda k: (-top_pairs[k], -total_pairs[k]))[:3]
            described = "; ".join(
                f"{k} ({top_pairs[k]} of {len(done)} runs, {total_pairs[k]} times in all)"
                for k in common
            )
            lines.append(f"Most often among each run's five most-confused pairs: {described}.")
        weakest = Counter(r.metrics["weakest_class"]["name"] for r in done)
        name, count = weakest.most_common(1)[0]
        lines.append(f"Weakest class (lowest F1): {name} in {count} of {len(done)} runs.")
    if pruned:
        lines.append(
            f"{len(pruned)} trial(s) pruned (stopped early, behind the others on validation; "
            "not ranked): "
            + "; ".join(f"`{r.label}`: {r.reason.rstrip('.')}" for r in pruned)
            + "."
        )
    if failed:
        lines.append(
            f"{len(failed)} run(s) failed: "
            + "; ".join(f"`{r.label}`: {(r.reason or r.status).rstrip('.')}" for r in failed)
            + "."
        )
    if running:
        lines.append(
            f"{len(running)} run(s) still running: "
            + ", ".join(f"`{r.label}`" for r in running)
            + "."
        )
    return lines


def ranked(rows: list[RunRow]) -> list[RunRow]:
    """Completed runs first, best validation objective first; the test set ranks nothing."""
    return sorted(rows, key=lambda r: (not r.ok, -r.rank, r.label))


def table_markdown(rows: list[RunRow], folder: Path, link_from: Path | None = None) -> list[str]:
    """The comparison table, one line per run in `rows`' order; with `link_from`, a last
    column links each run's folder (relative to `link_from`, where the Markdown lives)."""
    link = link_from is not None
    lines = [
        "| # | overrides | objective (validation, 95% interval) | weights | epochs | time | best val loss | test acc (95% interval) | test macro F1 | weakest class (test) | most-confused pair (test) |"
        + (" run |" if link else ""),
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---|---|" + ("---|" if link else ""),
    ]
    for i, row in enumerate(rows, 1):
        cols = _columns(row, folder)
        if row.ok:
            line = (
                f"| {i} | `{cols['overrides']}` | {objective_text(row)} | {cols['parameters']:,} | {cols['epochs']} | "
                f"{cols['wall_time_s']:.0f} s | {cols['best_val_loss']:.4f} | {test_acc_text(row)} | "
                f"{cols['test_f1_macro']:.4f} | {cols['weakest_class']} | {cols['most_confused']} |"
            )
        else:
            reason = f": {row.reason}" if row.reason else ""
            line = f"| {i} | `{cols['overrides']}` | {row.status}{reason} | | | | | | | | |"
        if link:
            line += f" [{run_name(row.path)}]({os.path.relpath(row.path, link_from)}) |"
        lines.append(line)
    return lines


def write_report(folder: Path, margin: float | None = None) -> list[RunRow]:
    """Write sweep_report.md, sweep_report.csv and sweep_val_loss.png into `folder`; return its
    runs, each once (copies and reruns of one run counted once, as the report says)."""
    folder = Path(folder)
    every = collect_runs(folder)
    distinct = count_once(every, folder)
    rows = ranked(distinct.rows)
    fields = [
        "run", "overrides", "status", "objective", "parameters", "epochs", "wall_time_s",
        "best_val_loss", "test_acc", "test_acc_low", "test_acc_high", "test_f1_macro", "weakest_class", "most_confused", "reason",
    ]  # fmt: skip
    with open(folder / REPORT_CSV, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(_columns(r, folder) for r in rows)

    sentences = [*conclusions(rows, margin), *distinct.notes]
    lines = [f"# Sweep report: {folder}", "", *[f"- {s}" for s in sentences], ""]
    ladder, search = rungs(rows), read_search(every)
    summary = []  # a ladder or a search first, then every run
    if ladder:
        summary = ladder_markdown(ladder)
    elif search:
        summary = search_markdown(folder, search, every)
    over_seeds = variants_markdown(ranked_variants([r for r in rows if r.ok]))
    summary += ([""] if summary and over_seeds else []) + over_seeds
    if summary:
        lines += [*summary, "", "## Every run, best on validation first", ""]
    lines += table_markdown(rows, folder)
    curves = {r.label: r.metrics.get("history", []) for r in rows if r.ok}
    if curves:
        save_figure(val_loss_figure(curves, f"Validation loss: {folder.name}"), folder / REPORT_PNG)
        lines += ["", f"![validation loss of every run]({REPORT_PNG})"]
    (folder / REPORT_MD).write_text("\n".join(lines) + "\n")
    return rows
