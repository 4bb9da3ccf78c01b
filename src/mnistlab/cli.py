"""What the entry scripts share: a user's mistake ends in one paragraph, not a traceback.

Kept free of heavy imports so that `--help` and config errors answer at once.
"""

from __future__ import annotations

import logging
import sys
import textwrap
from collections.abc import Callable
from typing import TypeVar

from mnistlab.errors import UserError

T = TypeVar("T")
log = logging.getLogger("mnistlab")


def run_guarded(task: Callable[[], T]) -> T:
    """Run `task`; on a UserError print its paragraph, keep the traceback in the log, exit 2."""
    try:
        return task()
    except UserError as e:
        log.debug("Stopped by a user error", exc_info=True)
        print("\n" + textwrap.fill(f"Error: {e}", width=100), file=sys.stderr)
        raise SystemExit(2) from None
