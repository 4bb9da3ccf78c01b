"""Searches through Hydra's Optuna sweeper (conf/hparams_search/).

Tiny budgets (a few trials of a few minibatches each); the studies are read back with Optuna
itself, and compared with what each trial wrote.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import optuna
import pytest

from conftest import (
    ROOT,
    free_port,
    local_tab,
    read_metrics,
    run_script,
    threads_side_by_side,
    train_config,
    wait_until_served,
)  # fmt: skip
from mnistlab.lab.document import find_chromium
from mnistlab.models.build import build_net
from mnistlab.reports.search_report import dominates
from mnistlab.runs.folders import read_status

SHORT = ("trainer.max_epochs=1", "trainer.limit_train_batches=10")


def load_study(folder, name):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{folder / 'optuna.db'}")


def trial_dirs(folder):
    return sorted(p for p in folder.iterdir() if p.name.startswith("trial_"))


@pytest.fixture(scope="module")
def pareto_search(tmp_path_factory):
    """mlp_pareto (the cheapest two-objective search): 3 trials, then the same command adds 2
    more to the stored study."""
    log_dir = tmp_path_factory.mktemp("pareto")
    args = ("-m", "hparams_search=mlp_pareto", "hydra.sweeper.sampler.population_size=2", *SHORT)
    first = run_script("train.py", *args, "hydra.sweeper.n_trials=3", log_dir=log_dir)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    again = run_script("train.py", *args, "hydra.sweeper.n_trials=2", log_dir=log_dir)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    return log_dir / "train" / "searches" / "mlp_pareto", again


@pytest.mark.slow
def test_a_stored_search_run_again_adds_new_trials_in_their_own_folders(pareto_search):
    folder, _ = pareto_search
    study = load_study(folder, "mlp_pareto")
    assert [t.number for t in study.trials] == [0, 1, 2, 3, 4]
    assert {t.state for t in study.trials} == {optuna.trial.TrialState.COMPLETE}
    assert [p.name for p in trial_dirs(folder)] == [f"trial_{n:03d}" for n in range(5)]
    for trial, run in zip(study.trials, trial_dirs(folder), strict=True):
        overrides = (run / ".hydra" / "overrides.yaml").read_text()
        for key, value in trial.params.items():  # the folder holds that trial's run
            assert f"- {key}={value}" in overrides
    # The extension sampled afresh: its trials are not the first ones again.
    first = [t.params for t in study.trials[:3]]
    assert [t.params for t in study.trials[3:]] != first[:2]


@pytest.mark.slow
def test_each_trial_returns_validation_accuracy_and_weights_never_a_test_score(pareto_search):
    folder, _ = pareto_search
    for trial, run in zip(load_study(folder, "mlp_pareto").trials, trial_dirs(folder), strict=True):
        metrics = read_metrics(run)
        val_acc, weights = trial.values
        (tested,) = [row for row in metrics["history"] if "val/acc" in row][-1:]
        assert val_acc == pytest.approx(tested["val/acc"])
        assert [o["metric"] for o in metrics["run"]["objectives"]] == ["val/acc", "weights"]
        assert metrics["run"]["objectives"][0]["value"] == pytest.approx(val_acc)
        assert weights == metrics["run"]["parameters"]


@pytest.mark.slow
def test_the_report_shows_the_front_which_no_trial_dominates(pareto_search):
    folder, result = pareto_search
    trials = load_study(folder, "mlp_pareto").trials
    lower = [False, True]
    front = [
        t.number
        for t in trials
        if not any(dominates(o.values, t.values, lower) for o in trials if o is not t)
    ]
    report = (folder / "sweep_report.md").read_text()
    assert "## Search: study `mlp_pareto` (NSGAIISampler)" in report
    section = report.split("### Pareto front")[1].split("### Every trial")[0]
    rows = [
        line for line in section.splitlines() if line.startswith("| ") and "trial |" not in line
    ]
    # A row per distinct model, fewest weights first; a repeated trial is named in its row.
    shown = [[int(n) for n in re.findall(r"\d+", row.split("|")[1])] for row in rows]
    assert sorted(n for numbers in shown for n in numbers) == sorted(front)
    assert [trials[numbers[0]].values[1] for numbers in shown] == sorted(
        trials[numbers[0]].values[1] for numbers in shown
    )
    for row, numbers in zip(rows, shown, strict=True):
        metrics = read_metrics(folder / f"trial_{numbers[0]:03d}")
        assert f"{metrics['test']['acc']:.2%}" in row  # test accuracy shown alongside
        assert f"{metrics['run']['parameters']:,}" in row
    assert "the lab's MLP (238,510)" in report
    for figure in ("search_pareto.png", "search_history.png"):
        assert (folder / figure).stat().st_size > 10_000
    distinct = {tuple(sorted(t.params.items())) for t in trials}  # a repeat is the same run
    assert f"({len(distinct)} completed, 0 failed)" in result.stdout


def test_the_pareto_searches_mark_the_lab_models_at_their_true_weight_counts(data_dir):
    for search, model in (("cnn_pareto", "cnn"), ("mlp_pareto", "mlp")):
        lab = train_config(f"model={model}")
        shape = (1, 28, 28) if model == "cnn" else (784,)
        count = sum(p.numel() for p in build_net(lab.model, shape, 10).parameters())
        marks = train_config(f"hparams_search={search}").search.marks
        assert list(marks.values()) == [count]


# Two learning rates, one hopeless: with seed 0 the sampler picks 1e-6, 1e-3, 1e-6, 1e-6, so once
# the first two trials have completed (side by side), the two that repeat the hopeless one are
# behind the median at their first epoch and pruned there.
PRUNABLE = (
    "seed=0", "hydra.sweeper.params={model.net.hidden.0:64,model.net.dropout:0.0,"
    'optimizer.lr:"choice(0.001, 0.000001)"}',
    "hparams_search.startup_trials=1", "hparams_search.warmup_epochs=0",
    "trainer.max_epochs=2", "trainer.limit_train_batches=10",
)  # fmt: skip


@pytest.fixture(scope="module")
def pruned_search(tmp_path_factory):
    """mlp_optuna, 4 trials two at a time with joblib, each reporting to one SQLite study."""
    log_dir = tmp_path_factory.mktemp("pruned")
    result = run_script(
        "train.py", "-m", "hparams_search=mlp_optuna", "hydra.sweeper.n_trials=4",
        "hydra.sweeper.n_jobs=2", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *PRUNABLE,
        log_dir=log_dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return log_dir / "train" / "searches" / "mlp_optuna", result


@pytest.mark.slow
def test_trials_side_by_side_share_one_study_and_the_pruner_stops_those_behind(pruned_search):
    folder, result = pruned_search
    study = load_study(folder, "mlp_optuna")
    assert [t.params["optimizer.lr"] for t in study.trials] == [1e-6, 1e-3, 1e-6, 1e-6]
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE", "PRUNED", "PRUNED"]
    for trial, run in zip(study.trials, trial_dirs(folder), strict=True):
        side_by_side = f"Using {threads_side_by_side(2)} torch thread(s)"
        assert side_by_side in (run / "train.log").read_text()
        status = read_status(run)
        if trial.state.name == "COMPLETE":  # each epoch reported by the trial's own process
            history = [row["val/acc"] for row in read_metrics(run)["history"]]
            assert list(trial.intermediate_values.values()) == pytest.approx(history)
            assert trial.value == pytest.approx(read_metrics(run)["run"]["objective"]["value"])
        else:  # stopped after its first epoch, never tested
            assert list(trial.intermediate_values) == [0]
            assert status["status"] == "pruned" and status["epoch"] == 1
            assert status["value"] == pytest.approx(trial.intermediate_values[0])
            assert "median pruner" in status["reason"] and not (run / "metrics.json").exists()
    best = study.best_trial
    report = (folder / "sweep_report.md").read_text()
    assert f"Best trial: {best.number}," in report and f"val/acc {best.value:.4f}" in report
    assert "4 trials (2 completed, 2 pruned, 0 failed or unfinished)" in report
    for number in (2, 3):
        assert re.search(
            rf"\| {number} \| `.*optimizer.lr=1e-06` \| pruned: Stopped after epoch 1 of 2", report
        )
    # Trials 2 and 3 repeat trial 0's settings and seed: the sweep's count holds that run once.
    assert "(2 completed, 0 failed)" in result.stdout


@pytest.mark.slow
def test_a_failed_trial_is_recorded_with_its_reason_and_the_search_goes_on(tmp_path):
    result = run_script(
        "train.py", "-m", "hparams_search=mlp_optuna", "hydra.sweeper.n_trials=3",
        'hydra.sweeper.params={model.net.dropout:"interval(0.5, 1.5)"}', *SHORT, log_dir=tmp_path,
    )  # fmt: skip
    folder = tmp_path / "train" / "searches" / "mlp_optuna"
    states = [t.state.name for t in load_study(folder, "mlp_optuna").trials]
    assert sorted(set(states)) == ["COMPLETE", "FAIL"], states  # the seed samples both kinds
    assert result.returncode == 1  # as a grid sweep with a failed run
    report = (folder / "sweep_report.md").read_text()
    every_trial = report.split("### Every trial")[1].split("## Every run")[0]
    for number, state in enumerate(states):
        (row,) = [line for line in every_trial.splitlines() if line.startswith(f"| {number} | `")]
        if state == "FAIL":
            assert "| failed: model.net.dropout=" in row and "must be a number in [0, 1)" in row
        else:
            assert "failed" not in row
    assert "Traceback" not in result.stderr


def test_a_search_whose_direction_contradicts_its_objective_is_refused_before_any_trial(tmp_path):
    result = run_script(
        "train.py", "-m", "hparams_search=mlp_optuna", "hydra.sweeper.direction=minimize",
        log_dir=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert "hydra.sweeper.direction=minimize for the objective val/acc" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list((tmp_path / "train" / "searches" / "mlp_optuna").glob("trial_*"))


@pytest.mark.parametrize("where", ["under-a-file", "unknown-database"])
def test_a_study_storage_that_cannot_be_opened_is_named_in_one_paragraph(tmp_path, where):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    storage = {
        "under-a-file": f"sqlite:///{blocker}/study.db",
        "unknown-database": "nosuchdb://localhost/study",
    }[where]
    result = run_script(
        "train.py", "-m", "hparams_search=mlp_optuna", f"hydra.sweeper.storage={storage}",
        log_dir=tmp_path,
    )  # fmt: skip
    err = " ".join(result.stderr.split())
    assert result.returncode == 2, result.stderr[-3000:]
    assert f"The search's study storage hydra.sweeper.storage={storage} cannot be opened" in err
    assert "Traceback" not in result.stderr
    assert not list((tmp_path / "train" / "searches" / "mlp_optuna").glob("trial_*"))


@pytest.mark.parametrize(
    "name", ["mlp_optuna", "hog_optuna", "cnn_optuna", "cnn_pareto", "mlp_pareto"]
)
def test_each_ready_made_search_composes_and_its_directions_match_its_objectives(name):
    from mnistlab.launch.study import check_search, is_search, pruner_name

    cfg = train_config(f"hparams_search={name}", return_hydra_config=True)
    assert is_search(cfg) and cfg.hydra.sweeper.study_name == name
    check_search(cfg)  # raises on a direction that contradicts its objective
    assert cfg.hydra.sweeper.storage == f"sqlite:///{cfg.hydra.sweep.dir}/optuna.db"
    # One objective prunes by default; a Pareto search cannot (Optuna prunes on one curve).
    assert pruner_name(cfg) == ("none" if name.endswith("pareto") else "median")


@pytest.mark.parametrize(
    ("override", "said"),
    [
        ("hparams_search=mlp_pareto hparams_search.pruner=median",
         "hparams_search.pruner=median cannot prune a search with several objectives"),
        ("hparams_search=mlp_optuna hparams_search.pruner=sometimes",
         "hparams_search.pruner='sometimes'"),
    ],
)  # fmt: skip
def test_a_pruner_that_cannot_work_is_refused_in_one_paragraph(override, said):
    from mnistlab.errors import ConfigError
    from mnistlab.launch.study import check_search

    cfg = train_config(*override.split(), return_hydra_config=True)
    with pytest.raises(ConfigError, match=re.escape(said)):
        check_search(cfg)


@pytest.mark.slow
def test_make_dashboard_serves_the_study_and_chromium_finds_its_trials(pruned_search, tmp_path):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("No Chromium here (`make setup` installs Debian's chromium when run as root).")
    from playwright.sync_api import sync_playwright

    folder, _ = pruned_search
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        ["make", "-s", "dashboard", f"STORAGE=sqlite:///{folder}/optuna.db",
         f"DASHBOARD_PORT={port}", f"VENV={sys.prefix}"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_until_served(f"{url}/dashboard")
        with sync_playwright() as playwright:
            browser, tab, elsewhere = local_tab(playwright, chromium, url)
            tab.goto(f"{url}/dashboard", wait_until="networkidle")
            tab.get_by_text("mlp_optuna").first.click()  # the study, by its name
            tab.locator('a[href$="/trials"]').first.click()  # the menu's list of trials
            tab.get_by_text("Trial 3", exact=True).first.wait_for(timeout=60_000)
            tab.screenshot(path=tmp_path / "dashboard.png", full_page=True)
            text = tab.inner_text("body")
            browser.close()
        assert "4 Trials" in text
        states = re.findall(r"^Trial (\d)\n(Complete|Pruned)$", text, flags=re.MULTILINE)
        assert states == [("0", "Complete"), ("1", "Complete"), ("2", "Pruned"), ("3", "Pruned")]
        assert f"{folder / 'trial_000'}" in text  # each trial names its run folder
        assert elsewhere == []
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # make and the dashboard it started
        server.wait(timeout=30)


@pytest.mark.parametrize(
    ("name", "kind"),
    [("median", "MedianPruner"), ("hyperband", "HyperbandPruner"), ("none", "NopPruner")],
)
def test_each_pruner_is_optunas_own_and_the_median_stops_a_trial_behind(name, kind):
    from mnistlab.launch.study import make_pruner

    cfg = train_config("hparams_search=cnn_optuna", f"hparams_search.pruner={name}",
                       "hparams_search.startup_trials=2", "trainer.max_epochs=7")  # fmt: skip
    pruner = make_pruner(cfg)
    assert type(pruner).__name__ == kind
    if name == "hyperband":
        return  # its brackets decide; Optuna's own tests cover them
    study = optuna.create_study(direction="maximize", pruner=pruner)
    for value in (0.9, 0.8):  # two trials that report every epoch, then complete
        trial = study.ask()
        for epoch in range(7):
            trial.report(value + epoch / 100, step=epoch)
        study.tell(trial, value + 0.06)
    late = study.ask()
    late.report(0.1, step=0)
    assert not late.should_prune()  # warmup_epochs=1: its first epoch is never judged
    late.report(0.1, step=1)
    assert late.should_prune() == (name == "median")


def test_a_journal_file_holds_a_study_that_another_process_opens(tmp_path):
    from mnistlab.launch.study import open_storage

    journal = tmp_path / "shared" / "study.journal"  # its folder is made as a database's is
    made = optuna.create_study(study_name="s", storage=open_storage(str(journal)))
    trial = made.ask()
    trial.report(0.5, step=0)
    made.tell(trial, 0.7)
    code = (
        "import optuna, sys; s = optuna.load_study(study_name='s', storage=optuna.storages."
        "JournalStorage(optuna.storages.journal.JournalFileBackend(sys.argv[1])));"
        "print(s.trials[0].value, s.trials[0].intermediate_values)"
    )
    read = subprocess.run(
        [sys.executable, "-c", code, str(journal)], capture_output=True, text=True
    )
    assert read.stdout.split("\n")[0] == "0.7 {0: 0.5}", read.stderr
