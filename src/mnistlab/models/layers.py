"""Building blocks shared by the models: activations and Keras' initialisation."""

from __future__ import annotations

from torch import nn

from mnistlab.checks import fraction, one_of

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
}
INITS = ("keras", "torch")


def activation(name: str, key: str) -> nn.Module:
    one_of(key, name, ACTIVATIONS, "the activation after each layer (the lab uses relu)")
    return ACTIVATIONS[name]()


def dropout_rate(p: float, key: str = "model.net.dropout") -> float:
    return fraction(
        key, p, "the fraction of units dropped while training",
        hint=f"Use e.g. {key}=0.5, or {key}=0 for none.",
    )  # fmt: skip


def initialize(net: nn.Module, scheme: str) -> None:
    """Keras' defaults (glorot-uniform weights, zero biases) or PyTorch's own (left as built)."""
    one_of(
        "model.init", scheme, INITS,
        "how weights start: 'keras' is the lab's glorot-uniform weights with zero biases, "
        "'torch' is PyTorch's default",
    )  # fmt: skip
    if scheme == "torch":
        return
    for module in net.modules():
        if isinstance(module, nn.Linear | nn.Conv2d):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
