"""The trackers a run logs to besides its folder (conf/logger/): the folder's pictures and reports
become their artifacts, and each tracker's run is closed when the job ends, so that a sweep,
whose jobs may share one process, gets one tracker run per job.

The scalars, hyperparameters and test metrics reach every logger through RunRecorder, on the
axis of optimizer steps; TensorBoard and the CSV files keep no other files (the run folder has
them). The trackers' libraries are imported only when one is configured, and Lightning only
where a run's loggers are handled: a sweep's launcher creates the stores without it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from mnistlab.errors import ConfigError, TrialPruned
from mnistlab.runs.folders import CONFIG, METRICS

if TYPE_CHECKING:
    from pytorch_lightning.loggers import Logger

log = logging.getLogger(__name__)
# The run folder's files a tracker keeps: its pictures and its reports.
RUN_FILES = ("*.png", "*.md", METRICS, CONFIG)


# The trackers whose library is an optional extra: the logger's class and the module it needs.
MLFLOW = "pytorch_lightning.loggers.MLFlowLogger"
NEEDS = {MLFLOW: "mlflow", "pytorch_lightning.loggers.WandbLogger": "wandb"}


def check_installed(loggers: DictConfig | None) -> None:
    """Refuse a tracker whose library is missing, saying how to install it."""
    for name, cfg in (loggers or {}).items():
        module = NEEDS.get(str((cfg or {}).get("_target_")))
        if module and importlib.util.find_spec(module) is None:
            raise ConfigError(
                f"logger.{name} needs the {module} package, which is not installed: install the "
                "trackers extra (`make setup` does; or pip install -e '.[trackers]'), or choose "
                "logger=tensorboard or logger=csv."
            )


def prepare_stores(loggers: DictConfig | None) -> None:
    """Create each MLflow store and experiment a sweep's jobs log to, once, before they start:
    jobs side by side would otherwise race to create the same tables of a new store."""
    check_installed(loggers)
    for cfg in (loggers or {}).values():
        if cfg and cfg.get("_target_") == MLFLOW:
            from mlflow import MlflowClient

            logging.getLogger("mlflow").setLevel(logging.WARNING)  # creating tables is noted
            client = MlflowClient(cfg.tracking_uri)
            if client.get_experiment_by_name(cfg.experiment_name) is None:
                client.create_experiment(cfg.experiment_name, cfg.get("artifact_location"))


def run_files(out_dir: Path) -> list[Path]:
    return sorted({path for pattern in RUN_FILES for path in out_dir.glob(pattern)})


def after_run(loggers: list[Logger], out_dir: Path) -> list[str]:
    """The run folder's files sent to the trackers that keep files; where each tracker's run is,
    in a line for the terminal (rank zero, once the folder is written)."""
    send_run_files(loggers, out_dir)
    return tracker_lines(loggers)


def send_run_files(loggers: list[Logger], out_dir: Path) -> None:
    """The run folder's pictures and reports to each tracker that keeps files (rank zero). A
    tracker that refuses them costs its copy, not the run: the folder has them."""
    for logger in loggers:
        try:
            _send(logger, run_files(out_dir))
        except Exception as e:  # noqa: BLE001 (the run's results are written already)
            log.warning(
                "Could not send the run's files to %s (%s: %s); the run folder %s has them.",
                type(logger).__name__, type(e).__name__, e, out_dir,
            )  # fmt: skip


def _send(logger: Logger, files: list[Path]) -> None:
    from pytorch_lightning.loggers import MLFlowLogger, WandbLogger

    if isinstance(logger, MLFlowLogger):
        for path in files:
            logger.experiment.log_artifact(logger.run_id, str(path))
    elif isinstance(logger, WandbLogger):
        import wandb

        run = logger.experiment
        pictures = [p for p in files if p.suffix == ".png"]
        run.log({f"pictures/{p.stem}": wandb.Image(str(p)) for p in pictures})
        for path in files:  # the run's files directory is what W&B keeps and syncs
            shutil.copy2(path, Path(run.dir) / path.name)


@contextlib.contextmanager
def tracked(loggers: list[Logger]) -> Iterator[None]:
    """Closes the trackers' runs when the block ends, as failed if it raised (a search's trial
    its pruner stopped ended as asked: not failed)."""
    failed = True
    try:
        yield
        failed = False
    except TrialPruned:
        failed = False
        raise
    finally:
        close_trackers(loggers, failed)


def close_trackers(loggers: list[Logger], failed: bool) -> None:
    """End each tracker's run: W&B keeps one run per process until it is finished, and the next
    job of a sweep in this process would otherwise log into it."""
    from pytorch_lightning.loggers import MLFlowLogger, WandbLogger

    for logger in loggers:
        if isinstance(logger, WandbLogger):
            import wandb

            if wandb.run is not None:
                wandb.run.finish(exit_code=1 if failed else 0)
        elif isinstance(logger, MLFlowLogger) and failed:
            logger.finalize("failed")


def tracker_lines(loggers: list[Logger]) -> list[str]:
    """Where each tracker's run is, for the run's closing lines (rank zero)."""
    from pytorch_lightning.loggers import MLFlowLogger, WandbLogger

    lines = []
    for logger in loggers:
        if isinstance(logger, MLFlowLogger) and logger.run_id:
            uri = logger.experiment.tracking_uri
            where = uri if uri.startswith("http") else f"mlflow ui --backend-store-uri {uri}"
            lines.append(f"MLflow run {logger.run_id} (to browse: {where})")
        elif isinstance(logger, WandbLogger):
            import wandb

            if wandb.run is not None and wandb.run.offline:
                sync_dir = wandb.run.settings.sync_dir
                lines.append(f"W&B offline run: {sync_dir} (send it with `wandb sync {sync_dir}`)")
            elif wandb.run is not None:
                lines.append(f"W&B run: {wandb.run.url}")
    return lines
