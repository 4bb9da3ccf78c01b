"""A trained model as an ONNX file: written with its class names and input recipe, checked against
torch, and read back as a model for predict.py and the demo page.

The file maps uint8 pictures (N, 28, 28) to class probabilities (N, classes): the scaling and
normalisation training used are inside it, so onnxruntime, numpy and Pillow are all a user needs.
A HOG model is refused: its features come from code ONNX cannot hold (data-dependent indexing,
numpy's atan2 at bin edges). `onnx`, `onnxscript` and `onnxruntime` are imported on use only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mnistlab.data.inputs import model_inputs
from mnistlab.errors import ConfigError

# The exporter's graph passes note each step at INFO, which Hydra's console shows: not ours.
for name in ("onnxscript", "onnx_ir"):
    logging.getLogger(name).setLevel(logging.WARNING)

INPUT, OUTPUT = "images", "probabilities"
# Metadata keys a reader finds with onnxruntime's session.get_modelmeta().custom_metadata_map.
CLASS_NAMES, RECIPE, DATA, CONFIG = (
    "class_names",
    "input_recipe",
    "mnistlab_data",
    "mnistlab_config",
)
RECIPES = {
    "mnist": "uint8 array (N, 28, 28): a white digit on a black (0) background, as MNIST's",
    "fashion": "uint8 array (N, 28, 28): a light garment on a black (0) background, as "
    "Fashion-MNIST's",
}
TOLERANCE = 1e-5  # the largest difference in a probability the check accepts


class PicturesToProbabilities(nn.Module):
    """The network with its inputs' recipe in front and a softmax behind."""

    def __init__(self, net: nn.Module, data: dict[str, Any]) -> None:
        super().__init__()
        self.net, self.data = net, data

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(model_inputs(images, self.data)), dim=1)


def check_exportable(data: dict[str, Any], where: str) -> None:
    if data.get("hog"):
        raise ConfigError(
            f"ckpt_path={where} is a model of HOG features, which scikit-image's recipe computes "
            "outside the network and ONNX cannot hold: export a model of pixels (data=mnist or "
            "data=fashion), or use this checkpoint with predict.py."
        )


def write_onnx(net: nn.Module, data: dict[str, Any], config: dict[str, Any], path: Path) -> None:
    """The ONNX file of `net` with its recipe, batch size free, and its metadata."""
    import onnx

    model = PicturesToProbabilities(net, data).eval()
    example = torch.zeros(2, 28, 28, dtype=torch.uint8)
    program = torch.onnx.export(
        model, (example,), dynamo=True, verbose=False, input_names=[INPUT],
        output_names=[OUTPUT], dynamic_shapes=({0: torch.export.Dim("batch")},),
    )  # fmt: skip
    proto = program.model_proto
    facts = {
        CLASS_NAMES: json.dumps(list(data["class_names"])),
        RECIPE: RECIPES[data["dataset"]],
        DATA: json.dumps(data),
        CONFIG: json.dumps(config),
    }
    for key, value in facts.items():
        proto.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    onnx.checker.check_model(proto)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(path))


def onnx_probabilities(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """The file's probabilities of uint8 pictures (N, 28, 28), by onnxruntime on the CPU."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: its notes are not this project's output
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda images: session.run([OUTPUT], {INPUT: np.ascontiguousarray(images)})[0]


def compare_with_torch(
    path: Path, net: nn.Module, data: dict[str, Any], images: torch.Tensor, chunk: int = 1000
) -> dict[str, Any]:
    """The file against torch on `images`: how many predicted classes differ and the largest
    difference in a probability."""
    run = onnx_probabilities(path)
    model = PicturesToProbabilities(net, data).eval()
    differ, largest = 0, 0.0
    with torch.no_grad():
        for start in range(0, len(images), chunk):
            batch = images[start : start + chunk]
            expected = model(batch).numpy()
            got = run(batch.numpy())
            differ += int((expected.argmax(1) != got.argmax(1)).sum())
            largest = max(largest, float(np.abs(expected - got).max()))
    return {"images": len(images), "classes_differ": differ, "max_difference": largest}


def read_onnx(path: Path) -> tuple[Callable[[np.ndarray], np.ndarray], dict, dict]:
    """A file this project exported: its probabilities, its data description and its run's
    configuration; anything else in one sentence."""
    import onnx

    if not path.is_file():
        raise ConfigError(
            f"ckpt_path={path} does not exist: give a model.onnx written by python "
            "src/export.py (it is in the exported run's folder), or a checkpoint."
        )
    try:
        meta = {
            p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props
        }
    except Exception as e:  # noqa: BLE001 (any unreadable file gets the same answer)
        raise ConfigError(
            f"ckpt_path={path} is not an ONNX file that can be read ({type(e).__name__}): give "
            "a model.onnx written by python src/export.py, or a checkpoint."
        ) from None
    if DATA not in meta or CONFIG not in meta:
        raise ConfigError(
            f"ckpt_path={path} was not exported by this project (its metadata lacks {DATA}): "
            "give a model.onnx written by python src/export.py, or a checkpoint."
        )
    return onnx_probabilities(path), json.loads(meta[DATA]), json.loads(meta[CONFIG])
