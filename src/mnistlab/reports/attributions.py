"""Where a model looked when it chose a class: captum's Grad-CAM for CNNs, its integrated
gradients for MLPs (summed per HOG cell when the MLP reads HOG features), drawn over the image."""

from __future__ import annotations

from typing import Any

import torch
from matplotlib.figure import Figure
from torch import nn

from mnistlab.data.hog import HogParams
from mnistlab.reports.cnn_pictures import convolutions


def attribution_maps(
    net: nn.Module, x: torch.Tensor, targets: torch.Tensor, size: tuple[int, int],
    hog: HogParams | None = None,
) -> tuple[torch.Tensor, str]:  # fmt: skip
    """(N, H, W) maps of how much each region pushed the model towards `targets`, and the method."""
    from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam  # a slow import

    device = next(net.parameters()).device
    # Test hooks run under Lightning's inference mode; attributions need gradients, and tensors
    # made outside it (clones).
    with torch.inference_mode(False), torch.enable_grad():
        x, targets = x.to(device).clone().requires_grad_(True), targets.to(device).clone()
        if convs := convolutions(net):
            cam = LayerGradCam(net, convs[-1]).attribute(x, target=targets, relu_attributions=True)
            maps = LayerAttribution.interpolate(cam, size, interpolate_mode="bilinear")[:, 0]
            method = "Grad-CAM on the last convolution; red: the regions that raised its score"
        else:
            attr = IntegratedGradients(net).attribute(x, target=targets, n_steps=32)
            maps = hog_cell_maps(attr, hog, size) if hog else attr.reshape(len(x), *size)
            method = "integrated gradients" + (" summed per HOG cell" if hog else "")
            method += "; red: towards it, blue: against it"
    return maps.detach().float().cpu(), method


def hog_cell_maps(attr: torch.Tensor, hog: HogParams, size: tuple[int, int]) -> torch.Tensor:
    """HOG-feature attributions as pixel maps: each block's share added to the cells it covers."""
    n, b, cell = len(attr), hog.cells_per_block, hog.pixels_per_cell
    cells = size[0] // cell, size[1] // cell
    blocks = attr.reshape(n, cells[0] - b + 1, cells[1] - b + 1, b, b, hog.orientations).sum(-1)
    grid = torch.zeros(n, *cells, dtype=attr.dtype, device=attr.device)
    for i in range(b):
        for j in range(b):
            grid[:, i : i + blocks.shape[1], j : j + blocks.shape[2]] += blocks[:, :, :, i, j]
    pixels = grid.repeat_interleave(cell, 1).repeat_interleave(cell, 2)
    out = torch.zeros(n, *size, dtype=attr.dtype, device=attr.device)
    out[:, : pixels.shape[1], : pixels.shape[2]] = pixels
    return out


def attributions_figure(
    images: torch.Tensor, maps: torch.Tensor, rows: list[dict[str, Any]],
    class_names: list[str], title: str, method: str,
) -> Figure:  # fmt: skip
    """Each misclassified image (top) and, below it, the map for the class it was taken for."""
    columns = max(len(rows), 1)
    fig = Figure(figsize=(1.6 * columns, 4.2), layout="constrained")
    axes = fig.subplots(2, columns, squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.spines[:].set_visible(False)
    axes[0][0].set_ylabel("the image\n(true → taken for)", fontsize=8)
    axes[1][0].set_ylabel("where it pointed to\nthe wrong class", fontsize=8)
    for c, (row, heat) in enumerate(zip(rows, maps, strict=True)):
        image = images[row["index"]].numpy()
        axes[0][c].imshow(image, cmap="gray", vmin=0, vmax=255)
        axes[0][c].set_title(
            f"{class_names[row['true']]} → {class_names[row['predicted']]}", fontsize=8
        )
        limit = float(heat.abs().max()) or 1.0
        axes[1][c].imshow(image, cmap="gray", vmin=0, vmax=255)
        axes[1][c].imshow(heat.numpy(), cmap="bwr", vmin=-limit, vmax=limit, alpha=0.6)
    fig.suptitle(f"{title}\nwhy the wrong class ({method})", fontsize=10)
    return fig
