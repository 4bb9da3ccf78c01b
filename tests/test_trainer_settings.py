"""Trainer settings that count steps, minibatches or time do what Lightning documents.

Each test runs train.py's job on the real data (in this process, composed by Hydra as the entry
point composes it) and checks the setting's effect in what the run left: checkpoints,
TensorBoard events, metrics.json. The MLP on HOG features keeps them quick.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from conftest import (
    checkpoint,
    datamodule_of,
    net_weights,
    read_metrics,
    run_script,
    scalars,
    steps,
    train_config,
)
from conftest import train_in_process as train
from mnistlab.models.build import build_net

pytestmark = pytest.mark.slow
HOG = ("data=mnist-hog", "trainer.max_epochs=1")
STEPS_PER_EPOCH = 430  # ceil(55,000 / 128)


def test_max_steps_stops_at_exactly_that_step_and_log_every_n_steps_counts_minibatches(
    tmp_path,
):
    run, out = train(tmp_path, *HOG, "trainer.max_steps=100", "trainer.log_every_n_steps=10")
    assert checkpoint(run)["global_step"] == 100
    assert read_metrics(run)["run"]["optimizer_steps"] == 100
    assert read_metrics(run)["run"]["minibatches_per_step"] == 64  # the grouped path stops there
    assert "100/430" in out
    assert steps(run, "train/loss_step") == list(range(10, 101, 10))


def test_last_ckpt_is_the_newest_model_even_when_best_ckpt_stays_behind(tmp_path):
    """last.ckpt follows training, whatever best.ckpt does: here "best" is the highest
    validation loss, so it stays at epoch 1 while last.ckpt moves on to the end."""
    run, _ = train(
        tmp_path, *HOG, "trainer.max_epochs=2", "trainer.limit_train_batches=50",
        "callbacks.model_checkpoint.mode=max",
    )  # fmt: skip
    assert checkpoint(run)["global_step"] == 100 == read_metrics(run)["run"]["optimizer_steps"]
    assert checkpoint(run, "best.ckpt")["global_step"] == 50
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]


@pytest.mark.parametrize(
    ("interval", "expected"), [("100", [100, 200, 300, 400]), ("0.25", [107, 214, 321, 428])]
)
def test_val_check_interval_counts_minibatches(tmp_path, interval, expected):
    run, _ = train(tmp_path, *HOG, f"trainer.val_check_interval={interval}")
    assert steps(run, "val/loss") == expected
    assert read_metrics(run)["run"]["minibatches_per_step"] == 1  # Lightning's own loop
    assert read_metrics(run)["history"][0]["val/loss"] == scalars(run)["val/loss"][-1][1]


@pytest.mark.parametrize(("limit", "per_epoch"), [("100", 100), ("0.5", 215)])
def test_limit_train_batches_counts_minibatches(tmp_path, limit, per_epoch):
    run, out = train(tmp_path, *HOG, "trainer.max_epochs=2", f"trainer.limit_train_batches={limit}")
    assert checkpoint(run)["global_step"] == 2 * per_epoch
    assert steps(run, "train/loss") == [per_epoch, 2 * per_epoch]
    assert f"{per_epoch}/{per_epoch}" in out


def test_integer_ones_and_max_time_count_single_minibatches(tmp_path):
    """limit_train_batches=1: one minibatch an epoch; val_check_interval=1: a validation after
    every minibatch; max_time: checked after every minibatch, so a limit already spent by the
    first one stops training there."""
    run, out = train(
        tmp_path / "limit", "trainer.limit_train_batches=1", "trainer.max_epochs=2",
        "trainer.log_every_n_steps=1",
    )  # fmt: skip
    assert checkpoint(run)["global_step"] == 2 == read_metrics(run)["run"]["optimizer_steps"]
    assert read_metrics(run)["run"]["minibatches_per_step"] == 1
    assert "Epoch 1/2  1/1 " in out and "Epoch 2/2  1/1 " in out
    assert steps(run, "train/loss_step") == [1, 2]
    run, _ = train(
        tmp_path / "val", *HOG, "trainer.limit_train_batches=5", "trainer.val_check_interval=1"
    )
    assert steps(run, "val/loss") == [1, 2, 3, 4, 5]
    run, out = train(tmp_path / "time", *HOG, "+trainer.max_time={microseconds:1}")
    assert checkpoint(run)["global_step"] == 1 and "Epoch 1/1  1/430 " in out
    assert checkpoint(run)["loops"]["fit_loop"]["state_dict"]["combined_loader"] == [
        {"epoch": 0, "position": 1}  # a resumed run would continue with the second minibatch
    ]


def test_limit_val_batches_and_check_val_every_n_epoch(tmp_path, data_dir):
    run, _ = train(
        tmp_path, *HOG, "trainer.max_epochs=2", "trainer.check_val_every_n_epoch=2",
        "trainer.limit_val_batches=2",
    )  # fmt: skip
    history = read_metrics(run)["history"]
    assert "val/loss" not in history[0] and "val/loss" in history[1]
    assert steps(run, "val/loss") == [2 * STEPS_PER_EPOCH]
    # The validation loss is that of the first 2 batches (2,000 images) of the validation set.
    cfg = train_config("data=mnist-hog", data_dir=data_dir)
    datamodule = datamodule_of(cfg)
    net = build_net(cfg.model, datamodule.input_shape, datamodule.num_classes)
    net.load_state_dict(net_weights(checkpoint(run)))
    x, y = datamodule.tensors["val_x"][:2000], datamodule.tensors["val_y"][:2000]
    with torch.no_grad():
        expected = F.cross_entropy(net(x), y).item()
    assert history[1]["val/loss"] == pytest.approx(expected, rel=1e-5)


def test_early_stopping_stops_when_the_validation_loss_stalls(tmp_path):
    run, _ = train(
        tmp_path, "data=mnist-hog", "trainer.max_epochs=5",
        "+callbacks.early_stopping._target_=pytorch_lightning.callbacks.EarlyStopping",
        "+callbacks.early_stopping.monitor=val/loss", "+callbacks.early_stopping.min_delta=10",
        "+callbacks.early_stopping.patience=1",
    )  # fmt: skip
    assert read_metrics(run)["run"]["epochs"] == 2


def test_a_profiler_that_is_set_is_used_instead_of_the_projects_no_op_one(tmp_path):
    """The project replaces Lightning's no-op profiler with a cheaper one, never the user's: a
    profile asked for is made, one row per minibatch trained, and shown."""
    result = run_script(
        "train.py", *HOG, "trainer.limit_train_batches=5", "trainer.profiler=simple",
        log_dir=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "FIT Profiler Report" in result.stdout
    row = next(line for line in result.stdout.splitlines() if "run_training_batch" in line)
    assert row.split("|")[3].strip() == "5"  # calls
