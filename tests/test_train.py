"""Training and evaluation through the real entry points, and what each run leaves behind."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

from conftest import TINY, free_port, need_fashion, read_metrics, run_script, single_run_dir
from mnistlab.reports.predictions import read_predictions

pytestmark = pytest.mark.slow

PAIRS = {
    "mlp-mnist": ("model=mlp", "data=mnist"),
    "mlp-mnist-hog": ("model=mlp", "data=mnist-hog"),
    "mlp-fashion": ("model=mlp", "data=fashion"),
    "cnn-mnist": ("model=cnn", "data=mnist"),
    "cnn-fashion": ("model=cnn", "data=fashion"),
}
SCALARS = {"train/loss", "train/acc", "val/loss", "val/acc", "test/acc", "test/f1_macro"}
# A whole epoch where it is cheap: the default path, 64 minibatches per Lightning step.
BUDGET = {"mlp-mnist-hog": ("trainer.max_epochs=1",)}


class TinyRuns:
    """One tiny run per (model, data) pair, trained when a test first asks for it."""

    def __init__(self, tmp_path_factory) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.done: dict[str, tuple] = {}

    def __getitem__(self, name: str):
        if "fashion" in name:
            need_fashion()
        if name not in self.done:
            log_dir = self.tmp_path_factory.mktemp(name)
            budget = BUDGET.get(name, TINY)
            result = run_script("train.py", *PAIRS[name], *budget, log_dir=log_dir)
            assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
            self.done[name] = (single_run_dir(log_dir), result)
        return self.done[name]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir) -> TinyRuns:
    return TinyRuns(tmp_path_factory)


@pytest.mark.parametrize("name", list(PAIRS))
def test_a_run_writes_the_lab_answers_into_its_folder(runs, name):
    run_dir, result = runs[name]
    metrics = read_metrics(run_dir)
    classes = metrics["confusion_matrix"]["classes"]
    matrix = torch.tensor(metrics["confusion_matrix"]["matrix"])
    assert matrix.shape == (10, 10) and int(matrix.sum()) == 10_000
    assert metrics["test"]["size"] == 10_000
    assert metrics["test"]["acc"] == pytest.approx(float(matrix.diag().sum()) / 10_000)
    assert set(metrics["test"]["f1_per_class"]) == set(classes)
    assert len(metrics["most_confused"]) == 5
    assert metrics["history"][0]["epoch"] == 1 and "val/loss" in metrics["history"][0]
    for file in ("curves.png", "confusion_matrix.png", "report.md", "params.md", "config.yaml"):
        assert (run_dir / file).stat().st_size > 0, file
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    # The terminal ends with the tables: accuracy, F1 per class, the confused pairs in words.
    assert (
        "Most-confused pairs" in result.stdout
        and metrics["most_confused"][0]["text"] in result.stdout
    )
    assert f"{metrics['run']['parameters']:,}" in result.stdout  # the breakdown was printed


def test_fashion_runs_name_their_classes(runs):
    run_dir, result = runs["cnn-fashion"]
    metrics = read_metrics(run_dir)
    assert metrics["confusion_matrix"]["classes"][0] == "T-shirt/top"
    assert "Ankle boot" in metrics["test"]["f1_per_class"]
    assert "Ankle boot" in result.stdout
    assert " taken for " in metrics["most_confused"][0]["text"]


@pytest.mark.parametrize("name", list(PAIRS))
def test_tensorboard_events_hold_the_scalars_and_the_confusion_image(runs, name):
    run_dir, _ = runs[name]
    events = EventAccumulator(
        str(run_dir / "tensorboard"), size_guidance={"images": 0, "scalars": 0}
    )
    events.Reload()
    tags = events.Tags()
    assert SCALARS <= set(tags["scalars"])
    assert any(tag.startswith("test/f1/") for tag in tags["scalars"])
    assert "test/confusion_matrix" in tags["images"]
    (image,) = events.Images("test/confusion_matrix")
    assert image.width > 300 and image.height > 300
    test_acc = events.Scalars("test/acc")[-1].value
    assert test_acc == pytest.approx(read_metrics(run_dir)["test"]["acc"], abs=1e-6)


def test_fashion_per_class_f1_tags_are_named_by_class(runs):
    run_dir, _ = runs["cnn-fashion"]
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    assert {"test/f1/T-shirt-top", "test/f1/Ankle_boot"} <= set(events.Tags()["scalars"])


def test_checkpoints_hold_plain_values_and_load_with_weights_only(runs):
    run_dir, _ = runs["cnn-mnist"]
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["hyper_parameters"]["config"]["model"]["net"]["filters"] == [9, 9, 16]
    assert checkpoint["hyper_parameters"]["data"]["class_names"][0] == "0"


@pytest.mark.parametrize("name", ["mlp-mnist-hog", "cnn-fashion"])
def test_eval_of_the_last_checkpoint_equals_the_test_metrics_printed_by_training(
    runs, name, tmp_path
):
    run_dir, _ = runs[name]
    result = run_script(
        "eval.py", f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}", log_dir=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    trained, evaluated = read_metrics(run_dir), read_metrics(single_run_dir(tmp_path, "eval"))
    assert trained["run"]["minibatches_per_step"] == (64 if name in BUDGET else 1)
    assert evaluated["test"]["acc"] == trained["test"]["acc"]
    assert evaluated["test"]["f1_macro"] == trained["test"]["f1_macro"]
    assert evaluated["confusion_matrix"] == trained["confusion_matrix"]
    # The per-example files agree: training kept its test and last validation passes' outputs,
    # eval scored both sets anew.
    kept, scored = read_predictions(run_dir), read_predictions(single_run_dir(tmp_path, "eval"))
    for split in ("val", "test"):
        assert np.array_equal(kept[split].index, scored[split].index)
        assert np.array_equal(kept[split].predicted, scored[split].predicted)
        assert np.allclose(kept[split].probabilities, scored[split].probabilities, atol=1e-3)
    assert evaluated["val"] == trained["val"]


def test_the_same_seed_gives_the_same_test_metrics(runs, tmp_path):
    result = run_script("train.py", *PAIRS["mlp-mnist"], *TINY, log_dir=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    again = read_metrics(single_run_dir(tmp_path))
    first = read_metrics(runs["mlp-mnist"][0])
    assert again["test"] == first["test"]
    assert again["confusion_matrix"] == first["confusion_matrix"]


def test_a_cnn_on_hog_features_stops_before_training_with_one_sentence(tmp_path, data_dir):
    result = run_script("train.py", "model=cnn", "data=mnist-hog", log_dir=tmp_path)
    assert result.returncode == 2
    assert "model=cnn needs images" in result.stderr and "model=mlp" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    run_dir = single_run_dir(tmp_path)
    assert not (run_dir / "checkpoints").exists()


def test_summary_prints_the_breakdown_without_training(tmp_path):
    result = run_script("summary.py", "model=cnn", "data=mnist", log_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "5 x 5 x 1 x 9 + 9 = 234" in result.stdout and "7,465" in result.stdout
    assert not (tmp_path / "train").exists()


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_a_tensorboard_server_lists_the_run_and_its_scalars(runs):
    run_dir, _ = runs["cnn-fashion"]
    log_root = run_dir.parent.parent.parent  # <log_dir>/train/runs/<time>
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tensorboard.main",
            "--logdir",
            str(log_root),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}/data"
        deadline, run_names = time.monotonic() + 90, []
        while time.monotonic() < deadline and not run_names:
            try:
                run_names = _get_json(f"{base}/runs")
            except OSError:
                pass
            time.sleep(1)
        assert any(name.endswith("tensorboard") and "runs" in name for name in run_names), run_names
        tags = _get_json(f"{base}/plugin/scalars/tags")
        (run_tags,) = [tags[name] for name in run_names if name in tags]
        assert SCALARS <= set(run_tags)
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def default_run(tmp_path_factory, data_dir):
    """`python src/train.py` as a new user runs it, one epoch long."""
    log_dir = tmp_path_factory.mktemp("default")
    result = run_script("train.py", "trainer.max_epochs=1", log_dir=log_dir)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return single_run_dir(log_dir), result


CHATTER = (
    "Tip:", "litlogger", "GPU available", "TPU available", "HPU available", "weights_only",
    "Total params", "FLOPs", "| Name", "LeafSpec", "log_every_n_steps", "Warning", "warn(",
)  # fmt: skip


def expected_device_line() -> str:
    """What the default run (accelerator=auto) should say it trains on, from what torch sees."""
    if torch.cuda.is_available():
        return f"Device: GPU cuda:0 ({torch.cuda.get_device_name(0)})"
    if torch.backends.mps.is_available():
        return "Device: MPS"
    return "Device: CPU"


def test_the_default_run_prints_the_project_not_lightnings_chatter(default_run):
    _, result = default_run
    printed = result.stdout + result.stderr
    assert [line for line in CHATTER if line in printed] == []
    assert expected_device_line() in result.stdout
    assert "238,510" in result.stdout  # the lab's Question 2 table is the model summary
    # The progress counts minibatches: 430 of 128 images make the 55,000 training images.
    assert "Epoch 1/1  430/430" in result.stdout and "minibatches/s" in result.stdout


def test_every_tensorboard_record_of_a_run_sits_on_the_optimizer_step_axis(default_run):
    run_dir, _ = default_run
    events = EventAccumulator(
        str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "images": 0}
    )
    events.Reload()
    final = 430
    steps = {tag: [e.step for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
    assert steps.pop("train/loss_step") == list(range(50, final, 50))  # every 50 optimizer steps
    assert steps.pop("train/lr") == list(range(50, final, 50))  # the rate those steps used
    assert {tag: s for tag, s in steps.items() if s != [final]} == {}  # epoch and test values
    assert [image.step for image in events.Images("test/confusion_matrix")] == [final]
    hparams = [
        event.step
        for path in (run_dir / "tensorboard").glob("events.*")
        for event in EventFileLoader(str(path)).Load()
        for value in event.summary.value
        if value.metadata.plugin_data.plugin_name == "hparams"
    ]
    assert hparams and set(hparams) == {final}
