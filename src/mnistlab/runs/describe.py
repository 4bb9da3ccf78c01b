"""What a run is, from its configuration alone: a title, the facts a report starts with, its hyperparameters."""

from __future__ import annotations

from typing import Any

# Said on the terminal and in report.md of a run that validated on the test set.
VALIDATED_ON_TEST = (
    "Validation is the test set in this run (data.val_on_test=true, the lab notebooks' "
    "protocol): best.ckpt and the objective a sweep or search ranks runs by are chosen on the "
    "test images, so the test score of a run chosen that way is optimistic."
)


def model_name(config: dict[str, Any]) -> str:
    return config["model"]["net"]["_target_"].rsplit(".", 1)[-1]


def describe(config: dict[str, Any], detailed: bool = False) -> str:
    """'MLP on MNIST HOG features (8 orientations, 4 px/cell)'; detailed: with the network's settings."""
    data = config["data"]
    net = {k: v for k, v in config["model"]["net"].items() if k != "_target_"}
    title = model_name(config) + (f" {net}" if detailed else "")
    title += f" on {'Fashion-MNIST' if data['dataset'] == 'fashion' else 'MNIST'}"
    hog = data.get("hog")
    if hog:
        title += (
            f" HOG features ({hog['orientations']} orientations, {hog['pixels_per_cell']} px/cell)"
        )
    return title


def run_facts(config: dict[str, Any], parameters: int) -> dict[str, Any]:
    """What a run trained, for its metrics.json: data, features, model, size, seed (and its
    rung, for a run of a ladder in conf/ladder/)."""
    rung = {"rung": dict(config["rung"])} if config.get("rung") else {}
    return {
        "title": describe(config),
        "dataset": config["data"]["dataset"],
        "features": "hog" if config["data"].get("hog") else "pixels",
        "model": model_name(config).lower(),
        "parameters": parameters,
        "seed": config["seed"],
        **rung,
        **({"val_on_test": True} if config["data"].get("val_on_test") else {}),
    }


def augment_summary(augment: dict[str, Any] | None) -> str:
    """'shift=0.1 rotate=10.0 scale=0.1' for the augmentations a run used; 'none' without."""
    used = [
        f"{key}={value}" for key, value in (augment or {}).items()
        if key not in ("_target_", "erase_area") and value
    ]  # fmt: skip
    return " ".join(used) or "none"


def hyperparameters(config: dict[str, Any]) -> dict[str, Any]:
    """The run's hyperparameters as flat scalars and strings, for TensorBoard's HParams tab."""
    scheduler = (config.get("scheduler") or {}).get("scheduler") or {}
    params: dict[str, Any] = {
        "dataset": config["data"]["dataset"],
        "features": "hog" if config["data"].get("hog") else "pixels",
        "model": model_name(config).lower(),
        "seed": config["seed"],
        "init": config["model"].get("init"),
        "optimizer": config["optimizer"]["_target_"].rsplit(".", 1)[-1],
        "lr": config["optimizer"].get("lr"),
        "scheduler": scheduler.get("_target_", "none").rsplit(".", 1)[-1],
        "batch_size": config["data"]["batch_size"],
        "max_epochs": config["trainer"]["max_epochs"],
        "label_smoothing": config["model"].get("label_smoothing", 0.0),
        "augment": augment_summary(config.get("augment")),
    }
    for key, value in config["model"]["net"].items():
        if key != "_target_":
            params[f"net.{key}"] = str(value) if isinstance(value, list) else value
    for key, value in (config["data"].get("hog") or {}).items():
        params[f"hog.{key}"] = value
    return params
