"""What a task leaves behind: the tables on the terminal and the files of its run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from mnistlab.analysis.params import (
    breakdown_markdown,
    breakdown_table,
    parameter_breakdown,
    total_parameters,
)
from mnistlab.analysis.predictions import (
    PREDICTIONS,
    SPLITS,
    SplitPredictions,
    split_predictions,
    write_predictions,
)
from mnistlab.analysis.run_report import results_renderable, run_summary, write_run_files
from mnistlab.errors import DataError
from mnistlab.files import explain_write_error
from mnistlab.ranks import is_rank_zero
from mnistlab.terminal import console


def show_breakdown(net: nn.Module, input_shape: tuple[int, ...], out_dir: Path | None) -> str:
    """Print the lab's Question 2 table and write it to params.md; return its Markdown."""
    rows = parameter_breakdown(net, input_shape)
    total = total_parameters(net)
    markdown = breakdown_markdown(rows, total, input_shape)
    if is_rank_zero():
        console.print(breakdown_table(rows, total, input_shape))
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / "params.md").write_text(markdown)
    return markdown


def record_predictions(
    net: nn.Module, datamodule: Any, out_dir: Path, results: dict[str, Any]
) -> dict[str, SplitPredictions]:
    """Score the validation and test sets once more, example by example, with the model as
    tested, and write predictions.npz (rank zero only). For the test set, the examples the test
    pass scored (`results`' confusion matrix counts them: all, unless trainer.limit_test_batches
    cut it, and the test loader keeps the set's order); for validation, every image."""
    if not is_rank_zero():
        return {}
    tensors = datamodule.tensors
    tested = int(np.asarray(results["confusion_matrix"]).sum())
    kept = {"val": len(tensors["val_y"]), "test": tested}
    splits = {
        split: split_predictions(
            net,
            tensors[f"{split}_x"][: kept[split]],
            tensors[f"{split}_y"][: kept[split]],
            datamodule.indices[split][: kept[split]],
        )  # fmt: skip
        for split in SPLITS
    }
    write_predictions(out_dir, splits)
    return splits


def finish_run(
    results: dict[str, Any],
    history: list[dict[str, float]],
    class_names: list[str],
    run: dict[str, Any],
    breakdown_md: str,
    out_dir: Path,
    pictures: dict[str, np.ndarray] | None = None,
    predictions: dict[str, SplitPredictions] | None = None,
) -> dict[str, Any]:
    """Print the closing tables and write the run's files; return the run's summary."""
    summary = run_summary(results, history, class_names, run, predictions)
    if not is_rank_zero():
        return summary
    console.print(results_renderable(summary, run["title"]))  # first: a full disk cannot lose them
    try:
        write_run_files(out_dir, summary, run["title"], breakdown_md, pictures)
    except OSError as e:
        raise explain_write_error(e, out_dir) from e
    files = [*(pictures or {}), *([PREDICTIONS] if predictions else [])]
    console.print(
        f"Run folder: {out_dir}  (metrics.json, report.md, curves.png, confusion_matrix.png"
        + ", ".join(["", *files])
        + ")"
    )
    return summary


def write_failure(out_dir: Path, error: BaseException) -> DataError | None:
    """The error to show when training stopped because its checkpoints or logs could not be
    written: the operating system's own reason (an OSError in the exception or its causes), or
    None when no write failed."""
    cause = os_error(error)
    if cause is None:
        return None
    return explain_write_error(cause, out_dir)


def os_error(error: BaseException | None) -> OSError | None:
    """The first OSError with an errno in `error` and the exceptions it was raised from."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno is not None:
            return error
        error = error.__cause__ or error.__context__
    return None
