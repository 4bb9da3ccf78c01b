"""Question 3 of the lab: do deep networks have more capacity than shallow ones?

Answered from the runs' files: test accuracy against weights for every run, and the notebook's
CNN against its MLP (and against the best shallow MLP on validation) on the same test images, so
the paragraph states only the differences a paired test supports.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from mnistlab.errors import UserError
from mnistlab.lab.questions import link
from mnistlab.reports.certainty import result_text, test_acc_text, variant_accuracy
from mnistlab.reports.comparison import Result, compare, corrected
from mnistlab.reports.plots import accuracy_weights_figure, save_figure
from mnistlab.reports.run_rows import RunRow
from mnistlab.reports.stats import NO_DIFFERENCE
from mnistlab.reports.variants import Variant, ranked_variants

Q3_FIGURE = "q3_accuracy_vs_weights.png"


def model_label(row: RunRow) -> str:
    run = row.metrics["run"]
    data = "Fashion-MNIST" if run["dataset"] == "fashion" else "MNIST"
    return f"{run['model'].upper()} on {data}" + (" HOG" if run["features"] == "hog" else "")


def question_3(
    rows: list[RunRow],
    notebook: dict[str, list[RunRow]],
    configs: dict[Path, dict[str, Any]],
    out_dir: Path,
) -> list[str]:
    """Test accuracy against weights for every run, and what it says about depth and capacity
    (`notebook`: each notebook model's runs, one per seed)."""
    done = sorted((r for r in rows if r.ok), key=lambda r: r.metrics["run"]["parameters"])
    lines = ["## Question 3: do deep networks have more capacity than shallow ones?", ""]
    if not done:
        return [*lines, "No run completed, so there is nothing to compare.", ""]
    groups: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for row in done:
        groups[model_label(row)].append((row.metrics["run"]["parameters"], row.test_acc))
    marked = {
        f"notebook {name}": (runs[0].metrics["run"]["parameters"], runs[0].test_acc)
        for name, runs in notebook.items()
        if runs and runs[0].ok
    }
    save_figure(
        accuracy_weights_figure(groups, marked, "Test accuracy against trainable weights"),
        out_dir / Q3_FIGURE,
        svg=True,
    )
    lines += [
        *capacity_answer(done, notebook, configs),
        "",
        f"![test accuracy against trainable weights, every run of this report]({Q3_FIGURE})",
        "",
        "| weights | test accuracy (95% interval) | model | variant | run |",
        "|---:|---:|---|---|---|",
    ]
    for row in done:
        lines.append(
            f"| {row.metrics['run']['parameters']:,} | {test_acc_text(row)} | {model_label(row)} "
            f"| `{row.label}` | {link(row.path, out_dir)} |"
        )
    return [*lines, ""]


def _layers(n: int, what: str) -> str:
    return f"{n} {what}{'s' if n != 1 else ''}"


def _tested(a: Variant, b: Variant) -> Result | None:
    """A against B on the same test images; None for runs without per-example results."""
    try:
        return compare(a, b, "test")
    except UserError:
        return None


def _difference(result: Result | None, a: str, b: str) -> str:
    if result is None:
        return f"{a} and {b} were not tested against each other (runs without per-example results)"
    holm = (
        ", Holm-corrected for the question's 2 comparisons" if result.adjusted is not None else ""
    )
    return (
        f"{a} minus {b}: {result_text(result)} ({result.method} on the same "
        f"{result.examples:,} test images{holm})"
    )


def capacity_answer(
    done: list[RunRow], notebook: dict[str, list[RunRow]], configs: dict[Path, dict[str, Any]]
) -> list[str]:
    mlp_runs = [r for r in notebook.get("mlp", []) if r.ok]
    cnn_runs = [r for r in notebook.get("cnn", []) if r.ok]
    if not (mlp_runs and cnn_runs):
        return ["The notebook's MLP and CNN runs are both needed to answer; one is missing."]
    cnn, mlp = Variant("the CNN", cnn_runs), Variant("the MLP", mlp_runs)
    w_mlp, w_cnn = mlp.weights, cnn.weights
    cnn_net = configs[cnn_runs[0].path]["model"]["net"]
    mlp_net = configs[mlp_runs[0].path]["model"]["net"]
    shallow = ranked_variants([r for r in done if model_label(r) == "MLP on MNIST"])
    best = shallow[0] if len(shallow) > 1 else None  # on validation: the test set chooses nothing
    result = _tested(cnn, mlp)
    wide = _tested(cnn, best) if best is not None else None
    corrected([r for r in (result, wide) if r is not None])  # two questions of one test set
    verdict = result.verdict("the CNN", "the MLP") if result is not None else ""
    opening = {
        "the CNN is better": "Yes, in the sense that matters here: capacity per weight.",
        NO_DIFFERENCE: "In capacity per weight, yes: the two are indistinguishable in test accuracy, and",
        "the MLP is better": "Not in accuracy: the MLP is better in these runs, though",
    }.get(verdict, "By the point estimates alone (not tested):")
    subject = "The deeper network" if opening.endswith((".", ":")) else "the deeper network"
    lines = [
        f"{opening} {subject} (the notebook's CNN: "
        f"{_layers(len(cnn_net['filters']), 'convolution')}, then "
        f"{_layers(len(cnn_net['dense']), 'hidden dense layer')}) reaches "
        f"{variant_accuracy(cnn)} test accuracy with {w_cnn:,} weights; the shallow MLP "
        f"({_layers(len(mlp_net['hidden']), 'hidden layer')}) reaches {variant_accuracy(mlp)} "
        f"with {w_mlp:,}, {w_mlp / w_cnn:.0f} times as many. "
        f"{_difference(result, 'The CNN', 'the MLP')}. A convolution reuses its few weights at "
        "every position of the image, so depth buys features (strokes, then parts of digits) "
        "that a single wide layer must learn pixel by pixel."
    ]
    if best is not None:
        weights = [v.weights for v in shallow]
        accuracies = [r.test_acc for v in shallow for r in v.runs]
        said = {
            NO_DIFFERENCE: f"width matches the CNN within noise, at {best.weights / w_cnn:.0f} times its "
            "weights.",
            "the CNN is better": "widening the shallow network does not reach the CNN.",
            "the MLP is better": f"width beats the CNN, at {best.weights / w_cnn:.0f} times its "
            "weights.",
        }.get(wide.verdict("the CNN", "the MLP") if wide is not None else "", "")
        lines.append(
            f"The {len(shallow)} MLP variants on MNIST pixels, from {min(weights):,} to "
            f"{max(weights):,} weights, score between {100 * min(accuracies):.2f}% and "
            f"{100 * max(accuracies):.2f}% on the test set; the best of them on validation, "
            f"`{best.label}` ({best.weights:,} weights, {variant_accuracy(best)}): "
            f"{_difference(wide, 'the CNN', 'it')}: {said}".rstrip(": ")
        )
    return [" ".join(lines)]
