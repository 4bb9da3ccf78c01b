"""The LightningModule: cross-entropy on logits, the optimizer from config, and the lab's metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
)

from mnistlab.errors import DivergedError


def metric_tag(class_name: str) -> str:
    """A class name usable in a TensorBoard tag ('T-shirt/top' -> 'T-shirt-top')."""
    return class_name.replace("/", "-").replace(" ", "_")


# How often the running loss is checked for NaN or infinity (one host sync per check).
DIVERGENCE_CHECK_EVERY = 20


def _eval_metrics(num_classes: int) -> MetricCollection:
    return MetricCollection(
        {
            "acc": MulticlassAccuracy(num_classes, average="micro"),
            "f1_macro": MulticlassF1Score(num_classes, average="macro"),
            "f1": MulticlassF1Score(num_classes, average=None),
            "confusion": MulticlassConfusionMatrix(num_classes),
        }
    )


class Classifier(pl.LightningModule):
    """Trains `net` with cross-entropy on logits: softmax + categorical cross-entropy, as Keras.

    `optimizer` and `scheduler` are partials from config, completed here with the parameters.
    `hparams` holds plain values only (the run's config and the data's description), so a
    checkpoint rebuilds the run and loads under torch's `weights_only` default.
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        class_names: list[str],
        scheduler: Callable[..., Any] | None = None,
        config: dict | None = None,
        data: dict | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters({"config": config or {}, "data": data or {}}, logger=False)
        self.net = net
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.class_names = list(class_names)
        n = len(self.class_names)
        self.val_metrics = _eval_metrics(n)
        self.test_metrics = _eval_metrics(n)
        self.val_loss = MeanMetric()
        self.test_loss = MeanMetric()
        self.history: list[dict[str, float]] = []  # one row per epoch: train and val loss, acc
        self.test_results: dict[str, Any] = {}
        self._train_sums: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    # Training: sums kept on the device, read once per epoch (no per-step sync or metric object).
    def on_train_epoch_start(self) -> None:
        self._train_sums = torch.zeros(3, device=self.device, dtype=torch.float64)

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        x, y = batch
        logits = self.net(x)
        loss = F.cross_entropy(logits, y)
        with torch.no_grad():
            correct = (logits.argmax(1) == y).sum()
            self._train_sums += torch.stack(
                [loss.detach() * len(y), correct, torch.tensor(len(y), device=y.device)]
            )
        if batch_idx % DIVERGENCE_CHECK_EVERY == 0:
            self._check_finite(batch_idx)
        return loss

    def _check_finite(self, batch_idx: int | None = None) -> None:
        total = self._train_sums[0]
        if torch.isfinite(total):
            return
        lr = self.trainer.optimizers[0].param_groups[0]["lr"] if self.trainer.optimizers else None
        where = f"epoch {self.current_epoch + 1}" + (
            f", batch {batch_idx + 1}" if batch_idx is not None else ""
        )
        hint = (
            f"Try a smaller learning rate, e.g. optimizer.lr={lr / 10:g}."
            if lr
            else "Try a smaller learning rate."
        )
        raise DivergedError(
            f"Training diverged: the loss became {total.item()} at {where}. {hint} The run's folder keeps "
            "what was written so far (checkpoints of completed epochs, TensorBoard events).",
            diverged_at={
                "epoch": self.current_epoch + 1,
                "batch": None if batch_idx is None else batch_idx + 1,
            },
            history=[dict(row) for row in self.history],
        )

    def on_train_epoch_end(self) -> None:
        self._check_finite()
        sums = self.trainer.strategy.reduce(self._train_sums, reduce_op="sum")
        loss, acc = (sums[0] / sums[2]).item(), (sums[1] / sums[2]).item()
        self.log_dict({"train/loss": loss, "train/acc": acc}, prog_bar=True, sync_dist=True)
        self._history_row()["train/loss"] = loss
        self._history_row()["train/acc"] = acc

    def _history_row(self) -> dict[str, float]:
        epoch = self.current_epoch + 1
        if not self.history or self.history[-1]["epoch"] != epoch:
            self.history.append({"epoch": epoch})
        return self.history[-1]

    def _eval_step(self, batch, metrics: MetricCollection, mean_loss: MeanMetric) -> None:
        x, y = batch
        logits = self.net(x)
        mean_loss.update(F.cross_entropy(logits, y), weight=len(y))
        metrics.update(logits, y)

    def validation_step(self, batch, batch_idx: int) -> None:
        self._eval_step(batch, self.val_metrics, self.val_loss)

    def on_validation_epoch_end(self) -> None:
        scores = self.val_metrics.compute()
        loss = self.val_loss.compute()
        self.val_metrics.reset()
        self.val_loss.reset()
        if self.trainer.sanity_checking:
            return
        values = {
            "val/loss": loss.item(),
            "val/acc": scores["acc"].item(),
            "val/f1_macro": scores["f1_macro"].item(),
        }
        self.log_dict(values, prog_bar=True, sync_dist=True)  # equal on every process already
        self._history_row().update(values)

    def test_step(self, batch, batch_idx: int) -> None:
        self._eval_step(batch, self.test_metrics, self.test_loss)

    def on_test_epoch_end(self) -> None:
        scores = self.test_metrics.compute()
        loss = self.test_loss.compute().item()
        self.test_metrics.reset()
        self.test_loss.reset()
        per_class = dict(zip(self.class_names, scores["f1"].tolist(), strict=True))
        self.test_results = {
            "loss": loss,
            "acc": scores["acc"].item(),
            "f1_macro": scores["f1_macro"].item(),
            "f1_per_class": per_class,
            "confusion_matrix": scores["confusion"].long().tolist(),
        }
        self.log_dict(
            {
                "test/loss": loss,
                "test/acc": self.test_results["acc"],
                "test/f1_macro": self.test_results["f1_macro"],
            },
            sync_dist=True,
        )
        per_class_tags = {f"test/f1/{metric_tag(name)}": value for name, value in per_class.items()}
        self.log_dict(per_class_tags, sync_dist=True)

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        return {
            "optimizer": optimizer,
            "lr_scheduler": {
                "scheduler": self.scheduler_factory(optimizer=optimizer),
                "interval": "epoch",
            },
        }

    # A checkpoint also holds the history and the random state (dropout), so that a resumed run
    # repeats exactly what the uninterrupted one would have done.
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["history"] = [dict(row) for row in self.history]
        checkpoint["rng"] = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            checkpoint["rng"]["cuda"] = torch.cuda.get_rng_state_all()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.history = [dict(row) for row in checkpoint.get("history", [])]
        rng = checkpoint.get("rng", {})
        if "cpu" in rng:
            torch.set_rng_state(rng["cpu"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
