"""The lock (requirements.lock, written by `make lock`) and pyproject.toml tell one story, and
`make setup` installed what the lock says."""

from __future__ import annotations

import importlib.util
import re
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import ROOT

LOCK = ROOT / "requirements.lock"


def lock_tool():
    spec = importlib.util.spec_from_file_location("lock", ROOT / "tools" / "lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def header() -> dict[str, str]:
    found = re.findall(r"^# ([\w ]+): (.+)$", LOCK.read_text(), flags=re.MULTILINE)
    return dict(found)


def pins() -> dict[str, str]:
    lines = [line for line in LOCK.read_text().splitlines() if line and not line.startswith("#")]
    found = {}
    for line in lines:
        name, _, exact = line.partition("==")
        assert exact, f"not an exact pin: {line!r}"
        found[canonicalize_name(name)] = exact
    return found


def test_the_lock_was_made_from_this_pyproject_and_the_makefiles_torch():
    said = header()
    assert said["pyproject requirements sha256"] == lock_tool().requirements_sha256(), (
        "pyproject.toml's requirements changed since the lock was written: run `make lock`."
    )
    makefile = (ROOT / "Makefile").read_text()
    assert said["torch"] == re.search(r"^TORCH \?= (.+)$", makefile, re.MULTILINE).group(1)
    for pin in said["torch"].split():
        name, _, exact = pin.partition("==")
        assert pins()[canonicalize_name(name)] == exact


def test_every_requirement_of_pyproject_is_locked_at_a_version_it_accepts():
    locked = pins()
    for group, requirements in lock_tool().requirements().items():
        for line in requirements:
            requirement = Requirement(line)
            name = canonicalize_name(requirement.name)
            assert name in locked, f"{line} ({group}) is not in the lock: run `make lock`."
            assert requirement.specifier.contains(locked[name], prereleases=True), (
                f"{line} ({group}) does not accept the locked {name}=={locked[name]}: "
                "run `make lock`."
            )


def test_make_setup_installed_the_locked_versions():
    installed_from = Path(sys.prefix) / ".installed"
    if not installed_from.is_file() or installed_from.read_text().strip() != "requirements.lock":
        pytest.skip("this environment was not installed from the lock (make setup LOCK=...)")
    if header()["python"] != "{}.{}".format(*sys.version_info[:2]):
        pytest.skip(f"the lock is for Python {header()['python']}")
    differ = []
    for name, exact in pins().items():
        try:
            found = version(name)
        except PackageNotFoundError:
            found = None
        if found != exact:
            differ.append(f"{name}: locked {exact}, installed {found}")
    assert differ == [], differ
