"""A guard against Lightning's next release: every argument of its Trainer has been looked at here.

Each argument is either checked by a test that it does what Lightning documents in this
project's runs (one minibatch per Lightning step, the project's loaders, module and callbacks),
or passed to Lightning with the reason it needs no test of its own. A Trainer argument that is
not in the table, as a new Lightning release would bring, fails the guard until someone has
tried it with the project and put it in the table.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytorch_lightning as pl

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
    # Set by the project itself (mnistlab.tasks.components.build_trainer).
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
