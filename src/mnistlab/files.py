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
        raise explain_write_error(Path(e.filename or path), e) from e
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise explain_write_error(path, e) from e
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def explain_write_error(path: Path, error: OSError) -> DataError:
    """One paragraph for a write that failed: full disk, no permission, or another OS error."""
    if error.errno == errno.ENOSPC:
        why = "the disk is full"
        fix = "free some space, or choose another disk with paths.data_dir=<folder> or paths.log_dir=<folder>"
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = "this user may not write there (or the disk is read-only)"
        fix = "choose a writable folder with paths.data_dir=<folder> or paths.log_dir=<folder>"
    elif error.errno in (errno.ENOTDIR, errno.EEXIST):
        why = "a file stands where a folder should be"
        fix = "move that file away, or choose another folder with paths.data_dir=<folder> or paths.log_dir=<folder>"
    else:
        why = error.strerror or str(error)
        fix = "check the folder (paths.data_dir, paths.log_dir) and run again"
    return DataError(f"Cannot write {path}: {why}. To fix: {fix}.")
