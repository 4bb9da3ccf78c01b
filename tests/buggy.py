"""A component with a bug, for the test that a bug inside a component reads as one
(tests/test_reliability.py): its configuration fits its arguments, its code fails."""

from __future__ import annotations

import pytorch_lightning as pl


class CallbackWithABug(pl.Callback):
    def __init__(self, every: int = 1) -> None:
        self.every = len(every)  # the bug: len() of a number raises TypeError
