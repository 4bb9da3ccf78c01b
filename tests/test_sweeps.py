"""Sweeps: reports, a failed job that does not sink the others, parallel jobs, DDP, HParams."""

from __future__ import annotations

import csv
import math

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from conftest import ROOT, TINY, read_metrics, run_script, single_run_dir, threads_side_by_side


def sweep_dir(log_dir):
    (folder,) = (log_dir / "train" / "multiruns").iterdir()
    return folder


@pytest.fixture(scope="module")
def joblib_sweep(tmp_path_factory, data_dir):
    log_dir = tmp_path_factory.mktemp("joblib")
    result = run_script(
        "train.py", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
        "model.net.hidden=[64],[128]", "data=mnist-hog", "trainer.max_epochs=1", log_dir=log_dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return sweep_dir(log_dir), result


@pytest.mark.slow
def test_a_two_job_parallel_sweep_ends_with_one_report_of_both_runs(joblib_sweep):
    folder, result = joblib_sweep
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == ["0", "1"]
    with open(folder / "sweep_report.csv") as f:
        rows = list(csv.DictReader(f))
    assert {row["overrides"] for row in rows} == {"model.net.hidden=[64]", "model.net.hidden=[128]"}
    # Ranked on validation data: the value each run returned to Hydra, never a test score.
    objectives = [read_metrics(folder / row["run"])["run"]["objective"] for row in rows]
    assert {o["metric"] for o in objectives} == {"val/acc"}
    assert [o["value"] for o in objectives] == sorted(
        (o["value"] for o in objectives), reverse=True
    )
    assert rows[0]["objective"] == f"val/acc {objectives[0]['value']:.4f}"
    assert "optimized_metric: val/acc" in (folder / "multirun.yaml").read_text()
    for row in rows:
        metrics = read_metrics(folder / row["run"])
        assert float(row["test_acc"]) == metrics["test"]["acc"]
        assert int(row["parameters"]) == metrics["run"]["parameters"]
        assert row["most_confused"] == metrics["most_confused"][0]["text"]
        assert metrics["run"]["minibatches_per_step"] == 64  # the default path, in each job
    report = (folder / "sweep_report.md").read_text()
    assert (
        "Best on validation: `" in report and ", val/acc 0." in report and "Weakest class" in report
    )
    assert (folder / "sweep_val_loss.png").stat().st_size > 0
    assert "Sweep report:" in result.stdout


@pytest.mark.slow
def test_parallel_jobs_share_the_cores_instead_of_oversubscribing(joblib_sweep):
    folder, _ = joblib_sweep
    threads = threads_side_by_side(2)
    for job in ("0", "1"):
        assert f"Using {threads} torch thread(s)" in (folder / job / "train.log").read_text()


@pytest.mark.slow
def test_hparams_tab_holds_each_runs_hyperparameters_and_real_results(joblib_sweep):
    folder, _ = joblib_sweep
    run = folder / "0"
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    content = events.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hparams = start.session_start_info.hparams
    assert hparams["model"].string_value == "mlp"
    assert hparams["net.hidden"].string_value in ("[64]", "[128]")
    assert hparams["lr"].number_value == pytest.approx(1e-3)
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
    metric_tags = {m.name.tag for m in experiment.experiment.metric_infos}
    assert {"test/acc", "test/f1_macro", "val/best_loss"} <= metric_tags
    # The metric the tab shows is the run's real test accuracy, not a placeholder.
    assert events.Scalars("test/acc")[-1].value == pytest.approx(
        read_metrics(run)["test"]["acc"], abs=1e-6
    )
    assert events.Scalars("val/best_loss")[-1].value == pytest.approx(
        read_metrics(run)["best_val_loss"], abs=1e-6
    )


@pytest.mark.slow
def test_a_failed_job_keeps_the_others_results_and_the_sweep_exits_non_zero(tmp_path, data_dir):
    """Through submitit's local executor, the machinery of hydra/launcher=slurm: each job is
    submitted and runs in its own process, its folder where a SLURM run puts it."""
    result = run_script(
        "train.py", "-m", "hydra/launcher=submitit_local", "model.net.dropout=0.2,1.5", *TINY,
        log_dir=tmp_path,
    )  # fmt: skip
    assert result.returncode != 0
    folder = sweep_dir(tmp_path)
    assert read_metrics(folder / "0")["test"]["size"] == 10_000
    assert (folder / "0" / "checkpoints" / "last.ckpt").is_file()
    assert not (folder / "1" / "metrics.json").exists()
    # submitit's record of each job, as sbatch would leave it: its output and its result.
    assert len(list((folder / ".submitit").glob("*/*_result.pkl"))) == 2
    assert len(list((folder / ".submitit").glob("*/*_log.out"))) == 2
    with open(folder / "sweep_report.csv") as f:
        rows = {row["overrides"]: row for row in csv.DictReader(f)}
    assert rows["model.net.dropout=0.2"]["status"] == "completed"
    assert rows["model.net.dropout=1.5"]["status"] == "failed"
    assert "must be a number in [0, 1)" in rows["model.net.dropout=1.5"]["reason"]
    assert "1 run(s) failed" in (folder / "sweep_report.md").read_text()
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_report_py_writes_the_same_report_for_any_folder(joblib_sweep, tmp_path):
    folder, _ = joblib_sweep
    (folder / "sweep_report.md").unlink()
    result = run_script("report.py", str(folder), log_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (folder / "sweep_report.md").is_file()
    assert "model.net.hidden=[128]" in result.stdout
    # A parent folder works too: every run below it is a row.
    parent = run_script("report.py", str(folder.parent), log_dir=tmp_path)
    assert parent.returncode == 0
    with open(folder.parent / "sweep_report.csv") as f:
        assert len(list(csv.DictReader(f))) == 2


def test_report_py_on_a_folder_without_runs_says_so(tmp_path):
    result = run_script("report.py", str(tmp_path), log_dir=tmp_path)
    assert result.returncode == 2 and "no runs under" in result.stderr


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_scores_the_whole_test_set_once(tmp_path, data_dir):
    result = run_script("train.py", "trainer=ddp_cpu", *TINY, log_dir=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run = single_run_dir(tmp_path)
    metrics = read_metrics(run)
    assert metrics["test"]["size"] == 10_000
    assert sum(map(sum, metrics["confusion_matrix"]["matrix"])) == 10_000
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert len(list(run.glob("metrics.json"))) == 1
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["hyper_parameters"]["config"]["trainer"]["strategy"] == "ddp"


EXPERIMENTS = {
    "mlp_hidden_dropout": 12,
    "hog_cells_orientations": 12,
    "cnn_dense_filters": 8,
    "cnn_fashion": 4,
}


@pytest.mark.parametrize(("name", "runs"), EXPERIMENTS.items())
def test_each_ready_made_experiment_is_a_sweep_of_the_lab_variants(name, runs):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={name}"], return_hydra_config=True)
    parser = OverridesParser.create()
    sweeps = parser.parse_overrides([f"{k}={v}" for k, v in cfg.hydra.sweeper.params.items()])
    assert math.prod(len(list(o.sweep_string_iterator())) for o in sweeps) == runs
    assert str(cfg.hydra.mode) == "RunMode.MULTIRUN"
