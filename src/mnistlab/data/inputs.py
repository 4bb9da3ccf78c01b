"""What a model sees: uint8 images as scaled pixels or HOG features, normalised as in training.

Shared by the datamodule and by predict, which must prepare a user's picture exactly as training did.
"""

from __future__ import annotations

from typing import Any

import torch

from mnistlab.data.catalog import IMAGE_SIZE
from mnistlab.data.hog import HogParams, hog_features


def input_shape(hog: dict[str, Any] | None) -> tuple[int, ...]:
    """The shape of one input, from the data's settings alone: an image, or its HOG features."""
    return (HogParams(**hog).feature_length(IMAGE_SIZE),) if hog else (1, IMAGE_SIZE, IMAGE_SIZE)


def scale_pixels(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, 28, 28) to floats in [0, 1] with a channel axis, as the notebooks (x / 255)."""
    return images.unsqueeze(1).float().div_(255.0)


def normalize(x: torch.Tensor, normalization: dict[str, float]) -> torch.Tensor:
    """Subtract the training split's mean and divide by its std (identity when not standardizing)."""
    if normalization["mean"] == 0.0 and normalization["std"] == 1.0:
        return x
    return (x - normalization["mean"]) / normalization["std"]


def model_inputs(images: torch.Tensor, description: dict[str, Any]) -> torch.Tensor:
    """uint8 images (N, 28, 28) as a model trained on `description`'s data sees them."""
    hog = description.get("hog")
    x = hog_features(images, HogParams(**hog)) if hog else scale_pixels(images)
    return normalize(x, description["normalization"])
