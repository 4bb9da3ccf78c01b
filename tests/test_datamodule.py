"""The datamodules: splits, protocols, standardisation, and the training minibatches' order."""

from __future__ import annotations

import torch

from conftest import need_fashion
from mnistlab.data.datamodule import MnistFamilyDataModule


def make_dm(data_dir, **kwargs) -> MnistFamilyDataModule:
    dm = MnistFamilyDataModule(data_dir=str(data_dir), **kwargs)
    dm.prepare_data()
    dm.setup()
    return dm


def test_mnist_datamodule_splits_5000_for_validation_and_keeps_the_canonical_test_set(data_dir):
    dm = make_dm(data_dir, split_seed=1)
    assert dm.split_sizes() == {"train": 55000, "val": 5000, "test": 10000}
    x, y, index = next(iter(dm.train_dataloader()))
    assert index == 0
    assert x.shape == (128, 1, 28, 28) and x.dtype == torch.float32
    assert y.dtype == torch.int64
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert dm.input_shape == (1, 28, 28) and dm.num_classes == 10
    assert dm.class_names == [str(d) for d in range(10)]
    test_y = torch.cat([y for _, y in dm.test_dataloader()])
    assert test_y[:5].tolist() == [7, 2, 1, 0, 4]
    loader = dm.train_dataloader()
    assert len(loader) == loader.minibatches == 430  # ceil(55000 / 128), one per Lightning step
    minibatches = list(loader)
    assert [m.index for m in minibatches] == list(range(430))
    assert sum(len(m.y) for m in minibatches) == 55000


def test_the_split_depends_on_the_seed_only(data_dir):
    a, b, c = (make_dm(data_dir, split_seed=s) for s in (3, 3, 4))
    assert torch.equal(a.tensors["val_y"], b.tensors["val_y"])
    assert torch.equal(a.tensors["val_x"], b.tensors["val_x"])
    assert not torch.equal(a.tensors["val_x"], c.tensors["val_x"])


def test_val_on_test_reproduces_the_notebooks_setting(data_dir):
    dm = make_dm(data_dir, val_on_test=True)
    assert dm.split_sizes() == {"train": 60000, "val": 10000, "test": 10000}
    assert torch.equal(dm.tensors["val_x"], dm.tensors["test_x"])


def test_fashion_datamodule_names_its_classes(data_dir):
    need_fashion()
    dm = make_dm(data_dir, dataset="fashion")
    assert dm.class_names[0] == "T-shirt/top" and dm.class_names[9] == "Ankle boot"
    assert dm.input_shape == (1, 28, 28)


def test_standardize_uses_the_training_split_statistics(data_dir):
    dm = make_dm(data_dir, standardize=True)
    x = dm.tensors["train_x"]
    assert abs(float(x.mean())) < 1e-3 and abs(float(x.std()) - 1) < 1e-3
    assert round(dm.normalization["mean"], 2) == 0.13


def test_training_batches_are_reshuffled_each_epoch_and_repeat_for_the_same_epoch(data_dir):
    dm = make_dm(data_dir)
    loader = dm.train_dataloader()
    epoch = {"n": 0}
    loader.epoch = lambda: epoch["n"]

    def first_labels():
        return next(iter(loader)).y

    first, again = first_labels(), first_labels()
    epoch["n"] = 1
    other = first_labels()
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_a_loader_resumed_mid_epoch_continues_with_the_next_minibatch(data_dir):
    """The position saved in a checkpoint is what training took, not what Lightning fetched ahead."""
    dm = make_dm(data_dir)
    loader = dm.train_dataloader()
    minibatches = iter(loader)
    trained = [next(minibatches) for _ in range(3)]
    for minibatch in trained:
        loader.started(minibatch.index)  # as the datamodule does when a minibatch goes to its step
    ahead = next(minibatches)  # fetched ahead of time, not trained yet
    assert loader.state_dict()["position"] == 3 and ahead.index == 3
    resumed = make_dm(data_dir).train_dataloader()
    resumed.load_state_dict(loader.state_dict())
    rest = list(resumed)
    whole = list(dm.train_dataloader())
    assert [m.index for m in rest] == list(range(3, 430))
    assert all(torch.equal(a.y, b.y) for a, b in zip(trained + rest, whole, strict=True))


def test_several_minibatches_per_step_are_sliced_as_they_are_trained(data_dir):
    """Steps of 64 minibatches: the position is what training took, not what Lightning fetched
    ahead, and a resumed loader continues with the next minibatch, whatever the step size."""
    dm = make_dm(data_dir)
    loader = dm.train_batches(64)
    steps = iter(loader)
    assert loader.minibatches == 430 and len(list(dm.train_batches(64))) == 7  # ceil(430 / 64)
    first = [y for _, y in next(steps)]  # trained
    ahead = next(steps)  # fetched, not trained yet
    assert len(first) == 64 == len(ahead) and loader.state_dict()["position"] == 64
    resumed = dm.train_dataloader()  # one minibatch per step, without a module to say more
    resumed.load_state_dict(loader.state_dict())
    rest = [m.y for m in resumed]
    whole = [m.y for m in dm.train_dataloader()]
    assert len(rest) == 430 - 64
    assert all(torch.equal(a, b) for a, b in zip(first + rest, whole, strict=True))


def test_a_loader_resumed_at_an_epochs_end_starts_the_next_epoch_in_its_own_order(data_dir):
    """A checkpoint written once an epoch is done resumes with the next epoch from its start, and
    the order is drawn when the first minibatch is taken: Lightning fetches a step ahead, and may
    do so for a resumed run before it has settled which epoch it is in."""
    dm = make_dm(data_dir)
    loader = dm.train_batches(64)
    for step in loader:  # epoch 0, trained whole
        list(step)
    assert loader.state_dict() == {"epoch": 1, "position": 0}
    epoch = {"n": 0}
    resumed = dm.train_batches(64)
    resumed.epoch = lambda: epoch["n"]
    resumed.load_state_dict(loader.state_dict())
    first_step = next(iter(resumed))  # fetched while the epoch still reads 0
    epoch["n"] = 1
    _, labels = next(iter(first_step))
    fresh = dm.train_batches(1)
    fresh.epoch = lambda: 1
    assert first_step.first == 0 and torch.equal(labels, next(iter(fresh)).y)
