"""What the lab needs: the notebooks' four runs and every variant of its sweeps, as train configs.

The sweeps' grids are read from conf/experiment/ (one source of truth) and expanded the way
Hydra's basic sweeper does; each variant becomes one `src/train.py` run. Two runs are the same
when they have the same identity (mnistlab.runs.identity).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from hydra import compose
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from mnistlab.errors import ConfigError
from mnistlab.runs.identity import result_key


@dataclass
class PlannedRun:
    overrides: list[str]  # for src/train.py, as a user would type them
    name: str  # what the lab calls it: its family and what sets it apart
    key: str  # its identity: the resolved config less what cannot change a result
    config: dict[str, Any]


@dataclass
class Family:
    """A group of runs the report shows together: a notebook experiment or a sweep."""

    name: str
    question: str
    runs: list[PlannedRun] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)  # what sets each run apart in its family


def expand_grid(params: dict[str, str]) -> list[list[str]]:
    """`{"a": "1,2", "b": "x"}` -> [["a=1", "b=x"], ["a=2", "b=x"]], in Hydra's sweep order."""
    parser = OverridesParser.create()
    choices = []
    for override in parser.parse_overrides([f"{k}={v}" for k, v in params.items()]):
        key = override.get_key_element()
        if override.is_discrete_sweep():
            choices.append([f"{key}={value}" for value in override.sweep_string_iterator()])
        elif override.is_sweep_override():
            raise ConfigError(
                f"The sweep over {key} is a range or interval; the lab runs lists of values only "
                "(a,b,c). Write that experiment's values out as a list."
            )
        else:
            choices.append([f"{key}={override.get_value_element_as_str()}"])
    return [list(combination) for combination in itertools.product(*choices)]


def _compose(overrides: list[str], name: str, **options: Any) -> DictConfig:
    """train.yaml with `overrides`; a mistake in the lab's settings is named before any run."""
    try:
        return compose(config_name="train", overrides=overrides, **options)
    except HydraException as e:
        reason = " ".join(str(e).split())
        raise ConfigError(
            f"The lab's run '{name}' cannot be configured from {overrides}: {reason}. Check its "
            "entry in lab.notebook, lab.q4 or lab.q5 (an experiment is a file of "
            "conf/experiment/) and lab.overrides (src/train.py's keys)."
        ) from None


def _planned(overrides: list[str], name: str) -> PlannedRun:
    config = OmegaConf.to_container(_compose(overrides, name), resolve=True)
    return PlannedRun(overrides, name, result_key(config), config)


def seed_overrides(seeds: int | None) -> list[list[str]]:
    """lab.seeds=3 -> [[], ["seed=1"], ["seed=2"]]: the configured seed (the runs of a one-seed
    lab, reused), then seeds 1, 2, ... as replicates."""
    return [[]] + [[f"seed={s}"] for s in range(1, seeds or 1)]


def plan_lab(lab: DictConfig) -> list[Family]:
    """Every family of runs the report needs, each run with the overrides that make it, once per
    seed of lab.seeds."""
    common = list(lab.overrides) + ([f"trainer.max_epochs={lab.epochs}"] if lab.epochs else [])
    seeds = seed_overrides(lab.get("seeds"))
    families = []
    for name, spec in lab.notebook.items():
        family = Family(f"notebook {name}", "notebook")
        for seed in seeds:
            family.runs.append(_planned([*spec, *common, *seed], family.name))
            family.labels.append(" ".join([family.name, *seed]))
        families.append(family)
    for question in ("q4", "q5"):
        for experiment in lab[question]:
            sweep = _compose([f"experiment={experiment}"], experiment, return_hydra_config=True)
            grid = expand_grid(dict(sweep.hydra.sweeper.params or {}))
            family = Family(experiment, question)
            for variant, seed in itertools.product(grid[: lab.variants or None], seeds):
                label = " ".join([*variant, *seed])
                family.runs.append(
                    _planned(
                        [f"experiment={experiment}", *variant, *common, *seed],
                        f"{experiment} {label}",
                    )
                )
                family.labels.append(label)
            families.append(family)
    return families


def unique_runs(families: list[Family]) -> list[PlannedRun]:
    """Each distinct run once (the notebook's CNN is also a variant of a sweep), in plan order."""
    seen: dict[str, PlannedRun] = {}
    for family in families:
        for run in family.runs:
            seen.setdefault(run.key, run)
    return list(seen.values())
