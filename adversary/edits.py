"""Edit records: exactly what an operator changed, so any perturbation can be replayed and measured.

Every change the adversary makes is one record (a plain dict, JSON-able as it is):

``{"operator", "field", "index", "start", "end", "before", "after", "turn"}``

* ``field`` is the text the agent sees that was changed: ``"observation"``, ``"instruction"`` or
  ``"admissible_actions"``;
* ``index`` is the position of the admissible action whose text was changed (``None`` for the
  observation, the instruction, and edits of the list itself);
* ``start`` / ``end`` is the span replaced, ``before`` what stood there and ``after`` what replaced
  it. For a string, the span is in characters of the text *as it was when the edit was made*; for
  an edit of the action list itself (``index`` is ``None``), the span is in list positions and
  ``before`` / ``after`` are lists of strings.

Records are kept in the order they were applied, so :func:`replay` of the clean text through them
gives back exactly what the agent saw, and ``text[start:end] == before`` holds at each step (tests
check both).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sparring.errors import ConfigError

#: the texts an operator may change: what the agent sees, never the env's state
FIELDS: tuple[str, ...] = ("observation", "instruction", "admissible_actions")

#: one edit as an operator returns it: (start, end, before, after)
Span = tuple[int, int, Any, Any]


def apply_spans(text: str, spans: Sequence[Span]) -> str:
    """``text`` with non-overlapping ``spans`` (in any order) replaced; positions refer to ``text``."""
    if not spans:
        return text
    pieces = []
    last = 0
    for start, end, _, after in sorted(spans, key=lambda s: (s[0], s[1])):
        pieces.append(text[last:start])
        pieces.append(after)
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def in_application_order(spans: Sequence[Span]) -> list[Span]:
    """Non-overlapping spans of one text, ordered so that applying them one by one keeps every
    later span's positions valid: right to left (an edit never shifts the text to its left)."""
    return sorted(spans, reverse=True)  # by (start, end): spans of one text never share both


def replay(clean: str | Sequence[str], records: Iterable[Mapping[str, Any]], field: str) -> str | list[str]:
    """What the agent saw in ``field``: ``clean`` (a string, or the list of admissible actions) with
    every record of that field applied in order. Raises :class:`ConfigError` if a record's ``before``
    is not what stands at its span (the records do not belong to this text)."""
    if field not in FIELDS:
        raise ConfigError(f"field must be one of {FIELDS}, got {field!r}")
    value: Any = list(clean) if field == "admissible_actions" else str(clean)
    for record in records:
        if record["field"] != field:
            continue
        start, end, before, after = record["start"], record["end"], record["before"], record["after"]
        index = record.get("index")
        if field == "admissible_actions" and index is None:
            if value[start:end] != list(before):
                raise ConfigError(f"record {dict(record)!r} does not match the action list {value!r}")
            value[start:end] = list(after)
        elif field == "admissible_actions":
            item = value[index]
            if item[start:end] != before:
                raise ConfigError(f"record {dict(record)!r} does not match action {index} {item!r}")
            value[index] = item[:start] + after + item[end:]
        else:
            if value[start:end] != before:
                raise ConfigError(f"record {dict(record)!r} does not match the {field} text")
            value = value[:start] + after + value[end:]
    return value


def edit_size(record: Mapping[str, Any]) -> int:
    """Characters an edit touches: the longer of what it removed and what it put in (a list edit
    counts the characters of the actions it moved)."""
    before, after = record["before"], record["after"]
    if isinstance(before, list):
        return max(sum(len(x) for x in before), sum(len(x) for x in after))
    return max(len(before), len(after))


def edit_fraction(clean_length: int, records: Iterable[Mapping[str, Any]]) -> float:
    """Share of a text the records touched (characters edited / clean length), capped at 1."""
    touched = sum(edit_size(r) for r in records)
    if clean_length <= 0:
        return 1.0 if touched else 0.0
    return min(1.0, touched / clean_length)


__all__ = ["FIELDS", "Span", "apply_spans", "edit_fraction", "edit_size", "in_application_order", "replay"]
