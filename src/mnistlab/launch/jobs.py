"""What the entry scripts share: each job records how it ended, and a mistake reads as a paragraph.

Kept free of heavy imports so that `--help` and config errors answer at once.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from mnistlab.config.hydra_info import in_multirun
from mnistlab.errors import Interrupted, TrialPruned, UserError
from mnistlab.runs.folders import METRICS, PRUNED, write_status

log = logging.getLogger("mnistlab")
# A log file on a full disk must not print its own traceback over the error that explains it.
logging.raiseExceptions = False
# Optuna's SQLite storage brings alembic, which logs each of its plugins when Hydra loads the
# Optuna sweeper; a search's terminal shows the search.
logging.getLogger("alembic").setLevel(logging.WARNING)


def run_id() -> str:
    """A run's (or sweep's) folder name: when it started and the process id, so two runs started
    in the same second never share one. The tasks of one srun step (a run in several processes,
    each starting this command) share one: the step's job and number."""
    if int(os.environ.get("SLURM_NTASKS") or 1) > 1 and "SLURM_STEP_ID" in os.environ:
        return f"slurm-{os.environ['SLURM_JOB_ID']}.{os.environ['SLURM_STEP_ID']}"
    return f"{time.strftime('%Y-%m-%d_%H-%M-%S')}_{os.getpid()}"


# Cached, so a sweep's jobs (in this process, joblib's workers or a requeued SLURM job) agree on
# its folder.
if not OmegaConf.has_resolver("run_id"):
    OmegaConf.register_new_resolver("run_id", run_id, use_cache=True)
# A run's name in the trackers (conf/logger/): its folder under the log folder.
if not OmegaConf.has_resolver("relpath"):
    OmegaConf.register_new_resolver("relpath", lambda path, start: os.path.relpath(path, start))
# A run's provenance (conf/train.yaml), part of its identity: the project's version, the data's sha256.
if not OmegaConf.has_resolver("project_version"):
    from mnistlab.data.catalog import data_sha256
    from mnistlab.runs.identity import project_version

    OmegaConf.register_new_resolver("project_version", project_version, use_cache=True)
    OmegaConf.register_new_resolver("data_sha256", data_sha256, use_cache=True)


def one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if isinstance(error, UserError) else f"{type(error).__name__}: {text}"


def _paragraph(text: str) -> str:
    return "\n" + textwrap.fill(text, width=100, break_on_hyphens=False, break_long_words=False)


def run_job(
    task: Callable[[], dict[str, Any]],
    out_dir: Path,
    completed_before: Callable[[], Path | None] = lambda: None,
) -> float | list[float] | str | None:
    """Run one job; write status.json; return its objective (Hydra's sweep value): a validation
    metric, or a list of values for a search with several objectives; None when it has none;
    PRUNED for a search's trial its pruner stopped.
    A job whose run `completed_before` finds is pointed to, not run again (mnistlab.runs.cache).

    A user's mistake prints one paragraph and exits 2 (its traceback goes to the log file).
    Inside a multirun any failure is recorded and the sweep goes on; the sweep's report lists
    it and the sweep exits non-zero at the end.
    """
    try:
        done = completed_before()
        if done is not None:
            return _reuse(done, out_dir)
        write_status(out_dir, "running", pid=os.getpid())
        summary = task()
    except TrialPruned as e:
        write_status(out_dir, PRUNED, reason=str(e), **e.details)
        log.info(str(e))
        return PRUNED
    except Interrupted as e:
        write_status(out_dir, "interrupted", reason=str(e), **e.details)
        print(_paragraph(str(e)), file=sys.stderr)
        raise SystemExit(e.exit_code) from None
    except KeyboardInterrupt:
        write_status(out_dir, "interrupted", reason="Ctrl-C outside training; nothing to resume.")
        print(
            "\nInterrupted (Ctrl-C) before or after training: nothing to resume.", file=sys.stderr
        )
        raise SystemExit(130) from None
    except Exception as e:
        details = getattr(e, "details", {}) if isinstance(e, UserError) else {}
        write_status(out_dir, "failed", reason=one_line(e), error=type(e).__name__, **details)
        log.debug("The job failed", exc_info=True)
        if isinstance(e, UserError):
            print(_paragraph(f"Error: {e}"), file=sys.stderr)
        if in_multirun():
            if not isinstance(e, UserError):
                print(f"\nJob failed ({out_dir}): {one_line(e)}", file=sys.stderr)
            return None
        if isinstance(e, UserError):
            raise SystemExit(2) from None
        raise
    run = summary.get("run", {})
    test = summary.get("test", {})
    write_status(
        out_dir, "completed", title=run.get("title"), test_acc=test.get("acc"),
        test_acc_interval=test.get("acc_interval"),
    )  # fmt: skip
    return _objective(run)


def _objective(run: dict[str, Any]) -> float | list[float] | None:
    """What a run returns to Hydra's sweeper: its objective's value, or each objective's."""
    values = [o.get("value") for o in run.get("objectives") or [run.get("objective") or {}]]
    if None in values:
        return None
    return values[0] if len(values) == 1 else values


def _reuse(run_dir: Path, out_dir: Path) -> float | list[float] | None:
    """Point this job's folder to `run_dir`, its identical completed run, in one line."""
    from mnistlab.runs.cache import REUSED, pointer

    metrics = json.loads((run_dir / METRICS).read_text())
    run, test = metrics.get("run", {}), metrics.get("test", {})
    write_status(
        out_dir, REUSED, trains=False, **pointer(out_dir, run_dir), title=run.get("title"),
        test_acc=test.get("acc"), test_acc_interval=test.get("acc_interval"),
    )  # fmt: skip
    log.info(
        f"Already completed, not trained again: {run_dir} (the same settings, data and version; "
        "reuse.retrain=true trains it again)."
    )
    return _objective(run)


def run_command(task: Callable[[], int]) -> None:
    """Run a command that is not one training job (it writes no status.json) and exit with its
    code; a user's mistake prints one paragraph and exits 2, an interruption its message, Ctrl-C
    exits 130."""
    try:
        code = task()
    except Interrupted as e:
        print(_paragraph(str(e)), file=sys.stderr)
        raise SystemExit(e.exit_code) from None
    except KeyboardInterrupt:
        print("\nInterrupted (Ctrl-C).", file=sys.stderr)
        raise SystemExit(130) from None
    except UserError as e:
        log.debug("The command stopped", exc_info=True)
        print(_paragraph(f"Error: {e}"), file=sys.stderr)
        raise SystemExit(2) from None
    if code:
        raise SystemExit(code)
