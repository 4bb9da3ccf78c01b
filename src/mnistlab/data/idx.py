"""The IDX file format of MNIST and Fashion-MNIST: write atomically, read, and check a copy."""

from __future__ import annotations

import errno
import hashlib
import os
import struct
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from mnistlab.data.catalog import IDX_FILES, IMAGE_SIZE, DatasetInfo
from mnistlab.errors import DataError

_MAGIC_UBYTE = 0x0800  # unsigned bytes; low byte is the number of dimensions


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array (labels or images)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">I", _MAGIC_UBYTE | array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


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


def read_idx(path: Path) -> np.ndarray:
    """Read an uncompressed IDX file of unsigned bytes into an array, refusing a malformed one."""
    data = Path(path).read_bytes()
    if len(data) < 8:
        raise ValueError(f"only {len(data)} bytes, too short for an IDX header")
    magic = struct.unpack(">I", data[:4])[0]
    ndim = magic & 0xFF
    if magic & 0xFFFFFF00 != _MAGIC_UBYTE or ndim not in (1, 3):
        raise ValueError(f"magic number {magic:#010x} is not an IDX file of bytes")
    offset = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", data[4:offset])
    expected = offset + int(np.prod(shape))
    if len(data) != expected:
        raise ValueError(
            f"{len(data)} bytes where its header {shape} needs {expected} (truncated?)"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def check_copy(info: DatasetInfo, raw_dir: Path) -> dict[str, str]:
    """Problems found in the copy in `raw_dir`, by file key; empty when the copy is right.

    Each file is checked for its structure (header, size, shape), its label counts per class,
    and its sha256 against the catalog.
    """
    problems: dict[str, str] = {}
    for key, name in IDX_FILES.items():
        path = raw_dir / name
        if not path.is_file():
            problems[key] = "missing"
            continue
        split = key.split("_")[0]
        n = info.n_train if split == "train" else info.n_test
        try:
            array = read_idx(path)
        except ValueError as e:
            problems[key] = str(e)
            continue
        want = (n, IMAGE_SIZE, IMAGE_SIZE) if key.endswith("images") else (n,)
        if array.shape != want:
            problems[key] = f"shape {array.shape}, expected {want}"
            continue
        if key.endswith("labels"):
            counts = tuple(np.bincount(array, minlength=len(info.class_names)).tolist())
            want_counts = info.train_counts if split == "train" else info.test_counts
            if counts != want_counts:
                problems[key] = f"labels per class {list(counts)}, expected {list(want_counts)}"
                continue
        if sha256(path) != info.sha256[key]:
            problems[key] = "its content differs from the canonical file (sha256 mismatch)"
    return problems
