"""Figures of a run: loss and accuracy curves per epoch, and the confusion matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

DPI = 150  # every picture: sharp enough to paste into a report and print


def curves_figure(history: list[dict[str, float]], title: str) -> Figure:
    """Training and validation loss and accuracy per epoch, side by side, on whole epochs; a
    run of one or two epochs shows each value beside its point."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    last = max((row["epoch"] for row in history), default=1)
    for ax, metric, label in (
        (ax_loss, "loss", "Loss (cross-entropy)"),
        (ax_acc, "acc", "Accuracy"),
    ):
        for split, style in (("train", "o-"), ("val", "s--")):
            points = [
                (row["epoch"], row[f"{split}/{metric}"])
                for row in history
                if f"{split}/{metric}" in row
            ]
            if points:
                epochs, values = zip(*points, strict=True)
                ax.plot(
                    epochs, values, style, label="training" if split == "train" else "validation"
                )
                if last <= 2:  # too few points for a curve: say the values
                    for epoch, value in points:
                        ax.annotate(f"{value:.4f}", (epoch, value), textcoords="offset points",
                                    xytext=(8, 0), va="center", fontsize=8)  # fmt: skip
        if last <= 12:  # every epoch a tick
            ax.set_xticks(range(1, last + 1))
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0.5, last + 0.5)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    return fig


def confusion_figure(confusion: list[list[int]], class_names: list[str], title: str) -> Figure:
    """The confusion matrix with the count in every cell (zeros too) and class names on both
    axes; the colour is the count on a log scale, so a few mistakes show beside many successes."""
    matrix = np.asarray(confusion)
    n = len(class_names)
    size = 4.5 + 0.45 * n
    fig = Figure(figsize=(size, size * 0.9), layout="constrained")
    ax = fig.subplots()
    norm = LogNorm(vmin=1, vmax=max(int(matrix.max()), 2))
    image = ax.imshow(np.ma.masked_equal(matrix, 0), cmap="Blues", norm=norm)  # 0: left white
    for i in range(n):
        for j in range(n):
            value = matrix[i, j]
            color = "white" if value and norm(value) > 0.5 else ("0.6" if not value else "black")
            ax.text(j, i, str(value), ha="center", va="center", color=color, fontsize=8)
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    bar = fig.colorbar(
        image, ax=ax, label="images (colour on a log scale; white: none)", shrink=0.8
    )
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    return fig


def save_figure(fig: Figure, path: Path, svg: bool = False) -> None:
    """The figure as the file `path` names, a PNG at DPI; with `svg`, the same drawing as an SVG
    beside it (the lab report's HTML shows that one: sharp at any zoom and in print)."""
    fig.savefig(str(path), dpi=DPI)
    if svg:
        fig.savefig(str(path.with_suffix(".svg")))


def figure_pixels(fig: Figure) -> np.ndarray:
    """The figure rendered as an RGB array (H, W, 3) at DPI, as save_figure writes it (for
    TensorBoard's images)."""
    fig.set_dpi(DPI)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def val_loss_figure(curves: dict[str, list[dict[str, float]]], title: str) -> Figure:
    """The validation loss per epoch of several runs, overlaid (one line per run)."""
    fig = Figure(figsize=(10, 5.5), layout="constrained")
    ax = fig.subplots()
    colors = colormaps["tab10" if len(curves) <= 10 else "tab20"].colors
    for i, (label, history) in enumerate(curves.items()):
        points = [(row["epoch"], row["val/loss"]) for row in history if "val/loss" in row]
        if points:
            epochs, values = zip(*points, strict=True)
            style = ("-", "--", ":")[i // len(colors) % 3]  # more runs than colours: vary the line
            ax.plot(epochs, values, style, marker=".", color=colors[i % len(colors)], label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation loss")
    ax.grid(alpha=0.3)
    ax.set_title(title)
    if curves:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def accuracy_weights_figure(
    groups: dict[str, list[tuple[int, float]]], marked: dict[str, tuple[int, float]], title: str
) -> Figure:
    """Test accuracy against trainable weights (log scale), one colour per kind of model;
    `marked` points (e.g. the notebooks' models) are circled and named."""
    fig = Figure(figsize=(9, 5.5), layout="constrained")
    ax = fig.subplots()
    for label, points in groups.items():
        weights, accuracies = zip(*points, strict=True)
        ax.scatter(weights, [100 * a for a in accuracies], label=label, s=28, alpha=0.85)
    for name, (weights, accuracy) in marked.items():
        ax.scatter([weights], [100 * accuracy], s=160, facecolors="none", edgecolors="black")
        ax.annotate(name, (weights, 100 * accuracy), textcoords="offset points", xytext=(8, -12),
                    fontsize=8)  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("trainable weights (log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3, which="both")
    ax.set_title(title)
    if groups:
        ax.legend(fontsize=8, loc="lower right")
    return fig
