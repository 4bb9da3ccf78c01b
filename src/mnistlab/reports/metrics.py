"""What a confusion matrix says beyond the scores: the most-confused pairs of classes."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ConfusedPair:
    true: str
    predicted: str
    count: int

    def sentence(self) -> str:
        return f"{self.true} taken for {self.predicted}: {self.count} time{'s' if self.count != 1 else ''}"


def top_pairs(confusion: torch.Tensor, top: int) -> list[tuple[int, int, int]]:
    """The `top` largest off-diagonal cells as (true, predicted, count), largest first."""
    off = confusion.clone().long()
    off.fill_diagonal_(0)
    flat = off.flatten()
    order = torch.argsort(flat, descending=True, stable=True)[:top]
    n = confusion.shape[0]
    return [(i // n, i % n, int(flat[i])) for i in order.tolist() if flat[i] > 0]


def confused_pairs(
    confusion: torch.Tensor, class_names: list[str], top: int = 5
) -> list[ConfusedPair]:
    """The `top` largest off-diagonal cells (true class, predicted class), largest first."""
    return [
        ConfusedPair(class_names[t], class_names[p], count)
        for t, p, count in top_pairs(confusion, top)
    ]
