"""The operator interface: what every perturbation operator is and what it is told.

An operator rewrites one text the agent sees — an observation, the instruction, or one admissible
action (or the list of them) — within a budget of edit *units* (characters for character
operators, words for word operators, sentences, template rewrites, planted instructions), and
returns what it changed as spans (see :mod:`sparring.adversary.edits`). It never sees or touches
the env's state; what it may know of the world (the family's alias lexicon, the task spec for
distractor sentences, the expert's next action for an injection's target) comes in a
:class:`Context`.

Operators are deterministic given their ``random.Random`` stream, pure Python and fast: tables
are built once at import, no regular expression is compiled per call, and positions are found by
random probing rather than by tokenising the whole text.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable
from typing import Any, ClassVar

from sparring.adversary.edits import FIELDS, Span

#: operator families, in the order reports list them
FAMILIES: tuple[str, ...] = ("char", "word", "sentence", "paraphrase", "injection")
#: fields an operator of prose may change (not the admissible actions)
PROSE: frozenset[str] = frozenset({"observation", "instruction"})
ALL_FIELDS: frozenset[str] = frozenset(FIELDS)


@dataclasses.dataclass
class Context:
    """What an operator may know besides the text: the env family, its alias lexicon, the task spec
    (for world-drawn sentences), the clean instruction and admissible actions of the turn, and a
    way to ask the env's expert for its next action (for injection targets)."""

    family: str = ""
    lexicon: Any = None  #: the family's :class:`~sparring.envs.lexicon.Lexicon` (None: no aliases)
    task: str = ""  #: the task spec as canonical JSON (``info["task"]``)
    instruction: str = ""  #: the clean instruction
    admissible: tuple[str, ...] = ()  #: the clean admissible actions of this turn
    turn: int = 0
    field: str = "observation"  #: the field being perturbed
    expert: Callable[[], str | None] | None = None  #: the expert's next action, when the env has one
    env: Any = None  #: the unwrapped env, for judging state targets of injections (never written to)
    hijack: str = "action"  #: what an injection aims at: "action" (a non-expert action) or "state"
    #: hijack targets planted this turn: injection operators append ``{"kind", "target", ...}``
    planted: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    #: a state target chosen earlier in the episode (kept so one episode pursues one state)
    state_target: dict[str, Any] | None = None
    _spec: Any = None
    _world: Any = None

    @property
    def spec(self) -> dict[str, Any]:
        """The task spec, parsed once per episode (empty when the env gives none)."""
        if self._spec is None:
            try:
                self._spec = json.loads(self.task) if self.task else {}
            except (TypeError, ValueError):
                self._spec = {}
        return self._spec

    @property
    def world(self) -> Any:
        """The family's world view for distractor sentences (see :mod:`sparring.adversary.worlds`)."""
        if self._world is None:
            from sparring.adversary.worlds import world_of

            self._world = world_of(self.family, self.spec, self.instruction)
        return self._world


class Operator:
    """A perturbation operator; subclasses set the class attributes and implement :meth:`spans`
    (a text operator) or :meth:`list_spans` (an operator of the admissible-action list)."""

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    #: a one-line description, shown in listings, the README table and reports
    description: ClassVar[str] = ""
    #: the unit its budget counts
    unit: ClassVar[str] = "edit"
    #: whether the perturbed text means the same: an admissible action it rewrites is parsed by the
    #: env as the same command (validity 100%, tested on every native family)
    preserves_meaning: ClassVar[bool] = False
    #: which fields it can change
    fields: ClassVar[frozenset[str]] = ALL_FIELDS
    #: whether it edits the admissible-action list itself (reordering) rather than one action's text
    edits_list: ClassVar[bool] = False

    def spans(self, text: str, budget: int, rng: random.Random, ctx: Context,
              position: float | None = None) -> list[Span]:
        """At most ``budget`` non-overlapping edits of ``text`` (positions in ``text``). ``position``
        (0..1, a share of the text's length) asks for the edits nearest that point; None lets the
        operator choose at random."""
        raise NotImplementedError

    def list_spans(self, items: list[str], budget: int, rng: random.Random, ctx: Context,
                   position: float | None = None) -> list[Span]:
        """Edits of the action list itself, each valid on the list as the previous ones left it."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{self.family} operator {self.name!r}>"


# --------------------------------------------------------------------------------------------------
# Choosing positions
# --------------------------------------------------------------------------------------------------
def pick_positions(n: int, budget: int, rng: random.Random, ok: Callable[[int], bool],
                   position: float | None = None, gap: int = 1) -> list[int]:
    """Up to ``budget`` distinct indices ``i < n`` with ``ok(i)``, at least ``gap`` apart.

    Random probing first (cheap on long texts where most indices qualify), then a full scan of what
    qualifies when probing falls short; with ``position``, the indices nearest ``position * n``."""
    if n <= 0 or budget <= 0:
        return []
    chosen: list[int] = []
    if position is not None:
        anchor = min(n - 1, max(0, int(position * n)))
        for d in range(n):
            for i in ((anchor + d, anchor - d) if d else (anchor,)):
                if 0 <= i < n and ok(i) and all(abs(i - j) >= gap for j in chosen):
                    chosen.append(i)
                    if len(chosen) >= budget:
                        return chosen
        return chosen
    draw = rng.random
    for _ in range(4 * budget + 12):
        i = int(draw() * n)
        if ok(i):
            for j in chosen:
                if -gap < i - j < gap:
                    break
            else:
                chosen.append(i)
                if len(chosen) >= budget:
                    return chosen
    rest = [i for i in range(n) if ok(i) and all(abs(i - j) >= gap for j in chosen)]
    while rest and len(chosen) < budget:
        i = rest.pop(int(draw() * len(rest)))
        if all(abs(i - j) >= gap for j in chosen):
            chosen.append(i)
    return chosen


def overlaps(spans: list[Span], start: int, end: int, margin: int = 1) -> bool:
    """Whether ``[start, end)`` comes within ``margin`` characters of any span in ``spans``."""
    return any(start < e + margin and s < end + margin for s, e, _, _ in spans)


__all__ = ["ALL_FIELDS", "Context", "FAMILIES", "Operator", "PROSE", "overlaps", "pick_positions"]
