"""A small convolutional network: the lab's CNN and its variants, up to today's small CNNs."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mnistlab.checks import one_of, whole_numbers
from mnistlab.errors import ConfigError
from mnistlab.models import layers

HEADS = ("flatten", "gap")


def _per_block(key: str, values: Sequence[int] | int, blocks: int, what: str) -> list[int]:
    """One whole number per block; a single number stands for every block."""
    if isinstance(values, int) and not isinstance(values, bool):
        values = [values] * blocks
    numbers = whole_numbers(key, values, what)
    if len(numbers) != blocks:
        raise ConfigError(
            f"{key}={numbers} has {len(numbers)} entries but model.net.filters has {blocks} "
            "blocks: give one per block, or a single number for all."
        )
    return numbers


class CNN(nn.Module):
    """Blocks of convolutions ('same' padding) + activation, each block ending in 2x2
    max-pooling, then dense layers.

    The lab's model (7,465 weights): filters [9, 9, 16], kernels [5, 5, 3], dense [25], one
    convolution per block, flattened into the dense part. Off by default, today's options:
    `batch_norm` (a BatchNorm2d between each convolution and its activation; the convolution
    then has no bias, which the norm's shift replaces), `convs_per_block` (more than one
    convolution before each pooling), `head="gap"` (global average pooling of each channel
    instead of flattening the map) and `block_dropout` (dropout after each block).
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        filters: Sequence[int] = (9, 9, 16),
        kernel_sizes: Sequence[int] | int = (5, 5, 3),
        dense: Sequence[int] = (25,),
        dropout: float = 0.0,
        activation: str = "relu",
        channels_last: bool = True,
        batch_norm: bool = False,
        convs_per_block: Sequence[int] | int = 1,
        head: str = "flatten",
        block_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if len(input_shape) != 3:
            raise ConfigError(
                f"model=cnn needs images (channels x height x width), but the data gives flat "
                f"vectors of {input_shape[0]} features (HOG features have no 2-D layout to "
                "convolve). Use model=mlp with HOG features, or model=cnn with data=mnist or "
                "data=fashion."
            )
        filters = whole_numbers("model.net.filters", filters, "the filters of each convolution")
        kernels = _per_block(
            "model.net.kernel_sizes", kernel_sizes, len(filters), "each block's kernel size"
        )
        convs = _per_block(
            "model.net.convs_per_block", convs_per_block, len(filters),
            "how many convolutions each block has before its pooling",
        )  # fmt: skip
        widths = whole_numbers(
            "model.net.dense", dense, "the width of each dense layer", allow_empty=True
        )
        one_of("model.net.head", head, HEADS, "how the last block's maps reach the dense part")
        p = layers.dropout_rate(dropout)
        p_block = layers.dropout_rate(block_dropout, "model.net.block_dropout")

        channels, height, width = input_shape
        blocks: list[nn.Module] = []
        for number, (n_filters, kernel, n_convs) in enumerate(
            zip(filters, kernels, convs, strict=True), 1
        ):
            if height // 2 < 1 or width // 2 < 1:
                raise ConfigError(
                    f"model.net.filters={filters} asks for {len(filters)} convolution blocks, but "
                    f"each halves the image with 2x2 pooling and {input_shape[1]}x{input_shape[2]} "
                    f"is down to {height}x{width} before block {number}, which would leave less "
                    f"than 1x1. Use at most {_max_blocks(input_shape[1], input_shape[2])} blocks."
                )
            for _ in range(n_convs):
                blocks.append(
                    nn.Conv2d(channels, n_filters, kernel, padding="same", bias=not batch_norm)
                )
                if batch_norm:
                    blocks.append(nn.BatchNorm2d(n_filters))
                blocks.append(layers.activation(activation, "model.net.activation"))
                channels = n_filters
            blocks.append(nn.MaxPool2d(2))
            if p_block > 0:
                blocks.append(nn.Dropout(p_block))
            height, width = height // 2, width // 2
        self.features = nn.Sequential(*blocks)

        if head == "gap":
            head_layers: list[nn.Module] = [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
            n_in = channels
        else:
            head_layers = [nn.Flatten()]
            n_in = channels * height * width
        for units in widths:
            head_layers += [
                nn.Linear(n_in, units),
                layers.activation(activation, "model.net.activation"),
            ]
            if p > 0:
                head_layers.append(nn.Dropout(p))
            n_in = units
        head_layers.append(nn.Linear(n_in, num_classes))
        self.classifier = nn.Sequential(*head_layers)
        # Channels-last makes the convolutions about twice as fast on CPU (oneDNN's layout);
        # the same weights and the same results up to floating-point rounding.
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.to(memory_format=self.memory_format)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=self.memory_format)
        return self.classifier(self.features(x))


def _max_blocks(height: int, width: int) -> int:
    blocks = 0
    while height // 2 >= 1 and width // 2 >= 1:
        height, width, blocks = height // 2, width // 2, blocks + 1
    return blocks
