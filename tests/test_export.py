"""python src/export.py: a trained model as ONNX, checked against torch, read by predict.py and
the demo as the checkpoint is, and usable with nothing but onnxruntime, numpy and Pillow."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, TINY, need_fashion, run_script
from mnistlab.data.images import Preprocess, load_gray
from mnistlab.training.checkpoints import newest_completed_run

pytestmark = pytest.mark.slow
onnxruntime = pytest.importorskip(
    "onnxruntime", reason="the export extra is not installed (make setup installs it)"
)
DIGITS = ROOT / "examples" / "digits"


def export(log_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return run_script("export.py", *args, log_dir=log_dir)


def table(output: str) -> list[str]:
    """The rows of predict.py's table (its title names the model file, so it is left out)."""
    return [line for line in output.splitlines() if line.startswith("│")]


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """`python src/export.py ckpt_path=last` after a short training of the lab's MLP."""
    log_dir = tmp_path_factory.mktemp("export")
    trained = run_script("train.py", *TINY, log_dir=log_dir)
    assert trained.returncode == 0, trained.stderr[-2000:]
    result = export(log_dir, "ckpt_path=last")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (log_dir / "export.txt").write_text(result.stdout + result.stderr)
    return log_dir


def test_export_writes_a_checked_file_with_its_classes_and_recipe(exported):
    checkpoint, _ = newest_completed_run(exported)
    model = checkpoint.parent.parent / "model.onnx"
    printed = " ".join((exported / "export.txt").read_text().split())
    size = re.search(r"model\.onnx \(([\d.]+) MB", printed)
    assert size and float(size.group(1)) == pytest.approx(model.stat().st_size / 1e6, abs=0.01)
    assert "Checked against torch on the 10,000 test images: the same predicted class" in printed
    assert "Traceback" not in printed and "WARNING" not in printed.upper()

    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["class_names"]) == [str(d) for d in range(10)]
    assert "white digit on a black (0) background" in meta["input_recipe"]
    [given] = session.get_inputs()
    assert (given.name, given.type, given.shape[1:]) == ("images", "tensor(uint8)", [28, 28])
    seven = np.zeros((5, 28, 28), np.uint8)  # any batch size
    [probabilities] = session.run(["probabilities"], {"images": seven})
    assert probabilities.shape == (5, 10) and np.allclose(probabilities.sum(1), 1, atol=1e-5)


def test_predict_gives_the_same_table_from_the_onnx_file_as_from_the_checkpoint(exported):
    checkpoint, _ = newest_completed_run(exported)
    model = checkpoint.parent.parent / "model.onnx"
    results = [
        run_script("predict.py", f"ckpt_path={path}", f"inputs={DIGITS}", log_dir=exported)
        for path in (checkpoint, model)
    ]
    for result in results:
        assert result.returncode == 0, result.stderr[-2000:]
    from_checkpoint, from_onnx = (table(r.stdout) for r in results)
    assert len(from_checkpoint) == len(list(DIGITS.glob("*.png"))) and from_onnx == from_checkpoint


def test_the_demo_reads_the_onnx_file_as_the_checkpoint(exported):
    from mnistlab.serve.predictor import Predictor
    from mnistlab.serve.reading import Reader

    checkpoint, _ = newest_completed_run(exported)
    model = checkpoint.parent.parent / "model.onnx"
    from_onnx = Predictor.load(model)
    assert from_onnx.title == Predictor.load(checkpoint).title
    reader = Reader(from_onnx, Preprocess(), top_k=3, max_pixels=10**7)
    gray = load_gray(DIGITS / "digit-7.png")
    classes, _, message, _ = reader.read(str(model), gray, "empty")
    expected, _, _, _ = reader.read(str(checkpoint), gray, "empty")
    assert list(classes) == list(expected) and "reads **7**" in message
    assert all(abs(classes[k] - expected[k]) < 1e-5 for k in classes)


def test_the_documented_snippet_runs_with_onnxruntime_numpy_and_pillow_only(exported, tmp_path):
    checkpoint, _ = newest_completed_run(exported)
    model = checkpoint.parent.parent / "model.onnx"
    [snippet] = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "export.md").read_text(), re.S)
    script = tmp_path / "read.py"
    script.write_text(
        snippet + "\nassert not {'torch', 'mnistlab', 'lightning'} & {m.split('.')[0] for m in "
        "sys.modules}, sorted(sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", str(script), str(model), str(DIGITS / "digit-7.png")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{DIGITS / 'digit-7.png'}: 7 (")


def test_a_cnn_on_fashion_exports_and_a_hog_model_is_refused_in_one_sentence(tmp_path):
    need_fashion()
    few = ("trainer.limit_val_batches=1", "+trainer.limit_test_batches=1")  # the export scores all
    for data, model in (("fashion", "cnn"), ("mnist-hog", "mlp")):
        done = run_script("train.py", f"model={model}", f"data={data}", *TINY, *few,
                          log_dir=tmp_path / data)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
    cnn, _ = newest_completed_run(tmp_path / "fashion")
    result = export(tmp_path, f"ckpt_path={cnn}", f"output={tmp_path / 'f.onnx'}")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    printed = " ".join(result.stdout.split())
    assert "on the 10,000 test images: the same predicted class for each" in printed
    session = onnxruntime.InferenceSession(str(tmp_path / "f.onnx"))
    assert "T-shirt/top" in session.get_modelmeta().custom_metadata_map["class_names"]

    hog, _ = newest_completed_run(tmp_path / "mnist-hog")
    refused = export(tmp_path, f"ckpt_path={hog}", f"output={tmp_path / 'h.onnx'}")
    assert refused.returncode == 2 and not (tmp_path / "h.onnx").exists()
    message = " ".join(refused.stderr.split())
    assert "is a model of HOG features" in message and "Traceback" not in refused.stderr


def test_a_file_that_is_not_an_exported_model_is_a_clear_error(tmp_path):
    from mnistlab.errors import ConfigError
    from mnistlab.serve.predictor import Predictor

    (tmp_path / "foreign.onnx").write_bytes(b"not a protobuf at all")
    for name, expected in (
        ("missing.onnx", "does not exist"),
        ("foreign.onnx", "is not an ONNX file that can be read"),
    ):
        with pytest.raises(ConfigError, match=expected):
            Predictor.load(tmp_path / name)
