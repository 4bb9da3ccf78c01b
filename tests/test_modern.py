"""Today's techniques for small CNNs: batch norm, a pooling head, AdamW, label smoothing,
per-step schedules and the two ablation ladders; each off by default, each checked where it
acts (augmentation: test_augment.py)."""

from __future__ import annotations

from itertools import pairwise

import pytest
import torch
from scipy import stats
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import (
    datamodule_of,
    first_minibatches,
    need_fashion,
    read_metrics,
    run_script,
    single_run_dir,
    train_config,
)
from mnistlab.errors import ConfigError
from mnistlab.models.build import build_net
from mnistlab.models.cnn import CNN
from mnistlab.models.mlp import MLP
from mnistlab.reports.params import breakdown_markdown, parameter_breakdown, total_parameters
from mnistlab.reports.predictions import read_predictions

LADDERS = {
    "mnist": ("0_lab", "1_batchnorm", "2_schedule", "3_deeper", "4_augment"),
    "fashion": ("0_lab", "1_batchnorm", "2_schedule", "3_bigger", "4_augment"),
}
TARGET_WEIGHTS = {"mnist": 10_000, "fashion": 100_000}


# Parameter counts with batch norm: exact, with the arithmetic of each layer.
def test_batch_norm_parameters_are_counted_exactly_with_their_arithmetic():
    net = CNN((1, 28, 28), 10, batch_norm=True)
    # No convolution bias: the norm's shift replaces it.
    convs = 5 * 5 * 1 * 9 + 5 * 5 * 9 * 9 + 3 * 3 * 9 * 16
    norms = 2 * (9 + 9 + 16)
    head = 144 * 25 + 25 + 25 * 10 + 10
    assert total_parameters(net) == convs + norms + head == 7_499
    rows = parameter_breakdown(net, (1, 28, 28))
    assert [r.arithmetic for r in rows if r.kind == "BatchNorm2d"] == [
        "9 scales + 9 shifts = 18", "9 scales + 9 shifts = 18", "16 scales + 16 shifts = 32",
    ]  # fmt: skip
    assert [r.arithmetic for r in rows if r.kind == "Conv2d"][0] == "5 x 5 x 1 x 9 = 225"
    assert "= **7,499**" in breakdown_markdown(rows, total_parameters(net), (1, 28, 28))
    mlp = MLP((392,), 10, hidden=[200], batch_norm=True)
    assert total_parameters(mlp) == 392 * 200 + 2 * 200 + 200 * 10 + 10


def test_deeper_blocks_and_a_pooling_head_have_the_counts_their_shapes_give():
    net = CNN(
        (1, 28, 28), 10, filters=[8, 16, 16], kernel_sizes=3, convs_per_block=2, head="gap",
        dense=[], batch_norm=True,
    )  # fmt: skip
    convs = 9 * (1 * 8 + 8 * 8 + 8 * 16 + 16 * 16 + 16 * 16 + 16 * 16)
    assert total_parameters(net) == convs + 2 * (8 + 8 + 16 + 16 + 16 + 16) + 16 * 10 + 10 == 9_042
    rows = parameter_breakdown(net, (1, 28, 28))
    assert [r.output_shape for r in rows if r.kind == "AdaptiveAvgPool2d"] == [(16, 1, 1)]
    assert net(torch.rand(4, 1, 28, 28)).shape == (4, 10)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in net.modules()) == 6


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"convs_per_block": [1, 2]}, "model.net.convs_per_block=[1, 2] has 2 entries"),
        ({"convs_per_block": 0}, "model.net.convs_per_block=[0, 0, 0] must be a list"),
        ({"head": "max"}, "model.net.head='max' must be one of flatten, gap"),
        ({"block_dropout": 1.5}, "model.net.block_dropout=1.5 must be a number in [0, 1)"),
    ],
)
def test_bad_cnn_options_are_refused_in_one_sentence(kwargs, message):
    with pytest.raises(ConfigError, match=None) as caught:
        CNN((1, 28, 28), 10, **kwargs)
    assert message in str(caught.value)


# Every option composes with both datasets, and with HOG where it applies.
@pytest.mark.parametrize("data", ["mnist", "fashion"])
@pytest.mark.parametrize(
    "options",
    [
        ("model.net.batch_norm=true",),
        ("model.net.head=gap", "model.net.convs_per_block=2", "model.net.block_dropout=0.2"),
        ("optimizer=adamw", "scheduler=onecycle", "model.label_smoothing=0.1"),
        ("scheduler=cosine_warmup",),
        ("augment=digits",),
    ],
    ids=["batchnorm", "gap-deeper", "adamw-onecycle-smoothing", "cosine-warmup", "augment"],
)
def test_each_option_composes_with_both_datasets(data_dir, data, options):
    if data == "fashion":
        need_fashion()
    cfg = train_config(f"data={data}", "model=cnn", *options, data_dir=data_dir)
    dm = datamodule_of(cfg)
    net = build_net(cfg.model, dm.input_shape, dm.num_classes)
    (x, y), *_ = first_minibatches(dm, 1)
    assert net(x).shape == (len(y), 10)


def test_batch_norm_in_an_mlp_on_hog_features_composes(data_dir):
    cfg = train_config("data=mnist-hog", "model.net.batch_norm=true", data_dir=data_dir)
    dm = datamodule_of(cfg)
    net = build_net(cfg.model, dm.input_shape, dm.num_classes)
    assert total_parameters(net) == 392 * 200 + 2 * 200 + 200 * 10 + 10


