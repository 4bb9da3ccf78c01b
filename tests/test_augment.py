"""Data augmentation: on training minibatches only, seeded, labels kept, values in range, and
refused where it cannot apply."""

from __future__ import annotations

import itertools

import pytest
import torch

from conftest import datamodule_of, first_minibatches, train_config
from mnistlab.data.augment import Augment
from mnistlab.errors import ConfigError
from mnistlab.training.components import build_datamodule

DIGITS = ("augment=digits",)


def datamodule(data_dir, *overrides: str):
    return datamodule_of(train_config(*overrides, data_dir=data_dir))


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
    cfg = train_config(*DIGITS, data_dir=data_dir)
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
    loader.load_state_dict({"epoch": 0, "position": 2})
    resumed = [(m.x, m.y) for m in itertools.islice(loader, 2)]
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
