"""Questions 4 and 5 of the lab: each sweep's curves, table, confusion matrices and mistakes,
and the CNN on Fashion-MNIST in detail. Every number and picture comes from the runs' folders."""

from __future__ import annotations

import os
from pathlib import Path

from mnistlab.analysis.certainty import variants_markdown
from mnistlab.analysis.comparison import ranked_variants
from mnistlab.analysis.plots import save_figure, val_loss_figure
from mnistlab.analysis.run_rows import RunRow
from mnistlab.analysis.sweep_report import conclusions, ranked, table_markdown
from mnistlab.lab.questions import link
from mnistlab.terminal import percent


def picture(run_dir: Path, name: str, out_dir: Path, alt: str) -> str:
    return f"![{alt}]({os.path.relpath(run_dir / name, out_dir)})"


def sweep_section(
    experiment: str, title: str, rows: list[RunRow], log_dir: Path, out_dir: Path
) -> list[str]:
    """One sweep (a family of variants): ranked on validation data, test scores reported."""
    rows = ranked(rows)
    done = [r for r in rows if r.ok]
    lines = [
        f"### {title}",
        "",
        f"The sweep `python src/train.py -m experiment={experiment}`, {len(rows)} runs, ranked "
        "by their validation objective (the test set ranks nothing); each row links its run.",
        "",
        *[f"- {sentence}" for sentence in conclusions(rows)],
        "",
        *table_markdown(rows, log_dir, link_from=out_dir),
        "",
    ]
    over_seeds = variants_markdown(ranked_variants(done))
    lines += [*over_seeds, ""] if over_seeds else []
    if not done:
        return lines
    figure = f"{experiment}_val_loss.png"
    curves = {r.label: r.metrics.get("history", []) for r in done}
    save_figure(val_loss_figure(curves, f"Validation loss: {title}"), out_dir / figure)
    best, worst = done[0], done[-1]
    lines += [
        f"![validation loss of every run of {experiment}]({figure})",
        "",
        "Confusion matrices on the test set of the best and the worst run on validation "
        f"(rows: true class): best `{best.label}` ({link(best.path, out_dir)}), worst "
        f"`{worst.label}` ({link(worst.path, out_dir)}).",
        "",
        "| best on validation | worst on validation |",
        "|---|---|",
        f"| {picture(best.path, 'confusion_matrix.png', out_dir, 'best run, confusion matrix')} "
        f"| {picture(worst.path, 'confusion_matrix.png', out_dir, 'worst run, confusion matrix')} |",
        "",
        f"What the best run confuses: {_pairs(best)}. Its test images of those pairs that it "
        "got wrong, titled true → chosen (probability):",
        "",
        picture(best.path, "mistakes.png", out_dir, "mistakes of the best run"),
        "",
    ]
    return lines


def _pairs(row: RunRow) -> str:
    pairs = row.metrics.get("most_confused", [])[:3]
    return "; ".join(p["text"] for p in pairs) if pairs else "nothing"


def fashion_section(row: RunRow | None, out_dir: Path) -> list[str]:
    """The notebook's CNN on Fashion-MNIST: curves, test scores, F1 per class, confusions."""
    if row is None or not row.ok:
        reason = "not part of this lab's configuration" if row is None else row.reason
        return [f"The notebook's CNN on Fashion-MNIST is missing: {reason}.", ""]
    test, run = row.metrics["test"], row.metrics["run"]
    lines = [
        f"### The notebook's CNN on Fashion-MNIST (run {link(row.path, out_dir)})",
        "",
        f"`{run['command']}`: {run['parameters']:,} weights, {run['epochs']} epoch{'s' if run['epochs'] != 1 else ''}.",
        "",
        picture(row.path, "curves.png", out_dir, "loss and accuracy per epoch"),
        "",
        "| test accuracy | macro F1 | test loss | test images |",
        "|---:|---:|---:|---:|",
        f"| {percent(test['acc'])} | {test['f1_macro']:.4f} | {test['loss']:.4f} | "
        f"{test['size']:,} |",
        "",
        "| category | F1 |",
        "|---|---:|",
        *[f"| {name} | {value:.4f} |" for name, value in test["f1_per_class"].items()],
        "",
        picture(row.path, "confusion_matrix.png", out_dir, "confusion matrix"),
        "",
        f"The categories it confuses most: {_pairs(row)}. The weakest category is "
        f"{row.metrics['weakest_class']['name']} (F1 {row.metrics['weakest_class']['f1']:.4f}). "
        "Test images of those pairs it got wrong:",
        "",
        picture(row.path, "mistakes.png", out_dir, "Fashion-MNIST mistakes"),
        "",
    ]
    return lines
