"""Command-line options from a config dataclass: one ``--flag`` per field, help from the field's metadata.

Config dataclasses (``x_config.py`` beside ``x.py``) give each field its help as
``dataclasses.field(metadata={"help": ...})`` (docs/STYLE.md, item 4); this reads it, so the command
line and the Python API cannot drift apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any


def field_help(cls: type) -> dict[str, str]:
    """``{field: help}`` from each field's ``metadata["help"]``."""
    return {f.name: f.metadata["help"] for f in dataclasses.fields(cls) if "help" in f.metadata}


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
        text = helps.get(f.name, "").replace("%", "%%")  # argparse formats help with %
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

