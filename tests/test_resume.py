"""Interrupting, resuming and choosing checkpoints; runs side by side; the processes of a distributed job."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import DATA_DIR, ROOT, TINY, read_metrics, run_in_process, run_script, single_run_dir
from mnistlab.errors import ConfigError
from mnistlab.training.checkpoints import resolve_ckpt_path


@pytest.fixture(scope="module")
def mlp_checkpoint(tmp_path_factory, data_dir) -> Path:
    log_dir = tmp_path_factory.mktemp("mlp")
    result = run_script("train.py", *TINY, log_dir=log_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    return single_run_dir(log_dir) / "checkpoints" / "last.ckpt"


@pytest.mark.slow
def test_resuming_with_another_model_or_dataset_is_refused(tmp_path, capsys, mlp_checkpoint):
    code, _ = run_in_process(tmp_path, "model=cnn", f"ckpt_path={mlp_checkpoint}")
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and "was saved for MLP" in err and "but this run is CNN" in err
    code, _ = run_in_process(tmp_path, "data=fashion", f"ckpt_path={mlp_checkpoint}")
    assert code == 2 and "on Fashion-MNIST" in " ".join(capsys.readouterr().err.split())


@pytest.mark.slow
def test_a_checkpoint_naming_the_old_data_steps_per_execution_still_evaluates(
    tmp_path, mlp_checkpoint
):
    """Older checkpoints name minibatches_per_step as data.steps_per_execution, which the data
    no longer takes; eval rebuilds the data without it and scores the same model."""
    saved = torch.load(mlp_checkpoint, weights_only=True)
    saved["hyper_parameters"]["config"]["data"]["steps_per_execution"] = 64
    old = tmp_path / "old.ckpt"
    torch.save(saved, old)
    result = run_script("eval.py", f"ckpt_path={old}", log_dir=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    trained = read_metrics(mlp_checkpoint.parent.parent)["test"]["acc"]
    assert read_metrics(single_run_dir(tmp_path, "eval"))["test"]["acc"] == trained


def _start(args: list[str], log_dir: Path) -> subprocess.Popen:
    env = {
        **os.environ, "MNISTLAB_DATA_DIR": str(DATA_DIR), "MNISTLAB_LOG_DIR": str(log_dir),
        "PYTHONUNBUFFERED": "1",
    }  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "src/train.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as a terminal delivers it: a suite started in the background (`make test &`,
        # nohup) ignores SIGINT, its children inherit that, and Python then never raises
        # KeyboardInterrupt, so the run would go on to the end.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _interrupt_after_first_epoch(
    args: list[str], log_dir: Path, sig: signal.Signals
) -> tuple[int, str, Path]:
    """Start a run, and signal it once its first epoch's line is printed (by then the epoch was
    validated and both checkpoints written)."""
    process = _start(args, log_dir)
    for line in process.stdout:
        if line.startswith("Epoch 1/"):
            break
    else:
        raise AssertionError(f"the run ended before its first epoch did: {process.stderr.read()}")
    process.send_signal(sig)
    _, err = process.communicate(timeout=300)
    return process.returncode, " ".join(err.split()), single_run_dir(log_dir)


# What must continue exactly where it stopped: dropout and a learning-rate schedule (Lightning's
# own loop, one minibatch per step), and dropout with the default 64 minibatches per step.
RESUMABLE = {
    "schedule": (
        "model=cnn", "model.net.dropout=0.3", "scheduler=cosine", "trainer.max_epochs=2",
        "trainer.limit_train_batches=64",
    ),
    "grouped": ("model.net.dropout=0.3", "trainer.max_epochs=3"),
}  # fmt: skip
# Both signals, both loops: SIGTERM on Lightning's own loop, Ctrl-C on the grouped one.
INTERRUPTIONS = [("schedule", signal.SIGTERM, 143), ("grouped", signal.SIGINT, 130)]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, data_dir) -> dict:
    """The metrics of each resumable setting's run, trained without a stop (once, on demand)."""
    done: dict[str, dict] = {}

    def metrics(name: str) -> dict:
        if name not in done:
            log_dir = tmp_path_factory.mktemp(f"whole-{name}")
            result = run_script("train.py", *RESUMABLE[name], log_dir=log_dir)
            assert result.returncode == 0, result.stderr[-2000:]
            done[name] = read_metrics(single_run_dir(log_dir))
        return done[name]

    return metrics


@pytest.mark.slow
@pytest.mark.parametrize(("setting", "sig", "code"), INTERRUPTIONS, ids=["SIGTERM", "Ctrl-C"])
def test_an_interrupted_run_says_how_to_resume_and_resuming_gives_the_same_results(
    tmp_path, uninterrupted, setting, sig, code
):
    returncode, err, run = _interrupt_after_first_epoch(RESUMABLE[setting], tmp_path / "a", sig)
    assert returncode == code, err
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "interrupted"
    saved = torch.load(status["checkpoint"], weights_only=True)
    assert f"holds the model at optimizer step {saved['global_step']:,}" in err
    assert f"Resume with: {status['resume']}" in err
    resume_args = shlex.split(status["resume"])[2:]  # after "python src/train.py"
    result = run_script("train.py", *resume_args, log_dir=tmp_path / "b")
    assert result.returncode == 0, result.stderr[-2000:]
    resumed = read_metrics(single_run_dir(tmp_path / "b"))
    whole = uninterrupted(setting)
    assert resumed["run"]["minibatches_per_step"] == whole["run"]["minibatches_per_step"]
    assert resumed["test"] == whole["test"]
    assert resumed["confusion_matrix"] == whole["confusion_matrix"]
    assert [row["epoch"] for row in resumed["history"]] == [
        row["epoch"] for row in whole["history"]
    ]


