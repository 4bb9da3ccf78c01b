"""Minibatches sliced from in-memory tensors: shuffled and resumable for training, in order for evaluation."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import torch

from mnistlab.data.augment import minibatch_generator

Minibatch = tuple[torch.Tensor, torch.Tensor]


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled order of epoch `epoch`: a function of (seed, epoch) only, so a resumed run repeats it."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))


class EvalBatches:
    """Validation or test minibatches in their stored order; with several processes, each takes every k-th example."""

    def __init__(
        self, x: torch.Tensor, y: torch.Tensor, batch_size: int, rank: int = 0, world_size: int = 1
    ) -> None:
        self.x, self.y, self.batch_size = x, y, batch_size
        self.rank, self.world_size = rank, world_size

    def __len__(self) -> int:
        return math.ceil(len(range(self.rank, len(self.y), self.world_size)) / self.batch_size)

    def __iter__(self) -> Iterator[Minibatch]:
        if self.world_size == 1:
            for start in range(0, len(self.y), self.batch_size):  # views, no copy
                yield (
                    self.x[start : start + self.batch_size],
                    self.y[start : start + self.batch_size],
                )
            return
        order = torch.arange(self.rank, len(self.y), self.world_size, device=self.y.device)
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            yield self.x[index], self.y[index]


class TrainMinibatch(NamedTuple):
    """A training minibatch and its number within the epoch (from 0)."""

    x: torch.Tensor
    y: torch.Tensor
    index: int


class TrainBatches:
    """One epoch of shuffled training minibatches, one per Lightning step.

    The order depends on (seed, epoch) only. The position within the epoch is saved in
    checkpoints (Lightning's `state_dict` protocol for data loaders), so a run resumed from a
    checkpoint written mid-epoch continues with the next minibatch. Lightning fetches a
    minibatch ahead of the one it trains, so the position is what training reached, told by
    `started(index)` when a minibatch goes to training, not what was fetched. With several
    processes each takes every k-th example of the same order, in equal shares.

    `augment(x, generator)`, when given, transforms each minibatch's inputs with a generator
    seeded by (seed, epoch, minibatch, process): resumed runs see the same images.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        seed: int = 0,
        epoch: Callable[[], int] = lambda: 0,
        rank: int = 0,
        world_size: int = 1,
        augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    ) -> None:
        self.x, self.y, self.batch_size = x, y, batch_size
        self.augment = augment
        self.seed, self.epoch = seed, epoch
        self.rank, self.world_size = rank, world_size
        self.examples = len(y) // world_size  # equal shares, so every process takes as many steps
        self.minibatches = math.ceil(self.examples / batch_size)
        self.position = 0  # minibatches of the current epoch handed to training
        self._epoch = -1
        self._resume: dict[str, int] | None = None

    def __len__(self) -> int:
        return self.minibatches

    def __iter__(self) -> Iterator[TrainMinibatch]:
        self._epoch = self.epoch()
        order = epoch_order(len(self.y), self.seed, self._epoch)
        order = order[self.rank :: self.world_size][: self.examples].to(self.y.device)
        resume, self._resume = self._resume, None
        start = resume["position"] if resume and resume["epoch"] == self._epoch else 0
        self.position = start
        for index in range(start, self.minibatches):
            rows = order[index * self.batch_size : (index + 1) * self.batch_size]
            x = self.x[rows]
            if self.augment is not None:
                key = (self.seed, self._epoch, index, self.rank)
                x = self.augment(x, minibatch_generator(x.device, *key))
            yield TrainMinibatch(x, self.y[rows], index)

    def started(self, index: int) -> None:
        """Minibatch `index` goes to training now: a checkpoint written after it resumes after it."""
        self.position = index + 1

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self._epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._resume = dict(state)
