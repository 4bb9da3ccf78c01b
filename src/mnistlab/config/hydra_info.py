"""What Hydra knows about the running job: its config, whether it is part of a sweep, its command line."""

from __future__ import annotations

import shlex
from typing import Any


def hydra_config() -> Any:
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get() if HydraConfig.initialized() else None


def in_multirun() -> bool:
    from hydra.types import RunMode

    hydra_cfg = hydra_config()
    return hydra_cfg is not None and hydra_cfg.mode == RunMode.MULTIRUN


def command_line(script: str, without: tuple[str, ...] = ()) -> str:
    """The command that started this job (minus the keys in `without`), quoted for a shell: as
    typed for a single run (Hydra's own settings such as hydra.run.dir included); for a sweep's
    job, the single run that repeats it (the sweep's own hydra.* settings left out)."""
    hydra_cfg = hydra_config()
    overrides = list(hydra_cfg.overrides.task) if hydra_cfg else []
    if hydra_cfg is not None and not in_multirun():
        typed = [o for o in hydra_cfg.overrides.hydra if not o.startswith("hydra.mode=")]
        overrides = [*overrides, *typed]  # Hydra adds hydra.mode itself
    kept = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") not in without]
    return shlex.join(["python", script, *kept])  # quoted: [9,9,16] is a shell glob
