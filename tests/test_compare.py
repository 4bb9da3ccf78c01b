"""How sure a comparison is, on real runs: the per-example files they leave, the intervals in
their metrics, and python src/compare.py (paired tests, seeds as replicates, Holm)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from conftest import ROOT, read_metrics, run_script, script_env
from mnistlab.reports.predictions import read_predictions
from mnistlab.reports.stats import accuracy_interval

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


def test_a_run_compared_with_itself_or_its_copy_is_one_run(sweep, tmp_path):
    run = run_of(sweep, 32, 1)
    shutil.copytree(run, tmp_path / "copy")
    for other in (run, tmp_path / "copy"):
        result = compare(run, other)
        err = " ".join(result.stderr.split())
        assert result.returncode == 2 and "hold one run (the same settings and results)" in err
        assert "Traceback" not in result.stderr


def test_a_sweep_compares_each_variant_with_the_best_over_seeds(sweep):
    result = compare(sweep)
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())
    assert "each variant against A, the best on validation" in out
    assert "t-test over 2 seeds and their examples" in out and "P(> A)" in out
    assert "B vs A: seed by seed, B minus A:" in out
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


def examples_variance_of_the_mean(runs: list[np.ndarray], shared: bool) -> float:
    """The examples' sampling variance of a mean accuracy over runs, written out: runs on the same
    images averaged image by image, runs on their own images independent; half an example right
    and half wrong added to each (n + 1 examples)."""

    def variance(values: np.ndarray) -> float:
        m = (values.sum() + 0.5) / (len(values) + 1)
        second = ((values**2).sum() + 0.5) / (len(values) + 1)
        return (second - m**2) / (len(values) + 1)

    if shared:
        return variance(np.mean(runs, axis=0))
    return sum(variance(r.astype(float)) for r in runs) / len(runs) ** 2


def test_the_sweep_report_groups_seeds_and_names_what_validation_cannot_tell_apart(sweep):
    report = (sweep / "sweep_report.md").read_text()
    table = report.split("## Variants over seeds")[1].split("## Every run")[0]
    t1 = stats.t(1).ppf(0.975)  # two seeds: one degree of freedom
    for hidden in (32, 64):
        runs = [run_of(sweep, hidden, s) for s in (1, 2)]
        accuracies = [read_metrics(r)["test"]["acc"] for r in runs]
        mean, sd = np.mean(accuracies), np.std(accuracies, ddof=1)
        # The seeds' spread, or the test images' own error where it is larger (never below it).
        tested = [read_predictions(r)["test"].correct for r in runs]
        se = np.sqrt(max(sd**2 / 2, examples_variance_of_the_mean(tested, shared=True)))
        low, high = mean - t1 * se, mean + t1 * se
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
        # The smaller net if its mean validation accuracy is within one standard error of the
        # better one's (over the seeds, never below the validation images' own), else the better.
        val = {
            h: [read_predictions(run_of(sweep, h, s))["val"].correct for s in (1, 2)]
            for h in (32, 64)
        }
        means = {h: np.mean([v.mean() for v in val[h]]) for h in val}
        best = max(means, key=means.get)
        spread = np.var([v.mean() for v in val[best]], ddof=1) / 2
        se = np.sqrt(max(spread, examples_variance_of_the_mean(val[best], shared=False)))
        pick = 32 if means[32] >= means[best] - se else best
        weights = {32: "12,906", 64: "25,802"}[pick]
        assert f"never by the test set: `model.net.hidden=[{pick}]`, {weights} weights" in sentences
    else:
        assert "Validation tells `model.net.hidden=" in sentences


def b_row(out: str) -> tuple[str, str, str]:
    """Row B of compare.py's table: its difference with interval, p and verdict."""
    row = next(line for line in out.splitlines() if line.startswith("│ B"))
    cells = [c.strip() for c in row.strip("│").split("│")]
    return cells[3], cells[4], cells[-1]


