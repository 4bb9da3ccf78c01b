"""How many minibatches one Lightning step trains on: several only where nothing could tell.

A Lightning step that trains on several consecutive minibatches, one optimizer step each, gives
the same updates as Lightning's own loop and pays Lightning's per-step cost once: on the MLPs
that cost is a fifth to a third of an epoch. But Lightning counts some settings in its steps
(batch limits, validation intervals, accumulation, clipping, schedulers, time limits), and a
callback or profiler may act on every step. So the decision is made here, from lists of what is
known to behave the same either way: every Trainer argument, callback and setting not on them
means Lightning's own loop, one minibatch per step. Whatever a later Lightning adds falls there.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.strategies import SingleDeviceStrategy

from mnistlab.training.interrupt import InterruptGuard
from mnistlab.training.pruning import Pruning
from mnistlab.training.recorder import RunRecorder

# Trainer arguments whose value never matters to grouping: they act per epoch, on validation or
# test, on where files go, or on each minibatch's arithmetic alike in both loops.
ANY_VALUE = frozenset(
    {
        "accelerator", "default_root_dir", "max_epochs", "max_steps", "limit_val_batches",
        "limit_test_batches", "limit_predict_batches", "check_val_every_n_epoch",
        "num_sanity_val_steps", "log_every_n_steps", "enable_checkpointing",
        "enable_model_summary", "enable_progress_bar", "deterministic", "benchmark",
        "inference_mode", "detect_anomaly", "reload_dataloaders_every_n_epochs",
        "enable_autolog_hparams", "model_registry", "logger", "gradient_clip_algorithm",
        "devices", "num_nodes", "strategy", "sync_batchnorm", "use_distributed_sampler",
    }
)  # fmt: skip
# Trainer arguments that are safe at these values only (compared with their type: 1 is not 1.0).
SAFE_VALUES: dict[str, tuple[Any, ...]] = {
    "precision": ("32-true", "32", 32, "bf16-mixed", None),
    "limit_train_batches": (None, 1.0),
    "val_check_interval": (None, 1.0),
    "accumulate_grad_batches": (1,),
    "gradient_clip_val": (None,),
    "overfit_batches": (0.0, 0),
    "fast_dev_run": (False,),
    "min_epochs": (None,),
    "min_steps": (None,),
    "max_time": (None,),
    "barebones": (False,),
    "plugins": (None,),
    "profiler": (None,),  # the project's own no-op one; a profiler times every Lightning step
    "callbacks": (None,),  # the configured ones are checked below
}
# Callbacks configured by _target_, with the settings known safe (the others may have any value;
# a setting not listed, or one a later release adds, is not known safe).
SAFE_CALLBACKS: dict[str, dict[str, tuple[Any, ...] | None]] = {
    "mnistlab.training.progress.MinibatchProgressBar": {"refresh_per_second": None},
    "pytorch_lightning.callbacks.ModelCheckpoint": {
        **dict.fromkeys(
            (
                "dirpath",
                "filename",
                "monitor",
                "verbose",
                "save_last",
                "save_top_k",
                "save_weights_only",
                "mode",
                "auto_insert_metric_name",
                "every_n_epochs",
                "save_on_train_epoch_end",
                "enable_version_counter",
            ),
        ),  # fmt: skip
        "every_n_train_steps": (None, 0),
        "train_time_interval": (None,),
    },
    "pytorch_lightning.callbacks.EarlyStopping": dict.fromkeys(
        (
            "monitor",
            "min_delta",
            "patience",
            "verbose",
            "mode",
            "strict",
            "check_finite",
            "stopping_threshold",
            "divergence_threshold",
            "check_on_train_epoch_end",
            "log_rank_zero_only",
        ),
    ),  # fmt: skip
}
# Callbacks the project builds in code: these classes exactly (a subclass may act per step).
SAFE_OWN_CALLBACKS = (RunRecorder, InterruptGuard, Pruning)  # Pruning acts after validation


def _known(value: Any, allowed: tuple[Any, ...]) -> bool:
    return any(type(value) is type(a) and value == a for a in allowed)


def unsafe_trainer_arguments(arguments: dict[str, Any]) -> list[str]:
    """The Trainer arguments whose values are not known to behave the same when grouped."""
    return [
        f"trainer.{name}={value}"
        for name, value in arguments.items()
        if name not in ANY_VALUE and not _known(value, SAFE_VALUES.get(name, ()))
    ]


def unsafe_callbacks(configured: dict[str, Any], own: list[pl.Callback]) -> list[str]:
    """The configured callbacks and settings, and the callbacks built in code, not known safe."""
    found = []
    for name, cfg in configured.items():
        if not cfg:
            continue
        settings = SAFE_CALLBACKS.get(str(cfg.get("_target_")))
        if settings is None:
            found.append(f"callbacks.{name} ({cfg.get('_target_')})")
            continue
        for key, value in cfg.items():
            if key.startswith("_"):
                continue
            if key not in settings or (
                settings[key] is not None and not _known(value, settings[key])
            ):
                found.append(f"callbacks.{name}.{key}={value}")
    found += [f"the {type(c).__name__} callback" for c in own if type(c) not in SAFE_OWN_CALLBACKS]
    return found


def minibatches_per_step(
    requested: int,
    trainer_arguments: dict[str, Any],
    trainer: pl.Trainer,
    callbacks: dict[str, Any],
    own_callbacks: list[pl.Callback],
    scheduler: Any,
) -> tuple[int, str]:
    """`requested` where every setting is known to behave the same grouped; else 1. With the
    reason, in a sentence for the run's log."""
    if requested == 1:
        return 1, (
            "Speed: Lightning's own loop, one minibatch each time it calls the model "
            "(minibatches_per_step=1)."
        )
    unsafe = unsafe_trainer_arguments(trainer_arguments)
    if type(trainer.strategy) is not SingleDeviceStrategy:
        unsafe.append(f"the {type(trainer.strategy).__name__} strategy")
    if scheduler:
        unsafe.append("a learning-rate scheduler (Lightning steps it)")
    unsafe += unsafe_callbacks(callbacks, own_callbacks)
    if unsafe:
        return 1, (
            "Speed: Lightning's own loop, one minibatch each time it calls the model; training "
            f"{requested} per call is faster but not known to give the same results with "
            f"{', '.join(unsafe)}."
        )
    return requested, (
        f"Speed: {requested} minibatches each time Lightning calls the model, instead of one: "
        "the same training (each minibatch still one optimizer step, counted and logged as "
        "one), with less of Lightning's overhead; every setting of this run is known to give "
        "the same results this way."
    )
