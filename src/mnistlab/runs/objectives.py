"""What a sweep or a search optimises: validation metrics, and a net's trainable weights.

Hyperparameters are chosen on validation data, never on the test set; a search for small nets
also counts weights, which are known before training.
"""

from __future__ import annotations

from typing import Any

from mnistlab.errors import ConfigError

WEIGHTS = "weights"  # an objective known before training: the net's trainable weights


def metric_names(setting: Any) -> list[str]:
    """optimized_metric as a list: one name, or several for a search with several objectives."""
    names = [setting] if isinstance(setting, str) else list(setting or [])
    for name in names:
        if name != WEIGHTS and not (isinstance(name, str) and name.startswith("val/")):
            raise ConfigError(
                f"optimized_metric={name!r} must be a validation metric (val/acc, val/loss, "
                f"val/f1_macro) or {WEIGHTS!r} (the trainable weights, for a search that also "
                "wants small nets): hyperparameters are chosen on validation data, never on the "
                "test set."
            )
    if not names:
        raise ConfigError("optimized_metric is empty: give e.g. optimized_metric=val/acc.")
    return names


def objectives(
    names: list[str], history: list[dict[str, float]], epoch: int | None, weights: int
) -> list[dict[str, Any]]:
    """The values a sweep optimises: validation metrics from the epoch whose weights were kept,
    and the net's trainable weights."""
    found = []
    for name in names:
        if name == WEIGHTS:
            found.append({"metric": name, "value": weights})
            continue
        rows = [r for r in history if name in r and (epoch is None or r["epoch"] == epoch)]
        found.append({"metric": name, "value": rows[-1][name] if rows else None, "epoch": epoch})
    return found


def lower_is_better(name: str) -> bool:
    """A loss and a weight count are minimised; accuracies and F1 scores maximised."""
    return name == WEIGHTS or name.endswith("loss")
