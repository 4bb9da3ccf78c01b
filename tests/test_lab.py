"""The lab report end to end: a tiny lab through src/lab.py, every number it quotes against the
runs' own files, its pictures, reuse on a second run, a failed run, and the page in Chromium."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from PIL import Image
from scipy import stats

from conftest import need_fashion, read_metrics, run_script, trained_jobs
from mnistlab.lab.document import find_chromium
from mnistlab.reports.plots import DPI
from mnistlab.reports.predictions import read_predictions
from mnistlab.terminal import with_interval

pytestmark = pytest.mark.slow

# One epoch of 4 minibatches per run, the first 2 variants of each sweep: 11 runs.
TINY_LAB = (
    "lab.epochs=1",
    "lab.variants=2",
    'lab.overrides=["trainer.limit_train_batches=4","trainer.limit_val_batches=2"]',
)
QUESTIONS = [f"## Question {n}:" for n in range(1, 6)]
RUN_LINK = re.compile(r"\]\(((?:\.\./)+train/multiruns/[^)/]+/\d+)\)")


def lab_dirs(log_dir: Path) -> list[Path]:
    return sorted((log_dir / "lab").iterdir())


def run_folders(log_dir: Path) -> set[Path]:
    """The runs trained under `log_dir` (each a job of one of the lab's multiruns)."""
    return set(trained_jobs(log_dir))


@pytest.fixture(scope="module")
def tiny_lab(tmp_path_factory, data_dir):
    """The tiny lab, run once for this file: (log dir, the lab's folder, what it printed)."""
    need_fashion()
    log_dir = tmp_path_factory.mktemp("logs")
    done = run_script("lab.py", *TINY_LAB, log_dir=log_dir, timeout=1200)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    (lab_dir,) = lab_dirs(log_dir)
    return log_dir, lab_dir, done.stdout


def report(lab_dir: Path) -> str:
    return (lab_dir / "lab_report.md").read_text()


def linked_runs(lab_dir: Path, line: str) -> list[Path]:
    return [(lab_dir / link).resolve() for link in RUN_LINK.findall(line)]


def test_the_lab_answers_every_question_from_the_runs_it_ran(tiny_lab):
    log_dir, lab_dir, printed = tiny_lab
    text = report(lab_dir)
    assert [q for q in QUESTIONS if q in text] == QUESTIONS
    for title in ("MLP on pixels", "MLP on HOG features", "CNN on MNIST", "CNN on Fashion-MNIST"):
        assert f"### {title}" in text
    assert "The lab's 11 runs: 0 completed" in printed and "11 run now" in printed
    assert "Lab: cnn_fashion (8 of 8)" in printed  # each family one multirun
    # Every run the lab made is named in the report, and every run it names exists.
    named = {run for line in text.splitlines() for run in linked_runs(lab_dir, line)}
    assert named == {p.resolve() for p in run_folders(log_dir)}
    assert len(named) == 11
    assert "**A preview**" in text
    page = (lab_dir / "lab_report.html").read_text()
    assert "<table>" in page and 'src="data:image/png;base64,' in page
    assert not re.search(r'src="(?!data:)', page), "every picture is inside the page"


def test_every_number_quoted_for_a_run_equals_its_metrics(tiny_lab):
    _, lab_dir, _ = tiny_lab
    checked = 0
    for line in report(lab_dir).splitlines():
        runs = linked_runs(lab_dir, line)
        if not line.startswith("|") or len(runs) != 1:
            continue
        metrics = read_metrics(runs[0])
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert f"{metrics['run']['parameters']:,}" in cells
        assert with_interval(metrics["test"]["acc"], metrics["test"]["acc_interval"]) in cells
        if "val/acc" in line:  # a sweep's table: the objective, F1 and loss too
            objective = f"val/acc {metrics['run']['objective']['value']:.4f} ("
            assert any(cell.startswith(objective) for cell in cells)
            assert f"{metrics['test']['f1_macro']:.4f}" in cells
            assert f"{metrics['best_val_loss']:.4f}" in cells
        checked += 1
    assert checked == 11 + 2 * 4  # Question 3's table, then each sweep's
    text = report(lab_dir)
    for name in ("mlp", "hog", "cnn"):  # Question 2: the totals the runs counted
        run = lab_dir / re.search(rf"notebook {name}`.*?\]\(([^)]+)\)", text).group(1)
        assert f"**{read_metrics(run)['run']['parameters']:,}**" in text
    assert "**238,510**" in text and "**80,610**" in text and "**7,465**" in text
    # Question 5: the notebook's CNN on Fashion-MNIST, its scores and F1 per category
    q5 = text.split("## Question 5:")[1].split("\n### ")[1]
    test = read_metrics(linked_runs(lab_dir, q5.splitlines()[0])[0])["test"]
    low, high = test["f1_macro_interval"]
    assert (
        f"| {with_interval(test['acc'], test['acc_interval'])} | {test['f1_macro']:.4f} "
        f"({low:.4f}-{high:.4f}) | {test['loss']:.4f} | {test['size']:,} |" in q5
    )
    assert all(f"| {name} | {f1:.4f} |" in q5 for name, f1 in test["f1_per_class"].items())


def test_question_3_states_only_what_a_paired_test_supports(tiny_lab):
    _, lab_dir, _ = tiny_lab
    text = report(lab_dir)
    runs = {
        name: lab_dir / re.search(rf"notebook {name}`.*?\]\(([^)]+)\)", text).group(1)
        for name in ("mlp", "cnn")
    }
    cnn, mlp = (read_predictions(runs[name])["test"].correct for name in ("cnn", "mlp"))
    only_cnn, only_mlp = int((cnn & ~mlp).sum()), int((mlp & ~cnn).sum())
    p = stats.binomtest(only_cnn, only_cnn + only_mlp).pvalue  # McNemar's exact test, apart
    q3 = " ".join(text.split("## Question 3:")[1].split("## Question 4:")[0].split())
    # Its second comparison, the CNN against the best shallow MLP on validation, from its row.
    label = re.search(r"the best of them on validation, `([^`]+)` \(", q3).group(1)
    row = next(line for line in text.splitlines() if f"| `{label}` |" in line)
    wide = read_predictions(linked_runs(lab_dir, row)[0])["test"].correct
    only_wide = int((cnn & ~wide).sum()), int((wide & ~cnn).sum())
    p_wide = stats.binomtest(only_wide[0], sum(only_wide)).pvalue
    # Two comparisons on one test set: Holm's correction, computed apart.
    holm = min(1.0, 2 * p) if p <= p_wide else max(min(1.0, 2 * p_wide), p)
    difference = 100 * (cnn.mean() - mlp.mean())
    assert f"The CNN minus the MLP: {difference:+.2f} pts (" in q3
    assert f"p {holm:.2g}: " in q3 and "McNemar's exact test on the same 10,000 test images" in q3
    assert q3.count("Holm-corrected for the question's 2 comparisons") == 2
    opening = (
        "the two are indistinguishable in test accuracy" if holm >= 0.05
        else "Yes, in the sense that matters here" if difference > 0
        else "Not in accuracy: the MLP is better"
    )  # fmt: skip
    assert opening in q3
    joined = re.search(r"(: |\. |, and |, though )(T|t)he deeper network \(", q3)
    assert (joined.group(2) == "T") == (joined.group(1) in (": ", ". ")), joined.group(0)


def test_question_1_states_the_settings_the_runs_used(tiny_lab):
    log_dir, lab_dir, _ = tiny_lab
    configs = [yaml.safe_load((run / "config.yaml").read_text()) for run in run_folders(log_dir)]
    optimizer = configs[0]["optimizer"]
    assert all(c["optimizer"] == optimizer for c in configs)
    row = f"| KerasRMSprop | {optimizer['lr']} | {optimizer['rho']} | {optimizer['eps']} |"
    assert row in report(lab_dir)
    # The update as an equation: LaTeX in the Markdown, MathML in the page (and so the PDF).
    assert r"$\displaystyle w_t = w_{t-1} - \frac{\eta\, g_t}{\sqrt{s_t + \epsilon}}$" in report(
        lab_dir
    )
    assert (lab_dir / "lab_report.html").read_text().count('<mstyle displaystyle="true"') >= 6


def test_the_mistakes_shown_are_misclassified_test_images(tiny_lab, data_dir):
    log_dir, lab_dir, _ = tiny_lab
    from torchvision.datasets import MNIST, FashionMNIST

    labels = {
        "mnist": MNIST(str(data_dir), train=False).targets,
        "fashion": FashionMNIST(str(data_dir), train=False).targets,
    }
    for run in run_folders(log_dir):
        metrics = read_metrics(run)
        mistakes = metrics["mistakes"]
        assert mistakes, run
        test_labels = labels[metrics["run"]["dataset"]]
        for shown in mistakes:
            assert shown["predicted"] != shown["true"]
            assert test_labels[shown["index"]].item() == shown["true"]
        # mistakes.png: one row per confused pair, a column per image (1.6 x 1.9 inches at DPI)
        pairs = {(m["true"], m["predicted"]) for m in mistakes}
        columns = max(sum(1 for m in mistakes if (m["true"], m["predicted"]) == p) for p in pairs)
        with Image.open(run / "mistakes.png") as picture:
            assert picture.format == "PNG"
            inches = (1.6 * columns, 1.9 * len(pairs) + 0.5)
            assert picture.size == pytest.approx(tuple(DPI * x for x in inches), abs=1)
    for name, size in (
        ("q3_accuracy_vs_weights.png", (9 * DPI, 5.5 * DPI)),
        *((f"{sweep}_val_loss.png", (10 * DPI, 5.5 * DPI)) for sweep in
          ("mlp_hidden_dropout", "hog_cells_orientations", "cnn_dense_filters", "cnn_fashion")),
    ):  # fmt: skip
        with Image.open(lab_dir / name) as picture:
            assert picture.format == "PNG" and picture.size == pytest.approx(size, abs=1)


def test_a_second_lab_reuses_every_run(tiny_lab):
    log_dir, first_dir, _ = tiny_lab
    before = run_folders(log_dir)
    again = run_script("lab.py", *TINY_LAB, "lab.pdf=false", log_dir=log_dir, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "The lab's 11 runs: 11 completed" in again.stdout and "0 run now" in again.stdout
    assert run_folders(log_dir) == before
    second_dir = next(d for d in lab_dirs(log_dir) if d != first_dir)
    first, second = report(first_dir).splitlines(), report(second_dir).splitlines()
    assert "11 completed runs reused from logs/, 0 run now" in second[2]
    assert second[3:] == first[3:]  # after the line that says when and how: the same report


def test_a_failed_run_is_named_in_the_report_and_the_lab_exits_non_zero(tiny_lab):
    log_dir, _, _ = tiny_lab
    broken = '+lab.notebook.broken=["data=mnist-hog","data.hog.pixels_per_cell=40"]'
    done = run_script("lab.py", *TINY_LAB, broken, "lab.pdf=false", log_dir=log_dir, timeout=300)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "The lab's 12 runs: 11 completed" in done.stdout
    assert "1 run(s) failed" in done.stdout
    lab_dir = lab_dirs(log_dir)[-1]
    text = report(lab_dir)
    failed = text.split("## Runs that failed")[1].split("##")[0]
    assert "notebook broken" in failed and "pixels_per_cell" in failed
    status = json.loads((linked_runs(lab_dir, failed)[0] / "status.json").read_text())
    assert status["status"] == "failed"
    assert [q for q in QUESTIONS if q in text] == QUESTIONS  # the other sections are all there


def test_the_lab_page_renders_in_chromium_with_every_picture_and_no_request(tiny_lab, tmp_path):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("No Chromium here (`make setup` installs Debian's chromium when run as root).")
    from playwright.sync_api import sync_playwright

    _, lab_dir, _ = tiny_lab
    page_file = lab_dir / "lab_report.html"
    requests = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        page = browser.new_page()
        page.on("request", lambda request: requests.append(request.url))
        page.goto(page_file.as_uri(), wait_until="load")
        widths = page.eval_on_selector_all("img", "images => images.map(i => i.naturalWidth)")
        # Question 1's equations are MathML, drawn by the browser (no script, no font fetched).
        heights = page.eval_on_selector_all(
            "math",
            "maths => maths.map(m => [getComputedStyle(m).display, m.getBoundingClientRect().height])",
        )
        page.pdf(path=str(tmp_path / "printed.pdf"))
        browser.close()
    assert len(widths) >= 12 and all(w > 0 for w in widths), widths
    # The lab's own charts (Question 3's, each sweep's validation loss) as SVG drawings.
    drawings = sorted(p.name for p in lab_dir.glob("*.svg"))
    assert drawings == sorted(p.with_suffix(".svg").name for p in lab_dir.glob("*.png")), drawings
    assert len(drawings) == 5 and page_file.read_text().count("data:image/svg+xml;base64,") == 5
    assert len(heights) >= 6 and all("math" in d and h > 0 for d, h in heights), heights
    assert "<code>s_t" not in page_file.read_text()
    assert all(not url.startswith(("http:", "https:")) for url in requests), requests
    assert [u for u in requests if not u.startswith("data:")] == [page_file.as_uri()]
    assert (tmp_path / "printed.pdf").read_bytes().startswith(b"%PDF")
    assert (lab_dir / "lab_report.pdf").read_bytes().startswith(b"%PDF")  # the lab printed it too


def test_a_lab_with_two_seeds_reuses_the_first_and_compares_over_seeds(tiny_lab):
    log_dir, _, _ = tiny_lab
    # Question 3's two notebook models, Question 5's, and one sweep, so that it stays short.
    fewer = ("~lab.notebook.hog", "~lab.q4.mlp_hidden_dropout", "~lab.q4.cnn_dense_filters",
             "~lab.q5.cnn_fashion")  # fmt: skip
    done = run_script(
        "lab.py", *TINY_LAB, *fewer, "lab.seeds=2", "lab.pdf=false", log_dir=log_dir, timeout=1200
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    # The configured seed's runs are the one-seed lab's: reused; seed 1's are new.
    assert "The lab's 10 runs: 5 completed" in done.stdout and "5 run now" in done.stdout
    lab_dir = lab_dirs(log_dir)[-1]
    text = report(lab_dir)
    assert "Each run was made with 2 seeds (the configured one, then 1)" in text
    q3 = " ".join(text.split("## Question 3:")[1].split("## Question 4:")[0].split())
    assert "t-test over 2 seeds and their examples" in q3 and "(mean of 2 seeds)" in q3
    q5 = " ".join(text.split("## Question 5:")[1].split())  # the same CNN on two test sets
    assert "The same network on MNIST: " in q5 and q5.count("(mean of 2 seeds)") == 2
    # The sweep: its 2 variants over their 2 seeds, one row each.
    (table,) = text.split("#### Variants over seeds, best on validation first")[1:]
    rows = [line for line in table.split("\n\n")[1].splitlines() if line.startswith("| `")]
    assert len(rows) == 2 and all("| 2 (1, 12345) |" in row for row in rows)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("lab.epochs=0", "lab.epochs=0 must be a whole number of at least 1"),
        ("lab.seeds=0", "lab.seeds=0 must be a whole number of at least 1"),
        ("+lab.q4.no_such_sweep=x", "The lab's run 'no_such_sweep' cannot be configured"),
        ('lab.overrides=["trainer.no_such_key=1"]', "The lab's run 'notebook mlp' cannot be"),
        ("lab.chromium=/no/such/browser", "lab.chromium='/no/such/browser' is not a program"),
        ("lab.notebook.cnn=cnn", "lab.notebook.cnn='cnn' must be a list"),
    ],
)
def test_lab_settings_are_checked_before_any_run(tmp_path, data_dir, setting, message):
    done = run_script("lab.py", setting, log_dir=tmp_path, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert message in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "train").exists()
