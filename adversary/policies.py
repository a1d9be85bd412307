"""Adversary policies: who decides, each perturbed turn, what to change.

A policy sees a :class:`TurnView` (the clean text of the turn, the episode's history as the agent
saw it, the attack's operators and budget, and :class:`TaskFeatures` of the task) and returns a
:class:`Plan`: a list of :class:`~sparring.adversary.plan.Move` — (operator, field, budget, action
index, position) — which the wrapper carries out. This is the interface a learned adversary plugs
into: a policy network over task features that outputs moves, trained by policy gradient on the
agent's failures, implements :class:`AdversaryPolicy` and nothing else changes.

* :class:`RandomPolicy` draws operators uniformly within the budget (``operators_per_turn``
  operators per field, the budget split between them).
* :class:`GreedyPolicy` is a black-box search on the agent, as TextAttack's greedy search is for a
  classifier: it scores the clean turn to find the action the agent would take, then, round by
  round, scores a batch of candidate moves (operator x field x action x position, one unit each)
  and keeps the one that most lowers the agent's probability of that action, until the budget or
  the query budget is spent, the decision flips, or no candidate lowers it any more.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from sparring.adversary.config import AttackConfig
from sparring.adversary.operators import FAMILIES, Context, Operator
from sparring.adversary.plan import Move, View, apply_moves
from sparring.adversary.scoring import ActionScorer, ScoreRequest, argmax, choice_probabilities
from sparring.errors import ConfigError

#: the families a task-feature vector one-hot encodes (others get all zeros)
FEATURE_FAMILIES: tuple[str, ...] = ("household", "navigation", "toolqa", "shop")


@dataclasses.dataclass(frozen=True)
class TaskFeatures:
    """What a policy may condition on: the task and the turn, never the agent's internals."""

    family: str
    split: str
    task_hash: str
    turn: int
    num_actions: int
    observation_words: int
    instruction_words: int

    def vector(self) -> list[float]:
        """A fixed-length numeric encoding (family one-hot, then scaled counts), for learned policies."""
        one_hot = [1.0 if self.family == f else 0.0 for f in FEATURE_FAMILIES]
        return one_hot + [min(self.turn, 100) / 100, min(self.num_actions, 100) / 100,
                          min(self.observation_words, 1000) / 1000, min(self.instruction_words, 100) / 100]


class TurnView:
    """One perturbed turn as a policy sees it."""

    __slots__ = ("clean", "history", "config", "operators", "ctx", "turn", "split", "task_hash", "_features")

    def __init__(self, clean: View, history: Sequence[tuple[str, str]], config: AttackConfig,
                 operators: Sequence[Operator], ctx: Context, turn: int, split: str = "", task_hash: str = "") -> None:
        self.clean, self.history, self.config, self.operators, self.ctx = clean, history, config, operators, ctx
        self.turn, self.split, self.task_hash = turn, split, task_hash
        self._features: TaskFeatures | None = None

    @property
    def features(self) -> TaskFeatures:
        if self._features is None:
            self._features = TaskFeatures(self.ctx.family, self.split, self.task_hash, self.turn,
                                          len(self.clean.actions), len(self.clean.observation.split()),
                                          len(self.clean.instruction.split()))
        return self._features

    def operators_for(self, field: str) -> list[Operator]:
        return [op for op in self.operators if field in op.fields]


@dataclasses.dataclass
class Plan:
    """A policy's decision for one turn."""

    moves: list[Move]
    queries: int = 0  #: agent queries spent deciding
    info: dict[str, Any] = dataclasses.field(default_factory=dict)  #: what the policy wants reported


@runtime_checkable
class AdversaryPolicy(Protocol):
    """Chooses the moves of each perturbed turn."""

    name: str

    def choose(self, view: TurnView, rng: random.Random) -> Plan: ...


class RandomPolicy:
    """Operators drawn uniformly within the budget, independently per field and turn."""

    name = "random"

    def __init__(self) -> None:
        self._by_field: dict[int, tuple[Any, dict[str, list[Operator]]]] = {}
        self._moves: dict[tuple[str, str, int], Move] = {}

    def _single(self, operator: str, field: str, budget: int) -> Move:
        key = (operator, field, budget)
        move = self._moves.get(key)
        if move is None:
            move = self._moves[key] = Move(operator, field, budget)
        return move

    def choose(self, view: TurnView, rng: random.Random) -> Plan:
        config = view.config
        cached = self._by_field.get(id(view.operators))
        if cached is None or cached[0] is not view.operators:  # the operators of one attack: sorted once
            cached = self._by_field[id(view.operators)] = (
                view.operators, {f: view.operators_for(f) for f in config.targets})
        by_field = cached[1]
        moves = []
        for field in config.targets:
            ops = by_field.get(field) or view.operators_for(field)
            if not ops:
                continue
            k = min(config.operators_per_turn, len(ops), config.budget)
            if k == 1:
                moves.append(self._single(ops[int(rng.random() * len(ops))].name, field, config.budget))
                continue
            picked = rng.sample(ops, k)
            share, extra = divmod(config.budget, k)
            moves.extend(Move(op.name, field, share + (i < extra)) for i, op in enumerate(picked))
        return Plan(moves)


