"""Command-line options from a config dataclass: one ``--flag`` per field, help from the field's comment.

Config dataclasses document each field with a trailing ``#: help`` comment (STYLE.md item 4); this
reads those comments so the command line and the Python API cannot drift apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import inspect
import json
import re
import typing
from collections.abc import Sequence
from typing import Any

from sparring.errors import ConfigError

_FIELD = re.compile(r"^\s+(\w+)\s*:.*?#:\s*(.+)$")


def field_help(cls: type) -> dict[str, str]:
    """``{field: help}`` from the ``#:`` comments in the class source (empty without source)."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    return {m.group(1): m.group(2).strip() for m in map(_FIELD.match, source.splitlines()) if m}


def _kind(annotation: Any) -> tuple[str, type]:
    text = str(annotation)
    if "Sequence" in text or "list" in text or "tuple" in text:
        return "list", str
    if "bool" in text:
        return "bool", bool
    if "float" in text:
        return "scalar", float
    if "int" in text:
        return "scalar", int
    return "scalar", str


def add_config_arguments(parser: argparse.ArgumentParser, cls: type, *, skip: tuple[str, ...] = ()) -> None:
    """Adds ``--field-name`` options for every field of ``cls``."""
    helps = field_help(cls)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip or f.name.isupper():
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        kind, type_ = _kind(hints.get(f.name, str))
        text = helps.get(f.name, "")
        if kind == "list":
            parser.add_argument(flag, dest=f.name, nargs="+", default=None, help=f"{text} (default: {list(default)})")
        elif kind == "bool":
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None,
                                help=f"{text} (default: {default})")
        else:
            parser.add_argument(flag, dest=f.name, type=type_, default=None, help=f"{text} (default: {default})")


def config_from_args(cls: type, args: argparse.Namespace, **overrides: Any) -> Any:
    """A ``cls`` from parsed options (unset options keep the dataclass defaults)."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
              if getattr(args, f.name, None) is not None}
    values.update(overrides)
    return cls(**values)


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