def test_a_folder_holding_a_sweep_twice_counts_each_run_once(sweep, tmp_path):
    for name in ("first", "again"):
        shutil.copytree(sweep, tmp_path / name)
    alone, twice = compare(sweep), compare(tmp_path)
    assert alone.returncode == 0 and twice.returncode == 0, twice.stderr
    # The same difference, interval, p and verdict as the sweep alone: the copies are no seeds.
    assert b_row(twice.stdout) == b_row(alone.stdout)
    out = " ".join(twice.stdout.split())
    assert "Counted once: 4 runs found in several folders with the same settings and results" in out
    job = run_of(sweep, 32, 1).name
    assert f"`model.net.hidden=[32] seed=1` (again/{job}, first/{job})" in out
    assert "t-test over 2 seeds" in out and "over 4 seeds" not in out
    # The report of the folder says so too, and lists each run once.
    written = run_script("report.py", str(tmp_path), log_dir=tmp_path)
    assert written.returncode == 0, written.stderr
    text = (tmp_path / "sweep_report.md").read_text()
    assert "- Counted once: 4 runs" in text
    every = text.split("## Every run")[1]
    assert len([line for line in every.splitlines() if line.startswith("| ") and "`" in line]) == 4


def test_one_run_in_two_folders_with_different_results_is_named_not_averaged(sweep, tmp_path):
    """The same settings, different results (as another machine's float order can give): the
    folders are named with their scores and only the newest counts."""
    shutil.copytree(sweep, tmp_path / "sweep")
    rerun = tmp_path / "elsewhere"
    shutil.copytree(run_of(sweep, 32, 1), rerun)
    for name in ("predictions.npz", "metrics.json"):  # its results, not its settings, differ
        shutil.copy(run_of(sweep, 64, 1) / name, rerun / name)
    status = json.loads((rerun / "status.json").read_text())
    status["completed_unix"] += 3600  # the newer of the two
    (rerun / "status.json").write_text(json.dumps(status))
    result = compare(tmp_path)
    out = " ".join(result.stdout.split())
    assert result.returncode == 0, result.stderr
    ours = read_metrics(run_of(sweep, 32, 1))["test"]["acc"]
    theirs = read_metrics(run_of(sweep, 64, 1))["test"]["acc"]
    assert "2 folders with the same settings but different results" in out
    assert f"elsewhere: test {100 * theirs:.2f}%" in out and f"test {100 * ours:.2f}%" in out
    assert "so not averaged: the newest, elsewhere, is used" in out
    assert "t-test over 2 seeds" in out


def test_a_margin_calls_equivalent_only_a_tie_whose_whole_interval_lies_inside_it(sweep):
    wide = " ".join(compare(sweep, "compare.margin=50").stdout.split())
    plain = compare(sweep)
    difference, p, verdict = b_row(plain.stdout)
    if verdict == "no detectable difference":
        assert "equivalent within ±50.00 pts" in wide
    narrow = compare(sweep, "compare.margin=0.001")
    assert b_row(narrow.stdout)[2] == verdict  # no interval is that narrow
    refused = compare(sweep, "compare.margin=-1")
    assert refused.returncode == 2 and "compare.margin=-1 must be a positive number" in " ".join(
        refused.stderr.split()
    )


def test_a_sweep_that_validated_on_the_test_set_says_its_choices_were_made_on_it(tmp_path):
    result = run_script(
        "train.py", "-m", "data=mnist-hog", "trainer.max_epochs=1", "data.val_on_test=true",
        "model.net.hidden=[16],[32]", "trainer.limit_train_batches=20", log_dir=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    out = " ".join(result.stdout.split())
    assert "Validation is the test set in this run (data.val_on_test=true" in out
    assert "Chosen on the test set." in out  # the sweep's report, as the terminal shows it
    (folder,) = (tmp_path / "train" / "multiruns").iterdir()
    text = (folder / "sweep_report.md").read_text()
    assert "**Chosen on the test set.**" in text and "never by the test set" not in text
    report_md = (folder / "0" / "report.md").read_text()
    assert "Validation is the test set in this run" in report_md
    on_val = " ".join(compare(folder, "--split", "val").stdout.split())
    assert "the best on validation (the test set here: data.val_on_test=true)" in on_val
    assert "Compared on the same 10,000 test images" in on_val


@pytest.mark.parametrize("multirun", [False, True])
def test_a_margin_that_cannot_work_is_refused_before_any_training(tmp_path, multirun):
    args = ["-m"] if multirun else []
    result = run_script("train.py", *args, "compare.margin=wide", log_dir=tmp_path)
    err = " ".join(result.stderr.split())
    assert result.returncode == 2 and "compare.margin='wide' must be a positive number" in err
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.rglob("metrics.json"))
