"""Each run's per-example results: for its validation and test sets, every example's index, true
class, predicted class and class probabilities, in one compact file (predictions.npz).

Every comparison of runs (intervals, paired tests, seeds) is computed from these files, never by
training or scoring again. The probabilities are stored in float16 (three significant digits):
the predicted class is stored apart, exactly.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mnistlab.files import atomic_write

PREDICTIONS = "predictions.npz"
SPLITS = ("val", "test")


@dataclass
class SplitPredictions:
    """One model on one set of examples."""

    index: (
        np.ndarray
    )  # where each example sits in its source (the test set, or the training images)
    label: np.ndarray
    predicted: np.ndarray
    probabilities: np.ndarray  # examples x classes

    @property
    def correct(self) -> np.ndarray:
        return self.predicted == self.label

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean())


def split_predictions(
    net: Any, x: Any, y: Any, index: Any, batch_size: int = 1000
) -> SplitPredictions:
    """What `net` (a torch module, scored in eval mode) predicts for the inputs `x` (tensors
    with their labels `y` and their `index` in their source)."""
    import torch  # only where a model is scored: reports read the files without torch

    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            chunks = [net(x[i : i + batch_size]).softmax(1) for i in range(0, len(x), batch_size)]
    finally:
        net.train(was_training)
    return probabilities_to_predictions(torch.cat(chunks), y, index)


def probabilities_to_predictions(probabilities: Any, y: Any, index: Any) -> SplitPredictions:
    """SplitPredictions from a model's class probabilities (a tensor, examples x classes) for
    the examples labelled `y` at `index` in their source."""
    probabilities = probabilities.float().cpu()
    return SplitPredictions(
        index=index.cpu().numpy().astype(np.int32),
        label=y.cpu().numpy().astype(np.uint8),
        predicted=probabilities.argmax(1).numpy().astype(np.uint8),
        probabilities=probabilities.numpy(),
    )


def write_predictions(out_dir: Path, splits: dict[str, SplitPredictions]) -> Path:
    """predictions.npz in `out_dir`, written whole or not at all."""
    arrays = {}
    for name, split in splits.items():
        arrays.update(
            {
                f"{name}_index": split.index,
                f"{name}_label": split.label,
                f"{name}_predicted": split.predicted,
                f"{name}_probabilities": split.probabilities.astype(np.float16),
            }
        )
    path = Path(out_dir) / PREDICTIONS
    atomic_write(path, [_npz_bytes(arrays)])
    return path


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def read_predictions(run_dir: Path) -> dict[str, SplitPredictions]:
    """The per-example results a run folder holds, by split ({} for a run without them)."""
    path = Path(run_dir) / PREDICTIONS
    if not path.is_file():
        return {}
    with np.load(path) as data:
        return {
            name: SplitPredictions(
                data[f"{name}_index"],
                data[f"{name}_label"],
                data[f"{name}_predicted"],
                data[f"{name}_probabilities"].astype(np.float32),
            )  # fmt: skip
            for name in SPLITS
            if f"{name}_label" in data
        }
