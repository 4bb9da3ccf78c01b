"""Writing files safely: whole or not at all, and a failed write explained in one paragraph."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from mnistlab.errors import DataError


def atomic_write(path: Path, chunks: Iterable[bytes]) -> None:
    """Write to a temporary file beside `path`, then rename, so readers never see half a file.

    A write that fails (full disk, no permission) raises DataError naming `path`.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise explain_write_error(e, path) from e
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise explain_write_error(e, path) from e
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# What the operating system's errno means for a write, and what a user can do about it.
OTHER_DISK = "choose another disk with paths.data_dir=<folder> or paths.log_dir=<folder>"
WRITE_ERRORS = {
    errno.ENOSPC: ("the disk is full", f"free some space, or {OTHER_DISK}"),
    errno.EDQUOT: (
        "this user's disk quota is used up",
        f"free some of your space, or {OTHER_DISK}",
    ),
    errno.EFBIG: (
        "the file would grow past the largest file this process may write (its file-size "
        "limit, `ulimit -f`)",
        "raise the limit (`ulimit -f unlimited`) or ask whoever set it",
    ),
    errno.EACCES: (
        "this user may not write there (or the disk is read-only)",
        "choose a writable folder with paths.data_dir=<folder> or paths.log_dir=<folder>",
    ),
    errno.ENOTDIR: (
        "a file stands where a folder should be",
        "move that file away, or choose another folder with paths.data_dir=<folder> or "
        "paths.log_dir=<folder>",
    ),
}
WRITE_ERRORS[errno.EPERM] = WRITE_ERRORS[errno.EROFS] = WRITE_ERRORS[errno.EACCES]
WRITE_ERRORS[errno.EEXIST] = WRITE_ERRORS[errno.ENOTDIR]


def why_write_failed(error: OSError) -> tuple[str, str]:
    """Why a write failed, in the operating system's terms (its errno), and the fix."""
    return WRITE_ERRORS.get(
        error.errno,
        (
            error.strerror or str(error),
            "check the folder (paths.data_dir, paths.log_dir) and run again",
        ),
    )


def explain_write_error(error: OSError, default: Path) -> DataError:
    """One paragraph for a write that failed: the file the error names as written (a copy's or a
    rename's destination), else `default`; why, as the operating system said; the fix."""
    path = Path(error.filename2 or error.filename or default)
    why, fix = why_write_failed(error)
    return DataError(f"Cannot write {path}: {why}. To fix: {fix}.")
