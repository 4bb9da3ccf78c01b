"""What an Optuna search found, for its sweep report: each trial's sampled values and
objectives, the best trial or the Pareto front, and the search's history as a figure.

Read from the trials' own folders (trial_NNN/metrics.json, status.json, .hydra/overrides.yaml)
and the search's multirun.yaml, like the rest of the report: no Optuna and no torch here. Test
accuracy is shown alongside, never used to choose.
"""

from __future__ import annotations

from pathlib import Path

from mnistlab.reports.certainty import test_acc_text
from mnistlab.reports.comparison import step_by_step
from mnistlab.reports.plots import save_figure
from mnistlab.reports.protocol import validated_on_test
from mnistlab.reports.run_rows import RunRow
from mnistlab.reports.search_plots import history_figure, pareto_figure
from mnistlab.reports.search_trials import Search, repeats, sampled, trial_of, trial_table, values
from mnistlab.reports.variants import Variant
from mnistlab.runs.folders import read_status
from mnistlab.runs.objectives import WEIGHTS
from mnistlab.terminal import percent, points_interval

HISTORY_PNG, PARETO_PNG = "search_history.png", "search_pareto.png"


def dominates(a: list[float], b: list[float], lower: list[bool]) -> bool:
    """a is at least as good as b on every objective and better on one."""
    signed = [(-x, -y) if low else (x, y) for x, y, low in zip(a, b, lower, strict=True)]
    return all(x >= y for x, y in signed) and any(x > y for x, y in signed)


def pareto_front(trials: list[RunRow], lower: list[bool]) -> list[RunRow]:
    """The trials no other trial dominates."""
    return [t for t in trials if not any(dominates(values(o), values(t), lower) for o in trials)]


def front_steps(front: list[RunRow]) -> tuple[dict[int, str], list[str]]:
    """Each trial on the front against the one before it on validation (McNemar's exact test,
    Holm-corrected along the front): the difference with its interval, within noise or not, and
    a sentence on the neighbours that validation cannot tell apart."""
    found = step_by_step([Variant(str(trial_of(r)), [r]) for r in front], "val")
    steps, within = {}, []
    for row, before, result in zip(front[1:], front, found, strict=False):
        if result is None:
            steps[trial_of(row)] = "untested (no per-example results)"
            continue
        same = not result.detected
        steps[trial_of(row)] = (
            f"{points_interval(result.difference, result.low, result.high)}, "
            + ("within noise" if same else "beyond noise")
        )
        if same:
            within.append(f"{trial_of(before)} and {trial_of(row)}")
    tested = [r for r in found if r is not None]
    if not tested:
        return steps, []
    return steps, [
        f"Neighbours on the front within noise on validation (McNemar's exact test on the "
        f"validation images, Holm-corrected over the {len(tested)} steps): "
        + ("; ".join(within) if within else "none")
        + (
            ". The extra weights between them buy no validation accuracy that can be told apart."
            if within
            else "."
        )
    ]


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
            f"{values(small)[size]:,.0f} (trial {trial_of(small)}, "
            f"`{sampled(small, search.params)}`), at {percent(values(small)[acc])} on validation "
            f"and {percent(small.test_acc)} on the test set."
        )
    for label, weights in search.marks.items():
        under = [r for r in front if values(r)[size] <= weights]
        if under:
            top = max(under, key=lambda r: values(r)[acc])
            lines.append(
                f"With no more weights than {label} ({weights:,}), the front's best is trial "
                f"{trial_of(top)}: {values(top)[size]:,.0f} weights, "
                f"{percent(values(top)[acc])} on validation, {percent(top.test_acc)} on the test set."
            )
    return lines


def search_markdown(folder: Path, search: Search, rows: list[RunRow]) -> list[str]:
    """The report's search section; writes its figures into `folder`."""
    trials = sorted((r for r in rows if trial_of(r) is not None), key=trial_of)
    done = [r for r in trials if r.ok]
    pruned = [r for r in trials if r.pruned]
    test_chose = validated_on_test(done)
    on_test = ", which is the test set here (data.val_on_test=true)" if test_chose else ""
    goals = ", ".join(
        f"{n} ({'minimize' if low else 'maximize'})"
        for n, low in zip(search.names, search.lower, strict=True)
    )
    lines = [
        f"## Search: study `{search.study}` ({search.sampler})",
        "",
        f"{len(trials)} trials ({len(done)} completed, {len(pruned)} pruned, "
        f"{len(trials) - len(done) - len(pruned)} failed or unfinished); objectives: {goals}, chosen on validation data{on_test}, test accuracy "
        "shown alongside. The same command again adds trials to this study.",
        "",
    ]
    if not done:
        return lines + trial_table(trials, search)
    if len(search.names) == 1:
        pick = max if not search.lower[0] else min
        best = pick(done, key=lambda r: values(r)[0])
        lines += [
            f"Best trial: {trial_of(best)}, `{sampled(best, search.params)}`, "
            f"{search.names[0]} {values(best)[0]:.4f}; on the test set {test_acc_text(best)} "
            + (
                "(searched on too: data.val_on_test=true)."
                if test_chose
                else "(reported, not searched on)."
            ),
            "",
        ]
    else:
        front = sorted(pareto_front(done, search.lower), key=lambda r: (values(r), trial_of(r)))
        again = repeats(done, search.params)
        repeated = sorted(n for later in again.values() for n in later)
        steps, noise = front_steps([r for r in front if trial_of(r) not in repeated])
        lines += [
            f"### Pareto front: {len(front)} of {len(done)} trials that no other trial beats on "
            "every objective",
            "",
            *trial_table(front, search, merge=True, steps=steps),
            "",
            *[f"- {s}" for s in [*noise, *_reach_sentences(front, search)]],
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
        history_figure([(trial_of(r), values(r)) for r in done], search.names,
                       search.lower, f"{search.study}: each trial and the best so far",
                       [(trial_of(r), (read_status(r.path) or {}).get("value")) for r in pruned]),
        folder / HISTORY_PNG,
    )  # fmt: skip
    lines += [f"![the search's history]({HISTORY_PNG})", "", "### Every trial", ""]
    return lines + trial_table(trials, search)
