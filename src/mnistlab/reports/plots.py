"""Figures of a run: loss and accuracy curves per epoch, and the confusion matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def curves_figure(history: list[dict[str, float]], title: str) -> Figure:
    """Training and validation loss and accuracy per epoch, side by side."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
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
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    return fig


def confusion_figure(confusion: list[list[int]], class_names: list[str], title: str) -> Figure:
    """The confusion matrix with counts in each cell and class names on both axes."""
    matrix = np.asarray(confusion)
    n = len(class_names)
    size = 4.5 + 0.45 * n
    fig = Figure(figsize=(size, size * 0.9), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(np.log1p(matrix), cmap="Blues")
    threshold = np.log1p(matrix).max() / 2
    for i in range(n):
        for j in range(n):
            value = matrix[i, j]
            if value:
                color = "white" if np.log1p(value) > threshold else "black"
                ax.text(j, i, str(value), ha="center", va="center", color=color, fontsize=8)
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="log(1 + count)", shrink=0.8)
    return fig


def save_figure(fig: Figure, path: Path) -> None:
    FigureCanvasAgg(fig).print_png(str(path))


def figure_pixels(fig: Figure) -> np.ndarray:
    """The figure rendered as an RGB array (H, W, 3), e.g. for TensorBoard's images."""
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
