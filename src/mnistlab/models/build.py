"""Networks from their configuration, and a trained network back from its checkpoint."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf
from torch import nn

from mnistlab.config.instantiate import make
from mnistlab.errors import ConfigError
from mnistlab.models.layers import initialize


def build_net(model_cfg: DictConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """The network `model_cfg.net` describes for inputs of `input_shape`, initialised as `model_cfg.init` says."""
    net = make(model_cfg.net, "model.net", input_shape=list(input_shape), num_classes=num_classes)
    initialize(net, model_cfg.get("init", "keras"))
    return net


def load_trained_net(checkpoint: dict[str, Any], where: str) -> tuple[nn.Module, dict[str, Any]]:
    """The trained network of a checkpoint (in eval mode) and the description of its inputs."""
    stored = checkpoint["hyper_parameters"]
    config, data = OmegaConf.create(stored["config"]), stored["data"]
    net = build_net(config.model, tuple(data["input_shape"]), len(data["class_names"]))
    weights = {
        k.removeprefix("net."): v
        for k, v in checkpoint["state_dict"].items()
        if k.startswith("net.")
    }
    try:
        net.load_state_dict(weights)
    except RuntimeError as e:
        raise ConfigError(
            f"ckpt_path={where} does not fit the model its configuration describes: "
            f"{str(e).splitlines()[0]}"
        ) from None
    return net.eval(), data
