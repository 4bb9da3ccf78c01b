"""A small convolutional network: the lab's CNN and its variants."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mnistlab.checks import whole_numbers
from mnistlab.errors import ConfigError
from mnistlab.models import layers


class CNN(nn.Module):
    """Blocks of Conv2d('same') + activation + 2x2 max-pooling, then dense layers.

    The lab's model (7,465 weights): filters [9, 9, 16], kernels [5, 5, 3], dense [25].
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
        if isinstance(kernel_sizes, int):
            kernel_sizes = [kernel_sizes] * len(filters)
        kernels = whole_numbers(
            "model.net.kernel_sizes", kernel_sizes, "each convolution's kernel size"
        )
        if len(kernels) != len(filters):
            raise ConfigError(
                f"model.net.kernel_sizes={kernels} has {len(kernels)} entries but "
                f"model.net.filters={filters} has {len(filters)}: give one kernel size per "
                "convolution, or a single number for all."
            )
        widths = whole_numbers(
            "model.net.dense", dense, "the width of each dense layer", allow_empty=True
        )
        p = layers.dropout_rate(dropout)

        channels, height, width = input_shape
        blocks: list[nn.Module] = []
        for n_filters, kernel in zip(filters, kernels, strict=True):
            if height // 2 < 1 or width // 2 < 1:
                raise ConfigError(
                    f"model.net.filters={filters} asks for {len(filters)} convolution blocks, but "
                    f"each halves the image with 2x2 pooling and {input_shape[1]}x{input_shape[2]} "
                    f"is down to {height}x{width} before block {len(blocks) // 3 + 1}, which "
                    "would leave less than 1x1. Use at most "
                    f"{_max_blocks(input_shape[1], input_shape[2])} blocks."
                )
            blocks += [
                nn.Conv2d(channels, n_filters, kernel, padding="same"),
                layers.activation(activation, "model.net.activation"),
                nn.MaxPool2d(2),
            ]
            channels, height, width = n_filters, height // 2, width // 2
        self.features = nn.Sequential(*blocks)

        head: list[nn.Module] = [nn.Flatten()]
        n_in = channels * height * width
        for units in widths:
            head += [nn.Linear(n_in, units), layers.activation(activation, "model.net.activation")]
            if p > 0:
                head.append(nn.Dropout(p))
            n_in = units
        head.append(nn.Linear(n_in, num_classes))
        self.classifier = nn.Sequential(*head)
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
