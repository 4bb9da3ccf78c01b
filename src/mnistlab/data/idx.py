"""The IDX files of MNIST and Fashion-MNIST: encoding one, and checking a copy against the catalog.

torchvision reads them (its MNIST and FashionMNIST classes, and `read_sn3_pascalvincent_tensor`
here); it has no writer, hence `idx_bytes`.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import numpy as np
from torchvision.datasets.mnist import read_sn3_pascalvincent_tensor

from mnistlab.data.catalog import IDX_FILES, IMAGE_SIZE, DatasetInfo

_MAGIC_UBYTE = 0x0800  # unsigned bytes; low byte is the number of dimensions


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array (labels or images)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">I", _MAGIC_UBYTE | array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def read_idx(path: Path) -> np.ndarray:
    """An IDX file's array, read by torchvision; ValueError when it is not a whole IDX file."""
    try:
        return read_sn3_pascalvincent_tensor(str(path), strict=True).numpy()
    except (AssertionError, ValueError, KeyError, RuntimeError):
        size = Path(path).stat().st_size
        raise ValueError(
            f"not a whole IDX file ({size:,} bytes: truncated, or its header does not match "
            "its length)"
        ) from None


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
