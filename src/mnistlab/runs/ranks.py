"""Which process writes a run's files: Lightning's rank zero, the only notion used."""

from __future__ import annotations


def is_rank_zero() -> bool:
    """False in every process but the first of a distributed run.

    Lightning's notion: before training it reads RANK, LOCAL_RANK or SLURM_PROCID (so tasks
    started by torchrun or srun know their rank); the Trainer sets it once processes exist.
    """
    from lightning_fabric.utilities.rank_zero import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0
