"""When two runs are the same run: one definition, read by everything that gathers runs.

A run's identity is its resolved config (the run folder's config.yaml) less what cannot change a
result: where files go, how fast it runs, what it logs to. The config names the project's version
and the data's checksum (its `provenance`: project_version below, data.catalog.data_sha256), so a run made by
another version or on other data is another run. Two folders with the same identity
hold the same run (a copy, or a rerun of the same command); runs whose identities differ only
in their seed are replicates of one variant.
"""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import yaml

from mnistlab.runs.folders import CONFIG, Completed

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's when there: a sweep reads many

# Settings that change where files go, how fast a run goes or how it is compared, never what it finds.
NOT_RESULTS = (
    "paths",
    "threads",
    "logger",
    "compare",
    "reuse",
    "hparams_search",  # the pruner: a run it let finish is the same run
    "data.data_dir",
    "data.source",
    "data.download",
    "minibatches_per_step",
    "data.steps_per_execution",  # its name in runs made before it was minibatches_per_step
    "trainer.default_root_dir",
    "callbacks.model_checkpoint.dirpath",
    "callbacks.last_checkpoint.dirpath",
)


def project_version() -> str:
    """The installed project's version (conf/train.yaml's provenance.version)."""
    try:
        return version("mnistlab")
    except PackageNotFoundError:  # run from a copy of src/ that was never installed
        return "unknown"


def _without(config: dict[str, Any], dotted_keys: tuple[str, ...]) -> dict[str, Any]:
    kept = json.loads(json.dumps(config))
    for dotted in dotted_keys:
        *parents, last = dotted.split(".")
        node = kept
        for name in parents:
            node = node.get(name) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return kept


def result_key(config: dict[str, Any]) -> str:
    """A resolved train config reduced to what decides its results, as text to compare."""
    return json.dumps(_without(config, NOT_RESULTS), sort_keys=True)


def variant_key(config: dict[str, Any]) -> str:
    """The result key less the seed (and the validation split, where the seed draws it): the
    same for runs that are replicates of one variant."""
    seeded = ("seed",)
    if config.get("data", {}).get("split_seed") == config.get("seed"):
        seeded += ("data.split_seed",)
    return result_key(_without(config, seeded))


def read_config(run_dir: Path) -> dict[str, Any] | None:
    """The resolved config a run folder holds; None for a folder without one (a job that died
    before writing it, runs older than config.yaml) or a damaged one."""
    try:
        config = yaml.load((Path(run_dir) / CONFIG).read_text(), Loader=_LOADER)
    except (OSError, yaml.YAMLError):
        return None
    return config if isinstance(config, dict) else None


def run_identity(run_dir: Path) -> str | None:
    """The identity of the run in `run_dir` (its result key); None without a readable config."""
    config = read_config(run_dir)
    return None if config is None else result_key(config)


def newest_each(runs: list[Completed]) -> dict[str, Completed]:
    """Of `runs` (newest first), the newest of each identity, by identity, newest first: a copy
    or a rerun of a run is that run. A run without a config is its own, keyed by its folder."""
    kept: dict[str, Completed] = {}
    for run in runs:
        kept.setdefault(run_identity(run.path) or str(run.path), run)
    return kept
