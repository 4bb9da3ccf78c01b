"""Hydra callbacks: the checks before a search, the report written when a sweep ends, and the
sweep's exit status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


class SweepReport(Callback):
    """Before a sweep on SLURM, check that its jobs fit the partition; before an Optuna search,
    check it and number its trials' folders; before any, create its trackers' stores and check
    compare.margin; when a sweep ends, write its report into its folder and exit non-zero when
    any run failed."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from mnistlab.launch.jobs import run_command
        from mnistlab.launch.slurm import check_resources, is_slurm_launcher
        from mnistlab.launch.study import is_search, prepare_search
        from mnistlab.reports.protocol import margin_of
        from mnistlab.training.trackers import prepare_stores

        if is_slurm_launcher(config.hydra.launcher):
            run_command(lambda: check_resources(config.hydra.launcher) and 0)
        if is_search(config):
            run_command(lambda: prepare_search(config) or 0)
        run_command(lambda: prepare_stores(config.get("logger")) or 0)
        run_command(lambda: margin_of(config) and 0)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from mnistlab.reports.protocol import margin_of
        from mnistlab.reports.sweep_report import REPORT_MD, write_report

        folder = Path(config.hydra.sweep.dir)
        if not folder.is_dir():
            return
        rows = write_report(folder, margin_of(config))
        failed = [r for r in rows if not r.ok and not r.pruned]
        pruned = sum(r.pruned for r in rows)
        counts = f"{len(rows) - len(failed) - pruned} completed, " + (
            f"{pruned} pruned, " if pruned else ""
        )
        print(f"\nSweep report: {folder / REPORT_MD} ({counts}{len(failed)} failed)")
        print((folder / REPORT_MD).read_text())
        if failed:
            raise SystemExit(1)
