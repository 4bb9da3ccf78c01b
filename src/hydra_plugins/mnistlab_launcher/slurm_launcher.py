"""Hydra's submitit launcher for SLURM, with one change: a job that ends without a result (cancelled,
killed on its node, out of time with no requeue left) is one failed run of the sweep, said in its
folder's status.json, and the other jobs' results are kept. Hydra's own launcher stops waiting at
the first such job and the whole sweep ends in a traceback.

Time limits and preemption are submitit's checkpointing: at SLURM's warning signal submitit
calls this launcher's `checkpoint`, which resubmits the same job; the run, restarted in the same
folder, resumes from the checkpoint it saved (mnistlab.training.interrupt).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from omegaconf import open_dict

# Hydra imports every module of hydra_plugins when it starts: without the slurm extra
# (pip install -e '.[slurm]') this plugin is simply absent.
try:
    from hydra_plugins.hydra_submitit_launcher import submitit_launcher
except ImportError:  # pragma: no cover - the extra is installed by make setup
    submitit_launcher = None

log = logging.getLogger(__name__)


class SlurmLauncher(submitit_launcher.SlurmLauncher if submitit_launcher else object):
    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> list[JobReturn]:
        from mnistlab.launch.slurm import executor

        assert self.config is not None and self.hydra_context is not None
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        log.info(f"Submitit 'slurm' sweep output dir : {sweep_dir}")
        numbers = range(initial_job_idx, initial_job_idx + len(job_overrides))
        for number, overrides in zip(numbers, job_overrides, strict=True):
            log.info(f"\t#{number} : {' '.join(filter_overrides(overrides))}")
        jobs = executor(self.params).map_array(
            self,
            [list(o) for o in job_overrides],
            ["hydra.sweep.dir"] * len(job_overrides),
            list(numbers),
            [f"job_id_for_{n}" for n in numbers],
            [Singleton.get_state()] * len(job_overrides),
        )
        return [
            self._result(job, list(overrides), number)
            for job, overrides, number in zip(jobs, job_overrides, numbers, strict=True)
        ]

    def _result(self, job: Any, overrides: list[str], number: int) -> JobReturn:
        """The job's JobReturn; for a job that ended without one, a run that returned nothing
        (as a failed run does in a sweep), its reason written in its folder."""
        from mnistlab.launch.slurm import ended_without_result, job_ended

        try:
            return job.results()[0]
        except job_ended():
            pass
        folder = self._job_folder(overrides, number)
        reason = ended_without_result(job)
        _record_failure(folder, reason, overrides)
        print(f"\nJob failed ({folder}): {reason}", file=sys.stderr)
        ended = JobReturn(
            overrides=overrides, working_dir=str(folder), task_name=self.config.hydra.job.name,
            status=JobStatus.COMPLETED,
        )  # fmt: skip
        ended.return_value = None
        return ended

    def _job_folder(self, overrides: list[str], number: int) -> Path:
        """Where job `number` writes its run: the sweep's folder and its subfolder for the job."""
        config = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        with open_dict(config.hydra.job):
            config.hydra.job.num = number
        return Path(str(config.hydra.sweep.dir)) / str(config.hydra.sweep.subdir)


def _record_failure(folder: Path, reason: str, overrides: list[str]) -> None:
    """status.json says failed with `reason`, unless the run recorded how it ended itself
    (completed, failed, or interrupted with the command that resumes it)."""
    from mnistlab.runs.folders import read_status, write_status

    ended = (read_status(folder) or {}).get("status")
    if ended in (None, "running"):
        write_status(
            folder, "failed", this_job=False, reason=reason, error="SlurmJobEnded",
            overrides=overrides,
        )  # fmt: skip
