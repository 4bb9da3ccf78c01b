"""Optuna searches through Hydra's sweeper: each trial's folder, and the checks made before one starts.

A search's folder is named after its study (conf/search_study.yaml), and its SQLite study
lives inside it, so the same command run again adds trials. Hydra numbers a sweep's jobs from 0
in every invocation; a job's folder is named after its trial instead, the study's trials so far
plus the job's number (Optuna numbers trials in the order the sweeper asks for them).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from mnistlab.errors import ConfigError
from mnistlab.files import explain_write_error, why_write_failed
from mnistlab.runs.objectives import lower_is_better, metric_names

FIRST_TRIAL_ENV = "MNISTLAB_FIRST_TRIAL"  # set by the sweep's process, inherited by its jobs
TRIAL_FOLDER = re.compile(r"^trial_(\d+)$")


def trial_folder(job_num: Any) -> str:
    """The folder of the sweep's job `job_num`, named after its trial number (Hydra's resolver)."""
    return f"trial_{int(os.environ.get(FIRST_TRIAL_ENV, 0)) + int(job_num):03d}"


def sampler_seed(seed: Any) -> int:
    """The search's seed plus its trials so far (Hydra's resolver): a search extended with more
    trials samples new values instead of repeating its first ones."""
    return int(seed) + int(os.environ.get(FIRST_TRIAL_ENV, 0))


def trial_number(run_dir: Path) -> int | None:
    match = TRIAL_FOLDER.match(Path(run_dir).name)
    return int(match.group(1)) if match else None


def is_search(config: Any) -> bool:
    return "optuna" in str(config.hydra.sweeper.get("_target_", "")).lower()


def directions(config: Any) -> list[str]:
    found = config.hydra.sweeper.get("direction")
    found = list(found) if OmegaConf.is_list(found) or isinstance(found, list) else [found]
    return [str(getattr(d, "name", d)) for d in found]


def check_search(config: Any) -> None:
    """Refuse a search whose directions do not match its objectives, before any trial runs."""
    names = metric_names(config.get("optimized_metric"))
    wanted = directions(config)
    if len(wanted) != len(names):
        raise ConfigError(
            f"hydra.sweeper.direction={wanted} gives {len(wanted)} direction(s) for "
            f"optimized_metric={names} ({len(names)} objective(s)): give one per objective, "
            "e.g. optimized_metric=[val/acc,weights] hydra.sweeper.direction=[maximize,minimize]."
        )
    for name, direction in zip(names, wanted, strict=True):
        right = "minimize" if lower_is_better(name) else "maximize"
        if direction != right:
            raise ConfigError(
                f"hydra.sweeper.direction={direction} for the objective {name}: the search would "
                f"look for the worst runs. {name} should be {right}d; set it in "
                "hydra.sweeper.direction (one entry per objective, in optimized_metric's order)."
            )


def _sqlite_file(storage: str) -> Path | None:
    return Path(storage.removeprefix("sqlite:///")) if storage.startswith("sqlite:///") else None


def first_trial(config: Any) -> int:
    """The number the next trial gets: the study's trials so far (the trial folders when the
    study is not stored)."""
    folder = Path(config.hydra.sweep.dir)
    numbers = [trial_number(p) for p in folder.iterdir()] if folder.is_dir() else []
    after_folders = max((n + 1 for n in numbers if n is not None), default=0)
    storage = config.hydra.sweeper.get("storage")
    if not storage:
        return after_folders
    name = config.hydra.sweeper.get("study_name")
    stored = [s for s in stored_studies(str(storage)) if s.study_name == name]
    for study in stored:
        made = [d.name.lower() for d in study.directions]
        if made != directions(config):
            raise ConfigError(
                f"The study {name!r} in {storage} was made with direction(s) {made}, and this "
                f"search asks for {directions(config)} (optimized_metric="
                f"{list(metric_names(config.get('optimized_metric')))}): a study keeps its "
                f"objectives. Give this search its own study: hydra.sweeper.study_name={name}_2."
            )
    return max([after_folders, *(s.n_trials for s in stored)])


def storage_error(storage: str, reason: str) -> ConfigError:
    return ConfigError(
        f"The search's study storage hydra.sweeper.storage={storage} cannot be opened: {reason}. "
        "Give one that can, e.g. hydra.sweeper.storage=sqlite:///<a folder you may write>/study.db, "
        "or hydra.sweeper.storage=null for a study kept in memory (it cannot be extended later)."
    )


def stored_studies(storage: str) -> list[Any]:
    """The studies in `storage` (Optuna's summaries), or a ConfigError naming the storage."""
    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return optuna.get_all_study_summaries(storage)
    except (SQLAlchemyError, ValueError, ImportError) as e:
        reason = getattr(e, "orig", None) or e  # the database driver's own words, when it spoke
        raise storage_error(storage, f"{type(reason).__name__}: {reason}") from e


def prepare_search(config: Any) -> None:
    """Before a search: check it, create its study's folder, number its trial folders."""
    check_search(config)
    folder = Path(config.hydra.sweep.dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise explain_write_error(e, folder) from e
    storage = str(config.hydra.sweeper.get("storage") or "")
    if (sqlite := _sqlite_file(storage)) is not None:
        try:
            sqlite.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            why, _ = why_write_failed(e)
            raise storage_error(storage, f"{e.filename or sqlite.parent}: {why}") from e
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the sweeper's own lines say enough
    os.environ[FIRST_TRIAL_ENV] = str(first_trial(config))
