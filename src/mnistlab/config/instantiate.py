"""Hydra's instantiate for this project: a configuration that does not fit its component is refused
in one sentence before anything is built, and an error raised inside a component reads as itself."""

from __future__ import annotations

import inspect
import pkgutil
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, ListConfig

from mnistlab.errors import BugError, ConfigError, UserError


def make(
    cfg: Any, where: str = "", refusals: tuple[type[Exception], ...] = (), **kwargs: Any
) -> Any:
    """hydra.utils.instantiate (plain containers), after checking every `_target_` in `cfg`
    accepts the keys it is given (`where`: the config's key, for the messages).

    `kwargs` are merged into `cfg` as Hydra does (a dict for a nested component's missing
    arguments; `_partial_=True` for a partial). A UserError raised inside comes out as itself; an exception of a type in `refusals` is the
    component refusing its configuration (a ConfigError); anything else raised while building is
    a bug in that component (a BugError whose cause keeps the traceback).
    """
    check_fits(cfg, kwargs, where)
    try:
        return instantiate(cfg, _convert_="all", **kwargs)
    except InstantiationException as e:
        cause = e.__cause__
        if isinstance(cause, UserError):
            raise cause from None
        what = target_of(cfg)
        if isinstance(cause, refusals):
            under = f" (the settings under {where})" if where else ""
            raise ConfigError(
                f"{what} refused its configuration{under}: {str(cause).rstrip('.')}. Change or "
                "remove the setting it names."
            ) from e
        if cause is None:
            raise
        raise BugError(
            f"{what} failed while being built, from a configuration that fits its arguments "
            f"({type(cause).__name__}: {cause}). That is a bug in its code, not a mistake in the "
            "configuration; the traceback is in the run's log file."
        ) from cause


def target_of(cfg: Any) -> str:
    named = isinstance(cfg, dict | DictConfig) and "_target_" in cfg
    return str(cfg["_target_"]) if named else "A component"


def check_fits(cfg: Any, kwargs: dict[str, Any] | None = None, path: str = "") -> None:
    """Refuse a `_target_` that cannot be found, or keys its signature does not take (or a
    required argument left out), anywhere in `cfg`, naming the setting."""
    if isinstance(cfg, ListConfig | list):
        for i, item in enumerate(cfg):
            check_fits(item, None, f"{path}[{i}]")
        return
    if not isinstance(cfg, DictConfig | dict):
        return
    given = dict(kwargs or {})
    for key, value in cfg.items():
        if not str(key).startswith("_"):
            nested = given.get(str(key)) if isinstance(given.get(str(key)), dict) else None
            check_fits(value, nested, f"{path}.{key}" if path else str(key))
    if "_target_" not in cfg:
        return
    where = f"{path}._target_" if path else "_target_"
    try:
        target = pkgutil.resolve_name(str(cfg["_target_"]))
    except (ImportError, AttributeError, ValueError) as e:
        raise ConfigError(
            f"{where}={cfg['_target_']} names nothing that can be imported ({e}). Check the "
            "spelling, and that the package that provides it is installed."
        ) from None
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):  # some built-in callables have no signature to check
        return
    keys = {str(k): None for k in cfg if not str(k).startswith("_")}
    keys |= {k: v for k, v in given.items() if not k.startswith("_")}
    positional = list(cfg.get("_args_", []))
    partial = bool(given.get("_partial_", cfg.get("_partial_", False)))
    try:
        (signature.bind_partial if partial else signature.bind)(*positional, **keys)
    except TypeError as e:
        settings = f" (the settings under {path})" if path else ""
        raise ConfigError(
            f"{cfg['_target_']} does not accept its configuration{settings}: {e}. Its "
            f"arguments are {', '.join(signature.parameters)}."
        ) from None
