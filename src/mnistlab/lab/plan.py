"""What the lab needs: the notebooks' four runs and the sweeps of conf/experiment/, each family of
runs one `python src/train.py -m ...` multirun (Hydra expands the sweep; the run cache skips
what is already in logs/).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra import compose
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig

from mnistlab.errors import ConfigError


@dataclass
class Family:
    """A group of runs the report shows together: a notebook experiment or a sweep."""

    name: str  # "notebook mlp", or the experiment's name
    question: str  # notebook, q4 or q5
    overrides: list[str]  # of src/train.py -m, as a user would type them
    folder: Path  # the multirun's folder (hydra.sweep.dir)


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


def preview(params: dict[str, str], variants: int) -> list[str]:
    """lab.variants=N: each swept setting at its first value, the last one at its first N values
    (the sweep's first N variants in Hydra's order, or all of that last setting's), as overrides
    that replace the experiment's own lists."""
    parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    kept = []
    for position, override in enumerate(parsed, start=1):
        if not override.is_discrete_sweep():
            continue
        values = list(override.sweep_string_iterator())
        first = values[:variants] if position == len(parsed) else values[:1]
        kept.append(f"{override.get_key_element()}={','.join(first)}")
    return kept


def plan_lab(lab: DictConfig, sweeps_dir: Path, lab_id: str) -> list[Family]:
    """Every family the report needs, each with the overrides of its multirun (every seed of
    lab.seeds, a preview's epochs, variants and overrides) and its folder under `sweeps_dir`;
    each family's settings are checked here, before any run."""
    common = list(lab.overrides) + ([f"trainer.max_epochs={lab.epochs}"] if lab.epochs else [])
    wanted = [(f"notebook {name}", "notebook", list(spec)) for name, spec in lab.notebook.items()]
    wanted += [
        (experiment, question, [f"experiment={experiment}"])
        for question in ("q4", "q5")
        for experiment in lab[question]
    ]
    families = []
    for name, question, own in wanted:
        config = _compose([*own, *common], name, return_hydra_config=True)
        if lab.variants and question != "notebook":
            own += preview(dict(config.hydra.sweeper.params or {}), lab.variants)
        seeds = [config.seed, *range(1, lab.seeds or 1)]  # the configured one, then 1, 2, ...
        swept = [f"seed={','.join(map(str, seeds))}"] if len(seeds) > 1 else []
        folder = sweeps_dir / f"{lab_id}_{name.replace(' ', '-')}"
        families.append(Family(name, question, [*own, *common, *swept], folder))
    return families
