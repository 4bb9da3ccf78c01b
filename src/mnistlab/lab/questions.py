"""Questions 1 and 2 of the lab, answered from the runs' own files.

Each function returns Markdown lines; every number in them is read from a run's metrics.json,
config.yaml or params.md, and each section names the runs it used.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from mnistlab.reports.run_rows import RunRow
from mnistlab.runs.folders import run_name

# (equation, what it says): RMSprop as mnistlab.training.optim.KerasRMSprop computes it, in LaTeX between
# dollars (the HTML and PDF show MathML; Markdown viewers that know math render it too).
RMSPROP = [
    (r"g_t = \nabla_w L(w_{t-1})", "the gradient of the loss on one minibatch"),
    (
        r"s_t = \rho\, s_{t-1} + (1 - \rho)\, g_t^2",
        "a running mean of squared gradients ($s_0 = 0$)",
    ),
    (
        r"w_t = w_{t-1} - \frac{\eta\, g_t}{\sqrt{s_t + \epsilon}}",
        "each weight's step, scaled by its own history",
    ),
]
MOMENTUM = [
    (
        r"m_t = \mu\, m_{t-1} + \frac{\eta\, g_t}{\sqrt{s_t + \epsilon}}",
        r"with momentum $\mu > 0$ ($m_0 = 0$) ...",
    ),
    (r"w_t = w_{t-1} - m_t", "... the step is the running sum $m_t$"),
]
CENTERED = [
    (
        r"\bar g_t = \rho\, \bar g_{t-1} + (1 - \rho)\, g_t",
        r"centered: $s_t - \bar g_t^2$ replaces $s_t$ under the root",
    ),
]
CROSS_ENTROPY = [
    (
        r"p_{n,k} = \frac{e^{z_{n,k}}}{\sum_j e^{z_{n,j}}}",
        "softmax of image $n$'s outputs $z$ over the $K$ classes",
    ),
    (
        r"L = -\frac{1}{B} \sum_n \sum_k y_{n,k} \log p_{n,k}",
        "$y$ one-hot ($y_{n,k} = 1$ for the true class $c_n$) ...",
    ),
    (r"L = -\frac{1}{B} \sum_n \log p_{n,c_n}", "... so only the true class's probability counts"),
]


def _equations(rows: list[tuple[str, str]]) -> list[str]:
    return ["| equation | what it says |", "|---|---|"] + [
        f"| $\\displaystyle {e}$ | {w} |" for e, w in rows
    ]


def link(path: Path, start: Path) -> str:
    """A run's folder as a Markdown link relative to the report."""
    return f"[{run_name(path)}]({os.path.relpath(path, start)})"


def question_1(rows: list[RunRow], configs: dict[Path, dict[str, Any]]) -> list[str]:
    """The learning algorithm, its equations and the cost function, with the settings used."""
    settings: dict[tuple, list[RunRow]] = defaultdict(list)
    for row in rows:
        config = configs[row.path]
        opt = config["optimizer"]
        key = (
            opt["_target_"].rsplit(".", 1)[-1], opt.get("lr"), opt.get("rho"), opt.get("eps"),
            opt.get("momentum"), opt.get("centered"), config["data"]["batch_size"],
            config["trainer"]["max_epochs"],
        )  # fmt: skip
        settings[key].append(row)
    lines = [
        "## Question 1: the learning algorithm and the cost function",
        "",
        "Training minimises the categorical cross-entropy with RMSprop, as Keras computes it "
        "(the lab's notebooks use `RMSprop()` with Keras' defaults). For a weight $w$ with "
        r"learning rate $\eta$, decay $\rho$ and $\epsilon$:",
        "",
    ]
    if any(key[0] != "KerasRMSprop" for key in settings):
        lines += ["Not every run below used it (see the table): the equations are the lab's.", ""]
    equations = list(RMSPROP)
    if any(key[4] for key in settings):
        equations += MOMENTUM
    if any(key[5] for key in settings):
        equations += CENTERED
    lines += [
        *_equations(equations),
        "",
        "The cost is the categorical cross-entropy over a minibatch of $B$ images, computed from "
        "the network's outputs (logits) in one numerically stable step (`F.cross_entropy`). The "
        r"lab's original report wrote the binary form $-[y \log p + (1 - y) \log(1 - p)]$, which is "
        "for a single yes/no output, not for 10 classes:",
        "",
        *_equations(CROSS_ENTROPY),
        "",
        "The settings the runs used (from each run's `config.yaml`):",
        "",
        "| optimizer | η (lr) | ρ (rho) | ε (eps) | momentum | centered | batch size B | epochs | runs |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for key, used in settings.items():
        cells = " | ".join("-" if value is None else str(value) for value in key)
        lines.append(f"| {cells} | {len(used)} |")
    return [*lines, ""]


def question_2(notebook: dict[str, RunRow], out_dir: Path) -> list[str]:
    """Weights per layer, with the arithmetic, for the lab's three MNIST models."""
    lines = [
        "## Question 2: inputs, outputs and weights of each model",
        "",
        "Each run writes this table to its `params.md`, from the network it trained.",
        "",
    ]
    totals = []
    for name in ("mlp", "hog", "cnn"):
        row = notebook.get(name)
        if row is None or not row.ok:
            lines += [f"### {name}", "", _missing(row), ""]
            continue
        run = row.metrics["run"]
        totals.append(f"{run['parameters']:,} ({run['title']})")
        lines += [
            f"### {run['title']} (run {link(row.path, out_dir)})",
            "",
            (row.path / "params.md").read_text().strip(),
            "",
        ]
    if totals:
        lines += ["Totals: " + "; ".join(totals) + ".", ""]
    return lines


def _missing(row: RunRow | None) -> str:
    if row is None:
        return "Not part of this lab's configuration."
    return f"Its run failed ({row.path}): {row.reason or row.status}."
