"""Every step-based Trainer setting does what Lightning documents, counted in minibatches.

Each test runs train.py's job on the real data (in this process, composed by Hydra as the entry
point composes it) and checks the setting's effect in what the run left: checkpoints,
TensorBoard events, metrics.json. The MLP on HOG features keeps them quick.
"""

from __future__ import annotations

import math

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import read_metrics, train_config
from conftest import train_in_process as train
from mnistlab.data.batches import epoch_order
from mnistlab.models.build import build_net
from mnistlab.tasks.components import build_datamodule

pytestmark = pytest.mark.slow
HOG = ("data=mnist-hog", "trainer.max_epochs=1")
STEPS_PER_EPOCH = 430  # ceil(55,000 / 128)
LR_MONITOR = "+callbacks.lr_monitor._target_=pytorch_lightning.callbacks.LearningRateMonitor"


def scalars(run_dir) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    return {
        tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]
    }


def steps(run_dir, tag: str) -> list[int]:
    return [step for step, _ in scalars(run_dir)[tag]]


def checkpoint(run_dir, name: str = "last.ckpt") -> dict:
    return torch.load(run_dir / "checkpoints" / name, weights_only=True)


def test_max_steps_stops_at_exactly_that_step_and_log_every_n_steps_counts_minibatches(
    tmp_path,
):
    run, out = train(tmp_path, *HOG, "trainer.max_steps=100", "trainer.log_every_n_steps=10")
    assert checkpoint(run)["global_step"] == 100
    assert read_metrics(run)["run"]["optimizer_steps"] == 100
    assert read_metrics(run)["run"]["minibatches_per_lightning_step"] == 64  # the fast path
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
    run, out = train(tmp_path, *HOG, f"trainer.val_check_interval={interval}")
    assert steps(run, "val/loss") == expected
    assert "One minibatch per Lightning step" in out and "trainer.val_check_interval" in out
    assert read_metrics(run)["history"][0]["val/loss"] == scalars(run)["val/loss"][-1][1]


@pytest.mark.parametrize(("limit", "per_epoch"), [("100", 100), ("0.5", 215)])
def test_limit_train_batches_counts_minibatches(tmp_path, limit, per_epoch):
    run, out = train(tmp_path, *HOG, "trainer.max_epochs=2", f"trainer.limit_train_batches={limit}")
    assert checkpoint(run)["global_step"] == 2 * per_epoch
    assert steps(run, "train/loss") == [per_epoch, 2 * per_epoch]
    assert f"{per_epoch}/{per_epoch}" in out


def test_limit_val_batches_and_check_val_every_n_epoch(tmp_path, data_dir):
    run, _ = train(
        tmp_path, *HOG, "trainer.max_epochs=2", "trainer.check_val_every_n_epoch=2",
        "trainer.limit_val_batches=2",
    )  # fmt: skip
    history = read_metrics(run)["history"]
    assert "val/loss" not in history[0] and "val/loss" in history[1]
    assert steps(run, "val/loss") == [2 * STEPS_PER_EPOCH]
    # The validation loss is that of the first 2 batches (2,000 images) of the validation set.
    cfg, datamodule = composed(data_dir, "data=mnist-hog")
    net = build_net(cfg.model, datamodule.input_shape, datamodule.num_classes)
    net.load_state_dict(net_weights(checkpoint(run)))
    x, y = datamodule.tensors["val_x"][:2000], datamodule.tensors["val_y"][:2000]
    with torch.no_grad():
        expected = F.cross_entropy(net(x), y).item()
    assert history[1]["val/loss"] == pytest.approx(expected, rel=1e-5)


def composed(data_dir, *overrides: str):
    cfg = train_config(*overrides, data_dir=data_dir)
    return cfg, build_datamodule(cfg.data)


def net_weights(saved: dict) -> dict[str, torch.Tensor]:
    return {
        k.removeprefix("net."): v for k, v in saved["state_dict"].items() if k.startswith("net.")
    }


def initial_net(cfg, datamodule):
    """The network a run starts from: the same seed, built in the same order as the train task."""
    pl.seed_everything(cfg.seed, verbose=False)
    return build_net(cfg.model, datamodule.input_shape, datamodule.num_classes)


SGD = ("optimizer=sgd", "optimizer.momentum=0", "optimizer.lr=0.1", "trainer.max_steps=1")


@pytest.mark.parametrize("algorithm", ["norm", "value"])
def test_gradient_clipping_bounds_the_gradient(tmp_path, data_dir, algorithm):
    clip = 0.01 if algorithm == "norm" else 0.001
    run, _ = train(
        tmp_path, *HOG, *SGD, f"trainer.gradient_clip_val={clip}",
        f"trainer.gradient_clip_algorithm={algorithm}",
    )  # fmt: skip
    cfg, datamodule = composed(data_dir, "data=mnist-hog")
    start = initial_net(cfg, datamodule).state_dict()
    after = net_weights(checkpoint(run))
    gradient = torch.cat([((start[k] - after[k]) / 0.1).flatten() for k in start])  # SGD: w -= lr g
    if algorithm == "norm":
        assert float(gradient.norm()) == pytest.approx(clip, rel=1e-4)
    else:
        assert float(gradient.abs().max()) == pytest.approx(clip, rel=1e-4)


