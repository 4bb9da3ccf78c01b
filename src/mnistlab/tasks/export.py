"""The export task: a checkpoint's model as an ONNX file, checked on the test set before it is
said to be done."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from mnistlab.errors import DataError
from mnistlab.files import explain_write_error
from mnistlab.models.build import load_trained_net
from mnistlab.runs.describe import describe
from mnistlab.serve.onnx_model import (
    TOLERANCE,
    check_exportable,
    compare_with_torch,
    write_onnx,
)
from mnistlab.terminal import console
from mnistlab.training.checkpoints import read_checkpoint, resolve_ckpt_path
from mnistlab.training.components import build_datamodule


def default_output(checkpoint: Path) -> Path:
    """model.onnx in the checkpoint's run folder (<run>/checkpoints/x.ckpt), else beside it."""
    if checkpoint.parent.name == "checkpoints":
        return checkpoint.parent.parent / "model.onnx"
    return checkpoint.with_suffix(".onnx")


def export(cfg: DictConfig) -> dict[str, Any]:
    """Write the ONNX file, compare it with torch on every test image, print what was written."""
    path, chosen = resolve_ckpt_path(str(cfg.ckpt_path), cfg.paths.log_dir)
    if chosen:
        console.print(chosen)
    checkpoint = read_checkpoint(path)
    net, data = load_trained_net(checkpoint, str(path))
    check_exportable(data, str(path))
    config = checkpoint["hyper_parameters"]["config"]
    output = Path(cfg.output) if cfg.get("output") else default_output(path)
    if output.suffix != ".onnx":
        output = output.with_suffix(output.suffix + ".onnx")

    started = time.perf_counter()
    try:
        write_onnx(net, data, config, output)
    except OSError as e:
        raise explain_write_error(e, output.parent) from e
    data_cfg = OmegaConf.create(config["data"])
    data_cfg.data_dir = cfg.paths.data_dir  # the data lives on this machine, not the trainer's
    images = build_datamodule(data_cfg).test_images()
    check = compare_with_torch(output, net, data, images)
    if check["classes_differ"] or check["max_difference"] > TOLERANCE:
        output.unlink()
        raise DataError(
            f"The ONNX file of {path} disagrees with torch on the {check['images']:,} test "
            f"images ({check['classes_differ']} predicted classes differ, largest difference in "
            f"a probability {check['max_difference']:.2g}, more than {TOLERANCE:g}), so it was "
            "not kept. Please report this with the checkpoint; predict.py reads the checkpoint."
        )
    size = output.stat().st_size
    console.print(
        f"Exported {describe(config)} to [bold]{output}[/bold] ({size / 1e6:.2f} MB, "
        f"{time.perf_counter() - started:.1f} s). Checked against torch on the "
        f"{check['images']:,} test images: the same predicted class for each, probabilities "
        f"within {check['max_difference']:.1g} (at most {TOLERANCE:g} accepted)."
    )
    console.print(
        f"Use it: python src/predict.py ckpt_path={output} inputs=<pictures>, or with "
        "onnxruntime alone (see docs/export.md)."
    )
    return {"output": str(output), "bytes": size, "checkpoint": str(path), **check}
