"""How sure a comparison is, on real runs: the per-example files they leave, the intervals in
their metrics, and python src/compare.py (paired tests, seeds as replicates, Holm)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from conftest import ROOT, read_metrics, run_script, script_env
from mnistlab.analysis.predictions import read_predictions
from mnistlab.analysis.stats import accuracy_interval

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, data_dir):
    """Two variants (32 and 64 hidden units) times two seeds of the MLP on HOG features."""
    log_dir = tmp_path_factory.mktemp("seeds")
    result = run_script(
        "train.py", "-m", "data=mnist-hog", "trainer.max_epochs=1",
        "model.net.hidden=[32],[64]", "seed=1,2", log_dir=log_dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (folder,) = (log_dir / "train" / "multiruns").iterdir()
    return folder


def run_of(folder, hidden: int, seed: int):
    for metrics_file in folder.rglob("metrics.json"):
        config = (metrics_file.parent / ".hydra" / "overrides.yaml").read_text()
        if f"[{hidden}]" in config and f"seed={seed}" in config:
            return metrics_file.parent
    raise AssertionError(f"no run with hidden [{hidden}] and seed {seed} in {folder}")


def compare(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "src" / "compare.py"), *map(str, args)],
        cwd=ROOT, env=script_env(ROOT / "logs"), capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_each_run_keeps_its_per_example_results_for_validation_and_test(sweep):
    run = run_of(sweep, 64, 1)
    metrics, splits = read_metrics(run), read_predictions(run)
    test, val = splits["test"], splits["val"]
    assert len(test.label) == 10_000 and len(val.label) == 5_000
    assert test.index.tolist() == list(range(10_000))
    assert test.accuracy == pytest.approx(metrics["test"]["acc"], abs=1e-6)
    assert test.probabilities.shape == (10_000, 10)
    assert np.allclose(test.probabilities.sum(1), 1, atol=1e-2)  # stored in float16
    assert (test.probabilities.argmax(1) == test.predicted).mean() > 0.99  # ties in float16 aside
    # The validation images are held out of the training images, by the run's seeded split.
    assert len(set(val.index.tolist())) == 5_000 and val.index.max() < 60_000
    assert val.accuracy == pytest.approx(metrics["val"]["acc"], abs=1e-6)
    # The weights tested are the last epoch's: their validation accuracy is the objective's.
    assert val.accuracy == pytest.approx(metrics["run"]["objective"]["value"], abs=1e-6)


def test_every_accuracy_in_a_run_carries_its_wilson_interval(sweep):
    metrics = read_metrics(run_of(sweep, 64, 1))
    test = metrics["test"]
    correct = round(test["acc"] * test["size"])
    assert test["acc_interval"] == pytest.approx(accuracy_interval(correct, test["size"]))
    low, high = test["f1_macro_interval"]
    assert low < test["f1_macro"] < high and high - low < 0.03
    val_low, val_high = metrics["val"]["acc_interval"]
    assert val_low < metrics["val"]["acc"] < val_high


def test_two_runs_that_differ_only_by_seed_are_compared_example_by_example(sweep):
    a, b = run_of(sweep, 64, 1), run_of(sweep, 64, 2)
    result = compare(a, b)
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())
    # Checked apart: the examples only one of the two gets right, McNemar's p from scipy.
    ca, cb = (read_predictions(r)["test"].correct for r in (a, b))
    only_a, only_b = int((ca & ~cb).sum()), int((~ca & cb).sum())
    p = stats.binomtest(only_a, only_a + only_b).pvalue
    assert f"A: {a.parent.name}/{a.name} B: {b.parent.name}/{b.name}" in out
    assert f"B vs A: {only_b} examples only B gets right, {only_a} only A." in out
    assert f"{p:.3g}" in out and "McNemar's exact test" in out
    difference = 100 * (cb.mean() - ca.mean())  # shown from b's side: b minus the reference
    assert f"{difference:+.2f} pts" in out
    verdict = (
        "no detectable difference"
        if p >= 0.05
        else "B is better"
        if difference > 0
        else "A is better"
    )
    assert verdict in out


def test_a_run_compared_with_itself_shows_no_difference(sweep):
    run = run_of(sweep, 32, 1)
    result = compare(run, run)
    out = " ".join(result.stdout.split())
    assert result.returncode == 0 and "no detectable difference" in out
    assert "+0.00 pts (+0.00 to +0.00)" in out and " 1 " in f" {out} "


def test_a_sweep_compares_each_variant_with_the_best_over_seeds(sweep):
    result = compare(sweep)
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())
    assert "each variant against A, the best on validation" in out
    assert "paired t-test over 2 seeds" in out
    # A is the variant whose two seeds did best on validation on average (never the test set).
    objective = {
        hidden: sum(
            read_metrics(run_of(sweep, hidden, s))["run"]["objective"]["value"] for s in (1, 2)
        )
        for hidden in (32, 64)
    }
    name = read_metrics(run_of(sweep, 32, 1))["run"]["objective"]["metric"]
    best = (min if name.endswith("loss") else max)(objective, key=objective.get)
    assert f"A: model.net.hidden=[{best}] B: model.net.hidden=[{96 - best}]" in out


def test_runs_scored_on_different_test_sets_are_refused(sweep, trained):
    fashion = trained["fashion"].parent.parent
    result = compare(run_of(sweep, 64, 1), fashion)
    err = " ".join(result.stderr.split())
    assert result.returncode == 2 and "scored on different test examples" in err
    assert "Traceback" not in result.stderr


def test_the_sweep_report_groups_seeds_and_names_what_validation_cannot_tell_apart(sweep):
    report = (sweep / "sweep_report.md").read_text()
    table = report.split("## Variants over seeds")[1].split("## Every run")[0]
    for hidden in (32, 64):
        accuracies = [read_metrics(run_of(sweep, hidden, s))["test"]["acc"] for s in (1, 2)]
        mean, sd = np.mean(accuracies), np.std(accuracies, ddof=1)
        low, high = stats.t.interval(0.95, 1, loc=mean, scale=sd / np.sqrt(2))
        row = next(line for line in table.splitlines() if f"hidden=[{hidden}]`" in line)
        assert "| 2 (1, 2) |" in row
        assert f"{100 * mean:.2f}% ({100 * low:.2f}-{100 * high:.2f})" in row
        assert f"{100 * sd:.2f} pts" in row
    # The verdict on validation is the one compare.py gives on the validation images.
    on_val = " ".join(compare(sweep, "--split", "val").stdout.split())
    sentences = " ".join(report.split("## ")[0].split())  # the conclusions
    if "no detectable difference" in on_val:
        assert "2 variants tie on validation" in sentences
        assert "The tie is broken by the one-standard-error rule" in sentences
        # The smaller net if its mean validation accuracy is within one standard error (over
        # the seeds) of the better one's, else the better one.
        val = {
            h: [read_metrics(run_of(sweep, h, s))["val"]["acc"] for s in (1, 2)] for h in (32, 64)
        }
        best = max(val, key=lambda h: np.mean(val[h]))
        floor = np.mean(val[best]) - np.std(val[best], ddof=1) / np.sqrt(2)
        pick = 32 if np.mean(val[32]) >= floor else best
        weights = {32: "12,906", 64: "25,802"}[pick]
        assert f"never by the test set: `model.net.hidden=[{pick}]`, {weights} weights" in sentences
    else:
        assert "Validation tells `model.net.hidden=" in sentences
