"""The perturbation wrapper: an env whose text is attacked, whose state is not.

:class:`PerturbationWrapper` sits between any sparring env and the agent. On every turn its
schedule selects, its adversary policy chooses moves and the operators rewrite what the agent sees
— the observation, ``info["instruction"]``, ``info["admissible_actions"]`` — and nothing else: the
env's state, its verifier, its reward and ``info["task"]`` are untouched, so success is still
judged by the env and the oracle still wins (tested on every operator and native family).

What the agent answers goes back to the env as a command: an admissible action picked from the
perturbed list is mapped back to the env's own command (``remap_actions``); anything else is sent as
typed. Meaning-preserving operators need no mapping (the env's parser accepts their rewrites, tested
with ``remap_actions=False``).

``info`` gains:

* ``"perturbations"`` — every edit made so far in the episode, in order (see
  :mod:`sparring.adversary.edits`; each record names its turn), a JSON-able list;
* ``"hijack"`` — one entry per injection planted: its target (an action or a state), the turn, and
  whether the env's state shows the hijack worked (``"achieved"``, ``"achieved_turn"``): an action
  target on the step right after it was shown, a state target on any later step;
* ``"attack"`` — the attack's label; ``"attack_queries"`` — agent queries the policy spent so far.

A task's perturbations depend only on the attack's seed and the task (not on the order of
episodes or the slot of a vector env), so runs are reproducible and RSR@K varies the seed.

In vector envs, pass the wrapper through ``wrappers=`` (sync and async)::

    make_vec("sparring/Shop-v0", 4, wrappers=[PerturbationWrapper.factory("typo", budget=2)])
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from typing import Any

import gymnasium as gym

from sparring.adversary.config import AttackConfig
from sparring.adversary.injection import state_reached
from sparring.adversary.operators import Context
from sparring.adversary.plan import View, apply_moves
from sparring.adversary.policies import AdversaryPolicy, Plan, TurnView, make_policy
from sparring.adversary.registry import resolve
from sparring.adversary.schedule import Schedule
from sparring.envs.splits import spec_hash
from sparring.envs.text_env import TextEnv
from sparring.envs.trials import find_trials
from sparring.errors import ConfigError


def interpret(env: Any, command: str) -> Any:
    """The operation a sparring env would execute for ``command`` now (None: invalid), read without
    stepping; for an env without a parser, the command itself."""
    if not isinstance(env, TextEnv):
        return command
    op = env._actions.get(command)
    if op is None:
        op, _ = env._match(command)
    return op


class PerturbationWrapper(gym.Wrapper):
    """Perturbs the text an agent sees, never the env's state (see the module docstring).

    ``attack`` is operator names (``"typo"``, ``"char,word"``, ``["synonym", "distractor"]``,
    ``"train"``), an :class:`~sparring.adversary.config.AttackConfig`, a dict of its fields, or a
    ``.toml`` / ``.json`` file of them; the other arguments override the config's fields.
    ``policy`` is a policy name or an :class:`~sparring.adversary.policies.AdversaryPolicy`.
    """

    def __init__(self, env: gym.Env, attack: Any = "typo", budget: int | None = None,
                 targets: Any = None, schedule: Any = None, *, policy: str | AdversaryPolicy | None = None,
                 seed: int | None = None, remap_actions: bool | None = None, hijack: str | None = None) -> None:
        super().__init__(env)
        named_policy = policy if isinstance(policy, str) else None
        if isinstance(schedule, (list, tuple)):
            schedule = str(Schedule.parse(schedule))
        self.config = AttackConfig.coerce(attack, budget=budget, targets=targets, schedule=schedule,
                                          policy=named_policy, seed=seed, remap_actions=remap_actions, hijack=hijack)
        self.operators = resolve(self.config.operators)
        self.schedule = Schedule.parse(self.config.schedule)
        if policy is None or isinstance(policy, str):
            self.policy: AdversaryPolicy = make_policy(self.config)
        elif hasattr(policy, "choose"):
            self.policy = policy
        else:
            raise ConfigError(f"policy must be a name or an object with choose(view, rng), got {policy!r}")
        self._remap = self.config.remap_actions
        self._label = self.config.label
        self._reset_state()
        trials = find_trials(env)
        if trials is not None:  # a state hijack reached on a failed trial's last step is judged before its reset
            trials.trial_end_callbacks.append(self._judge_state_targets)

    @classmethod
    def factory(cls, attack: Any = "typo", **kwargs: Any) -> Callable[[gym.Env], PerturbationWrapper]:
        """A picklable one-argument constructor, for ``make_vec(..., wrappers=[...])`` (async too)."""
        return functools.partial(cls, attack=attack, **kwargs)

    # ----------------------------------------------------------------------------------------------
    # Gymnasium API
    # ----------------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._reset_state()
        base = self.env.unwrapped
        task = info.get("task", "")
        self._task_hash = spec_hash(task) if task else ""
        self._rng = random.Random(f"{self.config.seed}/{self._task_hash}/{info.get('seed', seed)}")
        self._ctx = Context(family=info.get("family", getattr(base, "family", "")),
                            lexicon=getattr(base, "lexicon", None), task=task, env=base,
                            expert=getattr(base, "expert_action", None), hijack=self.config.hijack)
        self._split = str(info.get("split", ""))
        return self._present(obs, info, False, 0), info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        command = self._map.get(action, action) if self._map and isinstance(action, str) else action
        pending = self._pending_actions
        executed = interpret(self.env.unwrapped, command) if pending and isinstance(command, str) else None
        obs, reward, terminated, truncated, info = self.env.step(command)
        self.history.append((self._shown_observation, action))
        if pending:
            if not info.get("invalid_action", False) and executed is not None:
                for record, op in pending:
                    if op == executed:
                        record["achieved"], record["achieved_turn"] = True, info.get("step", self._turn + 1)
            self._pending_actions = []  # an action target is judged on the step right after it was shown
        self._judge_state_targets(info)
        return self._present(obs, info, terminated or truncated, self._turn + 1), reward, terminated, truncated, info

    # ----------------------------------------------------------------------------------------------
    # What the agent sees
    # ----------------------------------------------------------------------------------------------
    @property
    def clean(self) -> View:
        """The current turn's clean text (what the env wrote)."""
        if self._clean is None:
            obs, info = self._raw
            instruction = info.get("instruction")
            self._clean = View(obs, instruction if isinstance(instruction, str) else "",
                               info.get("admissible_actions") or [])
        return self._clean

    @property
    def view(self) -> View:
        """The current turn's text as the agent sees it."""
        return self._view if self._view is not None else self.clean

    def shown(self, command: str) -> str:
        """How the current turn shows the env command ``command`` (itself when it is not listed)."""
        return self.view.shown(command)

    def command(self, action: str) -> str:
        """The command the env is sent when the agent answers ``action`` on the current turn."""
        return self._map.get(action, action)

    @property
    def turn(self) -> int:
        """The current turn (the env's ``info["step"]``)."""
        return self._turn

    @property
    def family(self) -> str:
        return self._ctx.family if self._ctx is not None else ""

    def turn_records(self) -> list[dict[str, Any]]:
        """The edits of the current turn."""
        return self.records[self._turn_start:]

    def _judge_state_targets(self, info: dict[str, Any]) -> None:
        if self._state_targets:
            base = self.env.unwrapped
            for record in self._state_targets:
                if not record["achieved"] and state_reached(base, record["target"]):
                    record["achieved"], record["achieved_turn"] = True, info.get("step", self._turn + 1)

    def _reset_state(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.hijacks: list[dict[str, Any]] = []
        self.history: list[tuple[str, str]] = []
        self.queries = 0
        self.perturbed_turns = 0
        self.last_plan: Plan | None = None
        self._raw: tuple[str, dict[str, Any]] = ("", {})
        self._clean: View | None = None
        self._view: View | None = None
        self._shown_observation = ""
        self._map: dict[str, str] = {}
        self._pending_actions: list[tuple[dict[str, Any], Any]] = []
        self._state_targets: list[dict[str, Any]] = []
        self._turn = 0
        self._turn_start = 0  #: where the current turn's records start (turns repeat across trials)
        self._trial = 0
        if not hasattr(self, "_ctx"):
            self._ctx: Context | None = None

    def _present(self, obs: str, info: dict[str, Any], done: bool, turn: int) -> str:
        turn = self._turn = info.get("step", turn)
        self._turn_start = len(self.records)
        trial = info.get("trial")
        if trial is not None and trial != self._trial:  # a TrialsWrapper inside restarted the task
            self._trial = trial
            self.history = []
        self._raw = (obs, info)
        self._clean = self._view = None
        self.last_plan = None
        if self._map:
            self._map = {}
        shown_obs = obs
        if not done and self.schedule.active(turn, self._rng):
            instruction = info.get("instruction")
            clean = self._clean = View(obs, instruction if isinstance(instruction, str) else "",
                                       info.get("admissible_actions") or [])
            ctx = self._ctx
            ctx.instruction, ctx.admissible = clean.instruction, clean.actions
            plan = self.policy.choose(TurnView(clean, self.history, self.config, self.operators, ctx, turn,
                                               self._split, self._task_hash), self._rng)
            self.last_plan = plan
            self.queries += plan.queries
            if plan.moves:
                applied = apply_moves(clean, plan.moves, ctx, self._rng, turn)
                shown = self._view = applied.view
                shown_obs = shown.observation
                if applied.records:
                    if trial is not None:
                        for record in applied.records:
                            record["trial"] = trial
                    self.records.extend(applied.records)
                    self.perturbed_turns += 1
                if applied.planted:
                    self._plant(applied.planted)
                if shown.actions is not clean.actions:
                    if self._remap:
                        self._map = {a: c for a, c in zip(shown.actions, shown.commands, strict=True) if a != c}
                    info["admissible_actions"] = shown.actions
                if shown.instruction is not clean.instruction and "instruction" in info:
                    info["instruction"] = shown.instruction
        self._shown_observation = shown_obs
        info["perturbations"] = self.records[:]
        info["hijack"] = [dict(h) for h in self.hijacks] if self.hijacks else []
        info["attack"] = self._label
        info["attack_queries"] = self.queries
        return shown_obs

    def _plant(self, planted: list[dict[str, Any]]) -> None:
        base = self.env.unwrapped
        for target in planted:
            if target["kind"] == "state" and any(h["target"] == target["target"] for h in self._state_targets):
                continue  # the episode's one state target, planted again: one record
            self.hijacks.append(target)
            if target["kind"] == "action":
                self._pending_actions.append((target, interpret(base, target["target"])))
            else:
                self._state_targets.append(target)


__all__ = ["PerturbationWrapper", "interpret"]
