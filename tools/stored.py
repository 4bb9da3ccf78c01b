"""What docs/figures/ stores for an entry of its manifest (tools/figures.py writes it): its
runs' metrics and statuses, its report, what its command printed, and source.json. NAME is an
entry, or the path of one of its runs: `cnn`, `cnn_seeds/0`, `lab/notebook-cnn/0`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

STORE = Path(__file__).resolve().parent.parent / "docs" / "figures"


class FigureError(ValueError):
    """A placeholder that no stored file answers."""


def entry(name: str) -> tuple[Path, Path]:
    """The entry's folder and the folder NAME points to (a run inside it, or itself)."""
    top, folder = STORE / name.split("/")[0], STORE / name
    if not (top / "source.json").is_file() or not folder.is_dir():
        kept = sorted(p.name for p in STORE.iterdir() if (p / "source.json").is_file())
        raise FigureError(f"'{name}' is not stored in docs/figures/ (stored: {', '.join(kept)})")
    return top, folder


def metrics(name: str) -> dict[str, Any]:
    _, folder = entry(name)
    if not (folder / "metrics.json").is_file():
        runs = sorted(str(p.parent.relative_to(STORE)) for p in folder.rglob("metrics.json"))
        raise FigureError(f"'{name}' is not one run (its runs: {', '.join(runs[:8])})")
    return json.loads((folder / "metrics.json").read_text())


def source(name: str) -> dict[str, Any]:
    top, _ = entry(name)
    return json.loads((top / "source.json").read_text())


def report(name: str) -> tuple[str, list[str]]:
    """The report NAME stores (a sweep's or the lab's): its file name and lines."""
    _, folder = entry(name)
    for file_name in ("sweep_report.md", "lab_report.md"):
        if (folder / file_name).is_file():
            return file_name, (folder / file_name).read_text().splitlines()
    raise FigureError(f"'{name}' stores no report (sweep_report.md or lab_report.md)")


def statuses(name: str) -> list[dict[str, Any]]:
    _, folder = entry(name)
    return [json.loads(p.read_text()) for p in sorted(folder.rglob("status.json"))]


def printed(name: str) -> str:
    _, folder = entry(name)
    if not (folder / "printed.txt").is_file():
        raise FigureError(f"'{name}' stores no printed output (printed: true in figures.yaml)")
    return (folder / "printed.txt").read_text().rstrip()
