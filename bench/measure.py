"""The benchmark's measurements: a plain PyTorch loop, a normal run of src/train.py, HOG against
scikit-image, start-up time, and the machine they ran on."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir

from mnistlab.config.instantiate import make
from mnistlab.data.catalog import DATASETS, IDX_FILES
from mnistlab.data.hog import HogParams, hog_features
from mnistlab.data.idx import read_idx
from mnistlab.models.build import build_net
from mnistlab.training.components import build_datamodule

ROOT = Path(__file__).resolve().parent.parent


def fastest_epoch(runs: list[dict], key: str = "epoch_s") -> float:
    """The fastest epoch over all runs, each run's first (warm-up) epoch left out.

    On a shared machine other tenants only ever slow an epoch down, so the fastest one is the
    best estimate of what the code costs; plain loop and project runs alternate, so both see
    the same conditions.
    """
    return min(t for run in runs for t in (run[key][1:] or run[key]))


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_loop(overrides: list[str], epochs: int, device: torch.device) -> dict:
    """The reference: the same model, data, batch size and optimizer in a hand-written loop."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    torch.manual_seed(cfg.seed)
    datamodule = build_datamodule(cfg.data)
    if "channels_last" in cfg.model.net:
        cfg.model.net.channels_last = False  # PyTorch's default layout, as a plain loop has
    net = build_net(cfg.model, datamodule.input_shape, datamodule.num_classes).to(device)
    optimizer = make(cfg.optimizer)(params=net.parameters())
    x, y = datamodule.tensors["train_x"].to(device), datamodule.tensors["train_y"].to(device)
    batch = cfg.data.batch_size
    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        net.train()
        order = torch.randperm(len(y), device=device)
        for start in range(0, len(y), batch):
            index = order[start : start + batch]
            loss = F.cross_entropy(net(x[index]), y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        _synchronize(device)
        times.append(time.perf_counter() - started)
    net.eval()
    with torch.no_grad():
        test_x, test_y = (
            datamodule.tensors["test_x"].to(device),
            datamodule.tensors["test_y"].to(device),
        )
        acc = float((net(test_x).argmax(1) == test_y).float().mean())
    return {"epoch_s": times, "test_acc": acc}


def project_run(overrides: list[str], epochs: int) -> dict:
    """A normal run of src/train.py, timed from outside and by its own per-epoch records."""
    with tempfile.TemporaryDirectory() as logs:
        env = {**os.environ, "MNISTLAB_LOG_DIR": logs, "PYTHONUNBUFFERED": "1"}
        command = [
            sys.executable,
            str(ROOT / "src" / "train.py"),
            *overrides,
            f"trainer.max_epochs={epochs}",
        ]
        launched = time.time()
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} failed:\n{process.stderr.read().decode()[-2000:]}"
            )
        (metrics_file,) = Path(logs).rglob("metrics.json")
        metrics = json.loads(metrics_file.read_text())
    return {
        "epoch_s": [row["train/time_s"] for row in metrics["history"]],
        "with_validation_s": [row["epoch/time_s"] for row in metrics["history"]],
        "test_acc": metrics["test"]["acc"],
        "first_batch_s": metrics["run"]["first_batch_unix"] - launched,
        "wall_s": time.time() - launched,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        # The per-example work at a run's end: predictions.npz, and the intervals of its scores.
        "predictions_s": metrics["run"]["predictions_s"] + metrics["run"]["intervals_s"],
    }


def hog_bench(quick: bool) -> dict:
    """Our HOG of all 70,000 MNIST images against scikit-image, one image at a time, one process."""
    from skimage.feature import hog

    folder = ROOT / "data" / DATASETS["mnist"].folder / "raw"
    images = np.concatenate(
        [read_idx(folder / IDX_FILES[k]) for k in ("train_images", "test_images")]
    )
    params = HogParams()
    tensor = torch.from_numpy(images.copy())
    ours_times = []
    for _ in range(3):
        started = time.perf_counter()
        ours = hog_features(tensor, params).numpy()
        ours_times.append(time.perf_counter() - started)
    count = 7000 if quick else len(images)
    started = time.perf_counter()
    reference = np.stack(
        [
            hog(image / 255.0, orientations=8, pixels_per_cell=(4, 4), cells_per_block=(1, 1))
            for image in images[:count]
        ]
    )
    skimage_s = (time.perf_counter() - started) * len(images) / count
    return {
        "images": len(images),
        "ours_s": min(ours_times),
        "skimage_one_process_s": skimage_s,
        "skimage_images_timed": count,
        "max_abs_difference": float(np.abs(ours[:count] - reference).max()),
    }


def startup_bench(repeats: int = 5) -> dict:
    out = {}
    for flag in ("--help", "--cfg job"):
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, str(ROOT / "src" / "train.py"), *flag.split()],
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
            times.append(time.perf_counter() - started)
        out[flag] = min(times)
    return out


def machine() -> dict:
    cpu = platform.processor() or "?"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
