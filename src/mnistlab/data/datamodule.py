"""The three datasets as Lightning datamodules, held in memory as tensors."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from mnistlab.data.catalog import IDX_FILES, IMAGE_SIZE, dataset_info
from mnistlab.data.hog import HogParams, cached_hog, hog_features
from mnistlab.data.idx import read_idx
from mnistlab.data.prepare import ensure_dataset, raw_dir
from mnistlab.errors import ConfigError

log = logging.getLogger(__name__)


class TensorBatches:
    """Batches sliced from in-memory tensors, reshuffled each epoch by a seeded permutation.

    The permutation depends on (seed, epoch) only, so a run resumed at an epoch boundary sees
    the same batches as one that was never stopped.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        epoch: Callable[[], int] = lambda: 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = epoch
        self.rank, self.world_size = rank, world_size

    def _count(self) -> int:
        """Examples this process sees: an equal share when training (so steps match), else all of its stride."""
        n = len(self.y)
        if self.shuffle:
            return n // self.world_size
        return len(range(self.rank, n, self.world_size))

    def __len__(self) -> int:
        return math.ceil(self._count() / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n, size = len(self.y), self.batch_size
        if self.world_size == 1 and not self.shuffle:
            for start in range(0, n, size):  # views, no copy
                yield self.x[start : start + size], self.y[start : start + size]
            return
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch())
            order = torch.randperm(n, generator=generator)
        else:
            order = torch.arange(n)
        # Distributed: each process takes every world_size-th example, so together they see each once.
        order = order[self.rank :: self.world_size][: self._count()].to(self.y.device)
        for start in range(0, len(order), size):
            index = order[start : start + size]
            yield self.x[index], self.y[index]


def scale_pixels(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, 28, 28) to floats in [0, 1] with a channel axis, as the notebooks (x / 255)."""
    return images.unsqueeze(1).float().div_(255.0)


def normalize(x: torch.Tensor, normalization: dict[str, float]) -> torch.Tensor:
    """Subtract the training split's mean and divide by its std (identity when not standardizing)."""
    if normalization["mean"] == 0.0 and normalization["std"] == 1.0:
        return x
    return (x - normalization["mean"]) / normalization["std"]


def model_inputs(images: torch.Tensor, description: dict[str, Any]) -> torch.Tensor:
    """uint8 images (N, 28, 28) as a model trained on `description`'s data sees them."""
    hog = description.get("hog")
    x = hog_features(images, HogParams(**hog)) if hog else scale_pixels(images)
    return normalize(x, description["normalization"])


class GroupedBatches:
    """Consecutive batches in groups of `size`: one Lightning step trains on a whole group."""

    def __init__(self, batches: TensorBatches, size: int) -> None:
        self.batches, self.size = batches, size

    def __len__(self) -> int:
        return math.ceil(len(self.batches) / self.size)

    def __iter__(self) -> Iterator[list[tuple[torch.Tensor, torch.Tensor]]]:
        group: list[tuple[torch.Tensor, torch.Tensor]] = []
        for batch in self.batches:
            group.append(batch)
            if len(group) == self.size:
                yield group
                group = []
        if group:
            yield group


def _positive_int(name: str, value: Any, what: str, example: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"{name}={value!r} is not a positive whole number: it is {what}. "
            f"Set it to e.g. {name}={example}."
        )
    return value


