"""Errors a user can fix: their message is one paragraph, shown without a traceback."""

from __future__ import annotations

from typing import Any


class UserError(Exception):
    """A problem with the user's input or machine, explained in one paragraph."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details  # plain values recorded in the run's status.json


class ConfigError(UserError):
    """A configuration value that cannot work."""


class DataError(UserError):
    """A data file or source that is missing, wrong or cannot be written."""


class DivergedError(UserError):
    """The loss became NaN or infinite."""


class BugError(Exception):
    """An error in the code, not in the user's input: said to be one, its traceback kept."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM stopped training; the message says how to resume."""

    def __init__(self, message: str, exit_code: int, **details: Any) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.details = details


class TrialPruned(Exception):
    """A search's pruner stopped this trial: its validation curve was behind the others'."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details  # recorded in the run's status.json
