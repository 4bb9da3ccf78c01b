"""What the entry scripts share: each job records how it ended, and a mistake reads as a paragraph.

Kept free of heavy imports so that `--help` and config errors answer at once.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mnistlab.errors import UserError

log = logging.getLogger("mnistlab")
STATUS_FILE = "status.json"


def is_rank_zero() -> bool:
    """False in the extra processes that distributed training starts (they write no files)."""
    return os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"


def in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def write_status(out_dir: Path, status: str, **details: Any) -> None:
    if is_rank_zero():
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / STATUS_FILE).write_text(
            json.dumps({"status": status, **details}, indent=2) + "\n"
        )


def one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if isinstance(error, UserError) else f"{type(error).__name__}: {text}"


def run_job(task: Callable[[], dict[str, Any]], out_dir: Path) -> float | None:
    """Run one job; write status.json; return its test accuracy (Hydra's sweep value).

    A user's mistake prints one paragraph and exits 2 (its traceback goes to the log file).
    Inside a multirun any failure is recorded and the sweep goes on; the sweep's report lists
    it and the sweep exits non-zero at the end.
    """
    try:
        summary = task()
    except Exception as e:
        write_status(out_dir, "failed", reason=one_line(e), error=type(e).__name__)
        log.debug("The job failed", exc_info=True)
        if isinstance(e, UserError):
            print("\n" + textwrap.fill(f"Error: {e}", width=100), file=sys.stderr)
        if in_multirun():
            if not isinstance(e, UserError):
                print(f"\nJob failed ({out_dir}): {one_line(e)}", file=sys.stderr)
            return None
        if isinstance(e, UserError):
            raise SystemExit(2) from None
        raise
    write_status(out_dir, "completed")
    return summary["test"]["acc"]
