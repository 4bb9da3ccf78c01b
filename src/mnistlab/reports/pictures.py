"""The pictures a run folder gets at test time, and the rows of metrics.json behind them."""

from __future__ import annotations

from typing import Any

import torch
from matplotlib.figure import Figure
from torch import nn

from mnistlab.reports.attributions import attribution_maps, attributions_figure
from mnistlab.reports.cnn_pictures import convolutions, feature_maps_figure, filters_figure
from mnistlab.reports.mistakes import by_pair, find_mistakes, mistakes_figure

EXPLAINED = 6  # misclassified images whose attributions are drawn


def one_of_each_pair(rows: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """Up to `count` rows, taking each pair's most confident mistake in turn."""
    pairs = by_pair(rows)
    rounds = max((len(p) for p in pairs.values()), default=0)
    turns = [p[i] for i in range(rounds) for p in pairs.values() if i < len(p)]
    return turns[:count]


def test_pictures(
    net: nn.Module, datamodule: Any, confusion: torch.Tensor, class_names: list[str], title: str
) -> tuple[list[dict[str, Any]], dict[str, Figure]]:
    """The mistakes of the most-confused pairs, and the run's pictures by file name:
    mistakes.png and attributions.png; for a CNN also filters.png and feature_maps.png."""
    x, y = datamodule.tensors["test_x"], datamodule.tensors["test_y"].cpu()
    images = datamodule.test_images()  # as stored, also for a model that reads HOG features
    was_training = net.training
    net.eval()
    try:
        rows = find_mistakes(net, x, y, confusion)
        figures = {"mistakes.png": mistakes_figure(images, rows, class_names, title)}
        if shown := one_of_each_pair(rows, EXPLAINED):
            index = torch.tensor([r["index"] for r in shown])
            chosen = torch.tensor([r["predicted"] for r in shown])
            size = tuple(images.shape[1:])
            maps, method = attribution_maps(net, x[index], chosen, size, datamodule.hog)
            figures["attributions.png"] = attributions_figure(
                images, maps, shown, class_names, title, method
            )
        if convolutions(net):
            figures["filters.png"] = filters_figure(net, title)
            first = [int((y == c).nonzero()[0]) for c in range(len(class_names)) if (y == c).any()]
            figures["feature_maps.png"] = feature_maps_figure(
                net, x[first], images[first], [class_names[int(y[i])] for i in first], title
            )
    finally:
        net.train(was_training)
    return rows, figures
