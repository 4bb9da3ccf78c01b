"""The lab's Question 2: weights per layer, with the arithmetic, and the exact total."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from rich.table import Table
from torch import nn

# Layers shown in the table, by the names a student reads (activations are folded into the layer
# before, as Keras shows them).


@dataclass
class LayerRow:
    name: str
    kind: str
    output_shape: tuple[int, ...]
    arithmetic: str
    count: int


def _arithmetic(module: nn.Module) -> tuple[str, int]:
    count = sum(p.numel() for p in module.parameters() if p.requires_grad)
    bias = module.bias.numel() if getattr(module, "bias", None) is not None else 0
    if isinstance(module, nn.Linear):
        weights = f"{module.in_features} x {module.out_features}"
    elif isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        weights = f"{kh} x {kw} x {module.in_channels} x {module.out_channels}"
    elif isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d) and module.affine:
        # A scale and a shift per channel are learned; the running mean and variance are not.
        n = module.num_features
        return f"{n} scales + {n} shifts = {count:,}", count
    else:
        return "", count
    return (f"{weights} + {bias} = {count:,}" if bias else f"{weights} = {count:,}"), count


_NAMES = {
    nn.Linear: "Dense", nn.Conv2d: "Conv", nn.BatchNorm1d: "Batch norm", nn.BatchNorm2d: "Batch norm",
    nn.MaxPool2d: "Max pool", nn.AdaptiveAvgPool2d: "Global average pool", nn.Flatten: "Flatten",
    nn.Dropout: "Dropout",
}  # fmt: skip


def layer_name(module: nn.Module, number: int) -> str:
    """A layer as a student reads it: "Conv 1 (9 filters 5x5)", "Dense 2 (10 units)", "Max pool 1"."""
    name = f"{_NAMES[type(module)]} {number}"
    if isinstance(module, nn.Conv2d):
        return f"{name} ({module.out_channels} filters {'x'.join(map(str, module.kernel_size))})"
    if isinstance(module, nn.Linear):
        return f"{name} ({module.out_features} units)"
    return name


def parameter_breakdown(net: nn.Module, input_shape: tuple[int, ...]) -> list[LayerRow]:
    """One row per layer, in forward order, found by running one example through `net`; each
    named by its kind and its number among its kind (Dense 1, Dense 2, ...)."""
    rows: list[LayerRow] = []
    hooks = []
    seen: dict[str, int] = {}
    for module in net.modules():
        if type(module) in _NAMES:
            kind = _NAMES[type(module)]
            seen[kind] = seen.get(kind, 0) + 1
            name = layer_name(module, seen[kind])

            def record(mod: nn.Module, _inputs, output, name=name) -> None:
                arithmetic, count = _arithmetic(mod)
                rows.append(
                    LayerRow(name, type(mod).__name__, tuple(output.shape[1:]), arithmetic, count)
                )

            hooks.append(module.register_forward_hook(record))
    param = next(net.parameters())
    was_training = net.training
    try:
        net.eval()
        with torch.no_grad():
            net(torch.zeros(1, *input_shape, dtype=param.dtype, device=param.device))
    finally:
        net.train(was_training)
        for hook in hooks:
            hook.remove()
    return rows


def total_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def describe_input(input_shape: tuple[int, ...]) -> str:
    if len(input_shape) == 1:
        return f"{input_shape[0]} features"
    return " x ".join(str(s) for s in input_shape) + f" image ({input_shape[0]} channel)"


def breakdown_markdown(rows: list[LayerRow], total: int, input_shape: tuple[int, ...]) -> str:
    lines = [
        f"Input: {describe_input(input_shape)}",
        "",
        "| layer | type | output shape | weights + biases | parameters |",
        "|---|---|---|---|---:|",
    ]
    for row in rows:
        shape = " x ".join(str(s) for s in row.output_shape)
        lines.append(
            f"| {row.name} | {row.kind} | {shape} | {row.arithmetic or '-'} | {row.count:,} |"
        )
    counted = [f"{row.count:,}" for row in rows if row.count]
    lines += ["", f"Total trainable parameters: {' + '.join(counted)} = **{total:,}**"]
    return "\n".join(lines) + "\n"


def breakdown_table(rows: list[LayerRow], total: int, input_shape: tuple[int, ...]) -> Table:
    """The parameter breakdown as a rich table."""
    table = Table(
        title=f"Weights per layer (input: {describe_input(input_shape)})", title_justify="left"
    )
    for name, justify in (
        ("layer", "left"),
        ("type", "left"),
        ("output", "left"),
        ("weights + biases", "left"),
        ("parameters", "right"),
    ):
        table.add_column(name, justify=justify)
    for row in rows:
        table.add_row(
            row.name,
            row.kind,
            " x ".join(map(str, row.output_shape)),
            row.arithmetic or "-",
            f"{row.count:,}",
        )
    table.add_section()
    table.add_row("total", "", "", "", f"[bold]{total:,}[/bold]")
    return table
