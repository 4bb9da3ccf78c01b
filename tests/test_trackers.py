"""Trackers by one override: each gets the same scalars on the axis of optimizer steps, the
hyperparameters, the test metrics and the run's files, read back with the tracker's own reader."""

from __future__ import annotations

import csv
import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import (
    ROOT,
    TINY,
    free_port,
    local_tab,
    read_metrics,
    run_script,
    scalars,
    wait_until_served,
)  # fmt: skip
from mnistlab.lab.document import find_chromium

pytestmark = pytest.mark.slow
pytest.importorskip("mlflow", reason="the trackers extra is not installed (make setup installs it)")
pytest.importorskip("wandb", reason="the trackers extra is not installed (make setup installs it)")
# The values every tracker must hold, each at the optimizer step it was logged at.
TAGS = ("train/loss_step", "train/lr", "train/loss", "train/acc", "val/loss", "val/acc", "test/acc")
RUN_FILES = {"report.md", "metrics.json", "config.yaml", "curves.png", "confusion_matrix.png"}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """Two runs of a sweep (seeds 1 and 2) logged to every tracker at once (logger=many)."""
    log_dir = tmp_path_factory.mktemp("trackers")
    result = run_script(
        "train.py", "-m", "logger=many", "data=mnist-hog", "seed=1,2", *TINY,
        "trainer.log_every_n_steps=8", log_dir=log_dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (log_dir / "terminal.txt").write_text(result.stdout + result.stderr)
    return log_dir


def jobs(log_dir: Path) -> list[Path]:
    [sweep_dir] = (log_dir / "train" / "multiruns").iterdir()
    return [sweep_dir / "0", sweep_dir / "1"]


def mlflow_client(log_dir: Path):
    from mlflow import MlflowClient

    return MlflowClient(f"sqlite:///{log_dir}/mlflow/mlflow.db")


def mlflow_runs(log_dir: Path) -> dict[str, object]:
    """The experiment's runs by run name (the run folder under the log folder)."""
    client = mlflow_client(log_dir)
    experiment = client.get_experiment_by_name("mnistlab")
    return {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}


def wandb_run(run_dir: Path) -> Path:
    """The offline W&B run named after the job's folder (in the log folder's wandb/)."""
    log_dir = run_dir.parents[3]
    found = [
        path.parent
        for path in (log_dir / "wandb").glob("offline-run-*/run-*.wandb")
        if any(
            r.WhichOneof("record_type") == "run"
            and r.run.display_name == str(run_dir.relative_to(log_dir))
            for r in read_wandb(path)
        )
    ]
    assert len(found) == 1, found
    return found[0]


def wandb_records(run_dir: Path) -> list:
    return read_wandb(next(wandb_run(run_dir).glob("run-*.wandb")))


def read_wandb(path: Path) -> list:
    """The records of an offline W&B run's .wandb file (LevelDB's log format of wandb's own
    protobuf records, which `wandb sync` uploads)."""
    from wandb.proto import wandb_internal_pb2

    data, block, position, pending, records = path.read_bytes(), 32768, 7, b"", []
    while position + 7 <= len(data):
        if block - position % block < 7:  # a block's tail too short for a header is padding
            position += block - position % block
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + 7])
        payload = data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind == 0:
            break
        pending = payload if kind in (1, 2) else pending + payload  # full, first | middle, last
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
    return records


def wandb_history(records) -> dict[str, list[tuple[int, float]]]:
    found: dict[str, list[tuple[int, float]]] = {}
    for record in records:
        if record.WhichOneof("record_type") != "history":
            continue
        row = {
            "/".join(i.nested_key) or i.key: json.loads(i.value_json) for i in record.history.item
        }
        for key, value in row.items():
            if key in TAGS:
                found.setdefault(key, []).append((row["trainer/global_step"], value))
    return found


def csv_history(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    found: dict[str, list[tuple[int, float]]] = {}
    with open(run_dir / "csv" / "metrics.csv") as f:
        for row in csv.DictReader(f):
            for key in TAGS:
                if row.get(key):
                    found.setdefault(key, []).append((int(row["step"]), float(row[key])))
    return found


def close(a: dict, b: dict) -> bool:
    """The same tags, steps and values (TensorBoard keeps float32)."""
    return a.keys() == b.keys() and all(
        [s for s, _ in a[k]] == [s for s, _ in b[k]]
        and all(v == pytest.approx(w, rel=1e-6) for (_, v), (_, w) in zip(a[k], b[k], strict=True))
        for k in a
    )


def test_every_tracker_holds_the_same_scalars_at_the_same_optimizer_steps(sweep):
    runs = mlflow_runs(sweep)
    client = mlflow_client(sweep)
    for run_dir in jobs(sweep):
        board = {k: v for k, v in scalars(run_dir).items() if k in TAGS}
        assert set(board) == set(TAGS)
        assert [s for s, _ in board["val/acc"]] == [32]  # one epoch of 32 optimizer steps
        assert [s for s, _ in board["train/loss_step"]] == [8, 16, 24, 32]
        run = runs[str(run_dir.relative_to(sweep))]
        from_mlflow = {
            k: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, k)]
            for k in TAGS
        }
        assert close(board, from_mlflow)
        assert close(board, csv_history(run_dir))
        assert close(board, wandb_history(wandb_records(run_dir)))


