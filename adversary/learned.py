"""The learned adversary: a policy network over moves, trained by policy gradient on an agent's
failures across the whole distribution of training tasks, kept as a population of checkpoints.

**The policy.** Each perturbed turn, :class:`LearnedPolicy` reads the task's
:class:`~sparring.adversary.policies.TaskFeatures` (family, turn, sizes of the texts — never the
agent's internals) and samples one :class:`~sparring.adversary.plan.Move` from a small MLP with one
categorical head per choice, each conditioned on the ones before it:

1. the **target** field (observation, instruction, admissible actions);
2. the **operator**, among the *train* operators the attack allows on that field (the network has no
   output for a held-out operator, so it cannot pick one);
3. the **position** in the text (a fifth of it, or the operator's own random choice);
4. the **budget** (1 .. ``budget`` edit units);
5. for an edit of one admissible action's text, **which action**: random ones, the expert's next
   command (the env's own expert, which the injection operators consult as well), or another one.

It implements :class:`~sparring.adversary.policies.AdversaryPolicy`, so it plugs into
:class:`~sparring.adversary.wrapper.PerturbationWrapper` (``policy=``) unchanged, in vector envs too
(it pickles).

**Training** (:class:`LearnedAdversary`, REINFORCE with a learned baseline; the meta-adversarial
generator): every update draws a fresh batch of tasks from the *train* split of several env
families, plays the agent under the current policy, and rewards each move with

    failure_weight x (episode not won)  +  drop_weight x (drop of the agent's clean-action probability)
      - edit_penalty x (share of the text edited)  -  discriminator_weight x P_D(perturbed | shown text)

where the drop is the agent's probability of the action it would choose on the clean text minus its
probability of that same command on the perturbed text (a dense signal on every perturbed turn; the
agent is queried black-box through an :class:`~sparring.adversary.scoring.ActionScorer`), and P_D is
the :class:`~sparring.adversary.discriminator.Discriminator`'s belief that the text it was shown was
perturbed. The advantage is the reward minus a value head's estimate from the same features
(normalised over the batch); an entropy bonus keeps the policy from collapsing too early. After each
adversary update the discriminator takes its own steps on that batch's clean and perturbed texts
(its accuracy on the batch *before* that step is the held-out accuracy reported) — the generator /
discriminator pair, alternating.

**The population.** Every ``population_every`` updates a frozen copy of the policy joins the
population (the newest ``population_size`` are kept). :class:`PopulationPolicy` samples one member
per episode (uniformly, from the episode's seeded stream), so an agent trained against it meets the
adversary's past selves too and cannot overfit to the latest one (fictitious play).

Saved as ``adversary.json`` (config, vocabulary, history, population index) + ``adversary.safetensors``
(the network, the population, the optimiser) + the discriminator's files, into a temporary directory
renamed into place: a killed save leaves the previous one intact.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import math
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sparring.adversary.config import AttackConfig
from sparring.adversary.discriminator import Discriminator, DiscriminatorConfig
from sparring.adversary.edits import FIELDS, edit_fraction
from sparring.adversary.plan import Move, View
from sparring.adversary.policies import Plan, TaskFeatures, TurnView
from sparring.adversary.registry import HELD_OUT_OPERATORS, OPERATORS, resolve
from sparring.adversary.scoring import ActionScorer, ScoreRequest, argmax, choice_probabilities
from sparring.agents.rollout import EnvSlots, play_slots
from sparring.agents.step import AgentStep
from sparring.errors import ConfigError, SparringError
from sparring.fileio import json_safe, staged_dir

logger = logging.getLogger(__name__)

FORMAT = 1
META = "adversary.json"
TENSORS = "adversary.safetensors"
DISCRIMINATOR_DIR = "discriminator"
#: position choices: the operator's own random choice, or the middle of each fifth of the text
POSITIONS: tuple[float | None, ...] = (None, 0.1, 0.3, 0.5, 0.7, 0.9)
#: which admissible action an edit of one action's text goes to
INDEX_CHOICES: tuple[str, ...] = ("random", "expert", "other")
FEATURE_SIZE = len(TaskFeatures("", "", "", 0, 0, 0, 0).vector())


# --------------------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class LearnedAdversaryConfig:
    """How to build and train a learned adversary (see the module docstring)."""

    env_ids: Sequence[str] = ("sparring/Household-v0", "sparring/Navigation-v0")  #: families whose train split the tasks are drawn from
    difficulty: str = "easy"  #: difficulty preset of those envs ("" for the env's default)
    max_steps: int = 15  #: step limit of the adversary's training episodes (0: the env's own)
    operators: Sequence[str] = ("train",)  #: operators the policy may choose; train attacks only (names, families or "train")
    targets: Sequence[str] = FIELDS  #: fields it may perturb
    budget: int = 2  #: most edit units of one move
    schedule: str = "all"  #: turns perturbed in its training episodes
    hidden_size: int = 32  #: width of the policy network
    learning_rate: float = 0.01  #: Adam step size of the policy and its value head
    value_coef: float = 0.5  #: weight of the value head's loss
    ent_coef: float = 0.01  #: weight of the entropy bonus
    max_grad_norm: float = 1.0  #: gradient clipping (0: none)
    failure_weight: float = 1.0  #: reward of a move in an episode the agent did not win
    drop_weight: float = 1.0  #: reward per unit drop of the agent's probability of its clean action
    edit_penalty: float = 0.2  #: penalty per share of the text a move edited
    discriminator_weight: float = 0.5  #: penalty per unit of the discriminator's P(perturbed) on the shown text (0: none)
    discriminator_epochs: int = 2  #: discriminator passes over each batch's clean and perturbed texts
    discriminator_learning_rate: float = 0.5  #: Adagrad step size of the discriminator
    tasks_per_update: int = 16  #: episodes per update, drawn in turn from every env id's train split
    num_envs: int = 8  #: episodes played side by side (their agent queries batched)
    population_every: int = 5  #: a frozen copy joins the population after every this many updates
    population_size: int = 8  #: the newest this many copies are kept
    seed: int = 0  #: seeds the network, the tasks and every sampling stream

    def __post_init__(self) -> None:
        from sparring.envs.registration import entry

        if isinstance(self.env_ids, str):
            self.env_ids = (self.env_ids,)
        self.env_ids = tuple(self.env_ids)
        if not self.env_ids:
            raise ConfigError("expected at least one env id to draw training tasks from, got none; e.g. "
                              "env_ids=['sparring/Household-v0', 'sparring/Navigation-v0']")
        for env_id in self.env_ids:
            entry(env_id)  # an unknown id gets a "did you mean"
        if isinstance(self.operators, str):
            self.operators = tuple(o.strip() for o in self.operators.split(",") if o.strip())
        self.operators = tuple(self.operators)
        names = [op.name for op in resolve(self.operators)]
        held = [n for n in names if n in HELD_OUT_OPERATORS]
        if held:
            raise ConfigError(f"expected train attacks only, got held-out operators {held}; they are kept for "
                              f"measuring robustness to perturbations never trained against: use 'train' or "
                              f"train operators (sparring attack --list shows the split)")
        if isinstance(self.targets, str):
            self.targets = tuple(t.strip() for t in self.targets.split(",") if t.strip())
        self.targets = tuple(self.targets)
        AttackConfig(operators=self.operators, targets=self.targets, schedule=self.schedule,
                     budget=self.budget)  # the attack's own checks: targets, reachability, schedule, budget
        for name in ("hidden_size", "discriminator_epochs", "tasks_per_update", "num_envs", "population_every",
                     "population_size", "budget"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
        if isinstance(self.max_steps, bool) or not isinstance(self.max_steps, int) or self.max_steps < 0:
            raise ConfigError(f"max_steps must be an integer >= 0 (0: the env's own limit), got {self.max_steps!r}")
        for name in ("learning_rate", "discriminator_learning_rate"):
            value = getattr(self, name)
            if not _finite_number(value) or value <= 0:
                raise ConfigError(f"{name} must be a finite number > 0, got {value!r}")
        for name in ("value_coef", "ent_coef", "max_grad_norm", "failure_weight", "drop_weight", "edit_penalty",
                     "discriminator_weight"):
            value = getattr(self, name)
            if not _finite_number(value) or value < 0:
                raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
        if not (self.failure_weight or self.drop_weight):
            raise ConfigError("failure_weight and drop_weight are both 0: nothing rewards hurting the agent; "
                              "set at least one of them > 0")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"seed must be an integer, got {self.seed!r}")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
                for f in dataclasses.fields(self)}

    @property
    def env_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.difficulty:
            kwargs["difficulty"] = self.difficulty
        if self.max_steps:
            kwargs["max_steps"] = self.max_steps
        return kwargs

    def attack(self, seed: int = 0) -> AttackConfig:
        """The attack the policy plays inside (its operators, fields, budget and schedule)."""
        return AttackConfig(operators=self.operators, targets=self.targets, schedule=self.schedule,
                            budget=self.budget, seed=seed, name="learned")


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def hash_seed(*parts: Any) -> int:
    """A 63-bit seed from its parts, the same in every process and Python run."""
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:8], "big") >> 1


# --------------------------------------------------------------------------------------------------
# The network and its choices
# --------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """What each head of the network chooses among."""

    fields: tuple[str, ...]
    operators: tuple[str, ...]
    budgets: tuple[int, ...]

    @classmethod
    def from_config(cls, config: LearnedAdversaryConfig) -> Vocabulary:
        ops = tuple(op.name for op in resolve(config.operators))
        fields = tuple(f for f in FIELDS if f in config.targets and any(f in OPERATORS[o].fields for o in ops))
        return cls(fields, ops, tuple(range(1, config.budget + 1)))

    def to_dict(self) -> dict[str, Any]:
        return {"fields": list(self.fields), "operators": list(self.operators), "budgets": list(self.budgets)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Vocabulary:
        unknown = [o for o in data["operators"] if o not in OPERATORS]
        if unknown:
            raise SparringError(f"the saved adversary uses operators this sparring does not have: {unknown}")
        held = [o for o in data["operators"] if o in HELD_OUT_OPERATORS]
        if held:
            raise SparringError(f"the saved adversary's vocabulary holds held-out operators {held}; it cannot be "
                                f"used for training (train attacks only)")
        return cls(tuple(data["fields"]), tuple(data["operators"]), tuple(int(b) for b in data["budgets"]))


class PolicyNetwork(nn.Module):
    """Task features -> categorical heads (field, then operator, then position / budget / action)
    and a value head; each later head sees an embedding of the choices before it."""

    def __init__(self, vocab: Vocabulary, hidden_size: int = 32) -> None:
        super().__init__()
        h = hidden_size
        self.trunk = nn.Sequential(nn.Linear(FEATURE_SIZE, h), nn.Tanh(), nn.Linear(h, h), nn.Tanh())
        self.field_head = nn.Linear(h, len(vocab.fields))
        self.field_embed = nn.Embedding(len(vocab.fields), h)
        self.operator_head = nn.Linear(h, len(vocab.operators))
        self.operator_embed = nn.Embedding(len(vocab.operators), h)
        self.position_head = nn.Linear(h, len(POSITIONS))
        self.budget_head = nn.Linear(h, len(vocab.budgets))
        self.index_head = nn.Linear(h, len(INDEX_CHOICES))
        self.value_head = nn.Linear(h, 1)
        for head in (self.field_head, self.operator_head, self.position_head, self.budget_head, self.index_head,
                     self.value_head):
            nn.init.zeros_(head.weight)  # start uniform over what is allowed, with a value of 0
            nn.init.zeros_(head.bias)

    def forward(self, features: torch.Tensor, field: torch.Tensor, operator: torch.Tensor,
                masks: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Logits of every head for a batch whose earlier choices are given (teacher forcing), masked."""
        trunk = self.trunk(features)
        h2 = torch.tanh(trunk + self.field_embed(field))
        h3 = torch.tanh(h2 + self.operator_embed(operator))
        return {
            "field": _masked(self.field_head(trunk), masks["field"]),
            "operator": _masked(self.operator_head(h2), masks["operator"]),
            "position": self.position_head(h3),
            "budget": _masked(self.budget_head(h3), masks["budget"]),
            "index": _masked(self.index_head(h3), masks["index"]),
            "value": self.value_head(trunk).squeeze(-1),
        }


