"""Errors a user can fix: their message is one paragraph, shown without a traceback."""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input or machine, explained in one paragraph."""


class ConfigError(UserError):
    """A configuration value that cannot work."""


class DataError(UserError):
    """A data file or source that is missing, wrong or cannot be written."""
