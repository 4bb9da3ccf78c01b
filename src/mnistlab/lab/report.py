"""lab_report.md: the lab's five questions, each answered from the runs it names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mnistlab.lab.capacity import question_3
from mnistlab.lab.plan import Family
from mnistlab.lab.questions import link, question_1, question_2
from mnistlab.lab.sweeps import fashion_section, sweep_section
from mnistlab.reports.protocol import CHOSEN_ON_TEST, validated_on_test
from mnistlab.reports.run_rows import RunRow, collect_runs

REPORT_MD = "lab_report.md"


def family_rows(families: list[Family]) -> dict[str, list[RunRow]]:
    """Each family's runs, read from its multirun's folder as a sweep report reads them (a job
    that reused a run reads as that run); a notebook's runs are labelled by its name and seed."""
    rows = {}
    for family in families:
        rows[family.name] = collect_runs(family.folder) if family.folder.is_dir() else []
        if family.question == "notebook":
            configured = None
            for row in rows[family.name]:
                seed = row.config.get("seed")
                configured = seed if configured is None else configured
                row.label = family.name + ("" if seed == configured else f" seed={seed}")
    return rows


def write_lab_report(
    out_dir: Path,
    log_dir: Path,
    families: list[Family],
    rows: dict[str, list[RunRow]],
    titles: dict[str, str],
    intro: str,
) -> Path:
    """Write lab_report.md and its own figures into `out_dir`; return the report's path."""
    replicates = {  # each notebook model's runs, one per seed of lab.seeds
        f.name.removeprefix("notebook "): rows[f.name] for f in families if f.question == "notebook"
    }
    notebook = {name: runs[0] for name, runs in replicates.items()}
    by_path: dict[Path, RunRow] = {}  # a run in two families keeps its first label (the notebook's)
    for family in families:
        for row in rows[family.name]:
            by_path.setdefault(row.path, row)
    unique = list(by_path.values())
    done = [row for row in unique if row.ok]
    configs: dict[Path, dict[str, Any]] = {row.path: row.config for row in done}
    failed = [row for row in unique if not row.ok]
    lines = ["# The lab, answered by its runs", "", intro, ""]
    if validated_on_test(done):
        lines += [CHOSEN_ON_TEST, ""]
    if failed:
        lines += ["## Runs that failed", ""]
        lines += [f"- {link(r.path, out_dir)} `{r.label}`: {r.reason or r.status}" for r in failed]
        lines += ["", "The sections below use the runs that completed.", ""]
    lines += question_1(done, configs)
    lines += question_2(notebook, out_dir)
    lines += question_3(unique, replicates, configs, out_dir)
    lines += [
        "## Question 4: three experiments, their variants, and the digits they confuse",
        "",
    ]

    def sweeps(question: str) -> list[str]:
        return [
            line
            for f in families
            if f.question == question
            for line in sweep_section(f.name, titles[f.name], rows[f.name], log_dir, out_dir)
        ]

    lines += sweeps("q4")
    lines += ["## Question 5: a CNN on Fashion-MNIST", ""]
    lines += fashion_section(replicates.get("fashion"), replicates.get("cnn"), out_dir)
    lines += sweeps("q5")
    path = out_dir / REPORT_MD
    path.write_text("\n".join(lines) + "\n")
    return path
