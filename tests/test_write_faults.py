"""Files that cannot be written: a folder in the way, a full disk, a file-size limit. Each is
said as the operating system said it (its errno), never guessed, with no traceback and no
half-written file left."""

from __future__ import annotations

import functools
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, TINY, run_in_process, script_env

BIG_CHECKPOINT = "model.net.hidden=[2000]"  # about 13 MB of weights and optimizer state


def test_a_data_folder_that_cannot_be_written_is_named(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, _ = run_in_process(tmp_path, data_dir=blocker / "data")
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and f"Cannot write {blocker}" in err and "paths.data_dir" in err


@functools.cache
def no_small_disk() -> str | None:
    """Why a small filesystem cannot be made here, or None. `unshare` gives the command a mount
    namespace of its own, where any user (not only root) may mount a tmpfs, where the kernel
    allows user namespaces."""
    if not shutil.which("unshare"):
        return "the unshare command (util-linux) is missing"
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True, text=True
    )
    if probe.returncode:
        return f"this kernel or container refuses user namespaces ({probe.stderr.strip()})"
    return None


def on_a_small_disk(disk: Path, *command: str, data_dir: Path | None = None):
    """Run `command` with a real 3 MB filesystem (tmpfs) mounted at `disk`, its logs there;
    return the finished process and the files left on that filesystem."""
    if reason := no_small_disk():
        pytest.skip(f"No small filesystem can be made here: {reason}")
    disk.mkdir()
    listing = disk.parent / "left-on-disk.txt"
    script = (
        'mount -t tmpfs -o size=3m tmpfs "$0" || exit 99; "$@"; code=$?; '
        f'find "$0" -type f > "{listing}"; exit $code'
    )
    env = script_env(disk)
    if data_dir is not None:
        env["MNISTLAB_DATA_DIR"] = str(data_dir)
    result = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, str(disk),
         *command],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode != 99, result.stderr
    return result, listing.read_text().split()


@pytest.mark.slow
def test_a_full_disk_while_writing_data_says_so(tmp_path):
    disk = tmp_path / "disk"
    result, left = on_a_small_disk(
        disk, sys.executable, "src/train.py", *TINY, data_dir=disk / "data"
    )
    err = " ".join(result.stderr.split())
    assert result.returncode == 2 and "the disk is full" in err and str(disk) in err
    assert "Traceback" not in result.stderr
    assert [f for f in left if "/data/" in f] == []  # no half-written data file left


@pytest.mark.slow
def test_a_full_disk_while_writing_checkpoints_says_so(tmp_path):
    disk = tmp_path / "disk"
    result, _ = on_a_small_disk(disk, sys.executable, "src/train.py", *TINY, BIG_CHECKPOINT)
    err = " ".join(result.stderr.split())
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"Cannot write {disk}" in err and "the disk is full" in err and "paths.log_dir" in err
    assert "Traceback" not in result.stderr


def _file_size_limit(megabytes: int) -> None:
    # Past the limit, a write fails with EFBIG instead of killing the process with SIGXFSZ.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    limit = megabytes * 2**20
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.slow
def test_a_file_size_limit_is_named_as_such_not_taken_for_a_full_disk(tmp_path):
    """A normal user's own limit (`ulimit -f`): the disk has room, and the error says what did
    stop the write."""
    result = subprocess.run(
        [sys.executable, "src/train.py", *TINY, BIG_CHECKPOINT],
        cwd=ROOT, env=script_env(tmp_path), capture_output=True, text=True, timeout=600,
        preexec_fn=functools.partial(_file_size_limit, 4),
    )  # fmt: skip
    err = " ".join(result.stderr.split())
    assert result.returncode == 2, result.stderr[-2000:]
    assert "file-size limit" in err and "ulimit -f" in err and str(tmp_path) in err
    assert "disk is full" not in err and "Traceback" not in result.stderr
