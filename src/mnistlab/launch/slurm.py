"""What the project asks of a SLURM cluster and reads from it: the job a process runs in, and
whether a job's resources fit a node of its partition before anything is submitted."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

from mnistlab.errors import ConfigError

# The project's SLURM launcher, and Hydra's (hydra/launcher=submitit_slurm), which it extends.
SLURM_LAUNCHERS = (
    "hydra_plugins.mnistlab_launcher.slurm_launcher.SlurmLauncher",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher",
)


# Settings submitit's executor takes itself rather than each job.
EXECUTOR_KEYS = ("max_num_timeout",)


def is_slurm_launcher(launcher: Any) -> bool:
    return launcher is not None and launcher.get("_target_") in SLURM_LAUNCHERS


def executor(settings: dict[str, Any]) -> Any:
    """submitit's SLURM executor asking, for each job, what `settings` say (the keys of
    conf/hydra/launcher/slurm.yaml: partition, timeout_min, cpus_per_task, ...)."""
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf

    settings = {k: v for k, v in settings.items() if k != "_target_"}
    made = submitit.AutoExecutor(
        folder=settings.pop("submitit_folder"),
        cluster="slurm",
        **{f"slurm_{k}": settings.pop(k) for k in EXECUTOR_KEYS if k in settings},
    )
    common = set(OmegaConf.structured(BaseQueueConf).keys())  # timeout_min, cpus_per_task, ...
    made.update_parameters(**{k if k in common else f"slurm_{k}": v for k, v in settings.items()})
    return made


def job_ended() -> type[Exception]:
    """What submitit raises for a job that gave no result: it died (cancelled, killed, out of
    time) or failed before the run could record how it ended (FailedJobError, a subclass)."""
    from submitit.core.utils import UncompletedJobError

    return UncompletedJobError


def ended_without_result(job: Any) -> str:
    """Why a submitted job gave no result, in a sentence naming its state and its logs."""
    return (
        f"SLURM job {job.job_id} ended {job.state} before the run finished "
        f"(its output: {job.paths.stdout}, its errors: {job.paths.stderr})."
    )


def job_id() -> str | None:
    """The SLURM job this process runs in (an array task as 12_3), None outside one."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{array}_{task}" if array and task else os.environ.get("SLURM_JOB_ID")


def restarts() -> int:
    """How many times SLURM has requeued this job (time limit, preemption, `scontrol requeue`)."""
    return int(os.environ.get("SLURM_RESTART_COUNT") or 0)


def cpus_per_task() -> int | None:
    """The CPUs SLURM gave each task of this job (--cpus-per-task), None outside a job or when
    the job did not ask."""
    cpus = os.environ.get("SLURM_CPUS_PER_TASK")
    return int(cpus) if cpus and cpus.isdigit() else None


def job_facts() -> dict[str, Any]:
    """The job and its restarts, for status.json; empty outside SLURM."""
    job = job_id()
    return {"slurm_job": job, "slurm_restarts": restarts()} if job else {}


@dataclass(frozen=True)
class Partition:
    """The largest node of a partition, and its time limit in minutes (None: unlimited)."""

    name: str
    cpus: int
    memory_mb: int
    gpus: int
    nodes: int
    max_minutes: int | None


def _minutes(limit: str) -> int | None:
    """SLURM's time limit ([days-]hours:minutes:seconds, or minutes) in minutes; None: none."""
    if limit in ("infinite", "UNLIMITED", "n/a", ""):
        return None
    days, _, clock = limit.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    hours, minutes, seconds = (
        ([0] * (3 - len(parts)) + parts) if len(parts) > 1 else (0, parts[0], 0)
    )
    return int(days or 0) * 1440 + hours * 60 + minutes + (seconds > 0)


def _gpus(gres: str) -> int:
    return sum(int(n) for n in re.findall(r"gpu(?::[^:,(]+)?:(\d+)", gres))


