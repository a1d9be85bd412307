"""Baseline agents: random (uniform over admissible actions) and oracle (the env's scripted expert)."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from sparring.agents.base import EpisodeStreams
from sparring.agents.step import AgentStep
from sparring.errors import SparringError


class RandomAgent:
    """Picks uniformly among ``info["admissible_actions"]``.

    Each episode gets its own random stream (:class:`~sparring.agents.base.EpisodeStreams`, keyed by
    the agent's seed, the task and the try's number), so repeated samples of one task differ, and an
    episode's actions do not depend on how many envs run beside it nor on what the agent played before.
    """

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._rngs: dict[int, random.Random] = {}
        self._streams = EpisodeStreams(seed)
        self.last_steps: list[AgentStep | None] = []  #: the record of each env's last turn

    def act(self, observations: Sequence[str | None], infos: Sequence[Mapping[str, Any] | None]) -> list[str]:
        actions = []
        self.last_steps = [None] * len(infos)
        for i, info in enumerate(infos):
            if info is None:
                actions.append("")
                continue
            if info["step"] == 0 or i not in self._rngs:
                self._rngs[i] = self._streams.new(info)
            admissible = info["admissible_actions"]
            actions.append(self._rngs[i].choice(admissible) if admissible else "look")
            self.last_steps[i] = AgentStep(observations[i], actions[-1])
        return actions


class OracleAgent:
    """Plays the env's scripted expert.

    The expert reads the env's state, which an agent driving a vector of envs (possibly in other
    processes) cannot reach, so the oracle keeps a replica of each env: it rebuilds the task from
    ``info["task"]`` when an episode starts and replays its own commands on it. Envs are
    deterministic, so the replica's state is the env's state.

    With ``thoughts=True`` it also explains each command (the env's ``expert_thought()``, taken on the
    replica before the command is played), and :meth:`thought` returns it, so collected expert
    trajectories carry ``Thought: ... / Action: ...`` demonstrations for generate-mode SFT. Without it
    the oracle writes no thoughts (and spends nothing on them).
    """

    name = "oracle"

    def __init__(self, thoughts: bool = False) -> None:
        self.thoughts = bool(thoughts)
        self._replicas: dict[int, Any] = {}
        self._thoughts: dict[int, str] = {}
        self.last_steps: list[AgentStep | None] = []  #: the record of each env's last turn

    def act(self, observations: Sequence[str | None], infos: Sequence[Mapping[str, Any] | None]) -> list[str]:
        actions = []
        self.last_steps = [None] * len(infos)
        for i, info in enumerate(infos):
            if info is None:
                actions.append("")
                continue
            replica = self._replica(i, info)
            action = replica.expert_action()
            if self.thoughts:
                self._thoughts[i] = replica.expert_thought()
            replica.step(action)
            actions.append(action)
            self.last_steps[i] = AgentStep(observations[i], action, self.thought(i))
        return actions

    def thought(self, slot: int) -> str:
        """The reason for the last command chosen for env ``slot`` ("" without ``thoughts=True``)."""
        return self._thoughts.get(slot, "") if self.thoughts else ""

    def _replica(self, i: int, info: Mapping[str, Any]) -> Any:
        replica = self._replicas.get(i)
        if info["step"] == 0 or replica is None:
            replica = _family_env(info["family"], info["split"])
            replica.reset(options={"task": info["task"]})
            self._replicas[i] = replica
        if replica._steps != info["step"]:
            raise SparringError(
                f"the oracle's replica of env {i} is at step {replica._steps} but the env reports step "
                f"{info['step']}; the oracle must choose every action of an episode it plays"
            )
        return replica


def _family_env(family: str, split: str) -> Any:
    """A bare env of a family (no wrappers), for replicas; effectively no step limit."""
    from sparring.envs.registration import family_class

    return family_class(family)(split=split, max_steps=10**9)