def _masked(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return logits.masked_fill(~mask, -1e9)


@dataclasses.dataclass
class Decision:
    """One move as the policy sampled it, with what the update needs to recompute its log-probability."""

    features: list[float]
    field: int
    operator: int
    position: int
    budget: int
    index: int  #: -1 when the move edits no single action's text
    field_mask: list[bool]
    operator_mask: list[bool]
    budget_mask: list[bool]
    index_mask: list[bool]  #: all False when ``index`` is -1
    move: Move


def _sample(logits: torch.Tensor, rng: random.Random, greedy: bool) -> int:
    probs = torch.softmax(logits.double(), dim=-1).tolist()
    if greedy:
        return max(range(len(probs)), key=probs.__getitem__)
    draw, total = rng.random(), 0.0
    last = 0
    for k, p in enumerate(probs):
        if p <= 1e-12:
            continue
        last = k
        total += p
        if draw < total:
            return k
    return last


class LearnedPolicy:
    """A policy network as an adversary policy (see the module docstring). ``greedy`` takes each
    head's most likely choice instead of sampling."""

    name = "learned"

    def __init__(self, network: PolicyNetwork, vocab: Vocabulary, *, greedy: bool = False, label: str = "") -> None:
        self.network, self.vocab, self.greedy = network, vocab, greedy
        self.label = label or "learned"
        self._allowed: dict[int, tuple[Any, dict[str, list[int]]]] = {}

    def _operators_by_field(self, view: TurnView) -> dict[str, list[int]]:
        cached = self._allowed.get(id(view.operators))
        if cached is None or cached[0] is not view.operators:
            names = {op.name for op in view.operators}
            by_field = {f: [k for k, o in enumerate(self.vocab.operators) if o in names and f in OPERATORS[o].fields]
                        for f in self.vocab.fields}
            cached = self._allowed[id(view.operators)] = (view.operators, by_field)
        return cached[1]

    def choose(self, view: TurnView, rng: random.Random) -> Plan:
        by_field = self._operators_by_field(view)
        vocab = self.vocab
        targets = view.config.targets
        field_mask = [f in targets and bool(by_field[f]) and (f != "admissible_actions" or bool(view.clean.actions))
                      for f in vocab.fields]
        if not any(field_mask):
            return Plan([], info={"member": self.label})
        features = view.features.vector()
        budget_mask = [b <= view.config.budget for b in vocab.budgets]
        net = self.network
        with torch.no_grad():
            x = torch.tensor(features, dtype=torch.float32)
            trunk = net.trunk(x)
            f = _sample(_masked(net.field_head(trunk), torch.tensor(field_mask)), rng, self.greedy)
            field = vocab.fields[f]
            operator_mask = [k in by_field[field] for k in range(len(vocab.operators))]
            h2 = torch.tanh(trunk + net.field_embed.weight[f])
            o = _sample(_masked(net.operator_head(h2), torch.tensor(operator_mask)), rng, self.greedy)
            h3 = torch.tanh(h2 + net.operator_embed.weight[o])
            p = _sample(net.position_head(h3), rng, self.greedy)
            b = _sample(_masked(net.budget_head(h3), torch.tensor(budget_mask)), rng, self.greedy)
            op = OPERATORS[vocab.operators[o]]
            index_choice, index_mask, index = -1, [False] * len(INDEX_CHOICES), None
            if field == "admissible_actions" and not op.edits_list:
                commands = view.clean.commands
                expert = _expert_index(view)
                index_mask = [True, expert is not None, len(commands) > 1 and expert is not None]
                index_choice = _sample(_masked(net.index_head(h3), torch.tensor(index_mask)), rng, self.greedy)
                if INDEX_CHOICES[index_choice] == "expert":
                    index = expert
                elif INDEX_CHOICES[index_choice] == "other":
                    others = [k for k in range(len(commands)) if k != expert]
                    index = others[int(rng.random() * len(others))]
        move = Move(vocab.operators[o], field, vocab.budgets[b], index, POSITIONS[p])
        decision = Decision(features, f, o, p, b, index_choice, field_mask, operator_mask, budget_mask, index_mask,
                            move)
        return Plan([move], info={"decision": decision, "member": self.label})


def _expert_index(view: TurnView) -> int | None:
    expert = view.ctx.expert
    if expert is None:
        return None
    try:
        command = expert()
    except Exception:  # an env whose expert cannot answer in this state: no expert choice
        return None
    try:
        return view.clean.commands.index(command)
    except ValueError:
        return None


class PopulationPolicy:
    """Samples one member of a population of learned policies per episode (see the module docstring)."""

    name = "population"

    def __init__(self, members: Sequence[LearnedPolicy]) -> None:
        if not members:
            raise ConfigError("a population needs at least one member; train the adversary first")
        self.members = list(members)
        self._episodes: dict[int, tuple[int, int]] = {}  # id(episode history) -> (member, last turn)

    def member_for(self, view: TurnView, rng: random.Random) -> int:
        key = id(view.history)  # the wrapper starts a new history list every episode
        found = self._episodes.get(key)
        if found is None or view.turn <= found[1]:
            if len(self._episodes) > 4096:
                self._episodes.clear()
            member = int(rng.random() * len(self.members))
        else:
            member = found[0]
        self._episodes[key] = (member, view.turn)
        return member

    def choose(self, view: TurnView, rng: random.Random) -> Plan:
        return self.members[self.member_for(view, rng)].choose(view, rng)


# --------------------------------------------------------------------------------------------------
# Playing the agent under a policy
# --------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class TurnOutcome:
    """One perturbed turn: what the move did to the agent."""

    decision: Decision | None  #: None when the policy is not a learned one
    operators: list[str]  #: operators of the edits actually made
    drop: float  #: P(clean choice | clean text) - P(clean choice | shown text)
    flipped: bool  #: the agent's choice differs from its clean one
    edit_fraction: float  #: share of the move's field edited
    detected: float  #: the discriminator's P(perturbed) of the shown field text (nan without one)
    texts: tuple[str, str] | None  #: (clean, shown) text of the perturbed field, for the discriminator
    reward: float = math.nan


@dataclasses.dataclass
class AttackedEpisode:
    """One episode of the agent under a policy."""

    env_id: str
    seed: int
    won: bool
    steps: int
    turns: list[TurnOutcome]


def _field_text(view: View, field: str) -> str:
    if field == "observation":
        return view.observation
    if field == "instruction":
        return view.instruction
    return "\n".join(view.actions)


def play_under(scorer: ActionScorer, tasks: Sequence[tuple[str, int]], policy: Any, attack: AttackConfig, *,
               env_kwargs: Mapping[str, Any] | None = None, num_envs: int = 8,
               discriminator: Discriminator | None = None, split: str = "train") -> list[AttackedEpisode]:
    """Plays the agent behind ``scorer`` (greedy: the argmax of its scores on what it is shown) on
    ``tasks`` (env id, seed), each env in a :class:`PerturbationWrapper` under ``policy``, ``num_envs``
    side by side with one batched query per step (the shown text, and the clean text of perturbed
    turns). Returns per episode the outcome and per perturbed turn the drop of the agent's
    clean-action probability, whether its choice flipped, the edit fraction and the discriminator's
    view."""
    from sparring.adversary.wrapper import PerturbationWrapper
    from sparring.envs.registration import make

    if not hasattr(scorer, "scores"):
        raise ConfigError(f"expected an ActionScorer (an object with scores(requests)), got {type(scorer).__name__}; "
                          f"e.g. sparring.adversary.ReActScorer(agent)")
    if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
        raise ConfigError(f"num_envs must be a positive integer, got {num_envs!r}")
    tasks = [(str(e), int(s)) for e, s in tasks]
    episodes: list[AttackedEpisode | None] = [None] * len(tasks)
    temperature = float(getattr(scorer, "temperature", 1.0) or 1.0)
    n = min(num_envs, len(tasks))
    cache: dict[tuple[int, str], Any] = {}

    def env_for(i: int, task: tuple[str, int]) -> Any:
        env = cache.get((i, task[0]))
        if env is None:
            env = cache[(i, task[0])] = PerturbationWrapper(make(task[0], split=split, **dict(env_kwargs or {})),
                                                            attack, policy=policy)
        return env

    slots = EnvSlots(n, env_for, reset=lambda env, task: env.reset(seed=task[1]))

    def start(i: int, k: int, obs: str, info: dict[str, Any]) -> None:
        episodes[k] = AttackedEpisode(tasks[k][0], tasks[k][1], False, 0, [])

    def act(observations: list[str | None], infos: list[dict[str, Any] | None],
            slot_task: list[int | None]) -> list[AgentStep | None]:
        active = [i for i in range(n) if slot_task[i] is not None]
        requests, perturbed = [], []
        for i in active:
            env = slots.envs[i]
            shown = env.view
            requests.append(ScoreRequest(env.family, shown.instruction, env.history, shown.observation,
                                         shown.actions))
            if env.turn_records():
                clean = env.clean
                perturbed.append(i)
                requests.append(ScoreRequest(env.family, clean.instruction, env.history, clean.observation,
                                             clean.actions))
        scores = iter(scorer.scores(requests))
        steps: list[AgentStep | None] = [None] * n
        for i in active:
            env, k = slots.envs[i], slot_task[i]
            shown = env.view
            shown_scores = next(scores)
            choice = argmax(shown_scores) if shown.actions else None
            if i in perturbed:
                episodes[k].turns.append(_turn_outcome(env, shown, shown_scores, next(scores), choice,
                                                       temperature, discriminator))
            action = shown.actions[choice] if choice is not None else "look"
            steps[i] = AgentStep(shown.observation, action, candidates=list(shown.actions), scores=list(shown_scores),
                                 chosen=choice)
        return steps

    def stepped(step: AgentStep) -> None:
        if step.done:
            episode = episodes[step.episode]
            episode.won, episode.steps = bool(step.next_info.get("won")), int(step.next_info.get("step", 0))

    play_slots(slots, tasks, act, on_start=start, on_step=stepped)
    return [e for e in episodes if e is not None]


def _turn_outcome(env: Any, shown: View, shown_scores: Sequence[float], clean_scores: Sequence[float],
                  choice: int | None, temperature: float, discriminator: Discriminator | None) -> TurnOutcome:
    clean = env.clean
    records = env.turn_records()
    plan = env.last_plan
    decision = plan.info.get("decision") if plan is not None else None
    drop, flipped = 0.0, False
    if clean.actions and choice is not None:
        c = argmax(clean_scores)
        command = clean.commands[c]
        j = shown.commands.index(command)
        drop = choice_probabilities(clean_scores, temperature)[c] - choice_probabilities(shown_scores, temperature)[j]
        flipped = shown.commands[choice] != command
    field = decision.move.field if decision is not None else records[0]["field"]
    mine = [r for r in records if r["field"] == field]
    fraction = edit_fraction(len(_field_text(clean, field)), mine) if mine else 0.0
    texts = (_field_text(clean, field), _field_text(shown, field)) if mine else None
    detected = math.nan
    if discriminator is not None:
        detected = float(discriminator.prob([texts[1]])[0]) if texts is not None else 0.0
    return TurnOutcome(decision, sorted({r["operator"] for r in records}), float(drop), bool(flipped), fraction,
                       detected, texts)


def summarize(episodes: Sequence[AttackedEpisode]) -> dict[str, Any]:
    """Failure rate, mean drop, flip rate, edit fraction and the operators used, over ``episodes``."""
    turns = [t for e in episodes for t in e.turns]
    used = Counter(o for t in turns for o in t.operators)
    detected = [t.detected for t in turns if not math.isnan(t.detected)]
    return {
        "episodes": len(episodes), "perturbed_turns": len(turns),
        "failure_rate": sum(not e.won for e in episodes) / len(episodes) if episodes else math.nan,
        "mean_drop": sum(t.drop for t in turns) / len(turns) if turns else math.nan,
        "flip_rate": sum(t.flipped for t in turns) / len(turns) if turns else math.nan,
        "edit_fraction": sum(t.edit_fraction for t in turns) / len(turns) if turns else math.nan,
        "detected": sum(detected) / len(detected) if detected else math.nan,
        "operators": dict(used.most_common()),
    }


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------
class LearnedAdversary:
    """A learned adversary in training: the policy network, its optimiser, the discriminator and the
    population (see the module docstring)."""

    def __init__(self, config: LearnedAdversaryConfig | None = None) -> None:
        self.config = config or LearnedAdversaryConfig()
        if not isinstance(self.config, LearnedAdversaryConfig):
            raise ConfigError(f"expected a LearnedAdversaryConfig, got {type(self.config).__name__}")
        self.vocab = Vocabulary.from_config(self.config)
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(self.config.seed)
        self.network = PolicyNetwork(self.vocab, self.config.hidden_size)
        torch.random.set_rng_state(generator_state)  # leave the caller's stream as it was
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=self.config.learning_rate)
        self.discriminator = Discriminator(DiscriminatorConfig(learning_rate=self.config.discriminator_learning_rate,
                                                               seed=self.config.seed))
        self.population: list[tuple[int, PolicyNetwork]] = []  #: (update it was taken after, frozen copy)
        self.updates = 0
        self.history: list[dict[str, Any]] = []

    # ----------------------------------------------------------------------------------------------
    def policy(self, *, greedy: bool = False) -> LearnedPolicy:
        """The current policy (it shares the network being trained)."""
        return LearnedPolicy(self.network, self.vocab, greedy=greedy, label=f"update-{self.updates}")

    def population_policy(self) -> PopulationPolicy:
        """The population to attack with (a frozen copy of the current policy when it is still empty)."""
        members = self.population or [(self.updates, _frozen(self.network))]
        return PopulationPolicy([LearnedPolicy(net, self.vocab, label=f"update-{u}") for u, net in members])

    def tasks(self, update: int) -> list[tuple[str, int]]:
        """The training tasks of one update: env ids in turn, fresh train-split seeds every update."""
        ids = self.config.env_ids
        return [(ids[k % len(ids)], hash_seed("adversary-task", self.config.seed, update, k) % 1_000_000_000)
                for k in range(self.config.tasks_per_update)]

    def snapshot(self) -> None:
        """Adds a frozen copy of the current policy to the population (the oldest leave past the size)."""
        self.population.append((self.updates, _frozen(self.network)))
        self.population = self.population[-self.config.population_size:]

    # ----------------------------------------------------------------------------------------------
    def rewards(self, episodes: Sequence[AttackedEpisode]) -> list[TurnOutcome]:
        """Fills in each learned move's reward (see the module docstring); returns those turns."""
        c = self.config
        scored = []
        for episode in episodes:
            failure = 0.0 if episode.won else 1.0
            for turn in episode.turns:
                if turn.decision is None:
                    continue
                detected = 0.0 if math.isnan(turn.detected) else turn.detected
                turn.reward = (c.failure_weight * failure + c.drop_weight * turn.drop - c.edit_penalty
                               * turn.edit_fraction - c.discriminator_weight * detected)
                scored.append(turn)
        return scored

    def update(self, scorer: ActionScorer) -> dict[str, Any]:
        """One adversary update on a fresh batch of training tasks, then the discriminator's; returns
        the update's record."""
        c = self.config
        started = time.perf_counter()
        update = self.updates
        episodes = play_under(scorer, self.tasks(update), self.policy(), c.attack(hash_seed("attack", c.seed, update)),
                              env_kwargs=c.env_kwargs, num_envs=c.num_envs, discriminator=self.discriminator)
        turns = self.rewards(episodes)
        stats = self._policy_gradient_step(turns)
        texts, labels = [], []
        for turn in turns:
            if turn.texts is not None:
                texts += list(turn.texts)
                labels += [False, True]
        accuracy = self.discriminator.accuracy(texts, labels) if texts else math.nan  # on texts it has not seen
        disc_loss = self.discriminator.update(texts, labels, epochs=c.discriminator_epochs) if texts else math.nan
        self.updates += 1
        if self.updates % c.population_every == 0:
            self.snapshot()
        summary = summarize(episodes)
        fields = Counter(t.decision.move.field for t in turns)
        record = {
            "update": self.updates, "episodes": len(episodes), "moves": len(turns),
            "failure_rate": summary["failure_rate"], "mean_drop": summary["mean_drop"],
            "flip_rate": summary["flip_rate"], "edit_fraction": summary["edit_fraction"],
            "detected": summary["detected"],
            "reward": sum(t.reward for t in turns) / len(turns) if turns else math.nan,
            **stats, "discriminator_accuracy": accuracy, "discriminator_loss": disc_loss,
            "discriminator_texts": len(texts), "population": len(self.population),
            "operators": summary["operators"], "fields": dict(fields.most_common()),
            "seconds": time.perf_counter() - started,
        }
        self.history.append(record)
        logger.info("adversary update %d: failure %.2f, drop %.3f, reward %.3f, discriminator accuracy %.2f",
                    self.updates, record["failure_rate"], record["mean_drop"], record["reward"], accuracy)
        return record

    def _policy_gradient_step(self, turns: Sequence[TurnOutcome]) -> dict[str, float]:
        if not turns:
            return {"policy_loss": math.nan, "value_loss": math.nan, "entropy": math.nan, "grad_norm": math.nan}
        c = self.config
        decisions = [t.decision for t in turns]
        features = torch.tensor([d.features for d in decisions], dtype=torch.float32)
        field = torch.tensor([d.field for d in decisions])
        operator = torch.tensor([d.operator for d in decisions])
        masks = {"field": torch.tensor([d.field_mask for d in decisions]),
                 "operator": torch.tensor([d.operator_mask for d in decisions]),
                 "budget": torch.tensor([d.budget_mask for d in decisions]),
                 "index": torch.tensor([d.index_mask if d.index >= 0 else [True] * len(INDEX_CHOICES)
                                        for d in decisions])}
        out = self.network(features, field, operator, masks)
        chosen = {"field": field, "operator": operator, "position": torch.tensor([d.position for d in decisions]),
                  "budget": torch.tensor([d.budget for d in decisions]),
                  "index": torch.tensor([max(d.index, 0) for d in decisions])}
        uses_index = torch.tensor([d.index >= 0 for d in decisions])
        logp = torch.zeros(len(decisions))
        entropy = torch.zeros(len(decisions))
        for head in ("field", "operator", "position", "budget", "index"):
            log_probs = torch.log_softmax(out[head], dim=-1)
            probs = log_probs.exp()
            head_logp = log_probs.gather(1, chosen[head][:, None]).squeeze(1)
            head_entropy = -(probs * log_probs).sum(-1)
            if head == "index":
                head_logp, head_entropy = head_logp * uses_index, head_entropy * uses_index
            logp = logp + head_logp
            entropy = entropy + head_entropy
        returns = torch.tensor([t.reward for t in turns], dtype=torch.float32)
        values = out["value"]
        advantages = returns - values.detach()
        if len(turns) > 1:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        policy_loss = -(logp * advantages).mean()
        value_loss = 0.5 * ((values - returns) ** 2).mean()
        loss = policy_loss + c.value_coef * value_loss - c.ent_coef * entropy.mean()
        if not bool(torch.isfinite(loss)):
            raise SparringError("the learned adversary's loss is not finite; lower its learning_rate")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if c.max_grad_norm:
            norm = float(torch.nn.utils.clip_grad_norm_(self.network.parameters(), c.max_grad_norm))
        else:
            norm = float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in self.network.parameters()
                                                               if p.grad is not None])))
        self.optimizer.step()
        return {"policy_loss": policy_loss.item(), "value_loss": value_loss.item(),
                "entropy": entropy.mean().item(), "grad_norm": norm}

    def train(self, scorer: ActionScorer, updates: int, *,
              on_update: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
        """``updates`` more updates against the agent behind ``scorer``; returns their records."""
        if isinstance(updates, bool) or not isinstance(updates, int) or updates < 0:
            raise ConfigError(f"updates must be an integer >= 0, got {updates!r}")
        records = []
        for _ in range(updates):
            record = self.update(scorer)
            records.append(record)
            if on_update is not None:
                on_update(record)
        return records

    def evaluate(self, scorer: ActionScorer, tasks: Sequence[tuple[str, int]], policy: Any = None, *,
                 seed: int = 0) -> dict[str, Any]:
        """:func:`summarize` of the agent under ``policy`` (default: the current policy, sampling) on
        ``tasks``, with the mean reward of its learned moves under the current weights and discriminator."""
        policy = self.policy() if policy is None else policy
        episodes = play_under(scorer, tasks, policy, self.config.attack(seed), env_kwargs=self.config.env_kwargs,
                              num_envs=self.config.num_envs, discriminator=self.discriminator)
        turns = self.rewards(episodes)
        return {**summarize(episodes), "reward": sum(t.reward for t in turns) / len(turns) if turns else math.nan}

    def choice_probabilities(self, features: TaskFeatures | Sequence[float]) -> dict[str, dict[str, float]]:
        """The policy's field distribution and, per field, its operator distribution for one feature
        vector (every operator of the vocabulary allowed): what it has learnt to prefer."""
        x = torch.tensor(features.vector() if isinstance(features, TaskFeatures) else list(features),
                         dtype=torch.float32)
        net, vocab = self.network, self.vocab
        with torch.no_grad():
            trunk = net.trunk(x)
            fields = torch.softmax(net.field_head(trunk), -1).tolist()
            out: dict[str, dict[str, float]] = {"field": dict(zip(vocab.fields, fields, strict=True))}
            for f, field in enumerate(vocab.fields):
                mask = torch.tensor([field in OPERATORS[o].fields for o in vocab.operators])
                h2 = torch.tanh(trunk + net.field_embed.weight[f])
                probs = torch.softmax(_masked(net.operator_head(h2), mask), -1).tolist()
                out[field] = {o: p for o, p, m in zip(vocab.operators, probs, mask.tolist(), strict=True) if m}
        return out

    # ----------------------------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> Path:
        """Writes the adversary (see the module docstring) into ``directory``, atomically."""
        from safetensors.torch import save_file

        target = Path(directory)
        with staged_dir(target) as staging:
            tensors = {f"network.{k}": v for k, v in self.network.state_dict().items()}
            for m, (_, net) in enumerate(self.population):
                tensors.update({f"population.{m}.{k}": v for k, v in net.state_dict().items()})
            optimizer = self.optimizer.state_dict()
            for p, state in optimizer["state"].items():
                for name, value in state.items():
                    tensors[f"optimizer.{p}.{name}"] = value if torch.is_tensor(value) else torch.tensor(value)
            meta = {"format": FORMAT, "config": self.config.to_dict(), "vocabulary": self.vocab.to_dict(),
                    "updates": self.updates, "population": [u for u, _ in self.population],
                    "optimizer": {"param_groups": optimizer["param_groups"],
                                  "state": {str(p): sorted(s) for p, s in optimizer["state"].items()}},
                    "history": json_safe(self.history)}
            save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(staging / TENSORS))
            (staging / META).write_text(json.dumps(meta, indent=2) + "\n")
            self.discriminator.save(staging / DISCRIMINATOR_DIR)
        return target

    @classmethod
    def load(cls, directory: str | os.PathLike) -> LearnedAdversary:
        """An adversary written by :meth:`save`, ready to train on or attack with."""
        from safetensors.torch import load_file

        path = Path(directory)
        if not (path / META).is_file() or not (path / TENSORS).is_file():
            raise ConfigError(f"{path} is not a saved learned adversary (it needs {META} and {TENSORS}); train one "
                              f"with LearnedAdversary(...).train(...) and save it")
        meta = json.loads((path / META).read_text())
        if meta.get("format") != FORMAT:
            raise SparringError(f"{path} has learned-adversary format {meta.get('format')}; this sparring reads {FORMAT}")
        config = LearnedAdversaryConfig(**meta["config"])
        adversary = cls(config)
        if Vocabulary.from_dict(meta["vocabulary"]) != adversary.vocab:
            raise SparringError(f"{path}: the saved vocabulary does not match its config; the files were edited")
        tensors = load_file(str(path / TENSORS))
        adversary.network.load_state_dict({k[len("network."):]: v for k, v in tensors.items()
                                           if k.startswith("network.")})
        for m, update in enumerate(meta["population"]):
            net = PolicyNetwork(adversary.vocab, config.hidden_size)
            net.load_state_dict({k[len(f"population.{m}."):]: v for k, v in tensors.items()
                                 if k.startswith(f"population.{m}.")})
            adversary.population.append((int(update), _frozen(net)))
        optimizer = meta["optimizer"]
        state = {int(p): {name: (tensors[f"optimizer.{p}.{name}"]) for name in names}
                 for p, names in optimizer["state"].items()}
        adversary.optimizer.load_state_dict({"state": state, "param_groups": optimizer["param_groups"]})
        adversary.discriminator = Discriminator.load(path / DISCRIMINATOR_DIR)
        adversary.updates = int(meta["updates"])
        adversary.history = list(meta["history"])
        return adversary


def load_population(directory: str | os.PathLike) -> PopulationPolicy:
    """The population of a saved adversary, as a policy for :class:`PerturbationWrapper` (``policy=``)."""
    return LearnedAdversary.load(directory).population_policy()


def _frozen(network: PolicyNetwork) -> PolicyNetwork:
    copy_ = copy.deepcopy(network)
    copy_.eval()
    for parameter in copy_.parameters():
        parameter.requires_grad_(False)
    return copy_


__all__ = ["AttackedEpisode", "Decision", "INDEX_CHOICES", "LearnedAdversary", "LearnedAdversaryConfig",
           "LearnedPolicy", "POSITIONS", "PolicyNetwork", "PopulationPolicy", "TurnOutcome", "Vocabulary",
           "load_population", "play_under", "summarize"]
