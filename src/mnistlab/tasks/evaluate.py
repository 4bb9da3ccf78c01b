"""The eval task: a saved model scored on the test set, with the same files as training."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from mnistlab.models.build import load_trained_net
from mnistlab.models.classifier import Classifier
from mnistlab.reports.params import total_parameters
from mnistlab.runs.describe import describe, run_facts
from mnistlab.terminal import console
from mnistlab.training.checkpoints import history, read_checkpoint, resolve_ckpt_path
from mnistlab.training.components import build_datamodule, build_trainer
from mnistlab.training.recorder import RunRecorder
from mnistlab.training.records import finish_run, record_predictions, show_breakdown
from mnistlab.training.trackers import tracked


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Score a saved model on the test set, rebuilt from what its checkpoint stores."""
    started = time.perf_counter()
    out_dir = Path(cfg.paths.output_dir)
    checkpoint_path, chosen = resolve_ckpt_path(str(cfg.ckpt_path), cfg.paths.log_dir)
    if chosen:
        console.print(chosen)
    checkpoint = read_checkpoint(checkpoint_path)
    stored = checkpoint["hyper_parameters"]
    config = OmegaConf.create(stored["config"])
    config.data.data_dir = cfg.paths.data_dir  # the data lives on this machine, not the trainer's
    net, data = load_trained_net(checkpoint, str(checkpoint_path))
    datamodule = build_datamodule(config.data)
    title = describe(stored["config"])
    breakdown_md = show_breakdown(net, datamodule.input_shape, out_dir)

    recorder = RunRecorder(datamodule.class_names, title, final_step=checkpoint["global_step"])
    trainer = build_trainer(cfg, [recorder])
    module = Classifier(net, optimizer=None, class_names=datamodule.class_names, data=data)
    with tracked(trainer.loggers):  # closed as it ended
        trainer.test(module, datamodule=datamodule, verbose=False)
        scored = time.perf_counter()
        predictions = record_predictions(net, datamodule, recorder)
        trained = history(checkpoint)
        run = {
            "task": "eval",
            "command": f"python src/eval.py ckpt_path={cfg.ckpt_path}",
            "checkpoint": str(checkpoint_path),
            **run_facts(stored["config"], total_parameters(net)),
            "epochs": sum(1 for row in trained if "train/loss" in row),
            "optimizer_steps": checkpoint["global_step"],
            "test_weights": checkpoint_path.name,
            "wall_time_s": round(time.perf_counter() - started, 2),
            "predictions_s": round(time.perf_counter() - scored, 3),
        }
        return finish_run(
            recorder.test, trained, datamodule.class_names, run, breakdown_md, out_dir,
            recorder.pictures, predictions, trainer.loggers,
        )  # fmt: skip
