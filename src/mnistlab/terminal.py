"""How the project shows things: its one console, and numbers as people read them."""

from __future__ import annotations

from rich.console import Console

console = Console()
if not console.is_terminal:  # logs and pipes: wide enough that tables do not wrap
    console = Console(width=120)


def percent(fraction: float) -> str:
    """0.98071 -> '98.07%'."""
    return f"{100 * fraction:.2f}%"


def with_interval(value: float, interval: tuple[float, float] | list[float] | None) -> str:
    """0.9857 and (0.9832, 0.9879) -> '98.57% (98.32-98.79)'; the value alone without one."""
    if not interval:
        return percent(value)
    low, high = interval
    return f"{percent(value)} ({100 * low:.2f}-{100 * high:.2f})"


def points(difference: float) -> str:
    """0.0012 -> '+0.12 pts' (percentage points)."""
    return f"{100 * difference:+.2f} pts"


def points_interval(difference: float, low: float, high: float) -> str:
    """0.0012 within (-0.0003, 0.0027) -> '+0.12 pts (-0.03 to +0.27)'."""
    return f"{points(difference)} ({100 * low:+.2f} to {100 * high:+.2f})"
