"""Questions 4 and 5 of the lab: each sweep's curves, table, confusion matrices and mistakes,
and the CNN on Fashion-MNIST in detail. Every number and picture comes from the runs' folders."""

from __future__ import annotations

import os
from pathlib import Path

from mnistlab.lab.questions import link
from mnistlab.reports.certainty import (
    f1_text,
    test_acc_text,
    variant_accuracy,
    variant_interval,
    variants_markdown,
)
from mnistlab.reports.plots import save_figure, val_loss_figure
from mnistlab.reports.protocol import ranks_nothing
from mnistlab.reports.run_rows import RunRow
from mnistlab.reports.sweep_report import conclusions, ranked, table_markdown
from mnistlab.reports.variants import Variant, ranked_variants


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
        f"by their validation objective ({ranks_nothing(rows)}); each row links its run.",
        "",
        *[f"- {sentence}" for sentence in conclusions(rows)],
        "",
        *table_markdown(rows, log_dir, link_from=out_dir),
        "",
    ]
    # Last, as the sweep's one subsection: what follows a heading belongs to it.
    over_seeds = variants_markdown(ranked_variants(done), heading="####")
    over_seeds = [*over_seeds, ""] if over_seeds else []
    if not done:
        return lines + over_seeds
    figure = f"{experiment}_val_loss.png"
    curves = {r.label: r.metrics.get("history", []) for r in done}
    save_figure(val_loss_figure(curves, f"Validation loss: {title}"), out_dir / figure, svg=True)
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
        *over_seeds,
    ]
    return lines


def _pairs(row: RunRow) -> str:
    pairs = row.metrics.get("most_confused", [])[:3]
    return "; ".join(p["text"] for p in pairs) if pairs else "nothing"


def fashion_section(
    fashion: list[RunRow] | None, mnist: list[RunRow] | None, out_dir: Path
) -> list[str]:
    """The notebook's CNN on Fashion-MNIST (its runs, one per seed): curves, test scores with
    their intervals, F1 per class, confusions, and how it compares with the same CNN on MNIST."""
    row = fashion[0] if fashion else None
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
        "| test accuracy (95% interval) | macro F1 (95% interval) | test loss | test images |",
        "|---:|---:|---:|---:|",
        f"| {test_acc_text(row)} | {f1_text(test)} | {test['loss']:.4f} | {test['size']:,} |",
        "",
        *_against_mnist(fashion, mnist),
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


def _against_mnist(fashion: list[RunRow], mnist: list[RunRow] | None) -> list[str]:
    """Fashion-MNIST against MNIST for the same CNN: two test sets, so no paired test; their
    intervals, and whether they overlap."""
    done = [r for r in mnist or [] if r.ok]
    if not done:
        return []
    on_fashion = Variant("Fashion-MNIST", [r for r in fashion if r.ok])
    on_mnist = Variant("MNIST", done)
    (f_low, f_high), (m_low, m_high) = variant_interval(on_fashion), variant_interval(on_mnist)
    apart = f_high < m_low or m_high < f_low
    gap = 100 * (on_mnist.mean_accuracy("test") - on_fashion.mean_accuracy("test"))
    return [
        f"The same network on MNIST: {variant_accuracy(on_mnist)}; on Fashion-MNIST "
        f"{variant_accuracy(on_fashion)}. Two different test sets, so no paired test: "
        + (
            f"the 95% intervals do not overlap, and Fashion-MNIST costs it about {gap:.1f} "
            "points of accuracy."
            if apart
            else "the 95% intervals overlap, so these runs cannot tell the two apart."
        ),
        "",
    ]
