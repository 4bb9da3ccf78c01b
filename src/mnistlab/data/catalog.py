"""What each dataset is: class names and the facts every copy is checked against."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from mnistlab.errors import ConfigError

# torchvision's file names inside <root>/<folder>/raw/.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
IMAGE_SIZE = 28


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    folder: str  # torchvision's folder name, so torchvision.datasets.<folder>(root) loads the copy
    class_names: tuple[str, ...]
    train_counts: tuple[int, ...]
    test_counts: tuple[int, ...]
    # sha256 of the uncompressed IDX files: catches any altered byte, not only a wrong size.
    sha256: dict[str, str]
    # Whether a left-right mirror keeps an image's class (clothes: yes; digits: a mirrored 2 is no digit).
    mirror_keeps_class: bool = False

    @property
    def n_train(self) -> int:
        return sum(self.train_counts)

    @property
    def n_test(self) -> int:
        return sum(self.test_counts)


DATASETS = {
    "mnist": DatasetInfo(
        name="mnist",
        title="MNIST",
        folder="MNIST",
        class_names=tuple(str(d) for d in range(10)),
        train_counts=(5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
        test_counts=(980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009),
        sha256={
            "train_images": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train_labels": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "test_images": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "test_labels": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
    ),
    "fashion": DatasetInfo(
        name="fashion",
        title="Fashion-MNIST",
        folder="FashionMNIST",
        class_names=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        train_counts=(6000,) * 10,
        test_counts=(1000,) * 10,
        sha256={
            "train_images": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train_labels": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "test_images": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "test_labels": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        mirror_keeps_class=True,
    ),
}


def dataset_info(name: str) -> DatasetInfo:
    """The catalog entry for `name`, or a clear error listing the known names."""
    if name not in DATASETS:
        raise ConfigError(
            f"Unknown dataset '{name}': expected one of {', '.join(DATASETS)}. "
            "Set it with data.dataset=mnist or data.dataset=fashion."
        )
    return DATASETS[name]


def data_sha256(dataset: str) -> str:
    """The checksum of a dataset's four files (conf/train.yaml's provenance.data_sha256): every
    run reads a copy checked against the catalog's sha256 of each file, so these name its data.
    'unknown' for a name the catalog lacks (refused, by name, where the data is read)."""
    if dataset not in DATASETS:
        return "unknown"
    files = DATASETS[dataset].sha256
    return hashlib.sha256(" ".join(files[key] for key in sorted(files)).encode()).hexdigest()
