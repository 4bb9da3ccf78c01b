"""What a task leaves behind: the tables on the terminal and the files of its run folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mnistlab.errors import DataError
from mnistlab.files import explain_write_error
from mnistlab.reports.params import (
    breakdown_markdown,
    breakdown_table,
    parameter_breakdown,
    total_parameters,
)
from mnistlab.reports.predictions import (
    PREDICTIONS,
    SplitPredictions,
    probabilities_to_predictions,
    split_predictions,
    write_predictions,
)
from mnistlab.reports.run_report import results_renderable, run_summary, write_run_files
from mnistlab.runs.ranks import is_rank_zero
from mnistlab.terminal import console
from mnistlab.training.trackers import after_run


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
    net: nn.Module, datamodule: Any, recorder: Any, final_step: int | None = None
) -> dict[str, SplitPredictions]:
    """Each example's results, for predictions.npz (rank zero only; finish_run writes them).

    Test: the examples the test pass scored (its confusion matrix counts them: all, unless
    trainer.limit_test_batches cut it; the test loader keeps the set's order), with the
    probabilities that pass computed. Validation: every image, with the model as tested: the
    last validation pass's probabilities when it ran after the `final_step` (training's last
    optimizer step) and the model gives the same on its first images again (whatever a callback
    did to the weights since), else scored anew.
    """
    if not is_rank_zero():
        return {}
    tensors, index, kept = datamodule.tensors, datamodule.indices, recorder.outputs
    tested = int(np.asarray(recorder.test["confusion_matrix"]).sum())
    splits = {}
    for split, size in (("val", len(tensors["val_y"])), ("test", tested)):
        x, y, where = (
            tensors[f"{split}_x"][:size],
            tensors[f"{split}_y"][:size],
            index[split][:size],
        )
        outputs = kept.get(split)
        if (
            outputs
            and torch.equal(outputs["label"], y.cpu())
            and (split == "test" or (outputs["step"] == final_step and _same(net, x, outputs)))
        ):
            splits[split] = probabilities_to_predictions(outputs["probabilities"], y, where)
        else:
            splits[split] = split_predictions(net, x, y, where)
    return splits


def _same(net: nn.Module, x: torch.Tensor, outputs: dict[str, Any], check: int = 500) -> bool:
    """Whether `net` gives the kept probabilities again on the first `check` inputs."""
    again = split_predictions(net, x[:check], outputs["label"][:check], torch.arange(check))
    return np.allclose(again.probabilities, outputs["probabilities"][:check].numpy(), atol=1e-4)


def finish_run(
    results: dict[str, Any],
    history: list[dict[str, float]],
    class_names: list[str],
    run: dict[str, Any],
    breakdown_md: str,
    out_dir: Path,
    pictures: dict[str, np.ndarray] | None = None,
    predictions: dict[str, SplitPredictions] | None = None,
    loggers: list[Any] | None = None,
) -> dict[str, Any]:
    """Print the closing tables and write the run's files, then send them to the `loggers` that
    keep files and say where each tracker's run is; return the run's summary.

    The run's facts gain what the per-example work cost: `predictions_s` (gathering the results,
    given, and writing their file) and `intervals_s` (the summary's intervals)."""
    began = time.perf_counter()
    summary = run_summary(results, history, class_names, run, predictions)
    run["intervals_s"] = round(time.perf_counter() - began, 3)
    if not is_rank_zero():
        return summary
    console.print(results_renderable(summary, run["title"]))  # first: a full disk cannot lose them
    try:
        if predictions:
            began = time.perf_counter()
            write_predictions(out_dir, predictions)
            spent = run.get("predictions_s", 0.0) + time.perf_counter() - began
            run["predictions_s"] = round(spent, 3)
        write_run_files(out_dir, summary, run["title"], breakdown_md, pictures)
    except OSError as e:
        raise explain_write_error(e, out_dir) from e
    files = [*(pictures or {}), *([PREDICTIONS] if predictions else [])]
    console.print(
        f"Run folder: {out_dir}  (metrics.json, report.md, curves.png, confusion_matrix.png"
        + ", ".join(["", *files])
        + ")"
    )
    for line in after_run(loggers or [], out_dir):
        console.print(line, soft_wrap=True)
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
