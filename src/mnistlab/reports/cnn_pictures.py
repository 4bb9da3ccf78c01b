"""What a CNN learned: its first layer's kernels, and what each convolution responds to."""

from __future__ import annotations

import torch
from matplotlib.figure import Figure
from torch import nn

CHANNELS_SHOWN = 4  # per convolution: those responding most to the images shown


def convolutions(net: nn.Module) -> list[nn.Conv2d]:
    return [m for m in net.modules() if isinstance(m, nn.Conv2d)]


def filters_figure(net: nn.Module, title: str) -> Figure:
    """The first convolution's kernels (summed over input channels) on one colour scale: red
    positive, blue negative, white zero."""
    weight = convolutions(net)[0].weight.detach().float().cpu().sum(1)  # (filters, k, k)
    limit = float(weight.abs().max()) or 1.0
    columns = min(len(weight), 12)
    rows = -(-len(weight) // columns)
    fig = Figure(figsize=(1.3 * columns, 1.3 * rows + 0.7), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < len(weight):
            image = ax.imshow(weight[i].numpy(), cmap="bwr", vmin=-limit, vmax=limit)
            ax.set_title(f"filter {i + 1}", fontsize=8)
    fig.colorbar(image, ax=axes, label="weight", shrink=0.9, pad=0.02)
    size = "x".join(str(s) for s in weight.shape[1:])
    fig.suptitle(f"{title}\nthe first convolution's {len(weight)} kernels ({size})", fontsize=10)
    return fig


@torch.no_grad()
def feature_maps_figure(
    net: nn.Module, x: torch.Tensor, images: torch.Tensor, class_names: list[str], title: str
) -> Figure:
    """One test image per class (rows) and, for each convolution, the outputs of the channels
    that respond most to these images, at that convolution's resolution."""
    convs, outputs = convolutions(net), []
    hooks = [
        c.register_forward_hook(lambda m, i, o: outputs.append(o.float().cpu())) for c in convs
    ]
    try:
        net(x.to(next(net.parameters()).device))
    finally:
        for hook in hooks:
            hook.remove()
    picked = [o[:, o.mean((0, 2, 3)).argsort(descending=True)[:CHANNELS_SHOWN]] for o in outputs]
    columns = 1 + sum(p.shape[1] for p in picked)
    fig = Figure(figsize=(1.0 * columns, 1.05 * len(x) + 1.3), layout="constrained")
    axes = fig.subplots(len(x), columns, squeeze=False)
    c = 1
    for layer, maps in enumerate(picked, start=1):  # one colour scale per convolution
        low, high = float(maps.min()), float(maps.max())
        for k in range(maps.shape[1]):
            for r in range(len(x)):
                image = axes[r][c + k].imshow(maps[r, k].numpy(), cmap="viridis", vmin=low,
                                              vmax=high)  # fmt: skip
            size = "x".join(map(str, maps.shape[2:]))
            axes[0][c + k].set_title(f"Conv {layer}\nchannel {k + 1}\n{size}", fontsize=7)
        fig.colorbar(image, ax=axes[:, c : c + maps.shape[1]], orientation="horizontal",
                     label=f"Conv {layer} output", shrink=0.9, aspect=12)  # fmt: skip
        c += maps.shape[1]
    for r in range(len(x)):
        axes[r][0].imshow(images[r].numpy(), cmap="gray", vmin=0, vmax=255)
        axes[r][0].set_ylabel(class_names[r], fontsize=8)
    axes[0][0].set_title("input", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        f"{title}\none test image per class through each convolution "
        f"(the {CHANNELS_SHOWN} channels responding most)",
        fontsize=10,
    )
    return fig
