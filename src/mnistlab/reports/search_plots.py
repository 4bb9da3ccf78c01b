"""Figures of an Optuna search: its history, and its Pareto front of accuracy against weights."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


def history_figure(
    trials: list[tuple[int, list[float]]],
    names: list[str],
    lower: list[bool],
    title: str,
    pruned: list[tuple[int, float | None]] = (),
) -> Figure:
    """Each objective per trial (dots) and the best value so far (a step line), one panel each;
    pruned trials (one objective only) as crosses at the value they were stopped at."""
    fig = Figure(figsize=(5.5 * len(names), 4), layout="constrained")
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for k, (ax, name) in enumerate(zip(axes, names, strict=True)):
        numbers = [n for n, _ in trials]
        values = [v[k] for _, v in trials]
        best, so_far = [], None
        for value in values:
            better = so_far is None or (value < so_far if lower[k] else value > so_far)
            so_far = value if better else so_far
            best.append(so_far)
        ax.plot(numbers, values, "o", alpha=0.5, label="trial")
        ax.step(numbers, best, where="post", color="C3", label="best so far")
        stopped = [(n, v) for n, v in pruned if v is not None]
        if stopped and len(names) == 1:
            ax.plot(*zip(*stopped, strict=True), "x", color="0.4", label="pruned (when stopped)")
        ax.set_xlabel("trial")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(name + (" (lower is better)" if lower[k] else " (higher is better)"))
        if name == "weights":
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return fig


def pareto_figure(
    points: list[tuple[int, float]],
    front: list[tuple[int, float]],
    marks: dict[str, int],
    ylabel: str,
    title: str,
) -> Figure:
    """Every trial's validation score against its weights (log scale), the front highlighted as
    a staircase, and reference models (e.g. the lab's) marked by their weights."""
    fig = Figure(figsize=(9, 5.5), layout="constrained")
    ax = fig.subplots()
    ax.scatter(*zip(*points, strict=True), s=24, color="0.6", label="trial")
    front = sorted(front)
    ax.step(*zip(*front, strict=True), where="post", color="C3", alpha=0.6)
    ax.scatter(*zip(*front, strict=True), s=44, color="C3", label="Pareto front", zorder=3)
    for i, (label, weights) in enumerate(marks.items()):
        ax.axvline(weights, color=f"C{i}", linestyle="--", linewidth=1)
        ax.annotate(f"{label}: {weights:,} weights", (weights, 0.02), xycoords=("data", "axes fraction"),
                    rotation=90, fontsize=8, xytext=(-10, 0), textcoords="offset points")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("trainable weights (log scale)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which="both")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    return fig