def test_hyperparameters_test_metrics_and_files_reach_each_tracker(sweep):
    runs = mlflow_runs(sweep)
    client = mlflow_client(sweep)
    for seed, run_dir in zip((1, 2), jobs(sweep), strict=True):
        acc = read_metrics(run_dir)["test"]["acc"]
        run = runs[str(run_dir.relative_to(sweep))]
        assert run.info.status == "FINISHED"
        assert run.data.params["seed"] == str(seed) and run.data.params["features"] == "hog"
        assert run.data.metrics["test/acc"] == pytest.approx(acc)
        assert RUN_FILES <= {a.path for a in client.list_artifacts(run.info.run_id)}

        hparams = yaml.safe_load((run_dir / "csv" / "hparams.yaml").read_text())
        assert hparams["seed"] == seed

        records = wandb_records(run_dir)
        kinds = {r.WhichOneof("record_type") for r in records}
        assert {"run", "config", "history", "files", "exit"} <= kinds
        [config] = [r.config for r in records if r.WhichOneof("record_type") == "config"][:1]
        values = {i.key: json.loads(i.value_json) for i in config.update}
        assert values["seed"] == seed
        summary = {
            "/".join(i.nested_key) or i.key: i.value_json
            for r in records if r.WhichOneof("record_type") == "summary" for i in r.summary.update
        }  # fmt: skip
        assert float(summary["test/acc"]) == pytest.approx(acc)
        files = wandb_run(run_dir) / "files"
        assert RUN_FILES <= {p.name for p in files.iterdir()}
        assert len(list(files.glob("media/images/pictures/confusion_matrix_*.png"))) == 1
        [exit_record] = [r.exit for r in records if r.WhichOneof("record_type") == "exit"]
        assert exit_record.exit_code == 0


def test_a_sweep_gets_one_tracker_run_per_job_and_a_quiet_terminal(sweep):
    names = {str(run_dir.relative_to(sweep)) for run_dir in jobs(sweep)}
    assert set(mlflow_runs(sweep)) == names  # two runs, named after their folders
    ids = set()
    for run_dir in jobs(sweep):
        [run] = [r.run for r in wandb_records(run_dir) if r.WhichOneof("record_type") == "run"]
        ids.add(run.run_id)
        assert run.display_name == str(run_dir.relative_to(sweep))
    assert len(ids) == 2
    # The project's own lines say where each run went; the libraries' own say nothing.
    output = (sweep / "terminal.txt").read_text()
    assert output.count("MLflow run ") == 2 and "mlflow ui --backend-store-uri sqlite:" in output
    assert output.count("W&B offline run: ") == 2
    assert "wandb:" not in output and "Traceback" not in output
    assert "WARNING" not in output.upper().replace("WARNING: ", "")


def test_the_mlflow_ui_shows_the_runs_metrics_in_a_browser(sweep, tmp_path):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("No Chromium here (`make setup` installs Debian's chromium when run as root).")
    from playwright.sync_api import sync_playwright

    port = free_port()
    server = subprocess.Popen(
        [Path(sys.executable).parent / "mlflow", "ui", "--backend-store-uri",
         f"sqlite:///{sweep}/mlflow/mlflow.db", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_served(f"{url}/health")
        run = mlflow_runs(sweep)[str(jobs(sweep)[0].relative_to(sweep))]
        acc = run.data.metrics["test/acc"]
        with sync_playwright() as playwright:
            browser, tab, elsewhere = local_tab(playwright, chromium, url)
            tab.goto(f"{url}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}")
            tab.get_by_text("val/acc", exact=True).first.wait_for(timeout=60_000)
            tab.screenshot(path=tmp_path / "mlflow.png", full_page=True)
            text = tab.inner_text("body")
            browser.close()
        assert run.info.run_id in text and "test/acc" in text and str(acc)[:6] in text
        assert elsewhere == []
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_default_run_imports_no_tracker_and_no_exporter(tmp_path):
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(ROOT / "src" / "train.py"), "data=mnist-hog",
         *TINY, f"paths.log_dir={tmp_path}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    imported = {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "torch" in imported and "pytorch_lightning" in imported  # the reading works
    extras = {"mlflow", "wandb", "onnx", "onnxruntime", "onnxscript", "mkdocs", "material"}
    assert imported & extras == set()


def test_a_tracker_whose_library_is_missing_is_refused_with_how_to_install_it(monkeypatch):
    from mnistlab.errors import ConfigError
    from mnistlab.training import trackers

    monkeypatch.setitem(trackers.NEEDS, "some.tracker.Logger", "a_library_nobody_installed")
    with pytest.raises(ConfigError, match=r"logger\.mine needs the a_library_nobody_installed"):
        trackers.check_installed({"mine": {"_target_": "some.tracker.Logger"}})
    trackers.check_installed({"tensorboard": {"_target_": "x.TensorBoardLogger"}, "off": None})
