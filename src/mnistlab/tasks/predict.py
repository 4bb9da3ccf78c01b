"""The predict task: a user's own pictures classified by a trained model, prepared as the training images were.

Imports no training code: a checkpoint, the models and the pictures' recipe are all it needs.
"""

from __future__ import annotations

import csv
import glob
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from PIL import Image
from rich.table import Table

from mnistlab.checks import whole_number
from mnistlab.data.images import Preprocess, load_gray
from mnistlab.errors import ConfigError, DataError, UserError
from mnistlab.serve.predictor import Predictor
from mnistlab.terminal import console
from mnistlab.training.checkpoints import resolve_ckpt_path

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


class SkippedFiles(UserError):
    """Some inputs could not be classified; the others were."""


def find_inputs(pattern: str) -> list[Path]:
    """A file, every picture in a folder, or the files a glob pattern matches."""
    path = Path(pattern).expanduser()
    if path.is_dir():
        found = sorted(
            p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not found:
            raise ConfigError(
                f"inputs={pattern} holds no picture ({', '.join(sorted(IMAGE_SUFFIXES))}); its "
                "subfolders are not searched: give one of them, or a quoted glob with ** ."
            )
        return found
    if path.is_file():
        return [path]
    matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
    if not matches:
        raise ConfigError(
            f"inputs={pattern} matches no file: give a picture, a folder of pictures, or a "
            "quoted glob such as inputs='examples/digits/*.png'."
        )
    return matches


def predict(cfg: DictConfig) -> dict[str, Any]:
    """Classify every input; print a table; write it as CSV. Returns the rows."""
    out_dir = Path(cfg.paths.output_dir)
    steps = Preprocess(**cfg.preprocess)
    steps.check()
    top_k = whole_number("top_k", cfg.top_k, "how many classes are listed per picture")
    pictures = find_inputs(str(cfg.inputs))  # before the model: a wrong path answers at once
    path, chosen = resolve_ckpt_path(str(cfg.ckpt_path), cfg.paths.log_dir)
    if chosen:
        console.print(chosen)
    model = Predictor.load(path)
    top_k = min(top_k, len(model.class_names))

    images, files, skipped = [], [], []
    for file in pictures:
        try:
            images.append(model.see(load_gray(file), steps))
            files.append(file)
        except DataError as e:
            skipped.append((file, str(e)))
            print(f"Skipped: {e}")

    rows: list[dict[str, Any]] = []
    for file, classes in zip(files, model.top(images, top_k) if images else [], strict=True):
        row: dict[str, Any] = {"file": str(file)}
        for rank, (name, probability) in enumerate(classes, start=1):
            suffix = "" if rank == 1 else f"_{rank}"
            row["predicted" if rank == 1 else f"class{suffix}"] = name
            row[f"probability{suffix}"] = round(probability, 4)
        rows.append(row)

    output = Path(cfg.output) if cfg.get("output") else out_dir / "predictions.csv"
    output.parent.mkdir(parents=True, exist_ok=True)
    fields = ["file", "predicted", "probability"] + [
        f"{k}_{r}" for r in range(2, top_k + 1) for k in ("class", "probability")
    ]
    with open(output, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    if cfg.get("save_inputs"):
        folder = out_dir / "inputs"
        folder.mkdir(parents=True, exist_ok=True)
        for file, image in zip(files, images, strict=True):
            Image.fromarray(image).save(folder / f"{file.stem}.png")

    table = Table(title=f"Predictions of {path}", title_justify="left")
    table.add_column("file")
    table.add_column("predicted")
    table.add_column("probability", justify="right")
    for rank in range(2, top_k + 1):
        table.add_column(f"#{rank}")
    for row in rows:
        others = [
            f"{row[f'class_{r}']} ({row[f'probability_{r}']:.3f})" for r in range(2, top_k + 1)
        ]
        table.add_row(
            Path(row["file"]).name,
            f"[bold]{row['predicted']}[/bold]",
            f"{row['probability']:.3f}",
            *others,
        )
    console.print(table)
    console.print(
        f"Written to {output}"
        + (f"; the 28x28 inputs in {out_dir / 'inputs'}" if cfg.get("save_inputs") else "")
    )
    if skipped:
        raise SkippedFiles(
            f"{len(skipped)} of {len(skipped) + len(rows)} input(s) skipped (listed above); the others were classified.",
            skipped=[{"file": str(f), "reason": r} for f, r in skipped],
        )
    return {"rows": rows, "output": str(output)}
