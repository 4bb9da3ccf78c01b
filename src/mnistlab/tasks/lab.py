"""The lab task: plan the runs the five questions need, reuse or run them, write the report."""

from __future__ import annotations

import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from mnistlab.checks import one_of, whole_number
from mnistlab.config.hydra_info import command_line
from mnistlab.errors import ConfigError
from mnistlab.lab.document import find_chromium, print_pdf, write_html
from mnistlab.lab.plan import plan_lab
from mnistlab.lab.report import family_rows, write_lab_report
from mnistlab.lab.runs import run_families, tally
from mnistlab.terminal import console

LAUNCHERS = ("basic", "joblib", "submitit_local", "slurm")


def check_lab_values(lab: DictConfig) -> None:
    for key, what, hint in (
        ("epochs", "how many epochs every run trains (a preview)", "E.g. lab.epochs=2, or null."),
        ("variants", "how many variants of each sweep the lab runs (a preview)",
         "E.g. lab.variants=2, or null for all."),
        ("seeds", "how many seeds each run is repeated with (replicates)",
         "E.g. lab.seeds=3, or 1 for one run of each."),
    ):  # fmt: skip
        if lab[key] is not None:
            whole_number(f"lab.{key}", lab[key], what, hint=hint)
    lists = {"lab.overrides": lab.overrides}
    lists |= {f"lab.notebook.{name}": spec for name, spec in lab.notebook.items()}
    for key, value in lists.items():
        if not OmegaConf.is_list(value):
            raise ConfigError(
                f"{key}={value!r} must be a list of src/train.py overrides, e.g. "
                f"'{key}=[\"model=cnn\"]' (each override quoted inside the brackets)."
            )
    for question in ("q4", "q5"):
        if not OmegaConf.is_dict(lab[question]):
            raise ConfigError(
                f"lab.{question}={lab[question]!r} must map experiments (files of "
                "conf/experiment/) to their titles, e.g. {cnn_fashion: 'CNN on Fashion-MNIST'}."
            )
    one_of(
        "lab.launcher", lab.launcher, LAUNCHERS,
        "the Hydra launcher of the lab's multiruns (hydra/launcher): here one run after another, "
        "side by side here, or as SLURM jobs",
    )  # fmt: skip
    if not OmegaConf.is_dict(lab.launcher_settings):
        raise ConfigError(
            f"lab.launcher_settings={lab.launcher_settings!r} must map the launcher's settings to "
            "values, e.g. +lab.launcher_settings.partition=debug (hydra.launcher.partition)."
        )
    if lab.pdf and lab.chromium and find_chromium(lab.chromium) is None:
        raise ConfigError(
            f"lab.chromium={lab.chromium!r} is not a program this machine can run: it names the "
            "browser that prints the PDF. Give its binary (Debian's: /usr/lib/chromium/chromium), "
            "leave it null to look for one, or set lab.pdf=false."
        )


def _intro(lab: DictConfig, needed: int, reused: int, ran: int, failed: int) -> str:
    command = command_line("src/lab.py")
    text = (
        f"Written by `{command}` on {time.strftime('%Y-%m-%d %H:%M')} from {needed} runs: "
        f"{reused} completed runs reused from logs/, {ran} run now"
        + (f", {failed} of them failed" if failed else "")
        + ". Every number below is read from the files of the run it names."
    )
    preview = [f"lab.epochs={lab.epochs}"] if lab.epochs else []
    preview += [f"lab.variants={lab.variants}"] if lab.variants else []
    preview += [f"lab.overrides={list(lab.overrides)}"] if lab.overrides else []
    if preview:
        text += f" **A preview** ({', '.join(preview)}): not the lab's full settings."
    if (lab.seeds or 1) > 1:
        text += (
            f" Each run was made with {lab.seeds} seeds (the configured one, then "
            f"{', '.join(map(str, range(1, lab.seeds)))}): runs that differ only in their seed "
            "are replicates, compared over seeds."
        )
    return text


def lab(cfg: DictConfig, train_script: Path) -> int:
    """Write lab_report.md, .html and (with Chromium) .pdf; return 1 when a run failed, else 0."""
    started = time.monotonic()
    out_dir, log_dir = Path(cfg.paths.output_dir), Path(cfg.paths.log_dir)
    check_lab_values(cfg.lab)
    families = plan_lab(cfg.lab, log_dir / "train" / "multiruns", out_dir.name)
    run_families(families, train_script, cfg.lab, log_dir, Path(cfg.paths.data_dir))

    rows = family_rows(families)
    failures = {row.path for family in rows.values() for row in family if not row.ok}
    done = tally(families)
    console.print(
        f"[bold]The lab's {len(done.runs)} runs:[/bold] {done.reused} completed under "
        f"{log_dir / 'train'} reused, {len(done.ran)} run now, {len(failures)} failed."
    )
    titles = {**OmegaConf.to_container(cfg.lab.q4), **OmegaConf.to_container(cfg.lab.q5)}
    intro = _intro(cfg.lab, len(done.runs), done.reused, len(done.ran), len(failures))
    report = write_lab_report(out_dir, log_dir, families, rows, titles, intro)
    page = write_html(report, "The lab, answered by its runs")
    written = [report.name, page.name]
    chromium = find_chromium(cfg.lab.chromium) if cfg.lab.pdf else None
    if chromium is not None:
        pdf, why = print_pdf(page, chromium)
        written += [pdf.name] if pdf else []
        if pdf is None:
            console.print(f"No PDF: {why}.")
    elif cfg.lab.pdf:
        console.print(
            "No PDF: no Chromium found (lab.chromium=<path to the browser binary> names one; "
            "`make setup` installs Debian's chromium when run as root)."
        )
    console.print(
        f"[bold]Lab report:[/bold] {out_dir}  ({', '.join(written)}), "
        f"{time.monotonic() - started:.0f} s"
    )
    if failures:
        console.print(
            f"[bold red]{len(failures)} run(s) failed[/bold red]; the report names them and why."
        )
        return 1
    return 0
