"""What the page's events call: a run and a picture in; the likeliest classes, the 28x28 image the
model saw and a message out. Plain Python (no gradio), so each answer can be checked on its own.

Every answer is (classes, seen image, message, picture): classes as {name: probability} for the
top k, the 28x28 image enlarged so each pixel shows as a square, a Markdown line, and the picture
as grayscale (kept by the page so that choosing another model reads it again).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from mnistlab.data.images import Preprocess, gray_of, load_gray
from mnistlab.errors import DataError, UserError
from mnistlab.serve.predictor import Predictor

log = logging.getLogger(__name__)
EMPTY_CANVAS = "The canvas is empty: draw something with the brush."
SHOWN = 10  # each of the 28x28 pixels is shown as a 10x10 square
Answer = tuple[dict[str, float] | None, np.ndarray | None, str, np.ndarray | None]


def enlarged(image: np.ndarray) -> np.ndarray:
    """The 28x28 image with each pixel repeated SHOWN times both ways (no blur between pixels)."""
    return image.repeat(SHOWN, axis=0).repeat(SHOWN, axis=1)


def said(message: str, picture: np.ndarray | None = None) -> Answer:
    return None, None, message, picture


class Reader:
    """The page's answers, with the models loaded once each, on first use."""

    def __init__(self, first: Predictor, steps: Preprocess, top_k: int, max_pixels: int) -> None:
        self.steps, self.top_k, self.max_pixels = steps, top_k, max_pixels
        self._models = {str(first.path): first}
        self._loading = threading.Lock()

    def model(self, run: str) -> Predictor:
        with self._loading:
            if run not in self._models:
                self._models[run] = Predictor.load(run)
            return self._models[run]

    def drawing(self, run: str, sketch: dict[str, Any] | None) -> Answer:
        """The canvas (gradio's Sketchpad value: its layers flattened in 'composite')."""
        composite = (sketch or {}).get("composite")
        if composite is None:  # cleared
            return said(EMPTY_CANVAS)
        return self._safely(lambda: self.read(run, gray_of(composite), EMPTY_CANVAS))

    def upload(self, run: str, file: str | None) -> Answer:
        """An uploaded file: a photo or scan, anything else refused in one sentence. (Gradio
        refuses files over the page's size limit itself, before they are stored.)"""
        if not file:
            return said("")
        return self._safely(lambda: self._upload(run, Path(file)))

    def again(self, run: str, picture: np.ndarray | None) -> Answer:
        """The last picture read by another model."""
        if picture is None:
            return self._safely(lambda: said(f"{self.model(run).title}: draw or upload a picture."))
        return self._safely(lambda: self.read(run, picture, "The picture shows nothing to read."))

    def read(self, run: str, gray: np.ndarray, empty: str) -> Answer:
        model = self.model(run)
        image = model.see(gray, self.steps)
        if not image.any():
            return said(empty, gray)
        [classes] = model.top([image], self.top_k)
        name, probability = classes[0]
        message = f"{model.title} reads **{name}** ({100 * probability:.1f}%)."
        return dict(classes), enlarged(image), message, gray

    def _upload(self, run: str, path: Path) -> Answer:
        try:
            gray = load_gray(path, self.max_pixels)
        except DataError as e:  # the upload's temporary folder means nothing to the user
            return said(str(e).replace(str(path), path.name))
        return self.read(run, gray, f"{path.name} shows nothing to read: it is a blank picture.")

    def _safely(self, answer) -> Answer:
        """The answer, or a message: a picture the page cannot read never stops the server."""
        try:
            return answer()
        except UserError as e:
            return said(str(e))
        except Exception as e:
            log.debug("The page could not read a picture", exc_info=True)
            return said(f"This picture could not be read ({type(e).__name__}: {e}).")
