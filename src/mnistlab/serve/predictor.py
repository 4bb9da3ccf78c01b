"""A trained model ready for pictures: a checkpoint's network or an exported ONNX file, its
dataset's recipe, its class names.

The one code path from a picture to class probabilities, for predict.py's files and the demo page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mnistlab.data.images import Preprocess, to_dataset_image
from mnistlab.data.inputs import model_inputs
from mnistlab.models.build import load_trained_net
from mnistlab.runs.describe import describe
from mnistlab.training.checkpoints import read_checkpoint


@dataclass(frozen=True)
class Predictor:
    path: Path
    data: dict[str, Any]  # what the network's inputs are: dataset, class names, HOG, normalisation
    config: dict[str, Any]  # the run's configuration
    # Class probabilities (N, classes) of 28x28 uint8 images (N, 28, 28).
    scores: Callable[[np.ndarray], np.ndarray]

    @classmethod
    def load(cls, path: str | Path) -> Predictor:
        """A checkpoint, or an ONNX file written by src/export.py (`.onnx`)."""
        path = Path(path)
        if path.suffix == ".onnx":
            from mnistlab.serve.onnx_model import read_onnx

            scores, data, config = read_onnx(path)
            return cls(path, data, config, scores)
        checkpoint = read_checkpoint(path)
        net, data = load_trained_net(checkpoint, str(path))
        return cls(path, data, checkpoint["hyper_parameters"]["config"], _torch_scores(net, data))

    @property
    def class_names(self) -> list[str]:
        return list(self.data["class_names"])

    @property
    def title(self) -> str:
        return describe(self.config)

    def see(self, gray: np.ndarray, steps: Preprocess) -> np.ndarray:
        """The 28x28 uint8 image the model is given for a grayscale picture."""
        return to_dataset_image(gray, self.data["dataset"], steps)

    def probabilities(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """Class probabilities (N, classes) for 28x28 uint8 images."""
        return torch.as_tensor(self.scores(np.stack(images)))

    def top(self, images: Sequence[np.ndarray], k: int) -> list[list[tuple[str, float]]]:
        """The `k` likeliest classes of each image, with their probabilities, likeliest first."""
        names = self.class_names
        values, indices = self.probabilities(images).topk(min(k, len(names)), dim=1)
        return [
            [(names[i], p) for i, p in zip(row_i, row_p, strict=True)]
            for row_i, row_p in zip(indices.tolist(), values.tolist(), strict=True)
        ]


def _torch_scores(net: torch.nn.Module, data: dict[str, Any]) -> Callable[[np.ndarray], np.ndarray]:
    def scores(images: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            inputs = model_inputs(torch.from_numpy(images), data)
            return torch.softmax(net(inputs), dim=1).numpy()

    return scores
