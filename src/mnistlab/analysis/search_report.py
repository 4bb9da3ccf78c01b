"""What an Optuna search found, for its sweep report: each trial's sampled values and
objectives, the best trial or the Pareto front, and the search's history as a figure.

Read from the trials' own folders (trial_NNN/metrics.json, status.json, .hydra/overrides.yaml)
and the search's multirun.yaml, like the rest of the report: no Optuna and no torch here. Test
accuracy is shown alongside, never used to choose.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from mnistlab.analysis.plots import save_figure
from mnistlab.analysis.run_rows import RunRow
from mnistlab.analysis.search_plots import history_figure, pareto_figure
from mnistlab.objectives import WEIGHTS, lower_is_better, metric_names
from mnistlab.study import trial_number
from mnistlab.terminal import percent

HISTORY_PNG, PARETO_PNG = "search_history.png", "search_pareto.png"


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
    trials = sorted((r for r in rows if _number(r) is not None), key=_number)
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


def _number(row: RunRow) -> int | None:
    """The trial a run folder holds (None for a run that is not a trial)."""
    return trial_number(row.path)


def values(row: RunRow) -> list[float]:
    """The objectives a completed trial returned to the search, in the search's order."""
    found = row.metrics["run"].get("objectives") or [row.metrics["run"]["objective"]]
    return [float(o["value"]) for o in found]


def dominates(a: list[float], b: list[float], lower: list[bool]) -> bool:
    """a is at least as good as b on every objective and better on one."""
    signed = [(-x, -y) if low else (x, y) for x, y, low in zip(a, b, lower, strict=True)]
    return all(x >= y for x, y in signed) and any(x > y for x, y in signed)


def pareto_front(trials: list[RunRow], lower: list[bool]) -> list[RunRow]:
    """The trials no other trial dominates."""
    return [t for t in trials if not any(dominates(values(o), values(t), lower) for o in trials)]


def sampled(row: RunRow, params: list[str]) -> str:
    chosen = [o for o in row.overrides if o.split("=", 1)[0] in params]
    return " ".join(chosen)


def _objectives_text(row: RunRow, names: list[str]) -> str:
    shown = [
        f"{v:,.0f}" if n == WEIGHTS else f"{v:.4f}" for n, v in zip(names, values(row), strict=True)
    ]
    return ", ".join(shown)


def repeats(rows: list[RunRow], params: list[str]) -> dict[int, list[int]]:
    """Trials that sampled the same values as an earlier one: {first trial: [later ones]}
    (the same values and seed train the same model)."""
    first: dict[str, int] = {}
    found: dict[int, list[int]] = {}
    for row in sorted(rows, key=_number):
        key, number = sampled(row, params), _number(row)
        if key in first:
            found.setdefault(first[key], []).append(number)
        else:
            first[key] = number
    return found


def _trial_table(rows: list[RunRow], search: Search, merge: bool = False) -> list[str]:
    """A row per trial; with `merge`, a trial that repeats an earlier one's values is folded
    into that one's row."""
    lines = [
        f"| trial | sampled values | objectives: {', '.join(search.names)} | test acc | time |",
        "|---:|---|---|---:|---:|",
    ]
    again = repeats(rows, search.params) if merge else {}
    folded = {n for later in again.values() for n in later}
    for row in rows:
        number = _number(row)
        if number in folded:
            continue
        also = f" (and {', '.join(map(str, again[number]))})" if number in again else ""
        if row.ok:
            lines.append(
                f"| {number}{also} | `{sampled(row, search.params)}` | "
                f"{_objectives_text(row, search.names)} | {percent(row.test_acc)} | "
                f"{row.metrics['run']['wall_time_s']:.0f} s |"
            )
        else:
            reason = f": {row.reason}" if row.reason else ""
            lines.append(
                f"| {number}{also} | `{sampled(row, search.params)}` | {row.status}{reason} | | |"
            )
    return lines


