"""Today's techniques for small CNNs: batch norm, a pooling head, augmentation, AdamW, label
smoothing and per-step schedules; each off by default, each checked where it acts."""

from __future__ import annotations

from itertools import pairwise

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import ROOT, need_fashion, read_metrics, run_script, single_run_dir
from mnistlab.analysis.params import breakdown_markdown, parameter_breakdown, total_parameters
from mnistlab.data.augment import Augment
from mnistlab.errors import ConfigError
from mnistlab.models.build import build_net
from mnistlab.models.cnn import CNN
from mnistlab.models.mlp import MLP
from mnistlab.tasks.components import build_datamodule

DIGITS = ("augment=digits",)
LADDERS = {
    "mnist": ("0_lab", "1_batchnorm", "2_schedule", "3_deeper", "4_augment"),
    "fashion": ("0_lab", "1_batchnorm", "2_schedule", "3_bigger", "4_augment"),
}
TARGET_WEIGHTS = {"mnist": 10_000, "fashion": 100_000}


def composed(*overrides: str, data_dir):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("train", overrides=[*overrides, f"paths.data_dir={data_dir}"])


_BUILT: dict[str, object] = {}


def datamodule_of(cfg):
    """The datamodule of a composed config, built once per data and augmentation settings."""
    key = OmegaConf.to_yaml(cfg.data) + OmegaConf.to_yaml(cfg.augment)
    if key not in _BUILT:
        _BUILT[key] = build_datamodule(cfg.data, cfg.augment)
    return _BUILT[key]


def datamodule(data_dir, *overrides: str):
    return datamodule_of(composed(*overrides, data_dir=data_dir))


def first_minibatches(dm, count: int = 3, epoch: int = 0):
    """The training minibatches a run's epoch starts with, as the trainer gets them."""
    loader = dm.train_dataloader()
    loader.epoch = lambda: epoch
    group = next(iter(loader))
    return [(x.clone(), y.clone()) for x, y in list(group)[:count]]


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
    cfg = composed(f"data={data}", "model=cnn", *options, data_dir=data_dir)
    dm = datamodule_of(cfg)
    net = build_net(cfg.model, dm.input_shape, dm.num_classes)
    (x, y), *_ = first_minibatches(dm, 1)
    assert net(x).shape == (len(y), 10)


def test_batch_norm_in_an_mlp_on_hog_features_composes(data_dir):
    cfg = composed("data=mnist-hog", "model.net.batch_norm=true", data_dir=data_dir)
    dm = datamodule_of(cfg)
    net = build_net(cfg.model, dm.input_shape, dm.num_classes)
    assert total_parameters(net) == 392 * 200 + 2 * 200 + 200 * 10 + 10


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("data=mnist-hog", "augment=digits"), "use augment=none with HOG features"),
        (("augment=fashion",), "augment.flip=true mirrors images left to right"),
        (
            ("augment=digits", "augment.rotate=200"),
            "augment.rotate=200 must be a number from 0 to 180",
        ),
        (
            ("augment=digits", "augment.shift=-0.1"),
            "augment.shift=-0.1 must be a number from 0 to 0.5",
        ),
    ],
    ids=["hog", "flip-digits", "rotate", "shift"],
)
def test_augmentation_that_cannot_apply_is_refused_in_one_sentence(data_dir, overrides, message):
    with pytest.raises(ConfigError) as caught:
        datamodule(data_dir, *overrides)
    assert message in str(caught.value)


# Augmentation: training minibatches only, seeded, labels kept, values in range.
def test_augmentation_changes_training_minibatches_only(data_dir):
    plain, augmented = datamodule(data_dir), datamodule(data_dir, *DIGITS)
    for split in ("val", "test"):
        a = torch.cat([x for x, _ in getattr(plain, f"{split}_dataloader")()])
        b = torch.cat([x for x, _ in getattr(augmented, f"{split}_dataloader")()])
        assert torch.equal(a, b) and torch.equal(b, augmented.tensors[f"{split}_x"])
    for (x0, y0), (x1, y1) in zip(
        first_minibatches(plain), first_minibatches(augmented), strict=True
    ):
        assert torch.equal(y0, y1)  # the same examples in the same order, with their labels
        assert not torch.equal(x0, x1)
        assert x1.min() >= 0 and x1.max() <= 1  # still pixels / 255
    # The stored training images are left as they were.
    assert torch.equal(plain.tensors["train_x"], augmented.tensors["train_x"])


def test_augmentation_is_the_same_for_the_same_seed_and_differs_for_another(data_dir):
    cfg = composed(*DIGITS, data_dir=data_dir)
    first = first_minibatches(datamodule_of(cfg))
    torch.rand(1000)  # the global random state plays no part
    same = [first, first_minibatches(build_datamodule(cfg.data, cfg.augment))]  # a fresh one
    assert all(torch.equal(a[0], b[0]) for a, b in zip(*same, strict=True))
    epoch2 = first_minibatches(datamodule(data_dir, *DIGITS), epoch=1)
    # Another seed: the datamodule's order and its augmentation both follow it.
    other = datamodule(data_dir, *DIGITS, "seed=7")
    plain = datamodule(data_dir, "seed=7")
    for (x0, _), (x1, _) in zip(first_minibatches(plain), first_minibatches(other), strict=True):
        assert not torch.equal(x0, x1)
    assert not any(torch.equal(a[0], b[0]) for a, b in zip(same[0], epoch2, strict=True))