@pytest.mark.slow
def test_ckpt_path_last_resumes_the_newest_run(tmp_path, capsys, mlp_checkpoint):
    # With only one run in the log folder, `last` is that run's last.ckpt: an MLP, so a CNN is refused.
    shutil.copytree(
        mlp_checkpoint.parent.parent.parent.parent, tmp_path / "train", dirs_exist_ok=True
    )
    code, _ = run_in_process(tmp_path, "model=cnn", "ckpt_path=last")
    assert code == 2 and "was saved for MLP" in " ".join(capsys.readouterr().err.split())


def fake_run(log_dir: Path, name: str, status: str, when: float) -> Path:
    run = log_dir / "train" / "runs" / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"")
    record = {"status": status, "title": f"MLP on MNIST ({name})", f"{status}_unix": when}
    if status == "completed":
        record["test_acc"] = 0.9807
    (run / "status.json").write_text(json.dumps(record))
    return run / "checkpoints" / "last.ckpt"


def test_ckpt_path_last_is_the_newest_completed_run_and_the_message_says_which(tmp_path):
    fake_run(tmp_path, "a", "completed", 100.0)
    newest = fake_run(tmp_path, "b", "completed", 200.0)
    fake_run(tmp_path, "c", "failed", 300.0)  # diverged, after b
    fake_run(tmp_path, "d", "running", 400.0)  # still training, or killed
    fake_run(tmp_path, "e", "interrupted", 500.0)
    path, said = resolve_ckpt_path("last", tmp_path)
    assert path == newest
    assert (
        said
        == f"ckpt_path=last: {newest} (MLP on MNIST (b), test accuracy 98.07%), the newest completed run."
    )
    with pytest.raises(ConfigError, match="found no completed training run"):
        resolve_ckpt_path("last", tmp_path / "empty")


@pytest.mark.slow
def test_different_seeds_give_different_splits_and_results(tmp_path, mlp_checkpoint):
    base = read_metrics(mlp_checkpoint.parent.parent)
    result = run_script("train.py", *TINY, "seed=7", log_dir=tmp_path)
    assert result.returncode == 0
    other = read_metrics(single_run_dir(tmp_path))
    assert other["test"]["acc"] != base["test"]["acc"]
    assert other["history"][0]["val/loss"] != base["history"][0]["val/loss"]


@pytest.mark.slow
def test_two_runs_started_in_the_same_second_write_to_different_folders(tmp_path, data_dir):
    processes = [_start([*TINY, "model.net.hidden=[32]"], tmp_path) for _ in range(2)]
    for process in processes:
        process.communicate(timeout=600)
        assert process.returncode == 0
    runs = sorted((tmp_path / "train" / "runs").iterdir())
    assert len(runs) == 2
    assert all((run / "metrics.json").is_file() for run in runs)


@pytest.mark.slow
def test_a_second_process_of_a_distributed_job_writes_no_run_files(tmp_path):
    """Under srun every task starts the command; Lightning's rank (SLURM_PROCID) says who writes."""
    for rank in ("1", "0"):
        result = run_script(
            "train.py", "optimizer.lr=0", log_dir=tmp_path / rank,
            env={"SLURM_PROCID": rank, "SLURM_NTASKS": "2"},
        )  # fmt: skip
        assert (
            result.returncode == 2 and "optimizer.lr=0 must be a positive number" in result.stderr
        )
    assert not (single_run_dir(tmp_path / "1") / "status.json").exists()
    assert (
        json.loads((single_run_dir(tmp_path / "0") / "status.json").read_text())["status"]
        == "failed"
    )


STEP_CHECKPOINTS = (
    "+callbacks.every_100._target_=pytorch_lightning.callbacks.ModelCheckpoint",
    "+callbacks.every_100.every_n_train_steps=100",
    "+callbacks.every_100.save_top_k=-1",
    "+callbacks.every_100.filename='s{step}'",
)


def completed_run(log_dir: Path, *overrides: str) -> Path:
    result = run_script("train.py", *overrides, log_dir=log_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    return single_run_dir(log_dir)


@pytest.mark.slow
def test_every_n_train_steps_checkpoints_resume_mid_epoch_exactly(tmp_path):
    setting = ("data=mnist-hog", "trainer.max_epochs=2", "model.net.dropout=0.3", *STEP_CHECKPOINTS)
    whole = completed_run(
        tmp_path / "whole", *setting, f"+callbacks.every_100.dirpath={tmp_path / 's'}"
    )
    saved = sorted(tmp_path.glob("s/*.ckpt"), key=lambda p: p.stat().st_mtime)
    assert [torch.load(p, weights_only=True)["global_step"] for p in saved] == list(
        range(100, 2 * 430 + 1, 100)  # 430 minibatches an epoch
    )
    middle = tmp_path / "middle.ckpt"  # step 500: 70 minibatches into epoch 2
    middle.write_bytes(saved[4].read_bytes())
    # Resumed without the step checkpoints: 64 minibatches per step from minibatch 70 on.
    resumed = completed_run(tmp_path / "resumed", *setting[:3], f"ckpt_path={middle}")
    first, second = read_metrics(whole), read_metrics(resumed)
    assert (first["run"]["minibatches_per_step"], second["run"]["minibatches_per_step"]) == (1, 64)
    assert second["test"] == first["test"]
    assert [r["train/loss"] for r in second["history"]] == [
        r["train/loss"] for r in first["history"]
    ]
    assert json.loads((resumed / "status.json").read_text())["status"] == "completed"
