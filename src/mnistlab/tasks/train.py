"""The train task: from Hydra's config to a trained model and a run folder that answers the lab."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from mnistlab.checks import one_of, positive_number, whole_number
from mnistlab.config.hydra_info import command_line, in_multirun
from mnistlab.config.instantiate import check_fits, make
from mnistlab.data.datamodule import MnistFamilyDataModule
from mnistlab.errors import ConfigError
from mnistlab.models.classifier import Classifier
from mnistlab.reports.params import total_parameters
from mnistlab.reports.protocol import margin_of
from mnistlab.runs.describe import VALIDATED_ON_TEST, describe, hyperparameters, run_facts
from mnistlab.runs.folders import CONFIG
from mnistlab.runs.objectives import metric_names, objectives
from mnistlab.runs.ranks import is_rank_zero
from mnistlab.terminal import console
from mnistlab.training.checkpoints import checkpoint_to_resume, read_checkpoint
from mnistlab.training.components import (
    build_datamodule,
    build_trainer,
    configure_threads,
    device_line,
)
from mnistlab.training.interrupt import InterruptGuard
from mnistlab.training.pruning import pruning_callback
from mnistlab.training.recorder import RunRecorder
from mnistlab.training.records import (
    finish_run,
    record_predictions,
    show_breakdown,
    write_failure,
)
from mnistlab.training.steps import minibatches_per_step
from mnistlab.training.trackers import tracked

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict[str, Any]:
    """Train, test once, and write the run folder; return the run's summary."""
    started = time.perf_counter()
    out_dir = Path(cfg.paths.output_dir)
    plain = OmegaConf.to_container(cfg, resolve=True)
    check_run_values(cfg)
    goals = metric_names(cfg.optimized_metric)  # a test metric is refused before training
    resume_from = checkpoint_to_resume(cfg.get("ckpt_path"), cfg.paths.log_dir, plain, out_dir)
    configure_threads(cfg.get("threads"))
    pl.seed_everything(cfg.seed, workers=True, verbose=False)

    datamodule = build_datamodule(cfg.data, cfg.get("augment"))
    module = build_module(cfg, datamodule, plain)
    net = module.net
    title = describe(plain)
    breakdown_md = start_run_folder(cfg, title, datamodule, net, out_dir)
    recorder = RunRecorder(datamodule.class_names, title, hparams=hyperparameters(plain))
    guard = InterruptGuard(command=command_line("src/train.py", without=("ckpt_path",)))
    pruning = pruning_callback(cfg, out_dir)  # a search's trial: its study may stop it early
    own_callbacks = [recorder, guard, *([pruning] if pruning else [])]
    trainer = build_trainer(cfg, own_callbacks)
    with tracked(trainer.loggers):  # one tracker run per job, closed as it ended
        if is_rank_zero():
            console.print(device_line(trainer))
        module.minibatches_per_step = choose_minibatches_per_step(
            cfg, trainer, own_callbacks, module.scheduler
        )

        fit(trainer, module, datamodule, resume_from, guard, recorder, out_dir)
        if pruning is not None and pruning.pruned is not None:
            raise pruning.pruned  # a pruned trial is neither tested nor ranked
        fit_time = time.perf_counter() - started
        tested_epoch = load_test_weights(cfg.test_weights, trainer, module)
        trainer.test(module, datamodule=datamodule, verbose=False)
        scored = time.perf_counter()
        predictions = record_predictions(module.net, datamodule, recorder, trainer.global_step)

        run = {
            "task": "train",
            "command": command_line("src/train.py"),
            **run_facts(plain, total_parameters(net)),
            **training_facts(cfg, trainer, recorder, fit_time, started),
            "predictions_s": round(time.perf_counter() - scored, 3),
        }
        run["objectives"] = objectives(goals, recorder.history, tested_epoch, run["parameters"])
        run["objective"] = run["objectives"][0]  # what sweeps rank by
        return finish_run(
            recorder.test, recorder.history, datamodule.class_names, run, breakdown_md, out_dir,
            recorder.pictures, predictions, trainer.loggers,
        )  # fmt: skip


