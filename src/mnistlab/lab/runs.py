"""The lab's runs: each family one `python src/train.py -m ...` multirun, the user's own command,
on the Hydra launcher lab.launcher names; the run cache (mnistlab.runs.cache, looking in all of
logs/) points to every run already completed instead of training it again.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnistlab.errors import ConfigError, Interrupted
from mnistlab.lab.plan import Family
from mnistlab.runs.cache import pointed_run
from mnistlab.runs.folders import read_status, run_dirs
from mnistlab.terminal import console

USER_MISTAKE = 2  # src/train.py's exit code when it refused its settings


def multirun_command(family: Family, train_script: Path, lab: Any, log_dir: Path) -> list[str]:
    """The multirun of `family`, with the lab's launcher and the run cache looking in logs/."""
    launcher = [] if lab.launcher == "basic" else [f"hydra/launcher={lab.launcher}"]
    launcher += [f"hydra.launcher.{k}={v}" for k, v in (lab.launcher_settings or {}).items()]
    return [
        sys.executable, str(train_script), "-m", *family.overrides, *launcher,
        f"hydra.sweep.dir='{family.folder}'", f"reuse.look_in='{log_dir.resolve()}'",
        f"reuse.retrain={str(not lab.reuse).lower()}",
    ]  # fmt: skip


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def run_families(
    families: list[Family], train_script: Path, lab: Any, log_dir: Path, data_dir: Path
) -> None:
    """Run each family's multirun in turn, its output on this terminal; a family whose settings
    the multirun refused stops the lab (its paragraph says why), a failed run does not."""
    env = {
        **os.environ,
        "MNISTLAB_LOG_DIR": str(log_dir.resolve()),
        "MNISTLAB_DATA_DIR": str(data_dir.resolve()),
    }
    started = time.monotonic()
    for index, family in enumerate(families, start=1):
        console.print(
            f"[bold cyan]Lab: {family.name} ({index} of {len(families)})[/bold cyan] · "
            f"{_clock(time.monotonic() - started)} elapsed"
        )
        code = _launch(multirun_command(family, train_script, lab, log_dir), env, family)
        if code == USER_MISTAKE:
            raise ConfigError(
                f"The multirun of the lab's '{family.name}' refused its settings (said above). "
                "Check lab.launcher, lab.launcher_settings and lab.overrides."
            )


def _launch(command: list[str], env: dict[str, str], family: Family) -> int:
    child = subprocess.Popen(command, env=env)
    try:
        return child.wait()
    except KeyboardInterrupt:
        # Ctrl-C reached the multirun too: let its run record where it stopped.
        child.wait(timeout=120)
        raise Interrupted(
            f"Interrupted during the lab's '{family.name}' ({family.folder}). Every completed run "
            "is kept under logs/train/, and the same `python src/lab.py` command reuses them.",
            exit_code=130,
        ) from None


@dataclass
class Tally:
    """What the lab's multiruns did: the distinct runs they stand for, trained now or reused."""

    runs: set[Path]
    ran: set[Path]

    @property
    def reused(self) -> int:
        return len(self.runs - self.ran)


def tally(families: list[Family]) -> Tally:
    """Count each run once (the notebook's CNN is also a variant of a sweep): a job that reused
    a run stands for it; runs in the lab's own folders ran now."""
    runs, ran = set(), set()
    for family in families:
        for job in run_dirs(family.folder):
            target = pointed_run(job, read_status(job) or {})
            run = (target or job).resolve()
            runs.add(run)
            if any(run.is_relative_to(f.folder.resolve()) for f in families):
                ran.add(run)
    return Tally(runs, ran)
