"""A multi-layer perceptron: the lab's shallow network on pixels or HOG features."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from mnistlab.checks import whole_numbers
from mnistlab.models import layers


class MLP(nn.Sequential):
    """Flatten, then Dense(width) + activation (+ dropout) per hidden layer, then Dense(classes).

    The lab's models: hidden=[300] on 784 pixels (238,510 weights), hidden=[200] on 392 HOG
    features (80,610 weights). `batch_norm` puts a BatchNorm1d between each hidden layer and its
    activation (the layer then has no bias, which the norm's shift replaces).
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        hidden: Sequence[int] = (300,),
        dropout: float = 0.0,
        activation: str = "relu",
        batch_norm: bool = False,
    ) -> None:
        widths = whole_numbers("model.net.hidden", hidden, "the width of each hidden layer")
        p = layers.dropout_rate(dropout)
        modules: list[nn.Module] = [nn.Flatten()]
        n_in = math.prod(input_shape)
        for width in widths:
            modules.append(nn.Linear(n_in, width, bias=not batch_norm))
            if batch_norm:
                modules.append(nn.BatchNorm1d(width))
            modules.append(layers.activation(activation, "model.net.activation"))
            if p > 0:
                modules.append(nn.Dropout(p))
            n_in = width
        modules.append(nn.Linear(n_in, num_classes))
        super().__init__(*modules)
