"""A user's own picture turned into a 28x28 input, the way each dataset's images were made.

MNIST (LeCun et al.): light digit on black, the ink's bounding box scaled so its longer side is
20 pixels (aspect ratio kept), placed in 28x28 so its centre of mass is at the centre.
Fashion-MNIST (Xiao et al.): trimmed to the object, the longer side fitted to 28 pixels, centred,
intensities negated (a product photographed on white becomes light on black).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from mnistlab.checks import one_of
from mnistlab.errors import DataError

SIZE = 28
MNIST_BOX = 20
INVERT_CHOICES = ("auto", True, False)


@dataclass(frozen=True)
class Preprocess:
    """Which steps of the dataset's recipe to apply (each can be turned off)."""

    invert: str | bool = "auto"  # auto: invert when the background is light (ink on paper)
    crop: bool = True  # crop to the ink's (or object's) bounding box
    resize: bool = True  # scale to the dataset's box: 20 px for digits, 28 px for Fashion
    center: bool = True  # digits: centre of mass at the centre; Fashion: the box centred

    def check(self) -> None:
        one_of(
            "preprocess.invert", self.invert, INVERT_CHOICES,
            "whether pictures are inverted: auto inverts dark-on-light ones (ink on paper)",
        )  # fmt: skip


def gray_of(image: Image.Image) -> np.ndarray:
    """A picture as grayscale floats in [0, 1]; transparency counts as a white background."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image.convert("RGBA"))
    return np.asarray(image.convert("L"), dtype=np.float64) / 255.0


def load_gray(path: Path, max_pixels: int | None = None) -> np.ndarray:
    """A picture file as grayscale floats in [0, 1]; one larger than `max_pixels` is refused
    before it is decoded."""
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty (0 bytes).")
    try:
        with Image.open(path) as image:
            width, height = image.size
            if max_pixels and width * height > max_pixels:
                raise DataError(
                    f"{path} is {width:,}x{height:,} pixels; pictures up to "
                    f"{max_pixels / 1e6:g} megapixels are read: scale it down first."
                )
            image.load()
            gray = gray_of(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{path} cannot be read as an image ({type(e).__name__}: {e}).") from None
    except Image.DecompressionBombError as e:
        raise DataError(f"{path} is too large to read safely ({e}).") from None
    if gray.ndim != 2 or gray.size == 0:
        raise DataError(f"{path} has no pixels.")
    return gray


def _light_background(gray: np.ndarray) -> bool:
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return float(np.median(border)) > 0.5


def _bounding_box(ink: np.ndarray, threshold: float) -> tuple[slice, slice] | None:
    rows = np.flatnonzero((ink > threshold).any(axis=1))
    cols = np.flatnonzero((ink > threshold).any(axis=0))
    if rows.size == 0:
        return None
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _resize_longer_side(ink: np.ndarray, side: int) -> np.ndarray:
    height, width = ink.shape
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = Image.fromarray((ink * 255).round().astype(np.uint8))
    return np.asarray(image.resize(size, Image.Resampling.LANCZOS), dtype=np.float64) / 255.0


def _paste_centered(ink: np.ndarray) -> np.ndarray:
    canvas = np.zeros((SIZE, SIZE))
    height, width = min(ink.shape[0], SIZE), min(ink.shape[1], SIZE)
    top, left = (SIZE - height) // 2, (SIZE - width) // 2
    canvas[top : top + height, left : left + width] = ink[:height, :width]
    return canvas


def _center_of_mass_shift(image: np.ndarray) -> np.ndarray:
    total = image.sum()
    if total <= 0:
        return image
    rows, cols = np.indices(image.shape)
    dy = round(SIZE / 2 - 0.5 - (rows * image).sum() / total)
    dx = round(SIZE / 2 - 0.5 - (cols * image).sum() / total)
    shifted = np.zeros_like(image)
    src = image[max(0, -dy) : SIZE - max(0, dy), max(0, -dx) : SIZE - max(0, dx)]
    shifted[max(0, dy) : max(0, dy) + src.shape[0], max(0, dx) : max(0, dx) + src.shape[1]] = src
    return shifted


def to_dataset_image(gray: np.ndarray, dataset: str, steps: Preprocess) -> np.ndarray:
    """A 28x28 uint8 image, light on dark, made the way `dataset`'s images were made."""
    invert = _light_background(gray) if steps.invert == "auto" else bool(steps.invert)
    ink = 1.0 - gray if invert else gray.copy()
    if steps.crop:
        # Digits: pixels with some ink. Fashion: pixels that differ from the background by 5%.
        box = _bounding_box(ink, 0.05 if dataset == "fashion" else 0.1 * ink.max())
        if box is not None:
            ink = ink[box]
    if steps.resize and (steps.crop or ink.shape != (SIZE, SIZE)):
        ink = _resize_longer_side(ink, SIZE if dataset == "fashion" else MNIST_BOX)
    elif max(ink.shape) > SIZE:
        ink = _resize_longer_side(ink, SIZE)
    image = _paste_centered(ink)
    if steps.center and dataset != "fashion":
        image = _center_of_mass_shift(image)
    return (np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8)
