"""The lab's missing runs as SLURM jobs (lab.launcher=slurm): each the same `src/train.py` command
the lab runs here, submitted at once with what lab.slurm asks for, then waited for.

A job warned of its time limit (or preempted) is requeued with submitit's checkpointing: the
run in it saves a checkpoint at the end of its step and stops, then the job is resubmitted and
the run resumes in its folder (mnistlab.callbacks.interrupt, mnistlab.checkpoints).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from mnistlab.errors import Interrupted
from mnistlab.lab.plan import PlannedRun
from mnistlab.terminal import console

_running: subprocess.Popen | None = None  # the run this job started (not pickled with the job)


class TrainCommand:
    """One lab run, as a job: `src/train.py` in a child process, in the job's environment with
    `env` added; its exit code is the result."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.command = command
        self.env = env

    def __call__(self) -> int:
        global _running
        _running = subprocess.Popen(self.command, env={**os.environ, **self.env})
        return _running.wait()

    def checkpoint(self) -> Any:
        """submitit's checkpointing, at SLURM's warning: let the run save and stop (it is sent
        the warning too), then resubmit this same command, which resumes it."""
        from submitit.helpers import DelayedSubmission

        if _running is not None:
            _wait_for_exit(_running.pid)
        return DelayedSubmission(self)


def _wait_for_exit(pid: int, seconds: float = 300) -> None:
    """Pass SLURM's warning on to the run in `pid` and wait until it has saved and stopped.

    Called in submitit's signal handler, which interrupted `__call__` inside Popen.wait: that
    wait holds the Popen's lock until the handler returns, so the child is watched here with
    the operating system's own calls, never through the Popen."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGUSR2)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
        except ChildProcessError:  # already reaped
            return
        time.sleep(0.5)


def run_on_slurm(
    todo: list[PlannedRun],
    commands: list[list[str]],
    folders: list[Path],
    env: dict[str, str],
    settings: dict[str, Any],
) -> dict[int, int | str]:
    """Submit every run, wait for all; return the failed ones by index: the run's exit code
    (its status.json says why) or, for a job that gave no result, why in a sentence."""
    from submitit.helpers import as_completed

    from mnistlab.slurm import check_resources, ended_without_result, executor, job_ended

    part = check_resources(settings, "lab.slurm")
    with_commands = [TrainCommand(command, env) for command in commands]
    jobs = executor(settings).submit_array(with_commands)
    index_of = {job.job_id: index for index, job in enumerate(jobs)}
    console.print(
        f"[bold cyan]Lab: {len(jobs)} runs submitted to SLURM[/bold cyan] (partition {part.name}, "
        f"jobs {jobs[0].job_id} to {jobs[-1].job_id}); their output: {folders[0].parent}"
    )
    started, failures = time.monotonic(), {}
    try:
        for done, job in enumerate(as_completed(jobs, poll_frequency=2), start=1):
            index = index_of[job.job_id]
            try:
                code = job.result()
                outcome = "completed" if code == 0 else f"failed (exit code {code})"
            except job_ended():
                code, outcome = None, f"ended {job.state}"
            if code != 0:
                failures[index] = ended_without_result(job) if code is None else code
            elapsed = round(time.monotonic() - started)
            console.print(
                f"[bold cyan]Lab: {done} of {len(jobs)} done[/bold cyan] · {todo[index].name} · "
                f"SLURM job {job.job_id} {outcome} · {elapsed // 60} min {elapsed % 60:02d} s"
            )
    except KeyboardInterrupt:
        raise Interrupted(
            "Interrupted while waiting for the lab's SLURM jobs: they keep running (scancel "
            f"{jobs[0].job_id.split('_')[0]} stops them). The same `python src/lab.py` command "
            "reuses every run that completed.",
            exit_code=130,
        ) from None
    return failures