# Ladders: every rung composes, and the best rungs stay within the weights the targets allow.
@pytest.mark.parametrize("ladder", LADDERS)
def test_every_rung_of_both_ladders_composes_within_its_weight_budget(data_dir, ladder):
    if ladder == "fashion":
        need_fashion()
    counts, steps = [], []
    for rung in LADDERS[ladder]:
        cfg = train_config(
            f"experiment={ladder}_modern", f"ladder/{ladder}={rung}", data_dir=data_dir
        )
        dm = datamodule_of(cfg)
        counts.append(total_parameters(build_net(cfg.model, dm.input_shape, dm.num_classes)))
        steps.append(cfg.rung.step)
    assert steps == list(range(len(LADDERS[ladder])))
    assert counts[0] == 7_465 and max(counts) <= TARGET_WEIGHTS[ladder]


# Per-step schedules, the rate each step used in TensorBoard, and the ladder's report, through
# the real entry point.
def lr_used(run_dir) -> list[tuple[int, float]]:
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars("train/lr")]


def reference_rates(make_schedule, steps: int, lr: float) -> list[float]:
    """The rate each of `steps` optimizer steps uses under the schedule, computed apart."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    schedule = make_schedule(optimizer)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return rates


def test_cosine_with_warm_up_changes_the_rate_every_step():
    from mnistlab.training.schedules import warmup_cosine

    steps, lr = 40, 0.002
    rates = reference_rates(lambda o: warmup_cosine(o, steps), steps, lr)
    assert all(a != b for a, b in pairwise(rates))
    assert rates[:2] == pytest.approx([lr / 2, lr])  # 5% of 40 steps: 2 warm-up steps
    assert rates[-1] == pytest.approx(0, abs=1e-12)  # the cosine ends at 0 (final: 0.0)


@pytest.mark.slow
def test_a_one_cycle_schedule_changes_the_rate_every_step_and_tensorboard_shows_it(tmp_path):
    steps, lr = 40, 0.002
    result = run_script(
        "train.py", "data=mnist-hog", f"trainer.max_steps={steps}", "trainer.log_every_n_steps=1",
        "scheduler=onecycle", "optimizer=adamw", f"optimizer.lr={lr}",
        "+trainer.limit_test_batches=1", log_dir=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    logged = lr_used(single_run_dir(tmp_path))
    assert [step for step, _ in logged] == list(range(1, steps + 1))
    rates = [rate for _, rate in logged]
    assert all(a != b for a, b in pairwise(rates))  # a new rate at every step
    expected = reference_rates(
        lambda o: torch.optim.lr_scheduler.OneCycleLR(
            o, max_lr=lr, total_steps=steps, pct_start=0.25, div_factor=25.0,
            final_div_factor=1000.0, cycle_momentum=False,
        ), steps, lr,
    )  # fmt: skip
    assert max(rates) == pytest.approx(lr, rel=1e-3) and rates[0] == pytest.approx(lr / 25)
    assert rates == pytest.approx(expected, rel=1e-5)


@pytest.mark.slow
def test_a_ladder_sweep_reports_what_each_rung_added(tmp_path, data_dir):
    result = run_script(
        "train.py", "-m", "experiment=mnist_modern", "ladder/mnist=0_lab,4_augment",
        "trainer.max_epochs=1", "trainer.limit_train_batches=8", "trainer.limit_val_batches=1",
        "+trainer.limit_test_batches=2", log_dir=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (folder,) = (tmp_path / "train" / "multiruns").iterdir()
    runs = {p.name: read_metrics(p) for p in folder.iterdir() if (p / "metrics.json").is_file()}
    first, last = runs["0"], runs["1"]
    assert (first["run"]["parameters"], last["run"]["parameters"]) == (7_465, 9_042)
    assert last["run"]["rung"] == {
        "step": 4, "adds": "data augmentation: shifts, rotations, zooms",
    }  # fmt: skip
    report = (folder / "sweep_report.md").read_text()
    section = report.split("## What each rung added")[1].split("## Every run")[0]
    rows = [
        line for line in section.splitlines() if line.startswith("| 0 ") or line.startswith("| 4 ")
    ]
    assert [row.split(" | ")[0] for row in rows] == ["| 0", "| 4"]
    # The gain over the rung before, tested on the same 2,000 test images (limit_test_batches=2):
    # McNemar's exact test from the examples only one of the two gets right, computed apart.
    assert last["test"]["size"] == 2_000
    before, after = (read_predictions(folder / name)["test"].correct for name in ("0", "1"))
    assert len(before) == len(after) == 2_000
    p = stats.binomtest(int((after & ~before).sum()), int((after != before).sum())).pvalue
    gain = 100 * (last["test"]["acc"] - first["test"]["acc"])
    low, high = last["test"]["acc_interval"]
    test_acc = f"{100 * last['test']['acc']:.2f}% ({100 * low:.2f}-{100 * high:.2f})"
    verdict = "not significant" if p >= 0.05 else "significant"
    assert f"{test_acc} | {gain:+.2f} pts (" in rows[1]
    assert f"p {p:.2g}: {verdict} |" in rows[1]
    assert f"| 7,465 | val/acc {first['run']['objective']['value']:.4f}" in rows[0]
    errors = round((1 - last["test"]["acc"]) * 2_000)
    assert f": {verdict} | {errors} |" in rows[1]