def check_run_values(cfg: DictConfig) -> None:
    """Refuse values that would only fail later, once training has started."""
    margin_of(cfg)  # read by the sweep's report
    one_of(
        "test_weights", cfg.test_weights, ("last", "best"),
        "the weights scored on the test set: the final model (as the notebooks) or the "
        "lowest validation loss",
    )  # fmt: skip
    whole_number("seed", cfg.seed, "what seeds weights, split and batch order", low=0,
                 hint="E.g. seed=7.")  # fmt: skip
    positive_number(
        "optimizer.lr", cfg.optimizer.get("lr"), "the learning rate, the size of each step",
        hint="The lab's is optimizer.lr=0.001.",
    )  # fmt: skip
    whole_number("trainer.max_epochs", cfg.trainer.get("max_epochs"), "how many times training "
                 "goes through the data", hint="The notebooks train for 10.")  # fmt: skip
    whole_number(
        "minibatches_per_step", cfg.minibatches_per_step,
        "how many minibatches one Lightning step may train on where nothing could tell",
        hint="The default is minibatches_per_step=64; 1 always uses Lightning's own loop.",
    )  # fmt: skip
    strategy = str(cfg.trainer.get("strategy", ""))
    if strategy.startswith("ddp") and "spawn" not in strategy and in_multirun():
        raise ConfigError(
            f"trainer.strategy={strategy} starts its extra processes by re-running this command, "
            "which a multirun cannot do. Run each variant as a single run (without -m), or sweep "
            "with one device per job (trainer=cpu, or hydra/launcher=joblib for jobs side by side)."
        )


def start_run_folder(
    cfg: DictConfig, title: str, datamodule: MnistFamilyDataModule, net: Any, out_dir: Path
) -> str:
    """Print the run's title and Question 2 table; write config.yaml and params.md."""
    if is_rank_zero():
        console.print(f"[bold]{title}[/bold]  splits: {datamodule.split_sizes()}")
        if datamodule.val_on_test:
            console.print(VALIDATED_ON_TEST, style="bold yellow")
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / CONFIG).write_text(OmegaConf.to_yaml(cfg, resolve=True))
    return show_breakdown(net, datamodule.input_shape, out_dir)


def choose_minibatches_per_step(
    cfg: DictConfig, trainer: pl.Trainer, own_callbacks: list[pl.Callback], scheduler: Any
) -> int:
    """How many minibatches each Lightning step trains on (mnistlab.training.steps decides), said
    in the run's log."""
    arguments = OmegaConf.to_container(cfg.trainer, resolve=True)
    arguments.pop("_target_", None)
    callbacks = OmegaConf.to_container(cfg.get("callbacks") or {}, resolve=True)
    chosen, why = minibatches_per_step(
        cfg.minibatches_per_step, arguments, trainer, callbacks, own_callbacks, scheduler
    )
    log.debug(why)
    return chosen


def build_module(
    cfg: DictConfig, datamodule: MnistFamilyDataModule, plain: dict[str, Any]
) -> Classifier:
    """The LightningModule conf/model/ describes, built by Hydra in one instantiate: the network
    for these inputs, its optimizer and schedule; the run's config and data kept with it."""
    for group in ("optimizer", "scheduler"):  # named as the user sets them, not as model.<group>
        check_fits(cfg.get(group), None, group)
    shape = {"input_shape": list(datamodule.input_shape), "num_classes": datamodule.num_classes}
    build = make(cfg.model, "model", _partial_=True, net=shape)
    return build(class_names=datamodule.class_names, config=plain, data=datamodule.description)


def fit(
    trainer: pl.Trainer,
    module: Classifier,
    datamodule: MnistFamilyDataModule,
    resume_from: Path | None,
    guard: InterruptGuard,
    recorder: RunRecorder,
    out_dir: Path,
) -> None:
    """Lightning's fit; an interruption, or a disk that refused the run's files, in one paragraph."""
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from, weights_only=True)
    except BaseException as e:
        if guard.interruption is not None:
            raise guard.interruption from None
        failure = write_failure(out_dir, e)
        if failure is not None:
            raise failure from e
        if hasattr(e, "details"):
            e.details["history"] = recorder.history
        raise


def load_test_weights(test_weights: str, trainer: pl.Trainer, module: Classifier) -> int | None:
    """With test_weights=best, load the best checkpoint's weights; return its epoch (else None)."""
    if test_weights != "best" or not trainer.checkpoint_callback.best_model_path:
        return None
    best = read_checkpoint(trainer.checkpoint_callback.best_model_path)
    module.load_state_dict(best["state_dict"])
    return best["epoch"] + 1


def training_facts(
    cfg: DictConfig, trainer: pl.Trainer, recorder: RunRecorder, fit_time: float, started: float
) -> dict[str, Any]:
    """How the training went, for metrics.json: its length, device and times."""
    return {
        "epochs": trainer.current_epoch,
        "optimizer_steps": trainer.global_step,
        "minibatches_per_step": trainer.lightning_module.minibatches_per_step,
        "test_weights": cfg.test_weights,
        "device": str(trainer.strategy.root_device),
        "fit_time_s": round(fit_time, 2),
        "wall_time_s": round(time.perf_counter() - started, 2),
        "first_batch_unix": recorder.first_batch_unix,
    }
