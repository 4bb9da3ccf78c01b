"""Hydra's instantiate for this project: a mistake raised inside a component reads as itself."""

from __future__ import annotations

from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate

from mnistlab.errors import ConfigError, UserError


def make(cfg: Any, **kwargs: Any) -> Any:
    """hydra.utils.instantiate (plain containers), letting a UserError raised inside come out as itself."""
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
