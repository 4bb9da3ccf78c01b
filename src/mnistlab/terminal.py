"""The project's one console: rich output on a terminal, wide plain lines in logs and pipes."""

from __future__ import annotations

from rich.console import Console

console = Console()
if not console.is_terminal:  # logs and pipes: wide enough that tables do not wrap
    console = Console(width=120)
