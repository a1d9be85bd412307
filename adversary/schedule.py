"""Schedules: on which turns of an episode the adversary perturbs what the agent sees.

Turn 0 is the observation after ``reset``; turn ``t`` the one after the ``t``-th step (the env's
``info["step"]``). A schedule is written as a short string:

* ``"all"`` — every turn;
* ``"reset"`` — turn 0 only (the first observation, with the task);
* ``"every:N"`` — turns 0, N, 2N...;
* ``"from:N"`` / ``"until:N"`` — turns ``>= N`` / ``< N``;
* ``"turns:1,4,6"`` (or a list of ints) — exactly those turns;
* ``"prob:P"`` — each turn with probability P, drawn from the episode's seeded stream.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from typing import Any

from sparring.errors import ConfigError, UnknownNameError

KINDS = ("all", "reset", "every", "from", "until", "turns", "prob")


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A parsed schedule (see the module docstring)."""

    kind: str = "all"
    turns: frozenset[int] = frozenset()
    number: float = 0.0

    @classmethod
    def parse(cls, spec: Any) -> Schedule:
        if isinstance(spec, Schedule):
            return spec
        if isinstance(spec, Sequence) and not isinstance(spec, str):
            return cls("turns", frozenset(_turn(t, spec) for t in spec))
        if not isinstance(spec, str):
            raise ConfigError(f"a schedule is a string such as 'all', 'every:2' or 'turns:0,3', or a list of "
                              f"turns; got {spec!r}")
        kind, _, value = spec.strip().partition(":")
        kind = kind.strip().lower()
        if kind == "first":
            kind = "reset"
        if kind not in KINDS:
            raise UnknownNameError("schedule", kind, KINDS, hint="Write e.g. 'all', 'reset', 'every:2', 'from:3', "
                                   "'until:5', 'turns:0,2,4' or 'prob:0.5'.")
        if kind in ("all", "reset"):
            if value:
                raise ConfigError(f"schedule {kind!r} takes no value, got {spec!r}")
            return cls(kind)
        if not value:
            example = {"prob": "0.5", "turns": "0,2"}.get(kind, "2")
            raise ConfigError(f"schedule {kind!r} needs a value, e.g. '{kind}:{example}'")
        if kind == "turns":
            return cls(kind, frozenset(_turn(t, spec) for t in value.split(",")))
        if kind == "prob":
            try:
                p = float(value)
            except ValueError:
                p = -1.0
            if not 0.0 <= p <= 1.0:
                raise ConfigError(f"schedule 'prob:P' needs P between 0 and 1, got {value!r}")
            return cls(kind, number=p)
        n = _turn(value, spec)
        if kind == "every" and n < 1:
            raise ConfigError(f"schedule 'every:N' needs N >= 1, got {value!r}")
        return cls(kind, number=n)

    def active(self, turn: int, rng: random.Random) -> bool:
        """Whether turn ``turn`` is perturbed (``prob`` draws from ``rng``)."""
        kind = self.kind
        if kind == "all":
            return True
        if kind == "reset":
            return turn == 0
        if kind == "every":
            return turn % int(self.number) == 0
        if kind == "from":
            return turn >= self.number
        if kind == "until":
            return turn < self.number
        if kind == "turns":
            return turn in self.turns
        return rng.random() < self.number

    def __str__(self) -> str:
        if self.kind in ("all", "reset"):
            return self.kind
        if self.kind == "turns":
            return "turns:" + ",".join(str(t) for t in sorted(self.turns))
        if self.kind == "prob":
            return f"prob:{self.number:g}"
        return f"{self.kind}:{int(self.number)}"


def _turn(value: Any, spec: Any) -> int:
    try:
        turn = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"schedule {spec!r}: {value!r} is not a turn number (0, 1, 2...)") from None
    if turn < 0:
        raise ConfigError(f"schedule {spec!r}: turns are counted from 0, got {turn}")
    return turn


__all__ = ["KINDS", "Schedule"]
