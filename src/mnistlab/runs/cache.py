"""The run cache: a sweep's job whose identical run already completed points to that run instead
of training it again, so a sweep started again (after a crash, a Ctrl-C, a cancelled SLURM array)
trains only the jobs that did not complete, whichever launcher runs them.

conf/train.yaml's `reuse.look_in` says where completed runs are looked for (every sweep's folder;
the lab: all of logs/), `reuse.retrain=true` trains every job again. A single run (without -m)
always trains. The job's own folder keeps its Hydra files and a status.json that names the run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from mnistlab.config.hydra_info import in_multirun
from mnistlab.runs.folders import REPORTED, completed_under
from mnistlab.runs.identity import result_key, run_identity

REUSED = "reused"  # the status of a job folder that points to its completed run


def same_run_completed(cfg: DictConfig) -> Path | None:
    """The newest completed run under reuse.look_in with this job's identity and every file the
    reports read; None outside a sweep, with reuse.retrain=true, or when there is none."""
    reuse = cfg.get("reuse") or {}
    if not in_multirun() or reuse.get("retrain") or not reuse.get("look_in"):
        return None
    key = result_key(OmegaConf.to_container(cfg, resolve=True))
    own = Path(cfg.paths.output_dir).resolve()
    for run in completed_under(reuse.look_in):
        if run.path.resolve() == own or not all((run.path / f).is_file() for f in REPORTED):
            continue
        if run_identity(run.path) == key:
            return run.path
    return None


def pointer(job_dir: Path, run_dir: Path) -> dict[str, Any]:
    """What a reused job's status.json says besides its status: the run, relative to the job's
    folder (so that a copied logs/ still points right)."""
    return {"run": os.path.relpath(run_dir, job_dir)}


def pointed_run(job_dir: Path, status: dict[str, Any]) -> Path | None:
    """The run a reused job's folder points to; None for any other folder."""
    if status.get("status") != REUSED or not status.get("run"):
        return None
    return Path(os.path.normpath(Path(job_dir) / status["run"]))
