"""The run cache: a sweep killed part-way and started again trains only the jobs that did not
complete, with the basic and the joblib launcher (the SLURM cluster's: tests/test_slurm.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from conftest import REUSED, ROOT, run_script, script_env, statuses, train_config, trained_jobs

pytestmark = pytest.mark.slow
TINY_JOBS = ("trainer.max_epochs=1", "trainer.limit_train_batches=4", "trainer.limit_val_batches=2")
SIX = ("-m", *TINY_JOBS, "threads=1", "seed=1,2,3,4,5,6")


def kill_after(
    log_dir: Path, args: tuple[str, ...], completed: int, env: dict | None = None
) -> int:
    """Start `python src/train.py <args>`, kill it and every process it started (as a crash or
    a closed terminal would) once `completed` jobs have completed; return how many had."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "src" / "train.py"), *args], cwd=ROOT,
        env=script_env(log_dir, env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while len(trained_jobs(log_dir)) < completed:
            assert process.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline, "the sweep took too long"
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return len(trained_jobs(log_dir))


@pytest.mark.parametrize(
    "launcher", [(), ("hydra/launcher=joblib", "hydra.launcher.n_jobs=2")], ids=["basic", "joblib"]
)
def test_a_killed_sweep_started_again_trains_only_what_did_not_complete(
    tmp_path, data_dir, launcher
):
    before = kill_after(tmp_path, (*SIX, *launcher), completed=3)
    assert 3 <= before < 6
    again = run_script("train.py", *SIX, *launcher, log_dir=tmp_path)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert again.stdout.count(REUSED) == before
    assert "(6 completed, 0 failed)" in again.stdout
    # Each of the six runs trained exactly once, in one sweep or the other.
    runs = trained_jobs(tmp_path)
    assert len(runs) == 6
    seeds = sorted(json.loads((d / "metrics.json").read_text())["run"]["seed"] for d in runs)
    assert seeds == [1, 2, 3, 4, 5, 6]
    # The second sweep's folder: a pointer for each reused job, and its report reads all six.
    newest = max((tmp_path / "train" / "multiruns").iterdir())
    pointers = {d: s for d, s in statuses(tmp_path).items() if d.parent == newest and "run" in s}
    assert len(pointers) == before and all(s["status"] == "reused" for s in pointers.values())
    assert {(d / s["run"]).resolve() for d, s in pointers.items()} <= {d.resolve() for d in runs}
    with open(newest / "sweep_report.csv") as f:
        rows = f.read().splitlines()[1:]
    assert len(rows) == 6 and all(",completed," in row for row in rows)
    # compare.py given two reused jobs' folders compares the runs they point to.
    a, b = sorted(pointers)[:2]
    compared = run_script("compare.py", str(a), str(b), log_dir=tmp_path)
    assert compared.returncode == 0, compared.stderr[-2000:]
    for job in (a, b):
        assert f"{pointers[job]['test_acc'] * 100:.2f}%" in compared.stdout


def test_what_is_reused_what_trains_again_and_where_the_cache_looks(tmp_path, data_dir):
    def job(*extra: str, sweep: bool = True) -> str:
        done = run_script("train.py", *(["-m"] if sweep else []), *TINY_JOBS, "seed=3", *extra,
                          log_dir=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    assert REUSED not in job()
    assert REUSED in job("threads=1")  # threads change how fast, not what a run finds
    for other in ("reuse.retrain=true", "data.batch_size=64", "reuse.look_in=null"):
        assert REUSED not in job(other), other
    assert len(trained_jobs(tmp_path)) == 4
    # The same run without -m is a run the user asked for: it trains.
    assert REUSED not in job(sweep=False)
    assert len(list((tmp_path / "train" / "runs").iterdir())) == 1
    config = (trained_jobs(tmp_path)[0] / "config.yaml").read_text()
    assert "provenance:" in config and "data_sha256:" in config and "version:" in config


@pytest.mark.parametrize(
    ("override", "same"),
    [
        ("threads=1", True),  # how fast, not what it finds
        ("reuse.retrain=true", True),
        ("provenance.version=0.0.9", False),  # another version of the project
        ("data.dataset=fashion", False),  # other data: another checksum
        ("seed=7", False),
    ],
)
def test_a_runs_identity_holds_its_settings_version_and_data(override, same):
    import mnistlab.launch.jobs  # noqa: F401  (registers the config's resolvers, as each entry point)
    from mnistlab.data.catalog import DATASETS, data_sha256
    from mnistlab.runs.identity import project_version, result_key

    def plain(*overrides: str) -> dict:
        composed = train_config(*overrides, "paths.output_dir=/anywhere")  # Hydra's, in a job
        return OmegaConf.to_container(composed, resolve=True)

    def key(*overrides: str) -> str:
        return result_key(plain(*overrides))

    assert (key(override) == key()) is same
    assert plain()["provenance"] == {
        "version": project_version(),
        "data_sha256": data_sha256("mnist"),
    }
    assert data_sha256("mnist") != data_sha256("fashion") and set(DATASETS) == {"mnist", "fashion"}
