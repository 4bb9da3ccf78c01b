"""How each optimizer step is made: the same updates as a plain PyTorch loop, and clipping,
accumulation, schedules and precision as Lightning documents them.

Each test runs train.py's job in this process on the real data and compares the weights or
rates it left with what they must be, computed apart. The MLP on HOG features keeps them quick.
"""

from __future__ import annotations

import math

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from conftest import checkpoint, datamodule_of, net_weights, read_metrics, scalars, train_config
from conftest import train_in_process as train
from mnistlab.config.instantiate import make
from mnistlab.data.batches import epoch_order
from mnistlab.models.build import build_net

pytestmark = pytest.mark.slow
HOG = ("data=mnist-hog", "trainer.max_epochs=1")
STEPS_PER_EPOCH = 430  # ceil(55,000 / 128)
LR_MONITOR = "+callbacks.lr_monitor._target_=pytorch_lightning.callbacks.LearningRateMonitor"


def composed(data_dir, *overrides: str):
    """The run's configuration and its (shared, read-only) datamodule."""
    cfg = train_config(*overrides, data_dir=data_dir)
    return cfg, datamodule_of(cfg)


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
    run, _ = train(
        tmp_path, *HOG, *SGD, "trainer.accumulate_grad_batches=2", "trainer.log_every_n_steps=1"
    )
    assert checkpoint(run)["global_step"] == 1
    cfg, datamodule = composed(data_dir, "data=mnist-hog")
    net = initial_net(cfg, datamodule)
    x, y = datamodule.tensors["train_x"], datamodule.tensors["train_y"]
    order = epoch_order(len(y), cfg.seed, 0)
    for index in (order[:128], order[128:256]):  # Lightning divides each loss by 2
        loss = F.cross_entropy(net(x[index]), y[index])
        (loss / 2).backward()
    after = net_weights(checkpoint(run))
    for name, param in net.named_parameters():
        torch.testing.assert_close(after[name], param.detach() - 0.1 * param.grad)
    # The step's logged loss is its last minibatch's own loss, not Lightning's divided one.
    [(step, logged)] = scalars(run)["train/loss_step"]
    assert step == 1 and logged == pytest.approx(loss.item(), rel=1e-5)
    full, _ = train(tmp_path / "epoch", *HOG, "trainer.accumulate_grad_batches=2")
    assert checkpoint(full)["global_step"] == math.ceil(STEPS_PER_EPOCH / 2)


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


@pytest.mark.parametrize("per_step", [64, 1])
def test_training_equals_a_plain_pytorch_loop_step_for_step(tmp_path, data_dir, per_step):
    """What a run trains is what a hand-written loop trains, with several minibatches per
    Lightning step (the default) or Lightning's own loop: the same minibatches in the same order,
    one optimizer step each, the same dropout draws, the same weights at the end."""
    run, _ = train(
        tmp_path, *HOG, "trainer.max_steps=60", "model.net.dropout=0.3",
        f"minibatches_per_step={per_step}",
    )  # fmt: skip
    assert read_metrics(run)["run"]["minibatches_per_step"] == per_step
    cfg, datamodule = composed(data_dir, "data=mnist-hog", "model.net.dropout=0.3")
    net = initial_net(cfg, datamodule)
    optimizer = make(cfg.optimizer)(params=net.parameters())
    x, y = datamodule.tensors["train_x"], datamodule.tensors["train_y"]
    order = epoch_order(len(y), cfg.seed, 0)
    net.train()
    for step in range(60):
        index = order[step * 128 : (step + 1) * 128]
        loss = F.cross_entropy(net(x[index]), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = net_weights(checkpoint(run))
    for name, param in net.named_parameters():
        assert torch.equal(after[name], param.detach()), name


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_several_minibatches_per_step_train_exactly_as_lightnings_own_loop(tmp_path, precision):
    """A whole epoch, 64 minibatches per Lightning step or 1: the same updates, the same model."""
    runs = {}
    for per_step in (64, 1):
        run, _ = train(
            tmp_path / str(per_step), *HOG, f"trainer.precision={precision}",
            f"minibatches_per_step={per_step}", "model.net.dropout=0.3",
        )  # fmt: skip
        runs[per_step] = read_metrics(run)
        assert runs[per_step]["run"]["minibatches_per_step"] == per_step
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
