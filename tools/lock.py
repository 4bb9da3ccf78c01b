"""The lock: every package's exact version, as pip resolves pyproject.toml's ranges today.

    make lock     # pip resolves (without installing) and this script writes requirements.lock

`make setup` installs with the lock as pip constraints, so the same commit installs the same
versions next month; `make setup LOCK=` resolves the ranges afresh (another Python, another torch
build). The lock's first lines name what it was made from: the Python, the torch pin and a
checksum of pyproject.toml's requirements, which tests/test_lock.py compares with the files.

    python tools/lock.py <pip's --report JSON> <python version> <torch pin>  > requirements.lock
"""

from __future__ import annotations

import hashlib
import json
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "mnistlab"


def requirements(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, list[str]]:
    """pyproject.toml's requirements: the dependencies and each extra's."""
    project = tomllib.loads(pyproject.read_text())["project"]
    return {"dependencies": project["dependencies"], **project["optional-dependencies"]}


def requirements_sha256(pyproject: Path = ROOT / "pyproject.toml") -> str:
    return hashlib.sha256(json.dumps(requirements(pyproject), sort_keys=True).encode()).hexdigest()


def lock_text(report: dict, python: str, torch: str) -> str:
    pins = sorted(
        (item["metadata"]["name"].lower(), item["metadata"]["version"])
        for item in report["install"]
        if item["metadata"]["name"].lower() != PROJECT
    )
    header = [
        "# requirements.lock: written by `make lock` (tools/lock.py); do not edit by hand.",
        f"# python: {python}",
        f"# torch: {torch}",
        f"# pyproject requirements sha256: {requirements_sha256()}",
    ]
    return "\n".join([*header, *(f"{name}=={version}" for name, version in pins)]) + "\n"


if __name__ == "__main__":
    report_file, python, torch = sys.argv[1:4]
    sys.stdout.write(lock_text(json.loads(Path(report_file).read_text()), python, torch))
