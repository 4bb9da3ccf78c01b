"""Train and evaluate: from Hydra's config to a trained model and a run folder that answers the lab."""

from __future__ import annotations

import errno
import logging
import os
import shlex
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from torch import nn

from mnistlab.analysis.params import (
    breakdown_markdown,
    breakdown_table,
    parameter_breakdown,
    total_parameters,
)
from mnistlab.analysis.plots import confusion_figure, figure_pixels
from mnistlab.analysis.report import results_renderable, run_summary, write_run_files
from mnistlab.checkpoints import InterruptGuard, check_resumable, read_checkpoint, resolve_ckpt_path
from mnistlab.cli import in_multirun, is_rank_zero
from mnistlab.data.datamodule import MnistFamilyDataModule
from mnistlab.data.idx import explain_write_error
from mnistlab.errors import ConfigError, DataError, UserError
from mnistlab.models.classifier import Classifier
from mnistlab.models.layers import initialize

log = logging.getLogger(__name__)
# Lightning's own call into torch's pytree API, deprecated in this torch: not ours to fix.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
console = Console()
if not console.is_terminal:  # logs and pipes: wide enough that tables do not wrap
    console = Console(width=120)


def make(cfg: Any, **kwargs: Any) -> Any:
    """hydra.utils.instantiate, letting a UserError raised inside come out as itself."""
    try:
        return instantiate(cfg, _convert_="all", **kwargs)
    except InstantiationException as e:
        cause = e.__cause__
        if isinstance(cause, UserError):
            raise cause from None
        if isinstance(cause, TypeError):
            raise ConfigError(
                f"{cfg.get('_target_', 'A component')} does not accept its configuration: {cause}."
            ) from e
        raise


def build_datamodule(data_cfg: DictConfig) -> MnistFamilyDataModule:
    datamodule = make(data_cfg)
    datamodule.prepare_data()
    datamodule.setup()
    return datamodule


def build_net(model_cfg: DictConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    net = make(model_cfg.net, input_shape=list(input_shape), num_classes=num_classes)
    initialize(net, model_cfg.get("init", "keras"))
    return net


def describe_run(cfg: DictConfig | dict, net: nn.Module) -> str:
    """A title such as 'MLP on MNIST HOG features (8 orientations, 4 px/cell)'."""
    data = cfg["data"]
    title = (
        f"{type(net).__name__} on {'Fashion-MNIST' if data['dataset'] == 'fashion' else 'MNIST'}"
    )
    hog = data.get("hog")
    if hog:
        title += (
            f" HOG features ({hog['orientations']} orientations, {hog['pixels_per_cell']} px/cell)"
        )
    return title


def run_facts(config: dict[str, Any], net: nn.Module, title: str) -> dict[str, Any]:
    """What a run trained, for its metrics.json: data, features, model, size, seed."""
    return {
        "title": title,
        "dataset": config["data"]["dataset"],
        "features": "hog" if config["data"].get("hog") else "pixels",
        "model": type(net).__name__.lower(),
        "parameters": total_parameters(net),
        "seed": config["seed"],
    }


def show_breakdown(net: nn.Module, input_shape: tuple[int, ...], out_dir: Path | None) -> str:
    """Print the lab's Question 2 table and write it to params.md; return its Markdown."""
    rows = parameter_breakdown(net, input_shape)
    total = total_parameters(net)
    markdown = breakdown_markdown(rows, total, input_shape)
    if not is_rank_zero():
        return markdown
    console.print(breakdown_table(rows, total, input_shape))
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "params.md").write_text(markdown)
    return markdown


def _hydra_config():
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get() if HydraConfig.initialized() else None


def _command(without: tuple[str, ...] = ()) -> str:
    """The command line that started this run (minus the keys in `without`)."""
    hydra_cfg = _hydra_config()
    overrides = list(hydra_cfg.overrides.task) if hydra_cfg else []
    kept = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") not in without]
    return shlex.join(["python", "src/train.py", *kept])  # quoted: [9,9,16] is a shell glob


def _write_failure(out_dir: Path, error: BaseException) -> DataError:
    """A checkpoint or log that could not be written during training (torch words it its own way)."""
    full = isinstance(error, OSError) and error.errno == errno.ENOSPC
    free_mb = shutil.disk_usage(out_dir).free / 2**20 if out_dir.exists() else None
    if full or (free_mb is not None and free_mb < 64):
        why = (
            f"the disk is full ({free_mb:.0f} MB free)"
            if free_mb is not None
            else "the disk is full"
        )
    else:
        why = " ".join(str(error).split())[:200]
    return DataError(
        f"Cannot write the run's checkpoints and logs in {out_dir}: {why}. To fix: free some "
        "space, or write logs elsewhere with paths.log_dir=<folder>, then run again."
    )


