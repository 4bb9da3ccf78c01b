"""A guard against Lightning's next release: every argument of its Trainer has been looked at here,
and one not known to behave the same with several minibatches per step means Lightning's own loop.

Each argument is either checked by a test that it does what Lightning documents in this
project's runs (the project's loaders, module and callbacks), or passed to Lightning with the
reason it needs no test of its own. A Trainer argument that is not in the table, as a new
Lightning release would bring, fails the guard until someone has tried it with the project and
put it in the table; meanwhile any value given to it turns grouping off.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
import pytorch_lightning as pl

from conftest import train_config
from mnistlab.config.instantiate import make
from mnistlab.tasks.train import choose_minibatches_per_step
from mnistlab.training.components import build_trainer
from mnistlab.training.interrupt import InterruptGuard
from mnistlab.training.recorder import RunRecorder
from mnistlab.training.steps import (
    ANY_VALUE,
    SAFE_VALUES,
    unsafe_callbacks,
    unsafe_trainer_arguments,
)

TESTS = Path(__file__).resolve().parent

# Argument: the test that checks it ("test_..."), or why none is needed.
TRAINER_ARGUMENTS = {
    # Where training runs.
    "accelerator": "test_the_default_run_prints_the_project_not_lightnings_chatter",
    "devices": "test_ddp_on_two_cpu_processes_scores_the_whole_test_set_once",
    "strategy": "test_ddp_on_two_cpu_processes_scores_the_whole_test_set_once",
    "num_nodes": "passed to Lightning: more machines running the DDP path tested on one",
    "precision": "test_bf16_mixed_precision_changes_the_arithmetic",
    "plugins": "passed to Lightning: precision, environment and checkpoint-IO plugins",
    "sync_batchnorm": "passed to Lightning: batch-norm statistics shared across DDP processes",
    "deterministic": "test_the_same_seed_gives_the_same_test_metrics",
    "benchmark": "passed to Lightning: cuDNN's search for fast kernels (GPU only)",
    "inference_mode": "passed to Lightning: how validation and test turn gradients off",
    "detect_anomaly": "passed to Lightning: autograd's anomaly checks, slower, the same steps",
    # Set by the project itself (mnistlab.training.components.build_trainer).
    "logger": "test_every_tensorboard_record_of_a_run_sits_on_the_optimizer_step_axis",
    "callbacks": "test_early_stopping_stops_when_the_validation_loss_stalls",
    "enable_progress_bar": "test_integer_ones_and_max_time_count_single_minibatches",
    "profiler": "test_a_profiler_that_is_set_is_used_instead_of_the_projects_no_op_one",
    "default_root_dir": "passed to Lightning: conf/trainer sets it to the run's folder",
    # How long training lasts.
    "max_epochs": "test_early_stopping_stops_when_the_validation_loss_stalls",
    "min_epochs": "passed to Lightning: a floor under early stopping; max_epochs still ends a run",
    "max_steps": "test_max_steps_stops_at_exactly_that_step_and_log_every_n_steps_counts_minibatches",
    "min_steps": "passed to Lightning: a floor under early stopping; max_epochs still ends a run",
    "max_time": "test_integer_ones_and_max_time_count_single_minibatches",
    "fast_dev_run": "passed to Lightning: one minibatch of each loader, no loggers",
    "barebones": "refused by Lightning in one sentence with the project's loggers and callbacks",
    # Which minibatches.
    "limit_train_batches": "test_limit_train_batches_counts_minibatches",
    "limit_val_batches": "test_limit_val_batches_and_check_val_every_n_epoch",
    "limit_test_batches": "passed to Lightning: the test table counts the images it scored",
    "limit_predict_batches": "not used: predict.py reads pictures without Lightning's predict loop",
    "overfit_batches": "passed to Lightning: the same few training minibatches every epoch",
    "reload_dataloaders_every_n_epochs": "passed to Lightning: a loader's order is its epoch's",
    "use_distributed_sampler": "not used: the loaders are not DataLoaders; each process takes "
    "its share itself (test_ddp_on_two_cpu_processes_scores_the_whole_test_set_once)",
    # Validation, logging, checkpoints.
    "val_check_interval": "test_val_check_interval_counts_minibatches",
    "check_val_every_n_epoch": "test_limit_val_batches_and_check_val_every_n_epoch",
    "num_sanity_val_steps": "passed to Lightning: 0 in conf/trainer; the recorder skips sanity checks",
    "log_every_n_steps": "test_max_steps_stops_at_exactly_that_step_and_log_every_n_steps_counts_minibatches",
    "enable_checkpointing": "refused by Lightning in one sentence while conf/callbacks has checkpoints",
    "enable_model_summary": "passed to Lightning: off in conf/trainer; the Question 2 table replaces it",
    "enable_autolog_hparams": "passed to Lightning: the project logs its hyperparameters itself",
    "model_registry": "passed to Lightning: uploads to Lightning's model registry (not used here)",
    # How an optimizer step is made.
    "accumulate_grad_batches": "test_accumulate_grad_batches_adds_minibatches_into_one_step",
    "gradient_clip_val": "test_gradient_clipping_bounds_the_gradient",
    "gradient_clip_algorithm": "test_gradient_clipping_bounds_the_gradient",
}


def defined_tests() -> set[str]:
    found = set()
    for path in TESTS.glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                found.add(node.name)
    return found


def test_every_trainer_argument_of_this_lightning_has_been_looked_at():
    arguments = set(inspect.signature(pl.Trainer.__init__).parameters) - {"self"}
    new = sorted(arguments - set(TRAINER_ARGUMENTS))
    assert not new, (
        f"Lightning {pl.__version__}'s Trainer has argument(s) this project has not looked at: "
        f"{new}. Try each with a run, then add it to TRAINER_ARGUMENTS with the test that checks "
        "it or the reason it needs none."
    )
    gone = sorted(set(TRAINER_ARGUMENTS) - arguments)
    assert not gone, f"No longer Trainer arguments (remove them from the table): {gone}"


def test_every_test_the_table_names_exists():
    names = defined_tests()
    for argument, how in TRAINER_ARGUMENTS.items():
        named = [word.strip("(),:") for word in how.split() if word.startswith(("test_", "(test_"))]
        assert all(n in names for n in named), f"{argument}: {how}"


def test_a_callback_setting_not_known_safe_means_lightnings_own_loop():
    """A callback's setting not on the list (one its next release adds, say) is not known safe,
    nor is a callback class the list does not name."""
    checkpoint = {"_target_": "pytorch_lightning.callbacks.ModelCheckpoint", "monitor": "val/loss"}
    assert unsafe_callbacks({"best": checkpoint}, []) == []
    assert unsafe_callbacks({"best": {**checkpoint, "every_n_minibatches": 10}}, []) == [
        "callbacks.best.every_n_minibatches=10"
    ]
    other = {"_target_": "pytorch_lightning.callbacks.StochasticWeightAveraging"}
    assert unsafe_callbacks({"swa": other}, []) == [
        "callbacks.swa (pytorch_lightning.callbacks.StochasticWeightAveraging)"
    ]


def test_a_trainer_argument_not_known_safe_means_lightnings_own_loop():
    arguments = set(inspect.signature(pl.Trainer.__init__).parameters) - {"self"}
    assert ANY_VALUE <= arguments and set(SAFE_VALUES) <= arguments  # no misspelt name
    for name in sorted(arguments - ANY_VALUE):
        assert unsafe_trainer_arguments({name: object()}), name  # a value it does not know
    # Known safe values are compared with their type: an integer 1 is one minibatch, 1.0 all.
    assert unsafe_trainer_arguments({"limit_train_batches": 1, "val_check_interval": 1}) == [
        "trainer.limit_train_batches=1", "trainer.val_check_interval=1",
    ]  # fmt: skip
    assert unsafe_trainer_arguments({"limit_train_batches": 1.0, "max_epochs": 3}) == []


class RecorderThatCounts(RunRecorder):
    """A subclass may act on every Lightning step: not known safe."""


LR_MONITOR = "+callbacks.lr_monitor._target_=pytorch_lightning.callbacks.LearningRateMonitor"
STEP_CHECKPOINT = "+callbacks.every_100._target_=pytorch_lightning.callbacks.ModelCheckpoint"
EARLY_STOPPING = "+callbacks.stop._target_=pytorch_lightning.callbacks.EarlyStopping"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ((), 64),
        (("trainer.limit_train_batches=1.0", "trainer.max_epochs=3"), 64),
        (("+callbacks.model_checkpoint.every_n_epochs=2",), 64),
        ((EARLY_STOPPING, "+callbacks.stop.monitor=val/loss"), 64),
        (("trainer.precision=bf16-mixed",), 64),
        (("minibatches_per_step=1",), 1),
        (("trainer.limit_train_batches=1",), 1),
        (("trainer.val_check_interval=1",), 1),
        (("+trainer.max_time={minutes:5}",), 1),
        (("trainer.accumulate_grad_batches=2",), 1),
        (("trainer.gradient_clip_val=0.5",), 1),
        (("trainer.precision=16-true",), 1),
        (("trainer.profiler=simple",), 1),
        (("scheduler=cosine",), 1),
        (("trainer=ddp_cpu",), 1),
        ((LR_MONITOR,), 1),
        ((STEP_CHECKPOINT, "+callbacks.every_100.every_n_train_steps=100"), 1),
        (("code-built",), 1),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else str(v),
)
def test_several_minibatches_per_step_only_where_every_setting_is_known_safe(
    tmp_path, overrides, expected
):
    code_built = "code-built" in overrides
    overrides = [o for o in overrides if o != "code-built"]
    cfg = train_config(*overrides, f"paths.output_dir={tmp_path}", f"paths.log_dir={tmp_path}")
    recorder = (RecorderThatCounts if code_built else RunRecorder)(["0", "1"], "a run")
    own = [recorder, InterruptGuard("python src/train.py")]
    trainer = build_trainer(cfg, own)
    scheduler = make(cfg.scheduler) if cfg.get("scheduler") else None
    assert choose_minibatches_per_step(cfg, trainer, own, scheduler) == expected