class GreedyPolicy:
    """A greedy black-box search on the agent's action scores (see the module docstring)."""

    name = "greedy"

    def __init__(self, scorer: ActionScorer, *, query_budget: int | None = None,
                 candidates_per_round: int | None = None) -> None:
        if not hasattr(scorer, "scores"):
            raise ConfigError("the greedy policy needs a scorer with a scores(requests) method, e.g. "
                              "sparring.adversary.ReActScorer(agent)")
        self.scorer = scorer
        self.query_budget = query_budget
        self.candidates_per_round = candidates_per_round

    def choose(self, view: TurnView, rng: random.Random) -> Plan:
        config, clean, ctx = view.config, view.clean, view.ctx
        queries_left = self.query_budget or config.query_budget
        per_round = self.candidates_per_round or config.candidates_per_round
        temperature = getattr(self.scorer, "temperature", 1.0) or 1.0
        if not clean.actions:
            return Plan([])

        def request(v: View) -> ScoreRequest:
            return ScoreRequest(ctx.family, v.instruction, view.history, v.observation, v.actions)

        clean_scores = self.scorer.scores([request(clean)])[0]
        queries_left -= 1
        chosen = argmax(clean_scores)
        command = clean.commands[chosen]
        start = best = choice_probabilities(clean_scores, temperature)[chosen]
        fields = {f: config.budget for f in config.targets if view.operators_for(f)}
        moves: list[Move] = []
        current = clean
        flipped = False
        while queries_left > 0 and any(fields.values()) and not flipped:
            candidates: list[tuple[Move, View]] = []
            for _ in range(min(per_round, queries_left) * 3):  # some candidates change nothing
                if len(candidates) >= min(per_round, queries_left):
                    break
                field = _pick([f for f, left in fields.items() if left], rng)
                op = _pick(view.operators_for(field), rng)
                index = None
                if field == "admissible_actions" and not op.edits_list:
                    # the chosen action's own text is the most direct lever; others compete with it
                    index = current.commands.index(command) if rng.random() < 0.5 else int(rng.random() * len(clean.actions))
                move = Move(op.name, field, 1, index, rng.random(), rng.randrange(2**31))
                applied = apply_moves(clean, moves + [move], ctx, rng, view.turn)
                if applied.view.observation == current.observation and applied.view.instruction == current.instruction \
                        and applied.view.actions == current.actions:
                    continue
                candidates.append((move, applied.view))
            if not candidates:
                break
            results = self.scorer.scores([request(v) for _, v in candidates])
            queries_left -= len(candidates)
            pick, pick_prob, pick_flip = None, best, False
            for (move, v), scores in zip(candidates, results, strict=True):
                k = v.commands.index(command)
                prob = choice_probabilities(scores, temperature)[k]
                if prob < pick_prob - 1e-9:
                    pick, pick_prob, pick_flip = (move, v), prob, argmax(scores) != k
            if pick is None:
                break
            moves.append(pick[0])
            fields[pick[0].field] -= 1
            current, best, flipped = pick[1], pick_prob, pick_flip
        spent = (self.query_budget or config.query_budget) - queries_left
        return Plan(moves, spent, {"clean_action": command, "clean_probability": start, "probability": best,
                                   "flipped": flipped})


def _pick(items: Sequence[Any], rng: random.Random) -> Any:
    return items[int(rng.random() * len(items))]


def make_policy(config: AttackConfig, scorer: ActionScorer | None = None) -> AdversaryPolicy:
    """The policy a config names (``greedy`` needs a scorer of the agent under attack)."""
    if config.policy == "random":
        return RandomPolicy()
    if scorer is None:
        raise ConfigError("the greedy policy queries the agent: pass policy=GreedyPolicy(ReActScorer(agent)) to the "
                          "wrapper, or scorer= where it is made (sparring attack does this for react agents)")
    return GreedyPolicy(scorer, query_budget=config.query_budget, candidates_per_round=config.candidates_per_round)


__all__ = ["AdversaryPolicy", "FAMILIES", "FEATURE_FAMILIES", "GreedyPolicy", "Plan", "RandomPolicy", "TaskFeatures",
           "TurnView", "make_policy"]
