"""A progress bar of minibatches, whatever number of them one Lightning step trains on."""

from __future__ import annotations

import math
import time
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ProgressBar
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mnistlab.terminal import console


def metrics_text(metrics: dict[str, Any]) -> str:
    return "  ".join(
        f"{name} {value:.4f}" for name, value in metrics.items() if isinstance(value, int | float)
    )


class MinibatchProgressBar(ProgressBar):
    """A live bar per epoch (minibatches trained of the epoch's total, minibatches per second),
    then one line per epoch with its metrics.

    Without a terminal (logs, pipes) only the epoch lines are printed.
    """

    def __init__(self, refresh_per_second: float = 4.0) -> None:
        super().__init__()
        self.refresh_per_second = refresh_per_second
        self._enabled = True
        self._bar: Progress | None = None
        self._task: Any = None
        self._started = 0.0
        self._shown = 0.0
        self._trained = 0
        self._console = console

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def _minibatches(self, trainer: pl.Trainer) -> tuple[int | None, int]:
        """The epoch's minibatches and how many were trained, from the loader's position when
        it has one (a resumed epoch starts part-way). One minibatch a step: Lightning's count,
        its limits applied; several: the loader's (no limit applies then)."""
        loader = trainer.train_dataloader
        if getattr(loader, "minibatches_per_step", 1) > 1:
            total = loader.minibatches
        else:
            steps = trainer.num_training_batches
            total = None if math.isinf(steps) else int(steps)
        return total, getattr(loader, "position", 0)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start_epoch(trainer)

    def _start_epoch(self, trainer: pl.Trainer) -> None:
        """A bar for the epoch (also for one resumed mid-way: Lightning calls no epoch start then)."""
        if not self._enabled or self._task is not None:
            return
        if self._bar is None:
            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[rate]}"),
                TextColumn("{task.fields[metrics]}"),
                console=self._console,
                transient=True,
                refresh_per_second=self.refresh_per_second,
            )
            self._bar.start()
        total, _ = self._minibatches(trainer)
        self._task = self._bar.add_task(self._epoch_name(trainer), total=total, rate="", metrics="")
        self._started = self._shown = time.perf_counter()
        self._trained = 0

    def _epoch_name(self, trainer: pl.Trainer) -> str:
        epochs = trainer.max_epochs
        return f"Epoch {trainer.current_epoch + 1}" + (
            f"/{epochs}" if epochs and epochs > 0 else ""
        )

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        self._start_epoch(trainer)
        if self._task is None:
            return
        self._trained += len(outputs["losses"]) if isinstance(outputs, dict) else 1
        now = time.perf_counter()
        if now - self._shown >= 1 / self.refresh_per_second:  # the bar redraws no more often
            self._shown = now
            self._bar.update(
                self._task,
                completed=self._completed(trainer),
                rate=self._rate(now),
                metrics=metrics_text(self._live_metrics(trainer, pl_module)),
            )

    def _completed(self, trainer: pl.Trainer) -> int:
        _, position = self._minibatches(trainer)
        return position or self._trained

    def _live_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        """The logged metrics, with the epoch's running training values."""
        running = getattr(pl_module, "running_metrics", dict)()
        running = {k: float(v) for k, v in running.items()}
        return {
            **running,
            **{k: v for k, v in self.get_metrics(trainer, pl_module).items() if k not in running},
        }

    def _rate(self, now: float) -> str:
        elapsed = now - self._started
        return f"{self._trained / elapsed:,.0f} minibatches/s" if elapsed > 0 else ""

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._task is None:
            return
        task = next(t for t in self._bar.tasks if t.id == self._task)
        done, total = self._completed(trainer), f"/{int(task.total)}" if task.total else ""
        now = time.perf_counter()
        self._bar.remove_task(self._task)
        self._task = None
        self._console.print(
            f"{self._epoch_name(trainer)}  {done}{total}  {now - self._started:.1f} s  "
            f"{self._rate(now)}  {metrics_text(self._live_metrics(trainer, pl_module))}",
            highlight=False,
        )

    def _stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
            self._task = None

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._stop()

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self._stop()

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        return dict(trainer.progress_bar_metrics)  # no version number: the run folder names the run
