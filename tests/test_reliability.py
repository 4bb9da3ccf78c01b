"""Bad input and faults (damaged data, divergence, bugs, two processes), through the real entry points."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, TINY, read_metrics, run_in_process, run_script, single_run_dir
from mnistlab.data.catalog import IDX_FILES

BAD_VALUES = {
    "zero-width-layer": (
        ("model.net.hidden=[0]",),
        "model.net.hidden=[0] must be a list of positive whole numbers",
    ),
    "negative-width": (
        ("model.net.hidden=[-5]",),
        "model.net.hidden=[-5] must be a list of positive whole numbers",
    ),
    "empty-hidden": (
        ("model.net.hidden=[]",),
        "model.net.hidden=[] must be a list of at least one positive whole number",
    ),
    "dropout-1": (("model.net.dropout=1.0",), "model.net.dropout=1.0 must be a number in [0, 1)"),
    "dropout-negative": (
        ("model.net.dropout=-0.1",),
        "model.net.dropout=-0.1 must be a number in [0, 1)",
    ),
    "zero-filters": (
        ("model=cnn", "model.net.filters=[9,0,16]"),
        "model.net.filters=[9, 0, 16] must be a list of positive",
    ),
    "zero-kernel": (
        ("model=cnn", "model.net.kernel_sizes=0"),
        "model.net.kernel_sizes=[0, 0, 0] must be a list of positive",
    ),
    "pooling-below-1x1": (
        ("model=cnn", "model.net.filters=[8,8,8,8,8,8]", "model.net.kernel_sizes=3"),
        "would leave less than 1x1. Use at most 4 blocks",
    ),
    "lr-zero": (("optimizer.lr=0",), "optimizer.lr=0 must be a positive number"),
    "lr-negative": (
        ("optimizer=adam", "optimizer.lr=-0.01"),
        "optimizer.lr=-0.01 must be a positive number",
    ),
    "batch-size-zero": (
        ("data.batch_size=0",),
        "data.batch_size=0 must be a whole number of at least 1",
    ),
    "val-split-takes-all": (
        ("data.val_size=60000",),
        "data.val_size=60000 must be a whole number from 1 to 59999",
    ),
    "val-split-zero": (
        ("data.val_size=0",),
        "data.val_size=0 must be a whole number from 1 to 59999",
    ),
    "hog-cell-zero": (
        ("data=mnist-hog", "data.hog.pixels_per_cell=0"),
        "data.hog.pixels_per_cell=0 must be a whole number from 1 to 28",
    ),
    "hog-cell-too-big": (
        ("data=mnist-hog", "data.hog.pixels_per_cell=29"),
        "data.hog.pixels_per_cell=29 must be a whole number from 1 to 28",
    ),
    "hog-orientations-zero": (
        ("data=mnist-hog", "data.hog.orientations=0"),
        "data.hog.orientations=0 must be a whole number of at least 1",
    ),
    "cnn-on-hog": (("model=cnn", "data=mnist-hog"), "model=cnn needs images"),
    "epochs-zero": (
        ("trainer.max_epochs=0",),
        "trainer.max_epochs=0 must be a whole number of at least 1",
    ),
    "unknown-dataset": (("data.dataset=cifar",), "Unknown dataset 'cifar'"),
    "unknown-activation": (
        ("model.net.activation=swishy",),
        "model.net.activation='swishy' must be one of relu, tanh",
    ),
    "unknown-init": (("model.init=he",), "model.init='he' must be one of keras, torch"),
    "test-set-objective": (
        ("optimized_metric=test/acc",),
        "optimized_metric='test/acc' must be a validation metric",
    ),
    "optimizer-argument-it-lacks": (
        ("+optimizer.nesterov=true",),
        "mnistlab.training.optim.KerasRMSprop does not accept its configuration (the settings under "
        "optimizer): got an unexpected keyword argument 'nesterov'",
    ),
    "callback-that-does-not-exist": (
        ("+callbacks.extra._target_=pytorch_lightning.callbacks.NoSuchCallback",),
        "callbacks.extra._target_=pytorch_lightning.callbacks.NoSuchCallback names nothing",
    ),
    "trainer-settings-lightning-refuses": (
        ("+trainer.barebones=true",),
        "pytorch_lightning.Trainer refused its configuration (the settings under trainer): "
        "`Trainer(barebones=True",
    ),
    "missing-checkpoint": (
        ("ckpt_path=/nowhere/last.ckpt",),
        "ckpt_path=/nowhere/last.ckpt does not exist",
    ),
}


@pytest.mark.parametrize("name", list(BAD_VALUES))
def test_a_bad_value_is_refused_before_training_with_one_paragraph(
    tmp_path, capsys, data_dir, name
):
    overrides, message = BAD_VALUES[name]
    code, out = run_in_process(tmp_path, *overrides)
    err = capsys.readouterr().err
    assert code == 2
    assert message in " ".join(err.split()), err
    assert "Traceback" not in err
    status = json.loads((out / "status.json").read_text())
    assert status["status"] == "failed" and message in status["reason"]
    assert not (out / "checkpoints").exists()  # nothing was trained


@pytest.mark.slow
def test_a_bug_inside_a_component_says_so_and_keeps_its_traceback_in_the_log(tmp_path):
    """A configuration that fits the component's arguments, and code that fails: not a
    configuration error, and the traceback that finds the bug is kept."""
    result = run_script(
        "train.py", "+callbacks.extra._target_=buggy.CallbackWithABug", log_dir=tmp_path,
        env={"PYTHONPATH": str(ROOT / "tests")},
    )  # fmt: skip
    assert result.returncode == 1
    err = " ".join(result.stderr.split())
    assert "buggy.CallbackWithABug failed while being built" in err and "a bug in its code" in err
    assert "does not accept its configuration" not in err
    run = single_run_dir(tmp_path)
    log = (run / "train.log").read_text()
    assert "Traceback" in log and "len(every)" in log and "TypeError" in log
    assert json.loads((run / "status.json").read_text())["error"] == "BugError"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("model=resnet",), "Could not find 'model/resnet'"),
        (("model.net.hiden=[3]",), "Key 'hiden' is not in struct"),
        (("optimizer.lr=0",), "optimizer.lr=0 must be a positive number"),
    ],
)
def test_the_real_command_shows_no_traceback_for_bad_values(tmp_path, args, message):
    result = run_script("train.py", *args, log_dir=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.slow
def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path):
    fake = tmp_path / "notes.ckpt"
    fake.write_text("not a checkpoint")
    result = run_script("eval.py", f"ckpt_path={fake}", log_dir=tmp_path)
    assert result.returncode == 2
    assert "is not a checkpoint that can be read" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_damaged_data_file_is_named_and_rebuilt_before_training(tmp_path, data_dir):
    copy = tmp_path / "data"
    shutil.copytree(data_dir / "MNIST", copy / "MNIST")
    damaged = copy / "MNIST" / "raw" / IDX_FILES["test_images"]
    damaged.write_bytes(damaged.read_bytes()[:-500])
    env = {**os.environ, "MNISTLAB_DATA_DIR": str(copy), "MNISTLAB_LOG_DIR": str(tmp_path / "logs")}
    result = subprocess.run(
        [sys.executable, "src/train.py", *TINY],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    log = (single_run_dir(tmp_path / "logs") / "train.log").read_text()
    assert str(damaged) in log and "rebuilding it from its source" in log
    assert read_metrics(single_run_dir(tmp_path / "logs"))["test"]["size"] == 10_000


@pytest.mark.slow
def test_a_diverging_run_stops_itself_and_its_folder_is_marked_failed(tmp_path):
    result = run_script("train.py", "optimizer=sgd", "optimizer.lr=1e10", log_dir=tmp_path)
    assert result.returncode == 2
    err = " ".join(result.stderr.split())
    assert "Training diverged: the loss became nan" in err and "smaller learning rate" in err
    run = single_run_dir(tmp_path)
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "failed" and status["error"] == "DivergedError"
    assert (run / "params.md").is_file() and (run / "tensorboard").is_dir()


@pytest.mark.slow
def test_two_processes_preparing_the_same_data_and_hog_cache_leave_one_correct_copy(
    tmp_path, data_dir
):
    script = (
        "import sys, torch; from mnistlab.data.datamodule import MnistFamilyDataModule as D; "
        "dm = D(data_dir=sys.argv[1], hog={'orientations': 8, 'pixels_per_cell': 7}); "
        "dm.prepare_data(); dm.setup(); print(float(dm.tensors['test_x'].sum()))"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600)[0] for p in processes]
    assert all(p.returncode == 0 for p in processes)
    assert outputs[0] == outputs[1]
    leftovers = [p.name for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    from mnistlab.data.catalog import DATASETS
    from mnistlab.data.idx import check_copy

    assert check_copy(DATASETS["mnist"], tmp_path / "MNIST" / "raw") == {}
    assert len(list((tmp_path / "hog").iterdir())) == 1