def test_a_resumed_epoch_sees_the_same_augmented_images(data_dir):
    """Each minibatch's augmentation depends on (seed, epoch, minibatch): a loader restored to
    minibatch 2 of epoch 0, as a checkpoint restores it, continues with the same images."""
    full = first_minibatches(datamodule(data_dir, *DIGITS), 4)
    dm = datamodule(data_dir, *DIGITS)
    loader = dm.train_dataloader()
    loader.load_state_dict({"epoch": 0, "position": 2, "group": loader.group})
    resumed = list(next(iter(loader)))[:2]
    for (x0, y0), (x1, y1) in zip(full[2:], resumed, strict=True):
        assert torch.equal(x0, x1) and torch.equal(y0, y1)


def test_augmented_images_stay_in_range_when_standardized(data_dir):
    dm = datamodule(data_dir, *DIGITS, "augment.erase=1", "data.standardize=true")
    low, high = dm.tensors["train_x"].min(), dm.tensors["train_x"].max()
    for x, _ in first_minibatches(dm, 5):
        assert x.min() >= low - 1e-6 and x.max() <= high + 1e-6
    # An erased rectangle is blank, as a 0 pixel is once standardized.
    erased = datamodule(data_dir, "augment.erase=1", "data.standardize=true")
    plain = datamodule(data_dir, "data.standardize=true")
    for (x0, _), (x1, _) in zip(first_minibatches(plain), first_minibatches(erased), strict=True):
        changed = x0 != x1
        assert changed.flatten(1).any(1).float().mean() > 0.5  # most rectangles cover some ink
        assert torch.equal(x1[changed], torch.full_like(x1[changed], low.item()))


def test_each_augmentation_does_what_it_says():
    torch.manual_seed(0)
    x = torch.zeros(64, 1, 28, 28)
    x[:, :, 10:18, 4:10] = 1.0  # a bright block left of the centre
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    flipped = Augment(flip=True)(x, g(), blank=0.0)
    mirrored = torch.equal
    flips = [mirrored(f, x[0].flip(-1)) for f in flipped]
    assert 16 < sum(flips) < 48 and all(
        f or mirrored(a, x[0]) for f, a in zip(flips, flipped, strict=True)
    )
    erased = Augment(erase=1.0, erase_area=0.2)(torch.ones_like(x), g(), blank=0.0)
    blanked = (erased == 0).flatten(1).float().mean(1)
    assert (blanked > 0).all() and (blanked <= 0.2 + 2 * 28 / 784).all()
    shifted = Augment(shift=0.1)(x, g(), blank=0.0)
    assert torch.allclose(shifted.sum((1, 2, 3)), x.sum((1, 2, 3)), rtol=0.05)  # moved, not lost
    assert not torch.equal(shifted, x)
    rotated = Augment(rotate=30, scale=0.2)(x, g(), blank=0.0)
    assert rotated.min() >= 0 and rotated.max() <= 1 and not torch.equal(rotated, x)


# Ladders: every rung composes, and the best rungs stay within the weights the targets allow.
@pytest.mark.parametrize("ladder", LADDERS)
def test_every_rung_of_both_ladders_composes_within_its_weight_budget(data_dir, ladder):
    if ladder == "fashion":
        need_fashion()
    counts, steps = [], []
    for rung in LADDERS[ladder]:
        cfg = composed(f"experiment={ladder}_modern", f"ladder/{ladder}={rung}", data_dir=data_dir)
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


@pytest.mark.slow
@pytest.mark.parametrize("schedule", ["onecycle", "cosine_warmup"])
def test_a_per_step_schedule_changes_the_rate_every_step_and_tensorboard_shows_it(
    tmp_path, schedule
):
    steps, lr = 40, 0.002
    result = run_script(
        "train.py", "data=mnist-hog", f"trainer.max_steps={steps}", "trainer.log_every_n_steps=1",
        f"scheduler={schedule}", "optimizer=adamw", f"optimizer.lr={lr}",
        "+trainer.limit_test_batches=1", log_dir=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    logged = lr_used(single_run_dir(tmp_path))
    assert [step for step, _ in logged] == list(range(1, steps + 1))
    rates = [rate for _, rate in logged]
    assert all(a != b for a, b in pairwise(rates))  # a new rate at every step
    if schedule == "onecycle":
        expected = reference_rates(
            lambda o: torch.optim.lr_scheduler.OneCycleLR(
                o, max_lr=lr, total_steps=steps, pct_start=0.25, div_factor=25.0,
                final_div_factor=1000.0, cycle_momentum=False,
            ), steps, lr,
        )  # fmt: skip
        assert max(rates) == pytest.approx(lr, rel=1e-3) and rates[0] == pytest.approx(lr / 25)
    else:
        from mnistlab.schedules import warmup_cosine

        expected = reference_rates(lambda o: warmup_cosine(o, steps), steps, lr)
        assert rates[:2] == pytest.approx([lr / 2, lr])  # 5% of 40 steps: 2 warm-up steps
        assert rates[-1] == pytest.approx(0, abs=1e-12)  # the cosine ends at 0 (final: 0.0)
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
    gain = 100 * (last["test"]["acc"] - first["test"]["acc"])
    assert f"{100 * last['test']['acc']:.2f}% | {gain:+.2f} pts |" in rows[1]
    assert f"| 7,465 | val/acc {first['run']['objective']['value']:.4f} |" in rows[0]
    assert last["test"]["size"] == 2_000
    errors = round((1 - last["test"]["acc"]) * 2_000)
    assert f" pts | {errors} |" in rows[1]
