"""How the project shows things: its one console, and numbers as people read them."""

from __future__ import annotations

from rich.console import Console

console = Console()
if not console.is_terminal:  # logs and pipes: wide enough that tables do not wrap
    console = Console(width=120)


def percent(fraction: float) -> str:
    """0.98071 -> '98.07%'."""
    return f"{100 * fraction:.2f}%"
