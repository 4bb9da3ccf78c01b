"""What a run found, recorded as it goes: one row per epoch, timings, TensorBoard on one axis,
and the test results with their confusion matrix.

Every value written to the loggers is placed at `trainer.global_step`, the number of optimizer
steps (minibatches) so far: the training loss of a step at that step, an epoch's values at the
step where it ended, the test results once, at the final step.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torchmetrics.classification import MulticlassConfusionMatrix

from mnistlab.models.metrics import metric_tag
from mnistlab.reports.pictures import test_pictures
from mnistlab.reports.plots import confusion_figure, figure_pixels

log = logging.getLogger(__name__)
VAL_KEYS = ("val/loss", "val/acc", "val/f1_macro")


def _scalars(metrics: dict[str, Any], keys) -> dict[str, float]:
    return {k: float(metrics[k]) for k in keys if k in metrics}


class RunRecorder(pl.Callback):
    """Records the run for its reports and its loggers; the train and eval tasks read it afterwards.

    `hparams` (plain values) go to TensorBoard's HParams tab with the test results, and to the
    other trackers (MLflow's params, W&B's config, the CSV logger's hparams.yaml) when training
    starts. `final_step`
    places the test results when no training ran (eval: the checkpoint's step).
    """

    def __init__(
        self,
        class_names: list[str],
        title: str,
        hparams: dict[str, Any] | None = None,
        final_step: int | None = None,
    ) -> None:
        self.class_names = list(class_names)
        self.title = title
        self.hparams = hparams
        self.final_step = final_step
        self.history: list[dict[str, float]] = []
        self.test: dict[str, Any] = {}
        self.first_batch_unix: float | None = None
        self.confusion = MulticlassConfusionMatrix(len(self.class_names))
        self.pictures: dict[str, np.ndarray] = {}  # file name: RGB pixels, drawn once
        # Each example's class probabilities and label from the test pass and the latest
        # validation pass, in the set's order, for predictions.npz (one process only: with
        # several, each sees a shard, and the run scores the set again).
        self.outputs: dict[str, dict[str, Any]] = {}
        self._kept: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._last_step = 0
        self._epoch_started = 0.0
        self._training_closed = False
        self._hparams_sent = False

    # The history travels in checkpoints, so a resumed run keeps its earlier epochs.
    def state_dict(self) -> dict[str, Any]:
        return {"history": [dict(row) for row in self.history]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = [dict(row) for row in state_dict.get("history", [])]

    def _row(self, trainer: pl.Trainer) -> dict[str, float]:
        epoch = trainer.current_epoch + 1
        if not self.history or self.history[-1]["epoch"] != epoch:
            self.history.append({"epoch": epoch})
        return self.history[-1]

    def _log(self, trainer: pl.Trainer, values: dict[str, float], step: int | None = None) -> None:
        if values:
            for logger in trainer.loggers:
                logger.log_metrics(values, step=trainer.global_step if step is None else step)

    def _send_hparams(self, trainer: pl.Trainer) -> None:
        """The hyperparameters, once, to the loggers that keep them apart from results."""
        if self.hparams is None or self._hparams_sent:
            return
        self._hparams_sent = True
        for logger in trainer.loggers:
            if not isinstance(logger, pl.loggers.TensorBoardLogger):
                logger.log_hyperparams(self.hparams)

    # Training.
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._send_hparams(trainer)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._last_step = trainer.global_step
        self._epoch_started = time.perf_counter()  # a run resumed mid-epoch gets no epoch start

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch_started = time.perf_counter()
        self._training_closed = False
        self._row(trainer)

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        if self.first_batch_unix is None:
            self.first_batch_unix = time.time()  # how long a user waits before training starts

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, *args: Any
    ) -> None:
        """The loss of every `log_every_n_steps`-th optimizer step and the learning rate it was
        trained with, at that step (when accumulating, of the minibatch that completed it)."""
        now, every = trainer.global_step, trainer.log_every_n_steps
        due = [s for s in range(self._last_step + 1, now + 1) if every and s % every == 0]
        losses = outputs["losses"]
        for step in due:  # the minibatch that completed `step` (a step may train several)
            index = max(0, len(losses) - 1 - (now - step))
            values = {"train/loss_step": float(losses[index]), "train/lr": outputs["lrs"][index]}
            self._log(trainer, values, step)
        self._last_step = now

    def _close_training(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """The epoch's training loss and accuracy, once its last minibatch is trained."""
        if self._training_closed:
            return
        self._training_closed = True
        reduce = trainer.strategy.reduce  # the mean over processes, which train equal shares
        running = pl_module.running_metrics()
        values = {k: float(reduce(v, reduce_op="mean")) for k, v in running.items()}
        row = self._row(trainer)
        row.update(values)
        row["train/time_s"] = round(time.perf_counter() - self._epoch_started, 3)
        self._log(trainer, values)

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._kept = []
        if trainer.state.fn == "fit" and not trainer.sanity_checking and trainer.is_last_batch:
            # Before validation and the checkpoint written after it.
            self._close_training(trainer, pl_module)

    def on_validation_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, *args: Any
    ) -> None:
        if not trainer.sanity_checking and trainer.state.fn == "fit":
            self._keep(trainer, outputs)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        self._store("val", trainer)
        values = _scalars(trainer.callback_metrics, VAL_KEYS)
        self._row(trainer).update(values)
        self._log(trainer, values)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._close_training(trainer, pl_module)
        self._row(trainer)["epoch/time_s"] = round(time.perf_counter() - self._epoch_started, 3)

    # Each example's outputs, kept per pass.
    def _keep(self, trainer: pl.Trainer, outputs: Any) -> None:
        if trainer.world_size == 1 and outputs:
            self._kept.append((outputs["probabilities"].float().cpu(), outputs["target"].cpu()))

    def _store(self, split: str, trainer: pl.Trainer) -> None:
        """The pass's outputs, and the optimizer step whose weights made them."""
        if self._kept:
            probabilities, labels = zip(*self._kept, strict=True)
            self.outputs[split] = {
                "probabilities": torch.cat(probabilities), "label": torch.cat(labels),
                "step": trainer.global_step,
            }  # fmt: skip
        self._kept = []

    # Test.
    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.confusion = self.confusion.to(pl_module.device)
        self.confusion.reset()
        self._kept = []

    def on_test_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, *args: Any
    ) -> None:
        self.confusion.update(outputs["preds"], outputs["target"])
        self._keep(trainer, outputs)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metrics = trainer.callback_metrics
        confusion = self.confusion.compute().long().cpu()  # gathered across processes
        self._store("test", trainer)
        prefix = "test/f1/"
        self.test = {
            "loss": float(metrics["test/loss"]),
            "acc": float(metrics["test/acc"]),
            "f1_macro": float(metrics["test/f1_macro"]),
            "f1_per_class": {
                name: float(metrics[prefix + metric_tag(name)]) for name in self.class_names
            },
            "confusion_matrix": confusion.tolist(),
        }
        if trainer.is_global_zero and trainer.datamodule is not None:
            self._draw_pictures(trainer.datamodule, pl_module, confusion)
        self._write_test_results(trainer, metrics, confusion)

    def _draw_pictures(self, datamodule: Any, pl_module: pl.LightningModule, confusion) -> None:
        """The run's pictures; a picture that cannot be drawn costs the pictures, not the results."""
        try:
            self.test["mistakes"], figures = test_pictures(
                pl_module.net, datamodule, confusion, self.class_names, self.title
            )
            self.pictures = {name: figure_pixels(fig) for name, fig in figures.items()}
        except Exception as e:  # noqa: BLE001 (the scores and files must still be written)
            log.warning(
                "Could not draw the run's pictures (%s: %s); its results are written without "
                "them. The run's log file has the traceback.", type(e).__name__, e,
            )  # fmt: skip
            log.debug("Drawing the pictures failed", exc_info=e)

    def _write_test_results(
        self, trainer: pl.Trainer, metrics: dict, confusion: torch.Tensor
    ) -> None:
        if not trainer.is_global_zero:
            return
        step = trainer.global_step if self.final_step is None else self.final_step
        scores = _scalars(metrics, ("test/acc", "test/f1_macro", "test/loss"))
        per_class = {k: float(v) for k, v in metrics.items() if k.startswith("test/f1/")}
        best = [row["val/loss"] for row in self.history if "val/loss" in row]
        self._send_hparams(trainer)  # a run without training (eval)
        for logger in trainer.loggers:
            if self.hparams is not None and isinstance(logger, pl.loggers.TensorBoardLogger):
                # The HParams tab: hyperparameters beside the run's real results (written once).
                summary = {**scores, **({"val/best_loss": min(best)} if best else {})}
                logger.log_hyperparams(self.hparams, metrics=summary, step=step)
                logger.log_metrics(per_class, step=step)
            else:
                logger.log_metrics({**scores, **per_class}, step=step)
            if isinstance(logger, pl.loggers.TensorBoardLogger):
                figure = confusion_figure(confusion.tolist(), self.class_names, self.title)
                logger.experiment.add_image(
                    "test/confusion_matrix", figure_pixels(figure), step, dataformats="HWC"
                )
                for name, picture in self.pictures.items():
                    logger.experiment.add_image(
                        f"test/{name.removesuffix('.png')}", picture, step,
                        dataformats="HWC",
                    )  # fmt: skip
            logger.save()
