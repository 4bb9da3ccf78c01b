"""Data augmentation on training minibatches: batched, on the training device, seeded.

Each training minibatch is transformed as it is sliced from the in-memory tensors, with a random
generator seeded by (seed, epoch, minibatch, process): the same seed gives the same images, a
run resumed mid-epoch repeats exactly what the uninterrupted one saw, and validation and test
data are never touched. Every output pixel is a convex mix of input pixels and the blank
background, so images stay in their input range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from mnistlab.checks import number_between, one_of
from mnistlab.errors import ConfigError

# Random erasing: the rectangle's aspect ratio (height / width) is drawn log-uniformly in this range.
ERASE_RATIOS = (0.3, 3.3)
ERASE_MIN_AREA = 0.02


@dataclass(frozen=True)
class Augment:
    """Random shifts, rotations, scaling, horizontal flips and erased rectangles.

    shift: up to this fraction of the image size in each direction (0.1: about 3 pixels).
    rotate: up to this many degrees either way. scale: a zoom factor in [1 - scale, 1 + scale].
    flip: mirror half the images left to right (Fashion-MNIST only: a mirrored digit is no digit).
    erase: the probability of blanking one rectangle of up to `erase_area` of the image.
    """

    shift: float = 0.0
    rotate: float = 0.0
    scale: float = 0.0
    flip: bool = False
    erase: float = 0.0
    erase_area: float = 0.2

    def __post_init__(self) -> None:
        for key, high, example, what in (
            ("shift", 0.5, 0.1, "the largest shift, as a fraction of the image size"),
            ("rotate", 180, 10, "the largest rotation either way, in degrees"),
            ("scale", 0.9, 0.1, "how far the zoom factor may go from 1 either way"),
            ("erase", 1, 0.5, "the probability of erasing a rectangle of each image"),
            ("erase_area", 1, 0.2, "the largest share of an image one erased rectangle covers"),
        ):
            number_between(f"augment.{key}", getattr(self, key), 0, high, what,
                           hint=f"0 turns it off; e.g. augment.{key}={example}.")  # fmt: skip
        one_of("augment.flip", self.flip, (False, True), "whether half the images are mirrored")

    @property
    def active(self) -> bool:
        return bool(self.shift or self.rotate or self.scale or self.flip or self.erase)

    def check_fits(self, info: Any, hog: bool) -> None:
        """Refuse augmenting what it cannot apply to: HOG features, or digits mirrored."""
        if hog:
            raise ConfigError(
                f"Augmentation ({self}) moves and erases image pixels, but this data is "
                "HOG feature vectors, computed once from the unaugmented images: use augment=none "
                "with HOG features, or data=mnist for augmented images."
            )
        if self.flip and not info.mirror_keeps_class:
            raise ConfigError(
                f"augment.flip=true mirrors images left to right, which turns {info.title} "
                "images into other shapes (a mirrored 2 is no digit, and a 3 becomes an epsilon): "
                "set augment.flip=false, or flip data=fashion, whose clothes keep their class."
            )

    def __call__(self, x: torch.Tensor, generator: torch.Generator, blank: float) -> torch.Tensor:
        """A transformed copy of images `x` (N, C, H, W); `blank` is the background's value."""
        n = x.shape[0]

        def uniform(low: float, high: float) -> torch.Tensor:
            return low + (high - low) * torch.rand(n, generator=generator, device=x.device)

        if self.shift or self.rotate or self.scale:
            x = self._affine(x, uniform, blank)
        if self.flip:
            mirrored = uniform(0, 1) < 0.5
            x = torch.where(mirrored[:, None, None, None], x.flip(-1), x)
        if self.erase:
            x = self._erase(x, uniform, blank)
        return x

    def _affine(self, x: torch.Tensor, uniform, blank: float) -> torch.Tensor:
        angle = uniform(-self.rotate, self.rotate) * (math.pi / 180)
        zoom = uniform(1 - self.scale, 1 + self.scale)
        # The image spans 2 units in affine_grid's coordinates: a shift of s of its size is 2s.
        tx, ty = uniform(-2 * self.shift, 2 * self.shift), uniform(-2 * self.shift, 2 * self.shift)
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
        grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
        # Outside the image is background: sample (x - blank) with zero padding, add blank back.
        moved = F.grid_sample(x - blank, grid, mode="bilinear", align_corners=False)
        return moved + blank

    def _erase(self, x: torch.Tensor, uniform, blank: float) -> torch.Tensor:
        height, width = x.shape[-2:]
        erased = uniform(0, 1) < self.erase
        area = uniform(ERASE_MIN_AREA, max(ERASE_MIN_AREA, self.erase_area))
        ratio = torch.exp(uniform(*(math.log(r) for r in ERASE_RATIOS)))
        h = (torch.sqrt(area * ratio) * height).clamp(1, height)
        w = (torch.sqrt(area / ratio) * width).clamp(1, width)
        top = uniform(0, 1) * (height - h)
        left = uniform(0, 1) * (width - w)
        rows = torch.arange(height, device=x.device, dtype=h.dtype)[None, :]
        cols = torch.arange(width, device=x.device, dtype=w.dtype)[None, :]
        inside_rows = (rows >= top[:, None].floor()) & (rows < (top + h)[:, None].floor())
        inside_cols = (cols >= left[:, None].floor()) & (cols < (left + w)[:, None].floor())
        box = inside_rows[:, :, None] & inside_cols[:, None, :] & erased[:, None, None]
        return torch.where(box[:, None], torch.as_tensor(blank, dtype=x.dtype), x)


def minibatch_generator(device: torch.device, *key: int) -> torch.Generator:
    """A generator seeded by `key` (seed, epoch, minibatch, process) alone."""
    return torch.Generator(device=device).manual_seed(hash(key) & (2**63 - 1))
