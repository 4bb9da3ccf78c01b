"""Optuna studies for the project's searches: where a study is stored, the checks made before one
starts, and the pruner its trials ask.

A search's folder is named after its study (conf/search_study.yaml) and each trial's run folder
after its trial's number (trial_000, ...), so the same command run again adds trials to the same
study and folder. The study lives in its storage, which every process of a search opens: the
sweeper that asks for trials and tells their results (hydra_plugins/mnistlab_sweeper), and each
trial's own job, which reports its validation metric at every epoch and asks whether to stop
(mnistlab.training.pruning), whichever launcher runs it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from mnistlab.checks import one_of, whole_number
from mnistlab.errors import ConfigError
from mnistlab.files import explain_write_error, why_write_failed
from mnistlab.runs.objectives import lower_is_better, metric_names

TRIAL_FOLDER = re.compile(r"^trial_(\d+)$")
PRUNERS = ("median", "hyperband", "none")
SQLITE_WAIT_S = 60  # how long a trial waits for another's write to the same SQLite file


def trial_folder(number: int) -> str:
    """The run folder of the search's trial `number`."""
    return f"trial_{number:03d}"


def trial_number(run_dir: Path) -> int | None:
    match = TRIAL_FOLDER.match(Path(run_dir).name)
    return int(match.group(1)) if match else None


def is_optuna(sweeper: Any) -> bool:
    """Whether Hydra's sweeper (hydra.sweeper) is the project's Optuna sweeper."""
    return "optuna" in str(sweeper.get("_target_", "")).lower()


def is_search(config: Any) -> bool:
    return is_optuna(config.hydra.sweeper)


def directions(config: Any) -> list[str]:
    found = config.hydra.sweeper.get("direction")
    found = list(found) if OmegaConf.is_list(found) or isinstance(found, list) else [found]
    return [str(getattr(d, "name", d)) for d in found]


def pruner_name(config: Any) -> str:
    """hparams_search.pruner, checked: a pruner needs one objective (Optuna prunes no Pareto
    search: a trial behind at one epoch on accuracy may still end on the front by its size)."""
    settings = config.get("hparams_search") or {}
    name = one_of(
        "hparams_search.pruner", settings.get("pruner", "none"), PRUNERS,
        "what stops a trial whose validation curve is already behind the others'",
    )  # fmt: skip
    for key in ("startup_trials", "warmup_epochs"):
        whole_number(f"hparams_search.{key}", settings.get(key, 0), "when pruning starts", low=0)
    if name != "none" and len(metric_names(config.get("optimized_metric"))) > 1:
        raise ConfigError(
            f"hparams_search.pruner={name} cannot prune a search with several objectives "
            f"(optimized_metric={metric_names(config.get('optimized_metric'))}): Optuna prunes "
            "on one curve, and a trial behind on accuracy at one epoch may still end on the Pareto "
            "front by being smaller. Use hparams_search.pruner=none for this search."
        )
    return name


def make_pruner(config: Any) -> Any:
    """The Optuna pruner hparams_search.pruner names (steps are epochs, from 0)."""
    import optuna

    settings = config.get("hparams_search") or {}
    name = pruner_name(config)
    if name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=int(settings.get("startup_trials", 5)),
            n_warmup_steps=int(settings.get("warmup_epochs", 1)),
        )
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=max(1, int(settings.get("warmup_epochs", 1))),
            max_resource=int(config.trainer.max_epochs),
        )
    return optuna.pruners.NopPruner()


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
    pruner_name(config)


def storage_error(storage: str, reason: str) -> ConfigError:
    return ConfigError(
        f"The search's study storage hydra.sweeper.storage={storage} cannot be opened: {reason}. "
        "Give one that can: sqlite:///<a folder you may write>/study.db on one machine, a journal "
        "file <a shared folder>/study.journal or a database URL for jobs on several machines, or "
        "null for a study kept in memory (it cannot be extended later)."
    )


def _sqlite_file(storage: str) -> Path | None:
    return Path(storage.removeprefix("sqlite:///")) if storage.startswith("sqlite:///") else None


def open_storage(storage: Any) -> Any:
    """Optuna's storage for hydra.sweeper.storage: a database URL (sqlite:///..., mysql://...,
    postgresql://...), a journal file (any other path: safe on a shared file system), or None
    for a study kept in memory. A storage that cannot be opened is a ConfigError naming it."""
    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    if not storage:
        return None
    storage = str(storage)
    try:
        if "://" not in storage:
            Path(storage).parent.mkdir(parents=True, exist_ok=True)
            backend = optuna.storages.journal.JournalFileBackend(storage)
            return optuna.storages.JournalStorage(backend)
        if (sqlite := _sqlite_file(storage)) is not None:
            sqlite.parent.mkdir(parents=True, exist_ok=True)
            wait = {"connect_args": {"timeout": SQLITE_WAIT_S}}
            return optuna.storages.RDBStorage(storage, engine_kwargs=wait)
        return optuna.storages.RDBStorage(storage)
    except OSError as e:
        why, _ = why_write_failed(e)
        raise storage_error(storage, f"{e.filename or storage}: {why}") from e
    except (SQLAlchemyError, ValueError, ImportError) as e:
        reason = getattr(e, "orig", None) or e  # the database driver's own words, when it spoke
        raise storage_error(storage, f"{type(reason).__name__}: {reason}") from e


def check_stored_study(config: Any, storage: Any) -> None:
    """Refuse a search whose stored study was made for other objectives."""
    import optuna

    name = config.hydra.sweeper.get("study_name")
    try:
        stored = [s for s in optuna.get_all_study_summaries(storage) if s.study_name == name]
    except Exception as e:  # a database that opened but cannot be read
        raise storage_error(str(config.hydra.sweeper.storage), f"{type(e).__name__}: {e}") from e
    for study in stored:
        made = [d.name.lower() for d in study.directions]
        if made != directions(config):
            raise ConfigError(
                f"The study {name!r} in {config.hydra.sweeper.storage} was made with "
                f"direction(s) {made}, and this search asks for {directions(config)} "
                f"(optimized_metric={list(metric_names(config.get('optimized_metric')))}): a "
                f"study keeps its objectives. Give this search its own study: "
                f"hydra.sweeper.study_name={name}_2."
            )


def prepare_search(config: Any) -> None:
    """Before a search: check it, create its folder, open its storage."""
    import optuna

    check_search(config)
    folder = Path(config.hydra.sweep.dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise explain_write_error(e, folder) from e
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the search prints its own lines
    storage = open_storage(config.hydra.sweeper.get("storage"))
    if storage is not None:
        check_stored_study(config, storage)