class MnistFamilyDataModule(pl.LightningDataModule):
    """MNIST or Fashion-MNIST as pixels (N, 1, 28, 28) or as HOG feature vectors (N, F).

    Training and validation come from the 60,000 training images (a seeded split), the test
    set is the canonical 10,000 images. `val_on_test=True` validates on the test set instead,
    as the lab notebooks did.
    """

    def __init__(
        self,
        dataset: str = "mnist",
        data_dir: str = "data",
        batch_size: int = 128,
        eval_batch_size: int = 1000,
        val_size: int = 5000,
        val_on_test: bool = False,
        steps_per_execution: int = 32,
        split_seed: int = 0,
        standardize: bool = False,
        hog: dict | None = None,
        source: str | None = "auto",
        download: bool = True,
    ) -> None:
        super().__init__()
        self.info = dataset_info(dataset)
        self.data_dir = Path(data_dir)
        self.batch_size = _positive_int(
            "data.batch_size", batch_size, "how many examples a training step sees", 128
        )
        self.eval_batch_size = _positive_int(
            "data.eval_batch_size", eval_batch_size, "the batch size of validation and test", 1000
        )
        self.val_on_test = bool(val_on_test)
        self.steps_per_execution = _positive_int(
            "data.steps_per_execution",
            steps_per_execution,
            "how many minibatches one Lightning step trains on",
            32,
        )
        if not self.val_on_test:
            if (
                isinstance(val_size, bool)
                or not isinstance(val_size, int)
                or not 1 <= val_size < self.info.n_train
            ):
                raise ConfigError(
                    f"data.val_size={val_size!r} must be a whole number from 1 to "
                    f"{self.info.n_train - 1}: it is how many of the {self.info.n_train:,} training "
                    "images are held out for validation, and the rest must be left to train on. "
                    "The default is 5000; data.val_on_test=true validates on the test set instead."
                )
        self.val_size = val_size
        self.split_seed = int(split_seed)
        self.standardize = bool(standardize)
        self.hog = HogParams(**hog) if hog else None
        if self.hog:
            self.hog.check(IMAGE_SIZE)
        self.source = source
        self.download = bool(download)
        self.normalization: dict[str, float] = {"mean": 0.0, "std": 1.0}
        self._tensors: dict[str, torch.Tensor] = {}

    # What models need, from the data itself.
    @property
    def class_names(self) -> list[str]:
        return list(self.info.class_names)

    @property
    def num_classes(self) -> int:
        return len(self.info.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        if not self._tensors:
            raise RuntimeError("call setup() before asking for the input shape")
        return tuple(self._tensors["train_x"].shape[1:])

    @property
    def description(self) -> dict[str, Any]:
        """Plain values that describe the inputs, stored in checkpoints for eval and predict."""
        return {
            "dataset": self.info.name,
            "class_names": self.class_names,
            "input_shape": list(self.input_shape),
            "hog": None if self.hog is None else self.hog.__dict__.copy(),
            "normalization": dict(self.normalization),
        }

    def prepare_data(self) -> None:
        ensure_dataset(self.info.name, self.data_dir, self.source, self.download, log=log.warning)

    def _load_uint8(self) -> dict[str, torch.Tensor]:
        folder = raw_dir(self.data_dir, self.info)
        return {
            key: torch.from_numpy(read_idx(folder / name).copy()) for key, name in IDX_FILES.items()
        }

    def setup(self, stage: str | None = None) -> None:
        if self._tensors:
            return
        raw = self._load_uint8()
        train_y, test_y = raw["train_labels"].long(), raw["test_labels"].long()
        if self.hog is not None:
            features = cached_hog(
                self.data_dir / "hog",
                self.info.name,
                self.hog,
                {"train": raw["train_images"], "test": raw["test_images"]},
            )
            train_x, test_x = features["train"], features["test"]
        else:
            train_x, test_x = scale_pixels(raw["train_images"]), scale_pixels(raw["test_images"])

        if self.val_on_test:
            fit_idx = torch.arange(len(train_y))
            val_x, val_y = test_x, test_y
        else:
            order = torch.randperm(
                len(train_y), generator=torch.Generator().manual_seed(self.split_seed)
            )
            fit_idx, val_idx = order[self.val_size :], order[: self.val_size]
            val_x, val_y = train_x[val_idx], train_y[val_idx]
        fit_x, fit_y = train_x[fit_idx], train_y[fit_idx]

        if self.standardize:
            mean, std = fit_x.mean().item(), fit_x.std().item()
            self.normalization.update(mean=mean, std=std)
            fit_x, val_x, test_x = (
                normalize(t, self.normalization) for t in (fit_x, val_x, test_x)
            )

        self._tensors = {
            "train_x": fit_x.contiguous(),
            "train_y": fit_y,
            "val_x": val_x.contiguous(),
            "val_y": val_y,
            "test_x": test_x.contiguous(),
            "test_y": test_y,
        }

    def _current_epoch(self) -> int:
        return self.trainer.current_epoch if self.trainer is not None else 0

    def _on_device(self) -> None:
        """On a GPU the whole dataset moves there once: no copy from the host at each step."""
        device = self.trainer.strategy.root_device if self.trainer is not None else None
        if (
            device is not None
            and device.type != "cpu"
            and self._tensors["train_x"].device != device
        ):
            self._tensors = {key: value.to(device) for key, value in self._tensors.items()}

    def _batches(self, split: str, batch_size: int, shuffle: bool) -> TensorBatches:
        trainer = self.trainer
        self._on_device()
        return TensorBatches(
            self._tensors[f"{split}_x"],
            self._tensors[f"{split}_y"],
            batch_size,
            shuffle=shuffle,
            seed=self.split_seed,
            epoch=self._current_epoch,
            rank=trainer.global_rank if trainer is not None else 0,
            world_size=trainer.world_size if trainer is not None else 1,
        )

    def train_dataloader(self) -> GroupedBatches:
        # Distributed training synchronises gradients once per Lightning step: one batch each.
        world_size = self.trainer.world_size if self.trainer is not None else 1
        group = self.steps_per_execution if world_size == 1 else 1
        return GroupedBatches(self._batches("train", self.batch_size, shuffle=True), group)

    def val_dataloader(self) -> TensorBatches:
        return self._batches("val", self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> TensorBatches:
        return self._batches("test", self.eval_batch_size, shuffle=False)

    def split_sizes(self) -> dict[str, int]:
        return {k[:-2]: len(v) for k, v in self._tensors.items() if k.endswith("_y")}