def _reach_sentences(front: list[RunRow], search: Search) -> list[str]:
    """How few weights reach each accuracy the search asks about (on validation)."""
    if "val/acc" not in search.names or WEIGHTS not in search.names:
        return []
    acc, size = search.names.index("val/acc"), search.names.index(WEIGHTS)
    lines = []
    for level in search.reach:
        reaching = [r for r in front if values(r)[acc] >= level]
        if not reaching:
            best = max(values(r)[acc] for r in front)
            lines.append(
                f"No trial reached {percent(level)} validation accuracy (best {percent(best)})."
            )
            continue
        small = min(reaching, key=lambda r: values(r)[size])
        lines.append(
            f"How few weights reach {percent(level)} validation accuracy: "
            f"{values(small)[size]:,.0f} (trial {_number(small)}, "
            f"`{sampled(small, search.params)}`), at {percent(values(small)[acc])} on validation "
            f"and {percent(small.test_acc)} on the test set."
        )
    for label, weights in search.marks.items():
        under = [r for r in front if values(r)[size] <= weights]
        if under:
            top = max(under, key=lambda r: values(r)[acc])
            lines.append(
                f"With no more weights than {label} ({weights:,}), the front's best is trial "
                f"{_number(top)}: {values(top)[size]:,.0f} weights, "
                f"{percent(values(top)[acc])} on validation, {percent(top.test_acc)} on the test set."
            )
    return lines


def search_markdown(folder: Path, search: Search, rows: list[RunRow]) -> list[str]:
    """The report's search section; writes its figures into `folder`."""
    trials = sorted((r for r in rows if _number(r) is not None), key=_number)
    done = [r for r in trials if r.ok]
    goals = ", ".join(
        f"{n} ({'minimize' if low else 'maximize'})"
        for n, low in zip(search.names, search.lower, strict=True)
    )
    lines = [
        f"## Search: study `{search.study}` ({search.sampler})",
        "",
        f"{len(trials)} trials ({len(done)} completed, {len(trials) - len(done)} failed or "
        f"unfinished); objectives: {goals}, chosen on validation data, test accuracy shown "
        "alongside. The same command again adds trials to this study.",
        "",
    ]
    if not done:
        return lines + _trial_table(trials, search)
    if len(search.names) == 1:
        pick = max if not search.lower[0] else min
        best = pick(done, key=lambda r: values(r)[0])
        lines += [
            f"Best trial: {_number(best)}, `{sampled(best, search.params)}`, "
            f"{search.names[0]} {values(best)[0]:.4f}; on the test set {percent(best.test_acc)} "
            "(reported, not searched on).",
            "",
        ]
    else:
        front = sorted(pareto_front(done, search.lower), key=lambda r: (values(r), _number(r)))
        again = repeats(done, search.params)
        repeated = sorted(n for later in again.values() for n in later)
        lines += [
            f"### Pareto front: {len(front)} of {len(done)} trials that no other trial beats on "
            "every objective",
            "",
            *_trial_table(front, search, merge=True),
            "",
            *[f"- {s}" for s in _reach_sentences(front, search)],
            *(
                [
                    f"- {len(repeated)} trial(s) sampled values an earlier trial had (trials "
                    f"{', '.join(map(str, repeated))}): the same values and seed train the same "
                    "model, so they add nothing but time."
                ]
                if repeated
                else []
            ),  # fmt: skip
            "",
        ]
        if WEIGHTS in search.names and len(search.names) == 2:
            score = 1 - search.names.index(WEIGHTS)
            point = lambda r: (values(r)[1 - score], values(r)[score])  # noqa: E731
            save_figure(
                pareto_figure([point(r) for r in done], [point(r) for r in front], search.marks,
                              f"{search.names[score]} (validation)",
                              f"{search.study}: every trial, the front in red"),
                folder / PARETO_PNG,
            )  # fmt: skip
            lines += [f"![validation score against weights]({PARETO_PNG})", ""]
    save_figure(
        history_figure([(_number(r), values(r)) for r in done], search.names,
                       search.lower, f"{search.study}: each trial and the best so far"),
        folder / HISTORY_PNG,
    )  # fmt: skip
    lines += [f"![the search's history]({HISTORY_PNG})", "", "### Every trial", ""]
    return lines + _trial_table(trials, search)