def check_run_values(cfg: DictConfig) -> None:
    """Refuse values that would only fail later, once training has started."""
    if cfg.test_weights not in ("last", "best"):
        raise ConfigError(
            f"test_weights={cfg.test_weights!r} must be 'last' (the final model, as the "
            "notebooks) or 'best' (the lowest validation loss)."
        )
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int):
        raise ConfigError(f"seed={cfg.seed!r} must be a whole number, e.g. seed=7.")
    lr = cfg.optimizer.get("lr")
    if isinstance(lr, bool) or not isinstance(lr, int | float) or lr <= 0:
        raise ConfigError(
            f"optimizer.lr={lr!r} is not a positive number: it is the learning rate, the size of "
            "each step. The lab's is optimizer.lr=0.001."
        )
    epochs = cfg.trainer.get("max_epochs")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ConfigError(
            f"trainer.max_epochs={epochs!r} must be a whole number of at least 1 (the notebooks "
            "train for 10)."
        )


def configure_threads(cfg: DictConfig) -> None:
    """Torch threads per job: `threads` if set; in a joblib sweep, the cores shared among jobs."""
    threads = cfg.get("threads")
    hydra_cfg = _hydra_config()
    launcher = hydra_cfg.launcher if hydra_cfg else {}
    if threads is None and "joblib" in str(launcher.get("_target_", "")).lower():
        cores = os.cpu_count() or 1
        jobs = launcher.get("n_jobs") or 1
        jobs = cores if jobs < 0 else min(jobs, cores)
        threads = max(1, cores // jobs)
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ConfigError(
                f"threads={threads!r} must be a positive whole number (torch threads per job), "
                "or null to use every core."
            )
        torch.set_num_threads(threads)
        log.info("Using %d torch thread(s) in this job.", threads)


def hparams_for_tensorboard(plain: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
    """The run's hyperparameters as flat scalars and strings, for TensorBoard's HParams tab."""
    params: dict[str, Any] = {
        **{key: facts[key] for key in ("dataset", "features", "model", "seed")},
        "init": plain["model"].get("init"),
        "optimizer": plain["optimizer"]["_target_"].rsplit(".", 1)[-1],
        "lr": plain["optimizer"].get("lr"),
        "scheduler": (plain.get("scheduler") or {}).get("_target_", "none").rsplit(".", 1)[-1],
        "batch_size": plain["data"]["batch_size"],
        "max_epochs": plain["trainer"]["max_epochs"],
    }
    for key, value in plain["model"]["net"].items():
        if key != "_target_":
            params[f"net.{key}"] = str(value) if isinstance(value, list) else value
    for key, value in (plain["data"].get("hog") or {}).items():
        params[f"hog.{key}"] = value
    return params


def _tensorboard(trainer: pl.Trainer):
    for logger in trainer.loggers:
        if isinstance(logger, pl.loggers.TensorBoardLogger):
            return logger
    return None


def finish_run(
    trainer: pl.Trainer,
    module: Classifier,
    history: list[dict[str, float]],
    run: dict[str, Any],
    title: str,
    breakdown_md: str,
    out_dir: Path,
    hparams: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the run's files, add the confusion matrix to TensorBoard, print the closing tables."""
    summary = run_summary(module.test_results, history, module.class_names, run)
    if not trainer.is_global_zero:
        return summary
    # The results reach the terminal first: a full disk below cannot lose them.
    console.print(results_renderable(summary, title))
    tensorboard = _tensorboard(trainer)
    if tensorboard is not None:
        figure = confusion_figure(
            module.test_results["confusion_matrix"], module.class_names, title
        )
        tensorboard.experiment.add_image(
            "test/confusion_matrix", figure_pixels(figure), trainer.global_step, dataformats="HWC"
        )
        if hparams is not None:  # the HParams tab: hyperparameters with the run's real results
            metrics = {
                "test/acc": summary["test"]["acc"],
                "test/f1_macro": summary["test"]["f1_macro"],
            }
            if summary["best_val_loss"] is not None:
                metrics["val/best_loss"] = summary["best_val_loss"]
            tensorboard.log_hyperparams(hparams, metrics=metrics, step=trainer.global_step)
        tensorboard.experiment.flush()
    try:
        write_run_files(out_dir, summary, title, breakdown_md)
    except OSError as e:
        raise explain_write_error(Path(e.filename or out_dir), e) from e
    console.print(
        f"Run folder: {out_dir}  (metrics.json, report.md, curves.png, confusion_matrix.png)"
    )
    return summary


def train(cfg: DictConfig) -> dict[str, Any]:
    """Train, test once, and write the run folder; return the run's summary."""
    started = time.perf_counter()
    out_dir = Path(cfg.paths.output_dir)
    check_run_values(cfg)
    plain = OmegaConf.to_container(cfg, resolve=True)
    checkpoint_path = None
    if cfg.get("ckpt_path"):
        checkpoint_path = resolve_ckpt_path(str(cfg.ckpt_path), cfg.paths.log_dir)
        check_resumable(read_checkpoint(checkpoint_path), checkpoint_path, plain)
    strategy = str(cfg.trainer.get("strategy", ""))
    if strategy.startswith("ddp") and "spawn" not in strategy and in_multirun():
        raise ConfigError(
            f"trainer.strategy={strategy} starts its extra processes by re-running this command, "
            "which a multirun cannot do. Run each variant as a single run (without -m), or sweep "
            "with one device per job (trainer=cpu, or hydra/launcher=joblib for jobs side by side)."
        )
    configure_threads(cfg)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)

    datamodule = build_datamodule(cfg.data)
    net = build_net(cfg.model, datamodule.input_shape, datamodule.num_classes)
    title = describe_run(cfg, net)
    if is_rank_zero():
        console.print(f"[bold]{title}[/bold]  splits: {datamodule.split_sizes()}")
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    breakdown_md = show_breakdown(net, datamodule.input_shape, out_dir)

    module = Classifier(
        net,
        optimizer=make(cfg.optimizer),
        scheduler=make(cfg.scheduler) if cfg.get("scheduler") else None,
        class_names=datamodule.class_names,
        config=plain,
        data=datamodule.description,
    )
    guard = InterruptGuard(command=_command(without=("ckpt_path",)))
    callbacks = [make(c) for c in cfg.get("callbacks", {}).values() if c] + [guard]
    loggers = [make(c) for c in cfg.get("logger", {}).values() if c]
    trainer: pl.Trainer = make(cfg.trainer, callbacks=callbacks, logger=loggers)

    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=checkpoint_path)
    except BaseException as e:
        if guard.interruption is not None:
            raise guard.interruption from None
        if isinstance(e, OSError) or "file write failed" in str(e):
            raise _write_failure(out_dir, e) from e
        raise
    fit_time = time.perf_counter() - started
    history = [dict(row) for row in module.history]
    trainer.test(
        module,
        datamodule=datamodule,
        ckpt_path="best" if cfg.test_weights == "best" else None,
        verbose=False,
    )

    facts = run_facts(plain, net, title)
    run = {
        "task": "train",
        "command": _command(),
        **facts,
        "epochs": trainer.current_epoch,
        "test_weights": cfg.test_weights,
        "accelerator": type(trainer.accelerator).__name__.replace("Accelerator", "").lower(),
        "fit_time_s": round(fit_time, 2),
        "wall_time_s": round(time.perf_counter() - started, 2),
        "first_batch_unix": module.first_batch_unix,
    }
    hparams = hparams_for_tensorboard(plain, facts)
    return finish_run(trainer, module, history, run, title, breakdown_md, out_dir, hparams)


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Score a saved model on the test set, rebuilt from what its checkpoint stores."""
    started = time.perf_counter()
    out_dir = Path(cfg.paths.output_dir)
    checkpoint_path = resolve_ckpt_path(str(cfg.ckpt_path), cfg.paths.log_dir)
    checkpoint = read_checkpoint(checkpoint_path)
    stored = checkpoint["hyper_parameters"]
    config = OmegaConf.create(stored["config"])
    config.data.data_dir = cfg.paths.data_dir  # the data lives on this machine, not the trainer's

    datamodule = build_datamodule(config.data)
    net = build_net(config.model, datamodule.input_shape, datamodule.num_classes)
    module = Classifier(
        net,
        optimizer=None,
        class_names=datamodule.class_names,
        config=stored["config"],
        data=stored["data"],
    )
    try:
        module.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as e:
        raise ConfigError(
            f"ckpt_path={checkpoint_path} does not fit the model its configuration describes: {str(e).splitlines()[0]}"
        ) from None
    title = describe_run(config, net)
    breakdown_md = show_breakdown(net, datamodule.input_shape, out_dir)

    loggers = [make(c) for c in cfg.get("logger", {}).values() if c]
    trainer: pl.Trainer = make(
        cfg.trainer, logger=loggers, callbacks=[pl.callbacks.RichProgressBar()]
    )
    trainer.test(module, datamodule=datamodule, verbose=False)
    history = checkpoint.get("history", [])
    run = {
        "task": "eval",
        "command": f"python src/eval.py ckpt_path={cfg.ckpt_path}",
        "checkpoint": str(checkpoint_path),
        **run_facts(stored["config"], net, title),
        "epochs": len(history),
        "test_weights": checkpoint_path.name,
        "wall_time_s": round(time.perf_counter() - started, 2),
    }
    return finish_run(trainer, module, history, run, title, breakdown_md, out_dir)
