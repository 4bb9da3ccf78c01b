"""A run's answers to the lab's questions: metrics.json, report.md, figures and terminal tables."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from rich.console import Group
from rich.table import Table

from mnistlab.reports.certainty import f1_text
from mnistlab.reports.metrics import confused_pairs
from mnistlab.reports.plots import confusion_figure, curves_figure, save_figure
from mnistlab.reports.predictions import SplitPredictions
from mnistlab.reports.stats import accuracy_interval, macro_f1_interval
from mnistlab.runs.describe import VALIDATED_ON_TEST
from mnistlab.runs.folders import METRICS
from mnistlab.terminal import with_interval


def run_summary(
    results: dict[str, Any],
    history: list[dict[str, float]],
    class_names: list[str],
    run: dict[str, Any],
    predictions: dict[str, SplitPredictions] | None = None,
) -> dict[str, Any]:
    """Everything a run found, as plain values (the content of metrics.json), each accuracy
    with its 95% interval (Wilson) and macro F1 with a bootstrap one, from the per-example
    `predictions` when the run has them."""
    confusion = torch.tensor(results["confusion_matrix"])
    size = int(confusion.sum())
    pairs = confused_pairs(confusion, class_names, top=5)
    f1 = results["f1_per_class"]
    weakest = min(f1, key=f1.get)
    val_rows = [row for row in history if "val/loss" in row]
    best = min(val_rows, key=lambda row: row["val/loss"]) if val_rows else None
    test = {
        "acc": results["acc"],
        "acc_interval": list(accuracy_interval(int(confusion.trace()), size)),
        "f1_macro": results["f1_macro"],
        "loss": results["loss"],
        "size": size,
        "f1_per_class": f1,
    }
    val = {}
    if predictions:
        tested = predictions["test"]
        test["f1_macro_interval"] = list(
            macro_f1_interval(tested.label, tested.predicted, len(class_names))
        )
        held_out = predictions["val"]
        correct, n = int(held_out.correct.sum()), len(held_out.label)
        val = {"acc": correct / n, "acc_interval": list(accuracy_interval(correct, n)), "size": n}
    return {
        "run": run,
        "test": test,
        **({"val": val} if val else {}),
        "weakest_class": {"name": weakest, "f1": f1[weakest]},
        "most_confused": [
            {"true": p.true, "predicted": p.predicted, "count": p.count, "text": p.sentence()}
            for p in pairs
        ],
        "confusion_matrix": {
            "classes": class_names,
            "rows": "true class",
            "columns": "predicted class",
            "matrix": results["confusion_matrix"],
        },
        # The test images of the most-confused pairs taken for the wrong class (class indices).
        "mistakes": results.get("mistakes", []),
        "best_val_loss": best["val/loss"] if best else None,
        "best_epoch": best["epoch"] if best else None,
        "history": history,
    }


# What each picture of a run folder shows, in one sentence (report.md).
PICTURES = {
    "mistakes.png": "Test images of the three most-confused pairs that the model got wrong, each "
    "titled with its true class, the class chosen and the probability given to it:",
    "attributions.png": "Where the model looked when it chose the wrong class, for some of those "
    "images (captum: Grad-CAM for a CNN, integrated gradients for an MLP); red regions pushed it "
    "towards the class it chose:",
    "filters.png": "The first convolution's kernels, the strokes and edges it responds to:",
    "feature_maps.png": "One test image per class through each convolution, its most responsive "
    "channels at that convolution's resolution:",
}


def report_markdown(
    summary: dict[str, Any], title: str, breakdown_md: str, pictures: Iterable[str] = ()
) -> str:
    test, run = summary["test"], summary["run"]
    names = summary["confusion_matrix"]["classes"]
    matrix = summary["confusion_matrix"]["matrix"]
    lines = [
        f"# {title}",
        "",
        f"Command: `{run.get('command', '')}`",
        "",
        *([f"**{VALIDATED_ON_TEST}**", ""] if run.get("val_on_test") else []),
        "## Model and its weights (Question 2)",
        "",
        breakdown_md,
        "## Test set",
        "",
        "| accuracy (95% interval) | macro F1 (95% interval) | loss | images | weights tested | "
        "epochs | wall time |",
        "|---:|---:|---:|---:|---|---:|---:|",
        f"| {with_interval(test['acc'], test.get('acc_interval'))} | {f1_text(test)} | "
        f"{test['loss']:.4f} | "
        f"{test['size']:,} | {run.get('test_weights', '')} | {run.get('epochs', '')} | "
        f"{run.get('wall_time_s', 0):.1f} s |",
        "",
        "## F1 per class",
        "",
        "| class | F1 | test images |",
        "|---|---:|---:|",
    ]
    for i, name in enumerate(names):
        lines.append(f"| {name} | {test['f1_per_class'][name]:.4f} | {sum(matrix[i]):,} |")
    lines += ["", "## Most-confused pairs", ""]
    lines += [f"- {pair['text']}" for pair in summary["most_confused"]] or ["- none"]
    lines += _pictures(pictures, ("mistakes.png", "attributions.png"))
    lines += [
        "",
        "## Confusion matrix (rows: true class, columns: predicted)",
        "",
        "![confusion matrix](confusion_matrix.png)",
        "",
        "| true \\ predicted | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for name, row in zip(names, matrix, strict=True):
        lines.append(f"| **{name}** | " + " | ".join(str(v) for v in row) + " |")
    lines += ["", "## Loss and accuracy per epoch", "", "![curves](curves.png)", ""]
    if summary["history"]:
        lines += [
            "| epoch | train loss | train acc | val loss | val acc |",
            "|---:|---:|---:|---:|---:|",
        ]
        for row in summary["history"]:
            cells = [row.get(k) for k in ("train/loss", "train/acc", "val/loss", "val/acc")]
            text = [f"{v:.4f}" if v is not None else "-" for v in cells]
            lines.append(f"| {row['epoch']} | " + " | ".join(text) + " |")
    learned = _pictures(pictures, ("filters.png", "feature_maps.png"))
    if learned:
        lines += ["", "## What the convolutions learned", *learned]
    return "\n".join(lines) + "\n"


def _pictures(pictures: Iterable[str], names: tuple[str, ...]) -> list[str]:
    lines = []
    for name in (n for n in names if n in pictures):
        lines += ["", PICTURES[name], "", f"![{name.removesuffix('.png')}]({name})"]
    return lines


def write_run_files(
    out_dir: Path,
    summary: dict[str, Any],
    title: str,
    breakdown_md: str,
    pictures: dict[str, np.ndarray] | None = None,
) -> None:
    """metrics.json, report.md, curves.png, confusion_matrix.png and `pictures` (RGB pixels,
    by file name) in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / METRICS).write_text(json.dumps(summary, indent=2) + "\n")
    pictures = pictures or {}
    (out_dir / "report.md").write_text(report_markdown(summary, title, breakdown_md, pictures))
    names = summary["confusion_matrix"]["classes"]
    save_figure(
        confusion_figure(summary["confusion_matrix"]["matrix"], names, title),
        out_dir / "confusion_matrix.png",
    )
    if summary["history"]:
        save_figure(curves_figure(summary["history"], title), out_dir / "curves.png")
    for name, pixels in pictures.items():
        Image.fromarray(pixels).save(out_dir / name)


def results_renderable(summary: dict[str, Any], title: str) -> Group:
    """The terminal's closing tables: scores, F1 per class, and the most-confused pairs."""
    test = summary["test"]
    scores = Table(title=f"Test set: {title}", title_justify="left")
    scores.add_column("accuracy (95% interval)", justify="right")
    scores.add_column("macro F1 (95% interval)", justify="right")
    scores.add_column("loss", justify="right")
    scores.add_column("images", justify="right")
    scores.add_row(
        with_interval(test["acc"], test.get("acc_interval")), f1_text(test),
        f"{test['loss']:.4f}", f"{test['size']:,}",
    )  # fmt: skip

    per_class = Table(title="F1 per class", title_justify="left")
    per_class.add_column("class")
    per_class.add_column("F1", justify="right")
    weakest = summary["weakest_class"]["name"]
    for name, value in test["f1_per_class"].items():
        style = "bold red" if name == weakest else None
        per_class.add_row(name, f"{value:.4f}", style=style)

    confused = Table(title="Most-confused pairs", title_justify="left")
    confused.add_column("true class taken for predicted class")
    for pair in summary["most_confused"]:
        confused.add_row(pair["text"])
    return Group(scores, per_class, confused)
