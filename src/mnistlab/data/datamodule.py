"""The three datasets (MNIST, its HOG features, Fashion-MNIST) as one Lightning datamodule, held in memory as tensors."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torchvision.datasets

from mnistlab.checks import whole_number
from mnistlab.data.augment import Augment
from mnistlab.data.batches import (
    CountedTrainBatches,
    EvalBatches,
    StepMinibatches,
    TrainBatches,
    TrainMinibatch,
)
from mnistlab.data.catalog import IMAGE_SIZE, dataset_info
from mnistlab.data.hog import HogParams, cached_hog
from mnistlab.data.inputs import normalize, scale_pixels
from mnistlab.data.prepare import ensure_dataset

log = logging.getLogger(__name__)


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
        split_seed: int = 0,
        standardize: bool = False,
        hog: dict | None = None,
        source: str | None = "auto",
        download: bool = True,
        augment: Augment | None = None,
    ) -> None:
        super().__init__()
        self.info = dataset_info(dataset)
        self.data_dir = Path(data_dir)
        self.batch_size = whole_number(
            "data.batch_size", batch_size, "how many examples a training step sees",
            hint="Set it to e.g. data.batch_size=128.",
        )  # fmt: skip
        self.eval_batch_size = whole_number(
            "data.eval_batch_size", eval_batch_size, "the batch size of validation and test",
            hint="Set it to e.g. data.eval_batch_size=1000.",
        )  # fmt: skip
        self.val_on_test = bool(val_on_test)
        if not self.val_on_test:
            whole_number(
                "data.val_size", val_size,
                f"how many of the {self.info.n_train:,} training images are held out for "
                "validation, and the rest must be left to train on",
                high=self.info.n_train - 1,
                hint="The default is 5000; data.val_on_test=true validates on the test set instead.",
            )  # fmt: skip
        self.val_size = val_size
        self.split_seed = int(split_seed)
        self.standardize = bool(standardize)
        self.hog = HogParams(**hog) if hog else None
        if self.hog:
            self.hog.check(IMAGE_SIZE)
        self.augment = augment if augment is not None and augment.active else None
        if self.augment is not None:
            self.augment.check_fits(self.info, hog=self.hog is not None)
        self.source = source
        self.download = bool(download)
        self.normalization: dict[str, float] = {"mean": 0.0, "std": 1.0}
        self.tensors: dict[str, torch.Tensor] = {}
        self.indices: dict[str, torch.Tensor] = {}

    # What models need, from the data itself.
    @property
    def class_names(self) -> list[str]:
        return list(self.info.class_names)

    @property
    def num_classes(self) -> int:
        return len(self.info.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        if not self.tensors:
            raise RuntimeError("call setup() before asking for the input shape")
        return tuple(self.tensors["train_x"].shape[1:])

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

    def _read(self, train: bool):
        """The checked copy in data_dir, read by torchvision (its folder layout is torchvision's)."""
        load = getattr(torchvision.datasets, self.info.folder)
        return load(str(self.data_dir), train=train, download=False)

    def test_images(self) -> torch.Tensor:
        """The test images as stored (uint8, N x H x W), whatever features the model reads."""
        return self._read(train=False).data

    def _load_uint8(self) -> dict[str, torch.Tensor]:
        train, test = self._read(train=True), self._read(train=False)
        return {
            "train_images": train.data, "train_labels": train.targets,
            "test_images": test.data, "test_labels": test.targets,
        }  # fmt: skip

    def setup(self, stage: str | None = None) -> None:
        if self.tensors:
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
            fit_idx, val_idx = torch.arange(len(train_y)), torch.arange(len(test_y))
            val_x, val_y = test_x, test_y
        else:
            order = torch.randperm(
                len(train_y), generator=torch.Generator().manual_seed(self.split_seed)
            )
            fit_idx, val_idx = order[self.val_size :], order[: self.val_size]
            val_x, val_y = train_x[val_idx], train_y[val_idx]
        fit_x, fit_y = train_x[fit_idx], train_y[fit_idx]
        # Where each validation example sits in its source (the training images, or the test set).
        self.indices = {"val": val_idx, "test": torch.arange(len(test_y))}

        if self.standardize:
            mean, std = fit_x.mean().item(), fit_x.std().item()
            self.normalization.update(mean=mean, std=std)
            fit_x, val_x, test_x = (
                normalize(t, self.normalization) for t in (fit_x, val_x, test_x)
            )

        self.tensors = {
            "train_x": fit_x.contiguous(),
            "train_y": fit_y,
            "val_x": val_x.contiguous(),
            "val_y": val_y,
            "test_x": test_x.contiguous(),
            "test_y": test_y,
        }

    def split_sizes(self) -> dict[str, int]:
        return {k[:-2]: len(v) for k, v in self.tensors.items() if k.endswith("_y")}

    # Loaders. On a GPU the whole dataset moves there once: no copy from the host at each step.
    def _on_device(self) -> dict[str, torch.Tensor]:
        device = self.trainer.strategy.root_device if self.trainer is not None else None
        if device is not None and self.tensors["train_x"].device != device:
            self.tensors = {key: value.to(device) for key, value in self.tensors.items()}
        return self.tensors

    def _ranks(self) -> dict[str, int]:
        trainer = self.trainer
        return {
            "rank": trainer.global_rank if trainer is not None else 0,
            "world_size": trainer.world_size if trainer is not None else 1,
        }

    def train_dataloader(self) -> TrainBatches:
        """The training minibatches, grouped as the module trains them (its
        minibatches_per_step; not a data setting)."""
        module = self.trainer.lightning_module if self.trainer is not None else None
        return self.train_batches(getattr(module, "minibatches_per_step", 1))

    def train_batches(self, minibatches_per_step: int) -> TrainBatches:
        """One epoch of shuffled training minibatches, `minibatches_per_step` per step."""
        tensors = self._on_device()
        augment = None
        if self.augment is not None:
            blank = normalize(torch.zeros(()), self.normalization).item()  # a 0 pixel, as trained
            augment = partial(self.augment, blank=blank)
        loader = TrainBatches if minibatches_per_step > 1 else CountedTrainBatches
        return loader(
            tensors["train_x"],
            tensors["train_y"],
            self.batch_size,
            minibatches_per_step=minibatches_per_step,
            seed=self.split_seed,
            epoch=lambda: self.trainer.current_epoch if self.trainer is not None else 0,
            augment=augment,
            **self._ranks(),
        )

    def _eval_batches(self, split: str) -> EvalBatches:
        tensors = self._on_device()
        return EvalBatches(
            tensors[f"{split}_x"], tensors[f"{split}_y"], self.eval_batch_size, **self._ranks()
        )

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """A training minibatch goes to its step: the loader's position moves past it, and the
        step gets the usual (inputs, labels). (Several minibatches move it as each is sliced.)"""
        if isinstance(batch, TrainMinibatch):
            self.trainer.train_dataloader.started(batch.index)
            return batch.x, batch.y
        return batch

    def transfer_batch_to_device(
        self, batch: Any, device: torch.device, dataloader_idx: int
    ) -> Any:
        """Minibatches are slices of tensors already on the training device: nothing to move."""
        if isinstance(batch, StepMinibatches) or all(
            isinstance(t, torch.Tensor) and t.device == device for t in batch
        ):
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def val_dataloader(self) -> EvalBatches:
        return self._eval_batches("val")

    def test_dataloader(self) -> EvalBatches:
        return self._eval_batches("test")
