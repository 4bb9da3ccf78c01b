"""Pruning a search's trial: its validation metric reported to the study at every epoch, and
training stopped when the study's pruner says the trial is behind (mnistlab.launch.study).

The trial's job opens the study through its storage, so this works whichever launcher runs it
(in the sweeper's process, a joblib worker, a SLURM job on another node).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig

from mnistlab.config.hydra_info import hydra_config
from mnistlab.errors import TrialPruned
from mnistlab.launch.study import is_optuna, make_pruner, open_storage, pruner_name, trial_number
from mnistlab.runs.objectives import metric_names


class Pruning(pl.Callback):
    """After each epoch's validation, report `metric` to the trial; stop when it should be pruned
    (every process agrees: the decision is reduced across them)."""

    def __init__(self, trial: Any, metric: str, pruner: str) -> None:
        self.trial, self.metric, self.pruner = trial, metric, pruner
        self.pruned: TrialPruned | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.metric)
        if trainer.sanity_checking or value is None:
            return
        epoch = trainer.current_epoch  # Optuna's step; a second report in one epoch is ignored
        if trainer.is_global_zero:
            self.trial.report(float(value), step=epoch)
        if epoch + 1 >= trainer.max_epochs:  # trained to the end: its result is complete
            return
        stop = trainer.strategy.reduce_boolean_decision(self.trial.should_prune(), all=False)
        if stop and self.pruned is None:
            trainer.should_stop = True
            self.pruned = TrialPruned(
                f"Stopped after epoch {epoch + 1} of {trainer.max_epochs}: {self.metric} "
                f"{float(value):.4f} was behind the study's other trials at that epoch "
                f"({self.pruner} pruner).",
                epoch=epoch + 1, metric=self.metric, value=float(value), pruner=self.pruner,
            )  # fmt: skip


def pruning_callback(cfg: DictConfig, out_dir: Path) -> Pruning | None:
    """The callback for a trial of a search that prunes; None for any other run."""
    hydra = hydra_config()
    number = trial_number(out_dir)
    if hydra is None or number is None or not is_optuna(hydra.sweeper):
        return None
    name = pruner_name(cfg)
    storage = open_storage(hydra.sweeper.get("storage"))
    if name == "none" or storage is None:  # a study in memory lives in the sweeper's process
        return None
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study_name = hydra.sweeper.study_name
    study = optuna.load_study(study_name=study_name, storage=storage, pruner=make_pruner(cfg))
    trial_id = storage.get_trial_id_from_study_id_trial_number(
        storage.get_study_id_from_name(study_name), number
    )
    metric = metric_names(cfg.optimized_metric)[0]
    return Pruning(optuna.trial.Trial(study, trial_id), metric, name)
