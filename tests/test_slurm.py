"""A real SLURM scheduler (cluster/slurm.sh: munged, MariaDB, slurmdbd, slurmctld and slurmd on this
machine): sweeps, a search and the lab as jobs, time limits and requeues resumed exactly, a run
in two processes from srun, and what is refused before anything is submitted."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml

from conftest import (
    REUSED,
    ROOT,
    TINY,
    read_metrics,
    run_script,
    script_env,
    single_run_dir,
    trained_jobs,
)  # fmt: skip
from mnistlab.runs.folders import read_status

pytestmark = pytest.mark.slow
CLUSTER = ROOT / "cluster" / "slurm.sh"
# Each job asks for what fits the smallest machine: two of them run side by side on two cores.
CPUS_PER_JOB = 1
SMALL_JOBS = ("hydra/launcher=slurm", f"hydra.launcher.cpus_per_task={CPUS_PER_JOB}",
              "hydra.launcher.mem_gb=1")  # fmt: skip
TIMES = {"train/time_s", "epoch/time_s"}  # the only values allowed to differ between two runs


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """SLURM_CONF of a running one-machine cluster: the one `make cluster-start` left running,
    else one started for these tests and stopped after them (skipped where that needs a root
    and an apt-get this machine does not give)."""
    if subprocess.run([CLUSTER, "status"], capture_output=True).returncode == 0:
        running = os.environ.get("MNISTLAB_SLURM_DIR", "/tmp/mnistlab-slurm")  # as slurm.sh's
        yield {"SLURM_CONF": f"{running}/slurm.conf"}
        return
    env = {**os.environ, "MNISTLAB_SLURM_DIR": str(tmp_path_factory.mktemp("slurm"))}
    started = subprocess.run([CLUSTER, "start"], env=env, capture_output=True, text=True)
    try:
        if started.returncode == 3:
            pytest.skip(started.stderr.strip())
        assert started.returncode == 0, started.stdout + started.stderr
        yield {"SLURM_CONF": f"{env['MNISTLAB_SLURM_DIR']}/slurm.conf"}
    finally:
        subprocess.run([CLUSTER, "stop"], env=env, capture_output=True)


def slurm(cluster, *command: str) -> str:
    """A SLURM command's output (squeue, sacct, scontrol, scancel) on the test cluster."""
    done = subprocess.run(command, env={**os.environ, **cluster}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def sweep_folder(log_dir: Path, kind: str = "multiruns") -> Path:
    (folder,) = (log_dir / "train" / kind).iterdir()
    return folder


def job_ids(folder: Path) -> list[str]:
    """The SLURM jobs of a sweep, from submitit's folders (one per job: <array>_<task>)."""
    found = (folder / ".submitit").glob("*_*")
    return sorted(p.name for p in found if re.fullmatch(r"\d+_\d+", p.name))


@contextlib.contextmanager
def in_background(cluster, log_dir: Path, *args: str):
    """src/train.py with `args`, running while the test acts on its jobs; stopped, and its jobs
    cancelled, if the test ends first."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "src" / "train.py"), *args],
        cwd=ROOT, env=script_env(log_dir, cluster), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
            for folder in (log_dir / "train" / "multiruns").glob("*"):
                for job in job_ids(folder):
                    subprocess.run(["scancel", job], env={**os.environ, **cluster})


def same_run(a: dict, b: dict) -> None:
    """Two runs' metrics agree on everything but the time they took."""
    assert a["test"] == b["test"] and a["confusion_matrix"] == b["confusion_matrix"]
    strip = [
        [{k: v for k, v in row.items() if k not in TIMES} for row in m["history"]] for m in (a, b)
    ]
    assert strip[0] == strip[1]


def test_a_sweep_through_slurm_writes_what_the_basic_launcher_writes(cluster, tmp_path):
    sweep = (
        "-m",
        "data=mnist-hog",
        "model.net.hidden=[50],[100]",
        "threads=1",
        "trainer.max_epochs=1",
    )
    here = run_script("train.py", *sweep, log_dir=tmp_path / "here")
    there = run_script("train.py", *sweep, *SMALL_JOBS, log_dir=tmp_path / "slurm", env=cluster)
    assert here.returncode == 0 and there.returncode == 0, there.stdout[-2000:] + there.stderr
    a, b = sweep_folder(tmp_path / "here"), sweep_folder(tmp_path / "slurm")
    for run in ("0", "1"):
        same_run(read_metrics(a / run), read_metrics(b / run))
        assert json.loads((b / run / "status.json").read_text())["slurm_job"] in job_ids(b)
    with open(a / "sweep_report.csv") as f, open(b / "sweep_report.csv") as g:
        rows = [[{k: v for k, v in r.items() if not k.endswith("time_s")} for r in csv.DictReader(h)]
                for h in (f, g)]  # fmt: skip
    assert rows[0] == rows[1] and len(rows[0]) == 2
    # Accounting is on: sacct knows both jobs (completed once their processes have exited), and
    # submitit never had to bypass it.
    array = job_ids(b)[0].split("_")[0]
    wait_for(
        lambda: (
            sorted(
                slurm(cluster, "sacct", "-X", "-n", "-P", "-o", "JobID,State", "-j", array).split()
            )
            == [f"{job}|COMPLETED" for job in job_ids(b)]
        ),
        seconds=60,
    )
    # A quiet terminal: no sacct warning here, nothing but the run's own output in the jobs.
    assert "sacct" not in there.stderr and "srun" not in there.stderr + here.stderr
    for err in (b / ".submitit").glob("*/*_log.err"):
        assert err.read_text() == "", err


@pytest.mark.parametrize(
    ("override", "said"),
    [
        ("hydra.launcher.partition=gpu", "hydra.launcher.partition=gpu is not a partition of this cluster"),
        ("hydra.launcher.cpus_per_task=512", "hydra.launcher.cpus_per_task=512 asks for 512 CPUs per node"),
        ("hydra.launcher.mem_gb=100000", "hydra.launcher.mem_gb=100000 asks for 100000 GB of memory"),
        ("hydra.launcher.timeout_min=2", "hydra.launcher.timeout_min=2 leaves no time to train"),
    ],
)  # fmt: skip
def test_a_job_no_node_could_run_is_refused_before_submission(cluster, tmp_path, override, said):
    before = slurm(cluster, "sacct", "-X", "-n", "-a", "-o", "JobID")
    done = run_script("train.py", "-m", *SMALL_JOBS, override, *TINY, log_dir=tmp_path, env=cluster)
    assert done.returncode == 2 and said in " ".join(done.stderr.split()), done.stderr
    assert "Traceback" not in done.stderr
    assert slurm(cluster, "sacct", "-X", "-n", "-a", "-o", "JobID") == before  # nothing submitted


def wait_for(what, seconds: float = 120, every: float = 0.5):
    deadline = time.monotonic() + seconds
    while not (found := what()):
        assert time.monotonic() < deadline, f"gave up waiting after {seconds} s"
        time.sleep(every)
    return found


def state(cluster, job: str) -> str:
    return slurm(cluster, "squeue", "-h", "-j", job, "-o", "%T").strip()


def test_a_job_that_dies_on_its_node_is_one_failed_run_and_the_others_complete(cluster, tmp_path):
    sweep = ("-m", *SMALL_JOBS, "data=mnist-hog", "trainer.max_epochs=1,1000",
             "trainer.limit_train_batches=32")  # fmt: skip
    with in_background(cluster, tmp_path, *sweep) as process:
        folder = wait_for(lambda: next((tmp_path / "train" / "multiruns").glob("*"), None))
        long_job = wait_for(lambda: [j for j in job_ids(folder) if j.endswith("_1")])[0]
        wait_for(lambda: state(cluster, long_job) == "RUNNING")
        slurm(cluster, "scancel", long_job)
        out, err = process.communicate(timeout=300)
    assert process.returncode == 1, out + err
    with open(folder / "sweep_report.csv") as f:
        rows = {row["overrides"]: row for row in csv.DictReader(f)}
    assert rows["trainer.max_epochs=1"]["status"] == "completed"
    failed = rows["trainer.max_epochs=1000"]
    assert (
        failed["status"] == "failed" and f"SLURM job {long_job} ended CANCELLED" in failed["reason"]
    )
    assert f"SLURM job {long_job} ended CANCELLED" in err and "Traceback" not in err
    assert "(1 completed, 1 failed)" in out


RESUMABLE = ("data=mnist-hog", "trainer.max_epochs=3", "threads=1")


def test_a_cancelled_sweep_started_again_trains_only_what_did_not_complete(cluster, tmp_path):
    six = ("-m", *SMALL_JOBS, "trainer.max_epochs=1", "trainer.limit_train_batches=4",
           "trainer.limit_val_batches=2", "seed=1,2,3,4,5,6")  # fmt: skip
    with in_background(cluster, tmp_path, *six) as process:
        wait_for(lambda: len(trained_jobs(tmp_path)) >= 3, seconds=300)
        process.kill()  # the sweep's own process, then its array, as a user's scancel
        process.communicate()
        array = job_ids(sweep_folder(tmp_path))[0].split("_")[0]
        slurm(cluster, "scancel", array)
        wait_for(lambda: slurm(cluster, "squeue", "-h", "-j", array).strip() == "", seconds=120)
    before = len(trained_jobs(tmp_path))
    assert 3 <= before < 6
    again = run_script("train.py", *six, log_dir=tmp_path, env=cluster)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert "(6 completed, 0 failed)" in again.stdout
    assert len(trained_jobs(tmp_path)) == 6  # each run trained once, in one array or the other
    logs = "".join(p.read_text() for p in tmp_path.glob("train/multiruns/*/.submitit/*/*_log.out"))
    assert logs.count(REUSED) == before


def test_a_run_warned_of_its_time_limit_or_requeued_resumes_exactly(cluster, tmp_path):
    """Job 0 gets SLURM's warning before a time limit (USR2, as sbatch --signal sends it); job 1
    is requeued as an administrator or a preemption does (SIGTERM). Each saves at the end of
    its step, is requeued, resumes, and ends as the same run does without a stop."""
    whole = run_script("train.py", *RESUMABLE, log_dir=tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr[-2000:]
    sweep = ("-m", *SMALL_JOBS, *RESUMABLE, "+copy=0,1")
    with in_background(cluster, tmp_path / "slurm", *sweep) as process:
        folder = wait_for(
            lambda: next((tmp_path / "slurm" / "train" / "multiruns").glob("*"), None)
        )
        jobs = wait_for(lambda: len(found := job_ids(folder)) == 2 and found)
        stops = (("scancel", "--signal=USR2"), ("scontrol", "requeue"))
        for run, job, stop in zip(("0", "1"), jobs, stops, strict=True):
            wait_for(lambda run=run: (folder / run / "checkpoints" / "best.ckpt").is_file())
            slurm(cluster, *stop, job)  # once its first epoch is done
        for job in jobs:  # SLURM holds a requeued job two minutes; an administrator may release it
            wait_for(
                lambda job=job: "BeginTime" in slurm(cluster, "squeue", "-h", "-j", job, "-o", "%r")
            )
            slurm(cluster, "scontrol", "update", f"JobId={job}", "StartTime=now")
        out, err = process.communicate(timeout=600)
    assert process.returncode == 0, out[-2000:] + err[-2000:]
    uninterrupted = read_metrics(single_run_dir(tmp_path / "whole"))
    for run, how in (("0", "SLURM's warning before the job's time limit"), ("1", "SIGTERM")):
        same_run(read_metrics(folder / run), uninterrupted)
        status = json.loads((folder / run / "status.json").read_text())
        assert status["status"] == "completed" and status["slurm_restarts"] == 1
        (earlier,) = status["attempts"]
        assert earlier["status"] == "interrupted" and earlier["reason"].startswith(
            f"Interrupted by {how}"
        )
        saved = earlier["reason"].split("holds the model at optimizer step ")[1].split()[0]
        assert 430 <= int(saved.replace(",", "")) < 3 * 430  # from epoch 1's end: 430 an epoch
        job = jobs[int(run)]
        said = " ".join((folder / ".submitit" / job / f"{job}_0_log.out").read_text().split())
        assert f"SLURM requeued job {job} (restart 1): resuming from" in said
        assert f"at optimizer step {saved} (" in said


def test_a_run_in_two_processes_from_srun_matches_ddp_cpu(cluster, tmp_path):
    threads, processes = (
        1,
        yaml.safe_load((ROOT / "conf/trainer/ddp_cpu.yaml").read_text())["devices"],
    )
    setting = ("trainer=ddp_cpu", "data=mnist-hog", f"threads={threads}", "trainer.max_epochs=1")
    here = run_script("train.py", *setting, log_dir=tmp_path / "here")
    assert here.returncode == 0, here.stderr[-2000:]
    srun = ("srun", "--ntasks=2", "--ntasks-per-node=2", "--cpus-per-task=1", "--mem=2G")
    done = subprocess.run(
        [*srun, sys.executable, str(ROOT / "src" / "train.py"), *setting],
        cwd=ROOT, env=script_env(tmp_path / "srun", cluster), capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    run = single_run_dir(tmp_path / "srun")  # one folder for both processes: slurm-<job>.<step>
    assert run.name.startswith("slurm-")
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    # One set of logs: TensorBoard's files as ddp_cpu leaves them, all from one process.
    events = [p.name.split(".") for p in (run / "tensorboard").glob("events.out.tfevents.*")]
    here_run = single_run_dir(tmp_path / "here")
    assert len(events) == len(list((here_run / "tensorboard").glob("events.out.tfevents.*")))
    assert len({name[-2] for name in events}) == 1  # events.out.tfevents.<time>.<host>.<pid>.<n>
    same_run(read_metrics(run), read_metrics(here_run))
    # The threads and processes asked for, not the machine's.
    assert f"Device: CPU ({threads} torch threads), {processes} processes" in done.stdout
    assert done.stdout.count("Run folder:") == 1 and done.stderr == "", done.stderr


def test_a_search_runs_two_trials_at_a_time_as_jobs_in_one_journal_and_prunes(cluster, tmp_path):
    # A journal file (as on a shared file system) holds the study; each job reports to it. With
    # seed 8 the sampler picks 1e-6 and 1e-3, then (the seed moves on with the study) 1e-3 and
    # 1e-6: the second hopeless one is behind the median at its first epoch and pruned there.
    journal = tmp_path / "study.journal"
    search = ("-m", "hparams_search=mlp_optuna", *SMALL_JOBS, "trainer=cpu", "hydra.sweeper.n_jobs=2",
              "hydra.sweeper.n_trials=2", f"hydra.sweeper.storage={journal}", "seed=8",
              "hydra.sweeper.params={model.net.hidden.0:64,model.net.dropout:0.0,"
              'optimizer.lr:"choice(0.001, 0.000001)"}', "hparams_search.startup_trials=1",
              "hparams_search.warmup_epochs=0", "trainer.max_epochs=2",
              "trainer.limit_train_batches=10")  # fmt: skip
    for _ in range(2):
        done = run_script("train.py", *search, log_dir=tmp_path, env=cluster)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    folder = sweep_folder(tmp_path, "searches")
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))
    )
    study = optuna.load_study(study_name="mlp_optuna", storage=storage)
    assert [t.params["optimizer.lr"] for t in study.trials] == [1e-6, 1e-3, 1e-3, 1e-6]
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3 + ["PRUNED"]
    assert list(study.trials[3].intermediate_values) == [0]  # reported from its SLURM job
    assert read_status(folder / "trial_003")["status"] == "pruned"
    assert sorted(p.name for p in folder.glob("trial_*")) == [f"trial_{n:03d}" for n in range(4)]
    for out in folder.glob(".submitit/*/*_log.out"):
        assert f"Device: CPU ({CPUS_PER_JOB} torch threads)" in out.read_text(), out
    # The first two trials were one array of two jobs, side by side where a node has two CPUs
    # (one after the other on a one-CPU machine).
    first = job_ids(folder)[:2]
    times = slurm(
        cluster, "sacct", "-X", "-n", "-P", "-o", "Start,End", "-j", first[0].split("_")[0]
    )
    (start_a, end_a), (start_b, end_b) = (line.split("|") for line in times.split())
    cpus = max(int(n.rstrip("+")) for n in slurm(cluster, "sinfo", "-h", "-o", "%c").split())
    assert (start_a < end_b and start_b < end_a) == (cpus >= 2)