def _sinfo(*args: str) -> str:
    if shutil.which("sinfo") is None:
        raise ConfigError(
            "hydra/launcher=slurm needs SLURM's commands (sbatch, sinfo, sacct) on this machine, "
            "and they are not on PATH. Run the command on your cluster's login node (or start "
            "the test cluster: make cluster-start, then export SLURM_CONF as it says)."
        )
    result = subprocess.run(["sinfo", "-h", *args], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        reason = " ".join(result.stderr.split()) or f"exit status {result.returncode}"
        raise ConfigError(f"SLURM's sinfo could not list the partitions: {reason}.")
    return result.stdout


def partition(name: str | None, prefix: str = "hydra.launcher") -> Partition:
    """The named partition (None: the cluster's default), from sinfo, or a clear refusal."""
    lines = [line.split("|") for line in _sinfo("-o", "%P|%c|%m|%G|%l|%D").splitlines()]
    names = [fields[0] for fields in lines]
    default = next((n.rstrip("*") for n in names if n.endswith("*")), None)
    wanted = name or default
    rows = [fields for fields in lines if fields[0].rstrip("*") == wanted]
    if not rows:
        known = ", ".join(sorted({n.rstrip("*") for n in names})) or "none"
        raise ConfigError(
            f"{prefix}.partition={name} is not a partition of this cluster (its partitions: "
            f"{known}). Choose one of them, e.g. {prefix}.partition="
            f"{default or (names[0].rstrip('*') if names else '<name>')}."
        )
    limits = [_minutes(fields[4]) for fields in rows]
    return Partition(
        name=wanted,
        cpus=max(int(fields[1].rstrip("+")) for fields in rows),
        memory_mb=max(int(fields[2].rstrip("+")) for fields in rows),
        gpus=max(_gpus(fields[3]) for fields in rows),
        nodes=sum(int(fields[5]) for fields in rows),
        max_minutes=None if None in limits else max(limits),
    )


def check_resources(launcher: Any, prefix: str = "hydra.launcher") -> Partition:
    """Refuse, before anything is submitted, a job that no node of its partition could run:
    SLURM would keep it pending without a word (reason PartitionConfig or PartitionTimeLimit).
    The settings are named `prefix`.key in what it says."""
    part = partition(launcher.get("partition"), prefix)
    tasks = int(launcher.get("tasks_per_node") or 1)
    asked = [
        ("cpus_per_task", int(launcher.get("cpus_per_task") or 1) * tasks, part.cpus, "CPUs"),
        ("mem_gb", float(launcher.get("mem_gb") or 0), part.memory_mb / 1024, "GB of memory"),
        ("gpus_per_node", int(launcher.get("gpus_per_node") or 0), part.gpus, "GPUs"),
        ("nodes", int(launcher.get("nodes") or 1), part.nodes, "nodes"),
    ]
    for key, wanted, largest, unit in asked:
        if wanted > largest:
            per = "" if key == "nodes" else " per node"
            fits = largest // tasks if key == "cpus_per_task" else int(largest)
            raise ConfigError(
                f"{prefix}.{key}={launcher.get(key)} asks for {wanted:g} {unit}{per}, but "
                f"partition {part.name} has at most {largest:.4g}: SLURM would keep every job "
                f"pending and never start it. Ask for what fits ({prefix}.{key}={fits:g} at "
                "most) or choose another partition (sinfo lists them)."
            )
    minutes = int(launcher.get("timeout_min") or 0)
    if part.max_minutes is not None and minutes > part.max_minutes:
        raise ConfigError(
            f"{prefix}.timeout_min={minutes} is longer than partition {part.name}'s time "
            f"limit ({part.max_minutes} min): SLURM would never start the jobs. Ask for "
            f"{prefix}.timeout_min={part.max_minutes} or less; a run that needs longer is "
            "requeued at its time limit and resumes from its checkpoint."
        )
    warning = int(launcher.get("signal_delay_s") or 0)
    if minutes * 60 <= warning + 60:
        raise ConfigError(
            f"{prefix}.timeout_min={minutes} leaves no time to train: SLURM warns a job "
            f"{warning} s ({prefix}.signal_delay_s) before its time limit, and the job then "
            "saves a checkpoint and is requeued, so it would never get past its start. Give each "
            f"job more than {warning // 60 + 1} minutes ({prefix}.timeout_min)."
        )
    return part
