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


class StepMinibatches:
    """Consecutive training minibatches for one Lightning step, sliced only as the step trains
    on each, so the loader's position is what training reached, whatever Lightning fetched
    ahead."""

    def __init__(self, source: TrainBatches, first: int, count: int) -> None:
        self.source, self.first, self.count = source, first, count

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Minibatch]:
        for index in range(self.first, self.first + self.count):
            self.source.started(index)
            yield self.source.minibatch(index)


class TrainBatches:
    """One epoch of shuffled training minibatches, `minibatches_per_step` per Lightning step.

    The order depends on (seed, epoch) only, and is drawn when the epoch's first minibatch is
    taken: Lightning may start iterating before it has settled which epoch a resumed run is in.
    The position within the epoch is saved in checkpoints (Lightning's `state_dict` protocol for
    data loaders), so a run resumed from a checkpoint written mid-epoch continues with the next
    minibatch, and one written at an epoch's end with the next epoch. The position is what
    training reached, not what Lightning fetched (it may fetch a step ahead): a single
    minibatch is a `TrainMinibatch` whose `started` is called as it goes to its step; several
    are a lazy `StepMinibatches`. With several processes each takes every k-th example of the
    same order, in equal shares.

    Iterable only: Lightning then counts its steps as they come (no warning that an epoch of a
    few steps is shorter than `log_every_n_steps`, which counts optimizer steps here). With one
    minibatch per step it is `CountedTrainBatches`, whose length Lightning's limits use.

    `augment(x, generator)`, when given, transforms each minibatch's inputs with a generator
    seeded by (seed, epoch, minibatch, process): resumed runs see the same images.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        minibatches_per_step: int = 1,
        seed: int = 0,
        epoch: Callable[[], int] = lambda: 0,
        rank: int = 0,
        world_size: int = 1,
        augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    ) -> None:
        self.x, self.y, self.batch_size = x, y, batch_size
        self.minibatches_per_step = minibatches_per_step
        self.augment = augment
        self.seed, self.epoch = seed, epoch
        self.rank, self.world_size = rank, world_size
        self.examples = len(y) // world_size  # equal shares, so every process takes as many steps
        self.minibatches = math.ceil(self.examples / batch_size)
        self.position = 0  # minibatches of the current epoch handed to training
        self._order: torch.Tensor | None = None
        self._epoch = -1
        self._resume: dict[str, int] | None = None

    def minibatch(self, index: int) -> Minibatch:
        if self._order is None:  # the epoch's first minibatch: its epoch is known by now
            self._epoch = self.epoch()
            order = epoch_order(len(self.y), self.seed, self._epoch)
            self._order = order[self.rank :: self.world_size][: self.examples].to(self.y.device)
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        x = self.x[rows]
        if self.augment is not None:
            key = (self.seed, self._epoch, index, self.rank)
            x = self.augment(x, minibatch_generator(x.device, *key))
        return x, self.y[rows]

    def __iter__(self) -> Iterator[TrainMinibatch | StepMinibatches]:
        self._order = None
        resume, self._resume = self._resume, None
        start = resume["position"] if resume and resume["epoch"] == self.epoch() else 0
        self.position = start
        step = self.minibatches_per_step
        for first in range(start, self.minibatches, step):
            if step == 1:
                yield TrainMinibatch(*self.minibatch(first), first)
            else:
                yield StepMinibatches(self, first, min(step, self.minibatches - first))

    def started(self, index: int) -> None:
        """Minibatch `index` goes to training now: a checkpoint written after it resumes after it."""
        self.position = index + 1

    def state_dict(self) -> dict[str, Any]:
        if self.position >= self.minibatches:  # a finished epoch: resume with the next one
            return {"epoch": self._epoch + 1, "position": 0}
        return {"epoch": self._epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._resume = dict(state)


class CountedTrainBatches(TrainBatches):
    """Training minibatches one per Lightning step, with a length: Lightning counts every one."""

    def __len__(self) -> int:
        return self.minibatches