def test_accumulate_grad_batches_adds_minibatches_into_one_step(tmp_path, data_dir):
    run, _ = train(tmp_path, *HOG, *SGD, "trainer.accumulate_grad_batches=2")
    assert checkpoint(run)["global_step"] == 1
    cfg, datamodule = composed(data_dir, "data=mnist-hog")
    net = initial_net(cfg, datamodule)
    x, y = datamodule.tensors["train_x"], datamodule.tensors["train_y"]
    order = epoch_order(len(y), cfg.seed, 0)
    for index in (order[:128], order[128:256]):  # Lightning divides each loss by 2
        (F.cross_entropy(net(x[index]), y[index]) / 2).backward()
    after = net_weights(checkpoint(run))
    for name, param in net.named_parameters():
        torch.testing.assert_close(after[name], param.detach() - 0.1 * param.grad)
    full, _ = train(tmp_path / "epoch", *HOG, "trainer.accumulate_grad_batches=2")
    assert checkpoint(full)["global_step"] == math.ceil(STEPS_PER_EPOCH / 2)


def test_early_stopping_stops_when_the_validation_loss_stalls(tmp_path):
    run, out = train(
        tmp_path, "data=mnist-hog", "trainer.max_epochs=5",
        "+callbacks.early_stopping._target_=pytorch_lightning.callbacks.EarlyStopping",
        "+callbacks.early_stopping.monitor=val/loss", "+callbacks.early_stopping.min_delta=10",
        "+callbacks.early_stopping.patience=1",
    )  # fmt: skip
    assert read_metrics(run)["run"]["epochs"] == 2
    assert "One minibatch per Lightning step" not in out  # early stopping acts on epochs


def test_learning_rate_monitor_shows_the_rate_used_by_an_epoch_schedule(tmp_path):
    run, _ = train(
        tmp_path, "data=mnist-hog", "trainer.max_epochs=3", "scheduler=step",
        "scheduler.scheduler.step_size=1", LR_MONITOR,
        "+callbacks.lr_monitor.logging_interval=epoch",
    )  # fmt: skip
    lrs = scalars(run)["lr-KerasRMSprop"]
    assert [step for step, _ in lrs] == [0, STEPS_PER_EPOCH, 2 * STEPS_PER_EPOCH]
    assert [lr for _, lr in lrs] == pytest.approx([1e-3, 5e-4, 2.5e-4])


def test_a_schedule_that_steps_per_optimizer_step(tmp_path):
    run, _ = train(
        tmp_path, *HOG, "trainer.max_steps=300", "scheduler=step", "scheduler.interval=step",
        "scheduler.scheduler.step_size=100", LR_MONITOR, "+callbacks.lr_monitor.logging_interval=step",
    )  # fmt: skip
    lrs = scalars(run)["lr-KerasRMSprop"]
    # Logged every 50 steps, each the rate the next step uses: halved after every 100 steps.
    assert [step for step, _ in lrs] == [49, 99, 149, 199, 249, 299]
    assert [lr for _, lr in lrs] == pytest.approx([1e-3 * 0.5 ** (s // 100) for s, _ in lrs])
    assert checkpoint(run)["lr_schedulers"][0]["last_epoch"] == 300


def test_a_plateau_schedule_follows_the_validation_loss(tmp_path):
    run, _ = train(
        tmp_path, "data=mnist-hog", "trainer.max_epochs=4", "scheduler=plateau",
        "scheduler.scheduler.patience=0", "+scheduler.scheduler.threshold=0.2", LR_MONITOR,
        "+callbacks.lr_monitor.logging_interval=epoch",
    )  # fmt: skip
    losses = [row["val/loss"] for row in read_metrics(run)["history"]]
    reference = torch.optim.lr_scheduler.ReduceLROnPlateau(
        torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1e-3),
        factor=0.5, patience=0, threshold=0.2,
    )  # fmt: skip
    expected = [1e-3]
    for loss in losses[:-1]:
        reference.step(loss)
        expected.append(reference.get_last_lr()[0])
    assert [lr for _, lr in scalars(run)["lr-KerasRMSprop"]] == pytest.approx(expected)
    assert len(set(expected)) > 1  # the threshold makes the rate drop at least once


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_grouped_steps_train_exactly_as_lightnings_own_loop(tmp_path, precision):
    """64 minibatches per Lightning step (the default) or 1: the same updates, the same model."""
    runs = {}
    for group in (64, 1):
        run, _ = train(
            tmp_path / str(group), *HOG, f"trainer.precision={precision}",
            f"data.steps_per_execution={group}", "model.net.dropout=0.3",
        )  # fmt: skip
        runs[group] = read_metrics(run)
        assert runs[group]["run"]["minibatches_per_lightning_step"] == group
        assert checkpoint(run)["global_step"] == STEPS_PER_EPOCH
    assert runs[64]["test"] == runs[1]["test"]
    assert runs[64]["history"][0]["train/loss"] == runs[1]["history"][0]["train/loss"]


def test_bf16_mixed_precision_changes_the_arithmetic(tmp_path):
    results = [
        read_metrics(train(tmp_path / p, *HOG, "trainer.max_steps=50", f"trainer.precision={p}")[0])
        for p in ("32-true", "bf16-mixed")
    ]
    full, half = (r["history"][0]["train/loss"] for r in results)
    assert full != half and half == pytest.approx(full, rel=0.05)
