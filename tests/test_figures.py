"""The documentation's figures have one source: the files docs/figures/ stores for the commands
of its manifest (tools/figures.py), put into the pages when the site is built
(tools/figure_text.py). A page that states a run's figure by hand fails here."""

from __future__ import annotations

import json
import re
import sys

import pytest
import yaml

from conftest import ROOT

STORE = ROOT / "docs" / "figures"
PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
# What a run prints that a page could copy by hand: an accuracy in percent with two decimals
# (98.57%), a fraction with four (val/acc 0.9846, a loss 0.0869); not a setting (optimizer.lr=0.0005).
RUN_FIGURE = re.compile(r"(?<![\d.=])(?:\d{1,3}\.\d\d%|0\.\d{4})(?!\d)")
# Figures no stored run printed, each block saying where they come from.
NOT_STORED = re.compile(r"<!-- not stored: (?P<why>[^>]*?) -->.*?<!-- /not stored -->", re.DOTALL)


sys.path.insert(0, str(ROOT / "tools"))  # the docs' tools are scripts, not a package
import figure_text  # noqa: E402


def stated_by_hand(text: str) -> list[str]:
    """The run figures of a page's source outside placeholders and marked blocks."""
    text = NOT_STORED.sub("", figure_text.PLACEHOLDER.sub("", text))
    return [
        f"line {text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}"
        for m in RUN_FIGURE.finditer(text)
    ]


def test_no_page_states_a_runs_figure_by_hand():
    by_hand = {page.name: stated_by_hand(page.read_text()) for page in PAGES}
    assert {page: found for page, found in by_hand.items() if found} == {}, (
        "these figures are typed into the page: write {{ test_acc NAME }} and the like "
        "(tools/figure_text.py) for a stored run, or mark figures no run here printed "
        "<!-- not stored: where they come from --> ... <!-- /not stored -->"
    )
    for page in PAGES:  # every marked block says where its figures come from
        assert all(m["why"].strip() for m in NOT_STORED.finditer(page.read_text())), page.name


def test_the_check_finds_a_figure_typed_by_hand_and_lets_placeholders_and_marked_blocks_pass():
    page = (
        "The CNN reaches {{ test_acc cnn }} (98.56% by hand) with val/acc 0.9846, loss 0.0869.\n"
        "<!-- not stored: the notebooks' printed output -->97.72%<!-- /not stored -->\n"
        "About ±0.24 points at 98.5%; 7,465 weights; 12.7 standard errors; +8.9%; optimizer.lr=0.0005.\n"
    )
    assert stated_by_hand(page) == ["line 1: 98.56%", "line 1: 0.9846", "line 1: 0.0869"]


def test_every_manifest_command_is_stored_with_its_machine_and_its_runs_say_the_same_command():
    manifest = yaml.safe_load((STORE / "figures.yaml").read_text())
    stored = {p.name for p in STORE.iterdir() if (p / "source.json").is_file()}
    assert stored == set(manifest)
    for name, entry in manifest.items():
        source = json.loads((STORE / name / "source.json").read_text())
        assert source["command"] == entry["command"], name
        assert {"processor", "cores", "torch_threads", "torch"} <= set(source["machine"]), name
        assert (STORE / name / "printed.txt").is_file() == bool(entry.get("printed")), name
        runs = list((STORE / name).rglob("metrics.json"))
        assert runs or entry.get("printed"), f"{name} stores neither a run nor a printed output"
        if not entry["command"].split()[2:3] == ["-m"] and len(runs) == 1:  # a single run
            assert json.loads(runs[0].read_text())["run"]["command"] == entry["command"], name


def test_a_placeholder_reads_its_stored_file_and_a_wrong_one_is_named():
    metrics = json.loads((STORE / "cnn" / "metrics.json").read_text())
    low, high = metrics["test"]["acc_interval"]
    text = figure_text.render(
        "{{ test_interval cnn }}, {{ weights cnn }} weights, `{{ command cnn }}`"
    )
    assert text == (
        f"{100 * metrics['test']['acc']:.2f}% ({100 * low:.2f}-{100 * high:.2f}), "
        f"{metrics['run']['parameters']:,} weights, `python src/train.py model=cnn`"
    )
    table = figure_text.render("{{ table mnist_ladder What each rung added }}").splitlines()
    assert table[0].startswith("| rung |") and all(line.startswith("|") for line in table)
    for wrong, said in [
        ("{{ test_acc cnnn }}", "'cnnn' is not stored in docs/figures/ (stored: "),
        ("{{ accuracy cnn }}", "'accuracy' is not a figure"),
        (
            "{{ class_f1 fashion Shirts }}",
            "'fashion' has no class 'Shirts' (its classes: T-shirt/top,",
        ),
        ("{{ test_acc cnn_seeds }}", "'cnn_seeds' is not one run (its runs: cnn_seeds/0,"),
        (  # a lab without the Fashion-MNIST notebook: its Question 5 has no table
            "{{ table lab_seeds/report Question 5: a CNN on Fashion-MNIST }}",
            "'lab_seeds/report' has no table under 'Question 5:",
        ),
    ]:
        with pytest.raises(figure_text.FigureError, match=re.escape(f"page.md: '{wrong}': {said}")):
            figure_text.render(f"Some text {wrong} more.", "page.md")


def test_what_compare_printed_for_two_runs_is_what_their_stored_metrics_say():
    """Two stored sources for one run (its metrics.json, compare.py's printed table) agree."""
    printed = figure_text.render("{{ printed compare_cnn }}")
    for name, seed in (("cnn", "12345"), ("cnn_seeds/0", "1")):
        row = re.search(rf"│ \w │ +{seed} │ +([\d.]+%) │", printed)
        assert row and row.group(1) == figure_text.render(f"{{{{ test_acc {name} }}}}"), name
