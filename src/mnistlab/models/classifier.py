"""The LightningModule: cross-entropy on logits, the optimizer from config, and the lab's metrics."""

from __future__ import annotations

import time
import warnings
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
        self.automatic_optimization = False  # training_step takes several optimizer steps
        self._loss_sum = self._correct = None
        self._seen = self._steps = self._next_check = 0
        self._epoch_started = 0.0
        self._train_ended: float | None = None
        self.first_batch_unix: float | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    # Training. Each Lightning step receives a group of minibatches and takes one optimizer
    # step per minibatch (Keras' steps_per_execution): the same updates as a plain loop, with
    # the framework's per-step cost paid once per group. With a group of one (distributed
    # training) every step goes through Lightning's optimizer and hooks. Loss and accuracy are
    # summed on the device and read once per epoch: no host sync per step.
    def on_train_epoch_start(self) -> None:
        # Manual optimization steps its scheduler itself: at the start of every epoch after the
        # first, so the step is not lost when a run resumes from the previous epoch's checkpoint.
        scheduler = self.lr_schedulers()
        if scheduler is not None and self.current_epoch > 0:
            with (
                warnings.catch_warnings()
            ):  # a resumed run steps it before its first optimizer step
                warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
                scheduler.step()
        self._loss_sum = torch.zeros((), device=self.device, dtype=torch.float64)
        self._correct = torch.zeros((), device=self.device, dtype=torch.int64)
        self._seen = 0
        self._epoch_started = time.perf_counter()
        self._train_ended: float | None = None

    def training_step(
        self, batches: list[tuple[torch.Tensor, torch.Tensor]], batch_idx: int
    ) -> None:
        if self.first_batch_unix is None:
            self.first_batch_unix = time.time()  # how long a user waits before training starts
        optimizer = self.optimizers()
        direct = len(batches) > 1 and self._direct_steps_allowed()
        loss_sum, correct, seen = self._loss_sum, self._correct, 0
        for x, y in batches:
            logits = self.net(x)
            loss = F.cross_entropy(logits, y)
            if direct:
                # Lightning's per-step hooks cost about as much as a small MLP's whole step.
                optimizer.optimizer.zero_grad()
                loss.backward()
                optimizer.optimizer.step()
            else:
                optimizer.zero_grad()
                self.manual_backward(loss)
                optimizer.step()
            with torch.no_grad():
                loss_sum.add_(loss.detach(), alpha=len(y))
                correct.add_((logits.argmax(1) == y).sum())
            seen += len(y)
        self._seen += seen
        if direct:  # count the steps as Lightning's own optimizer.step() would (global_step)
            progress = self.trainer.fit_loop.epoch_loop.manual_optimization.optim_step_progress
            for _ in batches:
                progress.increment_ready()
                progress.increment_completed()
        self._steps += len(batches)
        if self._steps >= self._next_check:
            self._next_check = self._steps + DIVERGENCE_CHECK_EVERY
            self._check_finite()

    def _direct_steps_allowed(self) -> bool:
        """Plain backward() and step() are exact without a gradient scaler (not 16-bit AMP)."""
        return str(self.trainer.precision) in ("32-true", "64-true", "bf16-mixed", "bf16-true")

    def _check_finite(self) -> None:
        if torch.isfinite(self._loss_sum):
            return
        lr = self.trainer.optimizers[0].param_groups[0]["lr"] if self.trainer.optimizers else None
        hint = (
            f"Try a smaller learning rate, e.g. optimizer.lr={lr / 10:g}."
            if lr
            else "Try a smaller learning rate."
        )
        epoch, step = self.current_epoch + 1, self.trainer.global_step
        raise DivergedError(
            f"Training diverged: the loss became {self._loss_sum.item()} in epoch {epoch} (by "
            f"optimizer step {step}). {hint} The run's folder keeps what was written so far "
            "(checkpoints of completed epochs, TensorBoard events).",
            diverged_at={"epoch": epoch, "optimizer_step": step},
            history=[dict(row) for row in self.history],
        )

    def on_train_epoch_end(self) -> None:
        self._check_finite()
        strategy = self.trainer.strategy
        loss_sum = strategy.reduce(self._loss_sum, reduce_op="sum")
        correct = strategy.reduce(self._correct.double(), reduce_op="sum")
        seen = strategy.reduce(torch.tensor(float(self._seen), device=self.device), reduce_op="sum")
        loss, acc = (loss_sum / seen).item(), (correct / seen).item()
        self.log_dict({"train/loss": loss, "train/acc": acc}, prog_bar=True, sync_dist=True)
        row = self._history_row()
        row.update({"train/loss": loss, "train/acc": acc})
        # Lightning validates (and checkpoints) before this hook: time both parts of the epoch.
        now = time.perf_counter()
        row["train/time_s"] = round((self._train_ended or now) - self._epoch_started, 3)
        row["epoch/time_s"] = round(now - self._epoch_started, 3)

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

    def on_validation_epoch_start(self) -> None:
        if self.trainer.state.fn == "fit" and not self.trainer.sanity_checking:
            self._train_ended = time.perf_counter()

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
