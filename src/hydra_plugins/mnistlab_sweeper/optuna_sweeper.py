"""Searches as Hydra multiruns, on Optuna itself: `python src/train.py -m hparams_search=<name>`.

The sweeper asks the study for trials (n_jobs at a time), runs each as a job of whatever
hydra/launcher is configured, in a folder named after its trial, and tells the study how each
ended: its objectives, pruned (its job stopped it: mnistlab.training.pruning) or failed. The
search space is written in Hydra's override grammar (hydra.sweeper.params, or sweeps on the
command line): choice(...) is categorical, range(a, b) the integers a to b - 1, interval(a, b) a
float (int(...) an integer), tag(log, ...) on a log scale.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, Transformer
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


def distribution(override: Override) -> Any:
    """The Optuna distribution a sweep override describes."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    sweep = override.value()
    if override.is_interval_sweep():
        log_scale = "log" in sweep.tags
        if isinstance(sweep.start, int) and isinstance(sweep.end, int):
            return IntDistribution(sweep.start, sweep.end, log=log_scale)
        return FloatDistribution(float(sweep.start), float(sweep.end), log=log_scale)
    values = list(override.sweep_iterator(transformer=Transformer.encode))
    if override.is_range_sweep() and not sweep.shuffle and values:
        if all(isinstance(v, int) for v in values):
            return IntDistribution(values[0], values[-1], step=int(sweep.step))
        return FloatDistribution(values[0], values[-1], step=float(sweep.step))
    return CategoricalDistribution(values)  # a list's choices are its override text: "[4,8,8]"


def search_space(
    params: dict[str, str], arguments: Sequence[str]
) -> tuple[dict[str, Any], list[str]]:
    """The searched keys' distributions, and the overrides every trial gets as they are."""
    lines = [f"{key}={value}" for key, value in params.items()] + list(arguments)
    space, fixed = {}, []
    for override in OverridesParser.create().parse_overrides(lines):
        if override.is_sweep_override():
            space[override.get_key_element()] = distribution(override)
        else:
            fixed.append(str(override.input_line))
    return space, fixed


def outcome(job: JobReturn, objectives: int) -> list[float] | str | None:
    """The values a trial's job returned, "pruned", or None for a trial that failed."""
    from mnistlab.runs.folders import PRUNED

    if job.status != JobStatus.COMPLETED:
        return None
    found = job.return_value
    if found == PRUNED:
        return PRUNED
    found = found if isinstance(found, list | tuple) else [found]
    numbers = [v for v in found if isinstance(v, int | float) and math.isfinite(v)]
    return [float(v) for v in numbers] if len(numbers) == objectives == len(found) else None


class OptunaSweeper(Sweeper):
    def __init__(
        self,
        sampler: DictConfig,
        direction: Any,
        study_name: str | None,
        storage: str | None,
        n_trials: int,
        n_jobs: int,
        max_failure_rate: float,
        timeout_min: float | None = None,
        params: DictConfig | None = None,
    ) -> None:
        self.sampler_config = sampler
        self.directions = list(direction) if OmegaConf.is_list(direction) else [direction]
        self.study_name, self.storage = study_name, storage
        self.n_trials, self.n_jobs = int(n_trials), max(1, int(n_jobs))
        self.max_failure_rate = float(max_failure_rate)
        self.timeout_s = None if timeout_min is None else 60 * float(timeout_min)
        self.params = OmegaConf.to_container(params or {}, resolve=True)
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher: Any = None
        self.job_idx = 0

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> list[JobReturn]:
        import optuna

        from mnistlab.launch.study import open_storage, trial_folder
        from mnistlab.runs.folders import PRUNED
        from mnistlab.runs.objectives import metric_names

        space, fixed = search_space({k: str(v) for k, v in self.params.items()}, arguments)
        storage = open_storage(self.storage)
        so_far = sum(
            s.n_trials
            for s in (optuna.get_all_study_summaries(storage) if storage is not None else [])
            if s.study_name == self.study_name
        )  # the sampler's seed moves on, so a search run again samples afresh
        sampler = instantiate(self.sampler_config, seed=int(self.sampler_config.seed) + so_far)
        study = optuna.create_study(
            storage=storage, study_name=self.study_name, sampler=sampler,
            directions=[str(d) for d in self.directions], load_if_exists=True,
        )  # fmt: skip
        assert self.config is not None
        with warnings.catch_warnings():  # "experimental since Optuna 3.2": still there in 5.1
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(metric_names(self.config.optimized_metric))  # the dashboard's
        folder = Path(str(self.config.hydra.sweep.dir)).resolve()
        log.info(
            f"Study {self.study_name} ({type(sampler).__name__}, {len(study.trials)} trials so "
            f"far) in {self.storage or 'memory'}: {self.n_trials} more, {self.n_jobs} at a time"
        )
        returns: list[JobReturn] = []
        failed, started = 0, time.monotonic()
        while len(returns) < self.n_trials:
            if self.timeout_s is not None and time.monotonic() - started >= self.timeout_s:
                log.info(
                    f"hydra.sweeper.timeout_min={self.timeout_s / 60:g} reached: no more trials "
                    f"({len(returns)} of {self.n_trials} run)."
                )
                break
            batch = [
                study.ask(space) for _ in range(min(self.n_jobs, self.n_trials - len(returns)))
            ]
            for trial in batch:  # where its run is, for the dashboard
                trial.set_user_attr("run_folder", str(folder / trial_folder(trial.number)))
            overrides = [
                [*fixed, *(f"{k}={v}" for k, v in t.params.items()),
                 f"hydra.sweep.subdir={trial_folder(t.number)}"]
                for t in batch
            ]  # fmt: skip
            self.validate_batch_is_legal(overrides)
            jobs = self.launcher.launch(overrides, initial_job_idx=self.job_idx)
            self.job_idx += len(jobs)
            for trial, job in zip(batch, jobs, strict=True):
                found = outcome(job, len(self.directions))
                if found == PRUNED:
                    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                elif found is None:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    failed += 1
                else:
                    study.tell(trial, found)
            returns += jobs
            if failed / len(returns) > self.max_failure_rate:
                log.error(
                    f"{failed} of {len(returns)} trials failed, more than "
                    f"hydra.sweeper.max_failure_rate={self.max_failure_rate}: the search stops."
                )
                break
        return returns