def test_the_lab_sends_its_missing_runs_to_slurm_and_reuses_them(cluster, tmp_path, data_dir):
    # Two families, the notebook's MLP and a sweep of 2 variants: 3 runs.
    lab = ("lab.launcher=slurm", "+lab.launcher_settings.cpus_per_task=1",
           "+lab.launcher_settings.mem_gb=1", "lab.pdf=false",
           "lab.epochs=1", "lab.variants=2",
           'lab.overrides=["trainer.limit_train_batches=4","trainer.limit_val_batches=2"]',
           "~lab.notebook.hog", "~lab.notebook.cnn", "~lab.notebook.fashion",
           "~lab.q4.mlp_hidden_dropout", "~lab.q4.cnn_dense_filters",
           "~lab.q5.cnn_fashion")  # fmt: skip
    done = run_script("lab.py", *lab, log_dir=tmp_path, env=cluster)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    text = " ".join(done.stdout.split())
    assert "The lab's 3 runs: 0 completed" in text and "3 run now" in text
    runs = trained_jobs(tmp_path)
    assert len(runs) == 3
    for run in runs:  # each run a SLURM job of its family's multirun
        status = json.loads((run / "status.json").read_text())
        assert status["slurm_job"] and (run.parent / ".submitit" / status["slurm_job"]).is_dir()
    again = run_script("lab.py", *lab, log_dir=tmp_path, env=cluster)
    said = " ".join(again.stdout.split())
    assert again.returncode == 0 and "3 completed under" in said and "0 run now" in said
    assert len(trained_jobs(tmp_path)) == 3  # the second lab's jobs trained nothing
    (report,) = [d / "lab_report.md" for d in sorted((tmp_path / "lab").iterdir())][-1:]
    assert "## Question 3:" in report.read_text()
