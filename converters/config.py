"""Typed dataclass configs from YAML: unknown keys raise, flags override, runs save them.

Every command that takes ``--config`` builds its dataclass with :func:`load_config`, lets
command-line flags override fields, and writes the resolved result into its run folder
with :func:`save_config`. Constructors never need a file: the dataclass defaults are the
recipe, and ``configs/*.yaml`` only restate or change them.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import yaml

from converters.atomic import write_text_atomic
from converters.errors import InputError, did_you_mean


def _coerce(value, tp, where: str, path):
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(value, dict):
        return from_dict(tp, value, path=path, prefix=where + ".")
    if origin in (tuple, list) and isinstance(value, (list, tuple)):
        return tuple(value) if origin is tuple else list(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool) and value is not None and not isinstance(value, tp):
        raise InputError(f"config key {where!r}: expected {tp.__name__}, got {value!r}", path)
    return value


def from_dict(cls, data: dict, path=None, prefix: str = ""):
    """Build dataclass ``cls`` from ``data``; unknown keys raise with "did you mean"."""
    if not isinstance(data, dict):
        raise InputError(f"expected a mapping of config keys, got {type(data).__name__}", path)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            raise InputError(
                f"unknown config key {prefix + key!r}; valid keys: {', '.join(fields)}" + did_you_mean(key, fields),
                path,
            )
        kwargs[key] = _coerce(value, hints[key], prefix + key, path)
    try:
        return cls(**kwargs)
    except ValueError as err:  # a __post_init__ range check: one line, naming the config key (and the flag)
        names_flag = str(err).startswith("--")  # "--threads (num_threads) must be ..." names both already
        raise InputError(f"{err}" if names_flag else f"{err} (a config key or its command-line flag)", path) from None


def load_config(cls, path: str | Path | None = None, overrides: dict | None = None):
    """Dataclass defaults, then the YAML file, then non-None ``overrides`` (CLI flags)."""
    data: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise InputError("config file not found", path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise InputError(f"not valid YAML ({err.__class__.__name__})", path) from None
    for key, value in (overrides or {}).items():
        if value is not None:
            data[key] = value
    return from_dict(cls, data, path=path)


def config_to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def save_config(cfg, path: str | Path) -> None:
    """Write the resolved config as YAML (atomically)."""
    write_text_atomic(path, yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
