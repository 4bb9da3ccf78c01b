"""Building a run's parts from Hydra's config: data, trainer, callbacks, loggers, threads."""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from pytorch_lightning.utilities.exceptions import MisconfigurationException
from pytorch_lightning.utilities.warnings import PossibleUserWarning

from mnistlab.checks import whole_number
from mnistlab.config.hydra_info import hydra_config
from mnistlab.config.instantiate import make
from mnistlab.data.datamodule import MnistFamilyDataModule
from mnistlab.launch import slurm
from mnistlab.runs.ranks import is_rank_zero
from mnistlab.training.trackers import check_installed

log = logging.getLogger(__name__)
# Lightning's own notes (device availability, advertisements) are not this project's output.
for name in ("pytorch_lightning", "lightning_fabric"):
    logging.getLogger(name).setLevel(logging.WARNING)
# But a profile the user asked for (trainer.profiler=simple) is shown: its report is logged.
logging.getLogger("pytorch_lightning.profilers").setLevel(logging.INFO)
# Lightning's own call of a torch API this torch deprecates (not ours to fix): keyed on its module.
warnings.filterwarnings(
    "ignore", category=FutureWarning, module=r"pytorch_lightning\.utilities\._pytree"
)
# Where SLURM is installed (a login node), Lightning's SLURM environment hints at every run
# started without srun that it could be prepended. A run here is one process unless the user
# starts several with srun (the README says how): the hint is not this project's output.
warnings.filterwarnings(
    "ignore", category=PossibleUserWarning,
    module=r"lightning_fabric\.plugins\.environments\.slurm",
)  # fmt: skip


def build_datamodule(
    data_cfg: DictConfig, augment: DictConfig | None = None
) -> MnistFamilyDataModule:
    """The datamodule of `data_cfg`, prepared; `augment` (a config) transforms its training images."""
    datamodule = make(data_cfg, "data", augment=augment)
    datamodule.prepare_data()
    datamodule.setup()
    return datamodule


class NoProfiler(pl.profilers.Profiler):
    """Lightning's default no-op profiler, made cheap: Lightning opens a profiling context around
    every hook of every callback, about thirty per optimizer step; these share one null context.
    A profiler the user sets (`trainer.profiler=simple`) is used instead."""

    _NOTHING = contextlib.nullcontext()

    def start(self, action_name: str) -> None:
        pass

    def stop(self, action_name: str) -> None:
        pass

    def profile(self, action_name: str) -> contextlib.AbstractContextManager:
        return self._NOTHING


# How Lightning's Trainer says its settings cannot work together (barebones with loggers, say).
TRAINER_REFUSALS = (MisconfigurationException, ValueError)


def build_trainer(cfg: DictConfig, own_callbacks: list[pl.Callback]) -> pl.Trainer:
    """The Trainer of `cfg.trainer` with the configured callbacks and loggers, and ours."""
    configured = (cfg.get("callbacks") or {}).items()
    callbacks = [make(c, f"callbacks.{name}") for name, c in configured if c] + own_callbacks
    if not cfg.trainer.get("enable_progress_bar", True):
        callbacks = [c for c in callbacks if not isinstance(c, pl.callbacks.ProgressBar)]
    # No bar configured means none: Lightning's default one counts its own steps, not minibatches.
    bar = any(isinstance(c, pl.callbacks.ProgressBar) for c in callbacks)
    check_installed(cfg.get("logger"))
    loggers = [make(c, f"logger.{name}") for name, c in (cfg.get("logger") or {}).items() if c]
    extra = {} if cfg.trainer.get("profiler") else {"profiler": NoProfiler()}
    return make(
        cfg.trainer, "trainer", TRAINER_REFUSALS, callbacks=callbacks, logger=loggers,
        enable_progress_bar=bar, **extra,
    )  # fmt: skip


def device_line(trainer: pl.Trainer) -> str:
    device = trainer.strategy.root_device
    if device.type == "cuda":
        where = f"GPU {device} ({torch.cuda.get_device_name(device)})"
    else:
        where = f"{device.type.upper()} ({torch.get_num_threads()} torch threads)"
    processes = f", {trainer.world_size} processes" if trainer.world_size > 1 else ""
    return f"Device: {where}{processes}"


JOBLIB_LAUNCHER = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"


def usable_cores() -> int:
    """The cores this process may run on (fewer than the machine's under taskset or a cgroup's
    CPU set)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def configure_threads(threads: Any) -> None:
    """Torch threads per job: `threads` if set; in a joblib sweep, the cores shared among jobs;
    in a SLURM task, the CPUs SLURM gave it (where SLURM does not pin tasks to their CPUs, a
    job sees every core of its node and would crowd the jobs beside it)."""
    hydra_cfg = hydra_config()
    launcher = hydra_cfg.launcher if hydra_cfg else {}
    if threads is None and launcher.get("_target_") == JOBLIB_LAUNCHER:
        cores = usable_cores()
        jobs = launcher.get("n_jobs") or 1
        jobs = cores if jobs < 0 else min(jobs, cores)
        threads = max(1, cores // jobs)
    elif threads is None and (cpus := slurm.cpus_per_task()):
        threads = min(cpus, usable_cores())
    if threads is not None:
        torch.set_num_threads(
            whole_number("threads", threads, "how many torch threads each job uses",
                         hint="Use null to use every core.")
        )  # fmt: skip
        if is_rank_zero():  # each process of a distributed run uses as many
            log.info("Using %d torch thread(s) in this job.", threads)
