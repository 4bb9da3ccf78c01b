"""The trials of an Optuna search, as their folders tell them: the search's settings (from the
newest trial's Hydra files), each trial's number, sampled values and objectives, and a table.

No Optuna and no torch here.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from mnistlab.launch.study import trial_number
from mnistlab.reports.certainty import test_acc_text
from mnistlab.reports.run_rows import RunRow
from mnistlab.runs.objectives import WEIGHTS, lower_is_better, metric_names


@dataclass
class Search:
    study: str
    sampler: str
    names: list[str]  # the objectives, in the order the trials return them
    params: list[str]  # the searched keys
    marks: dict[str, int]  # reference models drawn on the Pareto figure: their weights
    reach: list[float]  # validation accuracies the report asks "how few weights reach"

    @property
    def lower(self) -> list[bool]:
        return [lower_is_better(n) for n in self.names]


def read_search(rows: list[RunRow]) -> Search | None:
    """The search the trials in `rows` belong to, from the newest trial's Hydra files; None for a
    grid sweep."""
    trials = sorted((r for r in rows if trial_of(r) is not None), key=trial_of)
    hydra_file = trials[-1].path / ".hydra" / "hydra.yaml" if trials else None
    if hydra_file is None or not hydra_file.is_file():
        return None
    sweeper = (yaml.safe_load(hydra_file.read_text())["hydra"] or {}).get("sweeper") or {}
    if "optuna" not in str(sweeper.get("_target_", "")).lower():
        return None
    config = yaml.safe_load((hydra_file.parent / "config.yaml").read_text()) or {}
    extras = config.get("search") or {}
    return Search(
        study=str(sweeper.get("study_name")),
        sampler=str((sweeper.get("sampler") or {}).get("_target_", "")).rsplit(".", 1)[-1],
        names=metric_names(config.get("optimized_metric")),
        params=list(sweeper.get("params") or {}),
        marks={str(k): int(v) for k, v in (extras.get("marks") or {}).items()},
        reach=[float(x) for x in extras.get("reach") or []],
    )


def trial_of(row: RunRow) -> int | None:
    """The trial a run folder holds (None for a run that is not a trial)."""
    return trial_number(row.path)


def values(row: RunRow) -> list[float]:
    """The objectives a completed trial returned to the search, in the search's order."""
    found = row.metrics["run"].get("objectives") or [row.metrics["run"]["objective"]]
    return [float(o["value"]) for o in found]


def sampled(row: RunRow, params: list[str]) -> str:
    chosen = [o for o in row.overrides if o.split("=", 1)[0] in params]
    return " ".join(chosen)


def objectives_text(row: RunRow, names: list[str]) -> str:
    shown = [
        f"{v:,.0f}" if n == WEIGHTS else f"{v:.4f}" for n, v in zip(names, values(row), strict=True)
    ]
    return ", ".join(shown)


def repeats(rows: list[RunRow], params: list[str]) -> dict[int, list[int]]:
    """Trials that sampled the same values as an earlier one: {first trial: [later ones]}
    (the same values and seed train the same model)."""
    first: dict[str, int] = {}
    found: dict[int, list[int]] = {}
    for row in sorted(rows, key=trial_of):
        key, number = sampled(row, params), trial_of(row)
        if key in first:
            found.setdefault(first[key], []).append(number)
        else:
            first[key] = number
    return found


def trial_table(
    rows: list[RunRow], search: Search, merge: bool = False, steps: dict[int, str] | None = None
) -> list[str]:
    """A row per trial; with `merge`, a trial that repeats an earlier one's values is folded
    into that one's row; with `steps`, a column says how each trial differs from the row above."""
    step_column = " vs the row above (validation) |" if steps is not None else ""
    lines = [
        f"| trial | sampled values | objectives: {', '.join(search.names)} |{step_column} "
        "test acc (95% interval) | time |",
        "|---:|---|---|" + ("---|" if steps is not None else "") + "---:|---:|",
    ]
    again = repeats(rows, search.params) if merge else {}
    folded = {n for later in again.values() for n in later}
    for row in rows:
        number = trial_of(row)
        if number in folded:
            continue
        also = f" (and {', '.join(map(str, again[number]))})" if number in again else ""
        if row.ok:
            lines.append(
                f"| {number}{also} | `{sampled(row, search.params)}` | "
                f"{objectives_text(row, search.names)} |"
                + (f" {steps.get(number, '')} |" if steps is not None else "")
                + f" {test_acc_text(row)} | "
                f"{row.metrics['run']['wall_time_s']:.0f} s |"
            )
        else:
            reason = f": {row.reason}" if row.reason else ""
            lines.append(
                f"| {number}{also} | `{sampled(row, search.params)}` | {row.status}{reason} | | |"
                + (" |" if steps is not None else "")
            )
    return lines
