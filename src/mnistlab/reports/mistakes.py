"""The test images a model got wrong, for the most-confused pairs of classes, as a picture."""

from __future__ import annotations

from typing import Any

import torch
from matplotlib.figure import Figure
from torch import nn

from mnistlab.reports.metrics import top_pairs


@torch.no_grad()
def find_mistakes(
    net: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    confusion: torch.Tensor,
    pairs: int = 3,
    per_pair: int = 6,
    batch_size: int = 1000,
) -> list[dict[str, Any]]:
    """For the `pairs` most-confused (true, predicted) pairs, the `per_pair` test images the
    model (in eval mode) took for the wrong class most confidently: index, true, predicted,
    probability."""
    device = next(net.parameters()).device
    probabilities = torch.cat(
        [
            torch.softmax(net(x[i : i + batch_size].to(device)).float(), 1).cpu()
            for i in range(0, len(y), batch_size)
        ]
    )
    confidence, predicted = probabilities.max(1)
    y = y.cpu()
    rows = []
    for true, wrong, _ in top_pairs(confusion, pairs):
        index = torch.nonzero((y == true) & (predicted == wrong)).flatten()
        for i in index[torch.argsort(confidence[index], descending=True)][:per_pair].tolist():
            rows.append(
                {
                    "index": i,
                    "true": true,
                    "predicted": wrong,
                    "probability": round(float(confidence[i]), 4),
                }
            )
    return rows


def by_pair(rows: list[dict[str, Any]]) -> dict[tuple[int, int], list[dict[str, Any]]]:
    """The rows of each (true, predicted) pair, pairs in their order of appearance."""
    pairs: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for row in rows:
        pairs.setdefault((row["true"], row["predicted"]), []).append(row)
    return pairs


def mistakes_figure(
    images: torch.Tensor, mistakes: list[dict[str, Any]], class_names: list[str], title: str
) -> Figure:
    """One row per confused pair: the test images (uint8, shown as stored), each titled
    'true -> predicted (probability)'."""
    pairs = by_pair(mistakes)
    columns = max((len(rows) for rows in pairs.values()), default=1)
    fig = Figure(figsize=(1.6 * columns, 1.9 * max(len(pairs), 1) + 0.5), layout="constrained")
    axes = fig.subplots(max(len(pairs), 1), columns, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for r, rows in enumerate(pairs.values()):
        for c, row in enumerate(rows):
            ax = axes[r][c]
            ax.imshow(images[row["index"]].numpy(), cmap="gray", vmin=0, vmax=255)
            ax.set_title(
                f"{class_names[row['true']]} → {class_names[row['predicted']]}\n"
                f"({row['probability']:.2f})",
                fontsize=8,
            )
    if not pairs:
        axes[0][0].text(0.5, 0.5, "no mistakes on the test set", ha="center", va="center")
    fig.suptitle(
        f"{title}\ntest images taken for another class (true → predicted, probability)",
        fontsize=10,
    )
    return fig
