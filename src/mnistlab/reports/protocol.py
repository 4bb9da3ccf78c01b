"""What a report may claim about how runs were judged: on which images their choices were made
(validation, or the test set under data.val_on_test=true, which every report then says), and
compare.margin, the difference too small to matter (a tie is not an equivalence without one).
"""

from __future__ import annotations

from typing import Any

from mnistlab.checks import positive_number
from mnistlab.reports.run_rows import RunRow

CHOSEN_ON_TEST = (
    "**Chosen on the test set.** These runs validated on the test set (data.val_on_test=true, the "
    "lab notebooks' protocol), so every choice below made on validation (the best run, the "
    "variants that tie with it and the pick among them, a search's trials, best.ckpt) was made "
    "on the test images, and the chosen runs' test scores are optimistic. Leave "
    "data.val_on_test out to choose on a split held out of the training images."
)


def margin_setting(value: Any) -> float | None:
    """compare.margin, given in accuracy points, as a fraction (None when not set)."""
    if value is None:
        return None
    what = (
        "the difference in accuracy, in points, too small to matter: a difference whose whole "
        "95% interval lies within ±margin is called equivalent"
    )
    return positive_number("compare.margin", value, what, "E.g. compare.margin=0.2.") / 100


def margin_of(config: Any) -> float | None:
    """A sweep's compare.margin, checked, as a fraction (None where not set)."""
    return margin_setting((config.get("compare") or {}).get("margin"))


def validated_on_test(rows: list[RunRow]) -> bool:
    """Whether any of the completed `rows` validated on the test set (data.val_on_test=true)."""
    return any(r.validated_on_test for r in rows if r.ok)


def ranks_nothing(rows: list[RunRow]) -> str:
    """What ranked the runs, in words for a parenthesis."""
    if validated_on_test(rows):
        return "the test set, which is the validation set here: data.val_on_test=true"
    return "the test set ranks nothing"


def never_the_test_set(rows: list[RunRow]) -> str:
    """What a choice made on validation was made on, in words for a sentence's end."""
    if validated_on_test(rows):
        return "on the test set, which is the validation set here (data.val_on_test=true)"
    return "never by the test set"
