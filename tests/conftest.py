"""Shared fixtures: the real data, and the real entry points run as a user runs them."""

from __future__ import annotations

import contextlib
import functools
import io
import itertools
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mnistlab.data.prepare import ensure_dataset
from mnistlab.errors import DataError

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("MNISTLAB_DATA_DIR", ROOT / "data"))


# make test runs two test files at a time (pytest-xdist, --dist loadfile, in collection order):
# the longest files start first, so that no worker is left alone with one of them at the end.
LONGEST_FILES = (
    "test_lab.py",
    "test_slurm.py",
    "test_resume.py",
    "test_export.py",
    "test_trackers.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FILES.index(name) if name in LONGEST_FILES else len(LONGEST_FILES)

    items.sort(key=rank)  # stable: the other files keep their order


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The project's data folder, with MNIST checked (written there by `make data`)."""
    ensure_dataset("mnist", DATA_DIR)
    return DATA_DIR


@functools.cache
def fashion_missing() -> str | None:
    """Why Fashion-MNIST cannot be had here (no Debian package, no network), or None."""
    try:
        ensure_dataset("fashion", DATA_DIR, log=lambda _: None)
    except DataError as e:
        return str(e)
    return None


def need_fashion() -> None:
    """Skip the calling test, with the reason, on a machine without Fashion-MNIST."""
    if reason := fashion_missing():
        pytest.skip(f"Fashion-MNIST is not available on this machine: {reason}")


def script_env(log_dir: Path, env: dict | None = None) -> dict[str, str]:
    """The environment an entry script runs in: the real data, its logs under `log_dir`."""
    return {
        **os.environ,
        **(env or {}),
        "MNISTLAB_DATA_DIR": str(DATA_DIR),
        "MNISTLAB_LOG_DIR": str(log_dir),
        "PYTHONUNBUFFERED": "1",
        "COLUMNS": "120",
    }


REUSED = "Already completed, not trained again"  # what a sweep's job says when its run completed


def statuses(log_dir: Path) -> dict[Path, dict]:
    """Every sweep job's status.json under `log_dir`, by folder."""
    found = {}
    for path in (log_dir / "train" / "multiruns").glob("*/*/status.json"):
        try:
            found[path.parent] = json.loads(path.read_text())
        except ValueError:  # being written
            continue
    return found


def trained_jobs(log_dir: Path) -> list[Path]:
    """The sweep jobs under `log_dir` that trained and completed (not those that reused a run)."""
    return [d for d, s in statuses(log_dir).items() if s["status"] == "completed"]


def run_script(
    script: str, *args: str, log_dir: Path, timeout: int = 600, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run src/<script> with Hydra overrides, its logs under `log_dir`, and capture its output."""
    return subprocess.run(
        [sys.executable, str(ROOT / "src" / script), *args],
        cwd=ROOT,
        env=script_env(log_dir, env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class TrainedModels:
    """One short but real training per kind of model (pixels, HOG features, Fashion), on demand,
    all in one log folder (as a user's logs/ holds several runs)."""

    RUNS = {
        "mnist": ("model=mlp", "data=mnist"),
        "hog": ("model=mlp", "data=mnist-hog"),
        "fashion": ("model=cnn", "data=fashion", "trainer.limit_train_batches=224"),
    }

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.done: dict[str, Path] = {}

    def __getitem__(self, name: str) -> Path:
        """The last.ckpt of that model's run."""
        from mnistlab.training.checkpoints import newest_completed_run

        if name == "fashion":
            need_fashion()
        if name not in self.done:
            args = (*self.RUNS[name], "trainer.max_epochs=1")
            result = run_script("train.py", *args, log_dir=self.log_dir)
            assert result.returncode == 0, result.stderr[-2000:]
            self.done[name] = newest_completed_run(self.log_dir)[0]
        return self.done[name]


@pytest.fixture(scope="session")
def trained(tmp_path_factory, data_dir) -> TrainedModels:
    """Trained models shared by the tests that use one (predict, the demo page)."""
    return TrainedModels(tmp_path_factory.mktemp("trained"))


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now (for a server a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_served(url: str, seconds: float = 60) -> None:
    """Wait for a server a test started to answer `url` (at most `seconds`)."""
    import time
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)


def local_tab(playwright, chromium: Path, url: str, width: int = 1400, height: int = 1000):
    """Chromium with one tab for the server at `url`, and the list every request to anywhere
    else lands in (a page served on this machine must fetch nothing from elsewhere)."""
    browser = playwright.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
    tab = browser.new_page(viewport={"width": width, "height": height})
    elsewhere: list[str] = []
    tab.on("request", lambda r: None if r.url.startswith(url) else elsewhere.append(r.url))
    return browser, tab, elsewhere


def threads_side_by_side(jobs: int) -> int:
    """The torch threads each of `jobs` jobs side by side should get: the cores this process may
    use (taskset and CPU sets count), shared out."""
    return max(1, len(os.sched_getaffinity(0)) // jobs)


def single_run_dir(log_dir: Path, task: str = "train") -> Path:
    runs = sorted((log_dir / task / "runs").iterdir())
    assert len(runs) == 1, runs
    return runs[0]


def read_metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def train_config(*overrides: str, data_dir: Path = DATA_DIR, return_hydra_config: bool = False):
    """train.py's configuration with `overrides`, composed by Hydra's compose API (with its
    `hydra` node when asked)."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(
            "train",
            overrides=[*overrides, f"paths.data_dir={data_dir}"],
            return_hydra_config=return_hydra_config,
        )


_DATAMODULES: dict[str, object] = {}


def datamodule_of(cfg):
    """The datamodule of a composed train config, built once per data and augmentation
    settings: the tests that share it only read it."""
    from omegaconf import OmegaConf

    from mnistlab.training.components import build_datamodule

    key = OmegaConf.to_yaml(cfg.data) + OmegaConf.to_yaml(cfg.augment)
    if key not in _DATAMODULES:
        _DATAMODULES[key] = build_datamodule(cfg.data, cfg.augment)
    return _DATAMODULES[key]


def first_minibatches(datamodule, count: int = 3, epoch: int = 0):
    """The training minibatches an epoch starts with, as the trainer gets them."""
    loader = datamodule.train_dataloader()
    loader.epoch = lambda: epoch
    return [(m.x.clone(), m.y.clone()) for m in itertools.islice(loader, count)]


# A tiny budget for end-to-end runs: one epoch of 32 minibatches, the full validation and test sets.
TINY = ("trainer.max_epochs=1", "trainer.limit_train_batches=32")


def run_in_process(
    tmp_path: Path, *overrides: str, data_dir: Path = DATA_DIR, out: Path | None = None
):
    """train.py's job through Hydra's compose API: (exit status, its run folder: `out`, by
    default `tmp_path`/run)."""
    from hydra import compose, initialize_config_dir

    from mnistlab.launch.jobs import run_job
    from mnistlab.tasks.train import train

    out = out or tmp_path / "run"
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                *overrides,
                f"paths.data_dir={data_dir}",
                f"paths.output_dir={out}",
                f"paths.log_dir={tmp_path}",
            ],
        )
    try:
        run_job(lambda: train(cfg), out)
    except SystemExit as e:
        return e.code, out
    return 0, out


def train_in_process(log_dir: Path, *overrides: str) -> tuple[Path, str]:
    """train.py's job in this process, without an interpreter's start-up (about 4 s): its run
    folder (log_dir/train/runs/run) and what it printed. For tests of what a run does, not of
    how the entry point starts."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code, out = run_in_process(log_dir, *overrides, out=log_dir / "train" / "runs" / "run")
    assert code == 0, printed.getvalue()[-3000:]
    return out, printed.getvalue()


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar a run wrote to TensorBoard, read back with TensorBoard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    return {
        tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]
    }


def steps(run_dir: Path, tag: str) -> list[int]:
    return [step for step, _ in scalars(run_dir)[tag]]


def checkpoint(run_dir: Path, name: str = "last.ckpt") -> dict:
    import torch

    return torch.load(run_dir / "checkpoints" / name, weights_only=True)


def net_weights(saved: dict) -> dict:
    """The network's weights in a checkpoint of the LightningModule (its `net.` entries)."""
    return {
        k.removeprefix("net."): v for k, v in saved["state_dict"].items() if k.startswith("net.")
    }
