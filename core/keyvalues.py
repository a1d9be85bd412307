"""``KEY=VALUE`` options (env kwargs, a trainer's extra config fields) parsed one way everywhere:
values are JSON where they parse as JSON, else text. The bottom layer: the trainers, the benchmarks
and the CLI all use it."""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Sequence
from typing import Any

from sparring.errors import ConfigError


def parse_value(raw: str) -> Any:
    """A command-line value: JSON where it parses as JSON (``3``, ``true``, ``["a", "b"]``), else the text."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def parse_key_values(items: Sequence[str], *, what: str, example: str, cls: type | None = None,
                     own: Sequence[str] = (), owner: str = "") -> dict[str, Any]:
    """``{key: value}`` from ``KEY=VALUE`` strings (values by :func:`parse_value`).

    ``what`` and ``example`` name the option in the error a malformed item gets. With ``cls`` (a
    config dataclass) every key must be one of its fields ("did you mean" otherwise) and none of
    ``own``, the fields that ``owner`` (e.g. "the recipe") sets itself."""
    fields = {f.name for f in dataclasses.fields(cls)} if cls is not None else set()
    values: dict[str, Any] = {}
    for item in items:
        key, sep, raw = str(item).partition("=")
        if not sep or not key:
            raise ConfigError(f"expected {what} as KEY=VALUE, got {item!r}; e.g. {example}")
        if cls is not None:
            if key not in fields:
                close = difflib.get_close_matches(key, fields, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; the fields are {', '.join(sorted(fields))}"
                raise ConfigError(f"{what}: {cls.__name__} has no field {key!r}{hint}")
            if key in own:
                raise ConfigError(f"{what}: {key!r} is set by {owner} itself; use its own option")
        values[key] = parse_value(raw)
    return values
