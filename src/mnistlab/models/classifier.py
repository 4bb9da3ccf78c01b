"""The LightningModule: cross-entropy on logits, the optimizer and schedule from config, and the lab's metrics."""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric, MetricCollection

from mnistlab.checks import fraction
from mnistlab.data.batches import StepMinibatches
from mnistlab.errors import DivergedError
from mnistlab.models.layers import initialize
from mnistlab.models.metrics import eval_metrics, metric_tag
from mnistlab.training.schedules import build_scheduler

DIVERGENCE_CHECK_EVERY = 20  # minibatches between checks of the loss (one host sync each)


def _sum_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64


class Classifier(pl.LightningModule):
    """Trains `net` with cross-entropy on logits: softmax + categorical cross-entropy, as Keras.

    Built by Hydra from conf/model/ in one instantiate: `net` (started as `init` says; None
    keeps its weights), `optimizer` (a partial given the parameters here) and `scheduler`
    (Lightning's scheduler dictionary, a partial under "scheduler"; empty for none).

    `minibatches_per_step` (held here; the train task sets it, the datamodule reads it): with 1,
    Lightning's own loop. With more, each Lightning step trains on that many consecutive
    minibatches (`StepMinibatches`), one optimizer step each through Lightning's optimizer and
    `manual_backward`: the same updates, Lightning's per-step cost paid once. Either way
    `global_step` counts optimizer steps. The train task allows more only where every setting
    is known to behave the same (mnistlab.training.steps).

    Each training step returns each minibatch's loss and learning rate; the epoch's running
    `train/loss` and `train/acc` are summed on the device and read by `running_metrics` (by the
    callbacks that show or record them); the epoch's values are logged when it ends.

    `label_smoothing` applies to the training loss only: validation and test losses stay the
    plain cross-entropy, so runs with and without it compare on the same scale.
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer] | None,
        class_names: list[str],
        scheduler: dict[str, Any] | None = None,
        init: str | None = None,
        label_smoothing: float = 0.0,
        config: dict | None = None,
        data: dict | None = None,
    ) -> None:
        super().__init__()
        # Plain values only, so a checkpoint rebuilds the run and loads under `weights_only`.
        self.save_hyperparameters({"config": config or {}, "data": data or {}}, logger=False)
        if init is not None:
            initialize(net, init)
        self.net = net
        self.optimizer_factory = optimizer
        self.scheduler = scheduler or None
        self.minibatches_per_step = 1
        what = "the share of each training target spread over all classes"
        hint = "0 is the lab's plain cross-entropy; 0.1 is usual."
        self.label_smoothing = fraction("model.label_smoothing", label_smoothing, what, hint)
        self.class_names = list(class_names)
        self.val_metrics = eval_metrics(len(self.class_names))
        self.test_metrics = eval_metrics(len(self.class_names))
        self.val_loss = MeanMetric()
        self.test_loss = MeanMetric()
        # The current epoch's training sums, on the device (read once per check, not per step).
        self.epoch_sums: dict[str, torch.Tensor] = {}
        self.epoch_seen = 0
        self._minibatches_since_check = 0

    @property
    def minibatches_per_step(self) -> int:
        return self._minibatches_per_step

    @minibatches_per_step.setter
    def minibatches_per_step(self, value: int) -> None:
        self._minibatches_per_step = value
        self.automatic_optimization = value == 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    # Training.
    def on_train_epoch_start(self) -> None:  # not called when a run resumes mid-epoch
        self.epoch_sums = {
            # float64 keeps the sum exact; Apple's MPS has no float64, so it sums in float32.
            "loss": torch.zeros((), device=self.device, dtype=_sum_dtype(self.device)),
            "correct": torch.zeros((), device=self.device, dtype=torch.int64),
        }
        self.epoch_seen = 0

    def training_step(self, batch: Any, batch_idx: int) -> dict[str, Any]:
        if isinstance(batch, StepMinibatches):
            if self.automatic_optimization:
                raise RuntimeError(
                    f"A Lightning step got {len(batch)} minibatches in Lightning's automatic "
                    "optimization, which would train on one of them only: build the module with "
                    "minibatches_per_step > 1 for steps of several minibatches."
                )
            return self._train_minibatches(batch)
        loss, rate, trained = self._train_one(*batch)
        # Lightning divides "loss" by accumulate_grad_batches in what callbacks get; not these.
        return {"loss": loss, "losses": trained.unsqueeze(0), "lrs": [rate]}

    def _train_minibatches(self, minibatches: StepMinibatches) -> dict[str, Any]:
        """One optimizer step per minibatch; stops at max_steps exactly."""
        optimizer = self.optimizers()
        max_steps = self.trainer.max_steps
        budget = max_steps - self.global_step if max_steps >= 0 else None
        losses, rates = [], []
        for x, y in islice(minibatches, budget):
            loss, rate, trained = self._train_one(x, y)
            optimizer.zero_grad()
            self.manual_backward(loss)
            optimizer.step()
            losses.append(trained)
            rates.append(rate)
        return {"losses": torch.stack(losses), "lrs": rates}

    def _train_one(
        self, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, float, torch.Tensor]:
        """A minibatch's loss, the learning rate it is trained with (a scheduler steps after the
        optimizer), and its detached loss, added to the epoch's sums."""
        rate = self.optimizers().param_groups[0]["lr"]
        logits = self.net(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        trained = loss.detach()
        self.epoch_sums["loss"].add_(trained, alpha=len(y))
        self.epoch_sums["correct"].add_((logits.detach().argmax(1) == y).sum())
        self.epoch_seen += len(y)
        self._minibatches_since_check += 1
        if self._minibatches_since_check >= DIVERGENCE_CHECK_EVERY:
            self._minibatches_since_check = 0
            self._check_finite()
        return loss, rate, trained

    def running_metrics(self) -> dict[str, torch.Tensor]:
        """The epoch's training loss and accuracy so far (tensors on the device); none before
        its first minibatch."""
        sums = self.epoch_sums
        if not self.epoch_seen:
            return {}
        return {
            "train/loss": sums["loss"] / self.epoch_seen,
            "train/acc": sums["correct"] / self.epoch_seen,
        }

    def _check_finite(self) -> None:
        if torch.isfinite(self.epoch_sums["loss"]):
            return
        lr = self.trainer.optimizers[0].param_groups[0]["lr"] if self.trainer.optimizers else None
        hint = (
            f"Try a smaller learning rate, e.g. optimizer.lr={lr / 10:g}."
            if lr
            else "Try a smaller learning rate."
        )
        epoch, step = self.current_epoch + 1, self.global_step
        raise DivergedError(
            f"Training diverged: the loss became {self.epoch_sums['loss'].item()} in epoch {epoch} "
            f"(by optimizer step {step}). {hint} The run's folder keeps what was written so far "
            "(checkpoints, TensorBoard events).",
            diverged_at={"epoch": epoch, "optimizer_step": step},
        )

    def on_train_epoch_end(self) -> None:
        self._check_finite()
        # For callbacks that monitor a training metric; in a distributed run, the processes' mean.
        self.log_dict(self.running_metrics(), prog_bar=True, logger=False, sync_dist=True)

    # Validation and test: loss, accuracy and F1 over the whole set, gathered across processes.
    def _eval_step(self, batch, metrics: MetricCollection, mean_loss: MeanMetric) -> torch.Tensor:
        x, y = batch
        logits = self.net(x)
        mean_loss.update(F.cross_entropy(logits, y), weight=len(y))
        metrics.update(logits, y)
        return logits

    def validation_step(self, batch, batch_idx: int) -> dict[str, torch.Tensor]:
        logits = self._eval_step(batch, self.val_metrics, self.val_loss)
        return {"target": batch[1], "probabilities": logits.softmax(1)}

    def on_validation_epoch_end(self) -> None:
        scores, loss = self.val_metrics.compute(), self.val_loss.compute()
        self.val_metrics.reset()
        self.val_loss.reset()
        # Gathered across processes already (torchmetrics): sync_dist averages equal values.
        values = {"val/loss": loss, "val/acc": scores["acc"]}
        self.log_dict(values, prog_bar=True, logger=False, sync_dist=True)
        self.log("val/f1_macro", scores["f1_macro"], logger=False, sync_dist=True)

    def test_step(self, batch, batch_idx: int) -> dict[str, torch.Tensor]:
        logits = self._eval_step(batch, self.test_metrics, self.test_loss)
        return {"preds": logits.argmax(1), "target": batch[1], "probabilities": logits.softmax(1)}

    def on_test_epoch_end(self) -> None:
        scores, loss = self.test_metrics.compute(), self.test_loss.compute()
        self.test_metrics.reset()
        self.test_loss.reset()
        values = {"test/loss": loss, "test/acc": scores["acc"], "test/f1_macro": scores["f1_macro"]}
        for name, f1 in zip(self.class_names, scores["f1"], strict=True):
            values[f"test/f1/{metric_tag(name)}"] = f1
        self.log_dict(values, logger=False, sync_dist=True)  # as in validation

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler is None:
            return optimizer
        return {
            "optimizer": optimizer,
            "lr_scheduler": build_scheduler(self.scheduler, optimizer, lambda: self.trainer),
        }

    # A checkpoint also holds the random state (dropout) and the epoch's training sums, so that a
    # run resumed from it, even mid-epoch, repeats exactly what the uninterrupted one did.
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["rng"] = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            checkpoint["rng"]["cuda"] = torch.cuda.get_rng_state_all()
        sums = {k: v.detach().cpu() for k, v in self.epoch_sums.items()}
        checkpoint["epoch_sums"] = {**sums, "seen": self.epoch_seen}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        rng = checkpoint.get("rng", {})
        if "cpu" in rng:
            torch.set_rng_state(rng["cpu"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        # Kept if Lightning resumes mid-epoch; a new epoch starts its own sums.
        sums = dict(checkpoint.get("epoch_sums", {}))
        self.epoch_seen = sums.pop("seen", 0)
        if sums:
            self.epoch_sums = {
                "loss": sums["loss"].to(self.device, _sum_dtype(self.device)),
                "correct": sums["correct"].to(self.device),
            }
