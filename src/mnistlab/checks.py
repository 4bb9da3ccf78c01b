"""Every setting is checked here, one way: a bad value becomes one paragraph naming it, what is
expected, what the value means, and how to fix it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from mnistlab.errors import ConfigError


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _refuse(key: str, value: Any, expected: str, what: str, hint: str) -> ConfigError:
    return ConfigError(
        f"{key}={value!r} must be {expected}: it is {what}." + (f" {hint}" if hint else "")
    )


def whole_number(
    key: str, value: Any, what: str, *, low: int = 1, high: int | None = None, hint: str = ""
) -> int:
    """`value` when it is a whole number from `low` to `high` (no upper bound when None)."""
    if not _is_whole(value) or value < low or (high is not None and value > high):
        span = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise _refuse(key, value, f"a whole number {span}", what, hint)
    return value


def positive_number(key: str, value: Any, what: str, hint: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise _refuse(key, value, "a positive number", what, hint)
    return float(value)


def fraction(key: str, value: Any, what: str, hint: str = "") -> float:
    """A number in [0, 1), e.g. a dropout rate."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise _refuse(key, value, "a number in [0, 1)", what, hint)
    return float(value)


def number_between(
    key: str, value: Any, low: float, high: float, what: str, hint: str = ""
) -> float:
    """A number from `low` to `high`, both included."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _refuse(key, value, f"a number from {low:g} to {high:g}", what, hint)
    return float(value)


def whole_numbers(key: str, values: Any, what: str, *, allow_empty: bool = False) -> list[int]:
    """A list of positive whole numbers (a single number stands for a list of one)."""
    if _is_whole(values):
        values = [values]
    hint = f"Give e.g. {key}=[300] (a value of 0 or below makes no layer)."
    if not isinstance(values, Sequence) or isinstance(values, str):
        raise _refuse(key, values, "a list of positive whole numbers", what, hint)
    items = list(values)
    if not all(_is_whole(v) and v > 0 for v in items):
        raise _refuse(key, items, "a list of positive whole numbers", what, hint)
    if not items and not allow_empty:
        raise _refuse(key, items, "a list of at least one positive whole number", what, hint)
    return items


def one_of(key: str, value: Any, choices: Iterable[Any], what: str) -> Any:
    choices = list(choices)
    if value not in choices:
        named = ", ".join(str(c) for c in choices)
        raise _refuse(key, value, f"one of {named}", what, "")
    return value
