"""Moves and their execution: how an adversary's choices become the text the agent sees.

An adversary policy decides, each perturbed turn, a list of :class:`Move` — which operator, on
which field, with how much budget, on which admissible action (``index``) and where in the text
(``position``, a share of its length) — and :func:`apply_moves` carries them out on the turn's
clean :class:`View`, returning the perturbed view and the exact edit records. A move may carry its
own ``seed``, so a policy that searches (the greedy one) can replay exactly what it evaluated; a
move without one draws from the episode's stream.

The admissible actions are perturbed as a list of (shown text, env command) pairs, so whatever the
agent picks from the shown list maps back to the command the env expects. Two shown actions never
read the same, and a shown action never reads as *another* action's command: an edit that would
make one ambiguous is dropped.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, NamedTuple

from sparring.adversary.edits import FIELDS, in_application_order
from sparring.adversary.operators import Context
from sparring.adversary.registry import OPERATORS, get_operator
from sparring.envs.spaces import MAX_OBSERVATION_LENGTH
from sparring.errors import ConfigError


class Move(NamedTuple):
    """One choice of an adversary: apply ``operator`` to ``field`` with ``budget`` units."""

    operator: str
    field: str
    budget: int = 1
    index: int | None = None  #: admissible_actions: which action (None: ``budget`` actions at random, one unit each)
    position: float | None = None  #: where in the text, 0..1 (None: the operator chooses at random)
    seed: int | None = None  #: the move's own random stream (None: the episode's)

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()


class View:
    """What the agent sees on one turn: observation, instruction, and the shown admissible actions
    with the env command behind each."""

    __slots__ = ("observation", "instruction", "actions", "commands")

    def __init__(self, observation: str, instruction: str, actions: Sequence[str],
                 commands: Sequence[str] | None = None) -> None:
        # the lists are shared, never edited in place: apply_moves copies them before it edits them
        self.observation = observation
        self.instruction = instruction
        self.actions = actions if isinstance(actions, list) else list(actions)
        self.commands = self.actions if commands is None else (
            commands if isinstance(commands, list) else list(commands))

    def copy(self) -> View:
        """A copy sharing the action lists (copied before they are edited: see :func:`apply_moves`)."""
        view = View.__new__(View)
        view.observation, view.instruction = self.observation, self.instruction
        view.actions, view.commands = self.actions, self.commands
        return view

    def shown(self, command: str) -> str:
        """The shown text of an env command (the command itself when it is not listed)."""
        try:
            return self.actions[self.commands.index(command)]
        except ValueError:
            return command


class Applied(NamedTuple):
    view: View
    records: list[dict[str, Any]]
    planted: list[dict[str, Any]]  #: injection targets planted by these moves


def apply_moves(clean: View, moves: Sequence[Move], ctx: Context, rng: random.Random, turn: int) -> Applied:
    """Carries out ``moves`` in order on a copy of ``clean``; see the module docstring."""
    view = clean.copy()
    own_lists = False
    records: list[dict[str, Any]] = []
    ctx.planted = []
    ctx.turn = turn
    for move in moves:
        op = OPERATORS.get(move.operator) or get_operator(move.operator)
        field = move.field
        if field not in op.fields:
            raise ConfigError(
                f"operator {op.name!r} cannot edit {field!r} (it edits {sorted(op.fields)}); choose another field"
            )
        budget = move.budget
        if type(budget) is not int or budget < 1:
            raise ConfigError(f"a move's budget must be a positive integer, got {budget!r}")
        stream = rng if move.seed is None else random.Random(move.seed)
        ctx.field = field
        if field == "admissible_actions":
            if not own_lists:
                view.actions, view.commands, own_lists = list(view.actions), list(view.commands), True
            if op.edits_list:
                _reorder(view, op, budget, stream, ctx, move, records, turn)
            else:
                _edit_actions(view, op, budget, stream, ctx, move, records, turn)
            continue
        text = view.observation if field == "observation" else view.instruction
        spans = op.spans(text, budget, stream, ctx, move.position)
        for s, e, before, after in (in_application_order(spans) if len(spans) > 1 else spans):
            if text[s:e] != before:  # an operator's bug must not corrupt the records
                raise RuntimeError(f"operator {op.name!r} returned span {s}:{e} {before!r} over {text[s:e]!r}")
            text = text[:s] + after + text[e:]
            records.append({"operator": op.name, "field": field, "index": None, "start": s, "end": e,
                            "before": before, "after": after, "turn": turn})
        if field == "observation":
            if len(text) > MAX_OBSERVATION_LENGTH:  # stay inside the observation space, and say so
                records.append({"operator": "clip", "field": field, "index": None, "start": MAX_OBSERVATION_LENGTH,
                                "end": len(text), "before": text[MAX_OBSERVATION_LENGTH:], "after": "", "turn": turn})
                text = text[:MAX_OBSERVATION_LENGTH]
            view.observation = text
        else:
            view.instruction = text
    return Applied(view, records, ctx.planted)


def _reorder(view: View, op: Any, budget: int, rng: random.Random, ctx: Context, move: Move,
             records: list[dict[str, Any]], turn: int) -> None:
    for s, e, before, after in op.list_spans(view.actions, budget, rng, ctx, move.position):
        if view.actions[s:e] != before:
            raise RuntimeError(f"operator {op.name!r} returned list span {s}:{e} that does not match")
        commands = view.commands[s:e]
        view.commands[s:e] = [commands[before.index(x)] for x in after]  # shown texts are unique
        view.actions[s:e] = list(after)
        records.append({"operator": op.name, "field": "admissible_actions", "index": None, "start": s, "end": e,
                        "before": list(before), "after": list(after), "turn": turn})


def _edit_actions(view: View, op: Any, budget: int, rng: random.Random, ctx: Context, move: Move,
                  records: list[dict[str, Any]], turn: int) -> None:
    n = len(view.actions)
    if n == 0:
        return
    if move.index is not None:
        targets, units = [move.index % n], budget
    else:
        pool = list(range(n))
        targets = [pool.pop(int(rng.random() * len(pool))) for _ in range(min(budget, n))]
        units = 1
    for i in targets:
        text = view.actions[i]
        new = text
        edits = []
        for s, e, before, after in in_application_order(op.spans(text, units, rng, ctx, move.position)):
            edits.append((s, e, before, after))
            new = new[:s] + after + new[e:]
        if new == text:
            continue
        others = view.actions[:i] + view.actions[i + 1:]
        if new in others or (new in view.commands and view.commands.index(new) != i):
            continue  # it would read as another action: keep this one unambiguous
        view.actions[i] = new
        for s, e, before, after in edits:
            records.append({"operator": op.name, "field": "admissible_actions", "index": i, "start": s, "end": e,
                            "before": before, "after": after, "turn": turn})


__all__ = ["Applied", "FIELDS", "Move", "View", "apply_moves"]
