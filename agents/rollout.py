"""Run an agent for a fixed list of episodes over a Gymnasium vector env, and the one episode loop
(:func:`play_slots`: slot-and-refill over a vector of envs, with callbacks) that every rollout shares.

Each episode is pinned to a seed (or a task spec), so two agents evaluated on the same list see the
same tasks, and the result does not depend on how many envs run side by side. The vector env runs
with autoreset disabled: when an env finishes, it is reset to the next seed of the list; once the
list is used up it idles (the agent sees ``None`` for it and spends nothing).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode
from tqdm.auto import tqdm

from sparring.agents.base import Agent, unbatch_infos
from sparring.agents.step import AgentStep, agent_steps
from sparring.envs.registration import make_vec
from sparring.errors import ConfigError

#: what idle envs are sent: an empty command costs an env almost nothing
_IDLE_ACTION = ""


@dataclasses.dataclass
class EpisodeResult:
    """The outcome of one episode, with the identity needed to replay it."""

    env_id: str
    family: str
    split: str
    seed: int
    task: str
    won: bool
    lost: bool
    score: float
    max_score: float
    steps: int
    episode_return: float
    invalid_actions: int
    truncated: bool
    trials: int = 1  #: tries the agent took at the task (see :class:`~sparring.envs.trials.TrialsWrapper`)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: the record the rollout hands to ``on_step``: the agent's turn with the env's answer (the old name)
StepRecord = AgentStep


class VectorSlots:
    """The slots of :func:`play_slots` over a Gymnasium vector env made with autoreset disabled: a slot
    is reset on its own (``reset_mask``) to a task ``(seed, spec)`` (seed -1: none; spec None: none);
    every env is stepped together, an idle one with an empty command (which costs an env almost nothing)
    and kept steppable by resetting it when it ends."""

    def __init__(self, envs: Any, num_slots: int) -> None:
        self.envs, self.num_slots = envs, num_slots
        self._tasks: list[Any] = [None] * num_slots

    def reset(self, slot: int, task: tuple[int, Any]) -> tuple[str, dict[str, Any]]:
        n = self.num_slots
        seed, spec = task
        mask = np.zeros(n, dtype=np.bool_)
        mask[slot] = True
        seeds: list[int | None] = [None] * n
        seeds[slot] = seed if seed >= 0 else None
        options: dict[str, Any] = {"reset_mask": mask}
        if spec is not None:
            options["task"] = spec
        obs, vinfo = self.envs.reset(seed=seeds, options=options)
        self._tasks[slot] = task
        return obs[slot], unbatch_infos(vinfo, n)[slot]

    def step(self, actions: Sequence[str | None]) -> list[tuple[str, float, bool, bool, dict[str, Any]]]:
        sent = tuple(_IDLE_ACTION if a is None else a for a in actions)
        obs, rewards, terminated, truncated, vinfo = self.envs.step(sent)
        infos = unbatch_infos(vinfo, self.num_slots)
        out = []
        for i, action in enumerate(actions):
            out.append((obs[i], float(rewards[i]), bool(terminated[i]), bool(truncated[i]), infos[i]))
            if action is None and (terminated[i] or truncated[i]):
                self.retire(i)
        return out

    def retire(self, slot: int) -> None:
        # autoreset is off, so a finished env must be reset to stay steppable
        self.reset(slot, self._tasks[slot])

    def close(self) -> None:
        self.envs.close()


class EnvSlots:
    """The slots of :func:`play_slots` over single envs in this process: ``env_for(slot, task)`` gives
    the env a slot plays a task on (made once, or kept per task kind), ``reset(env, task)`` starts it
    (default ``env.reset(seed=task)``); only active slots are stepped, one after another."""

    def __init__(self, num_slots: int, env_for: Callable[[int, Any], Any],
                 reset: Callable[[Any, Any], tuple[str, dict[str, Any]]] | None = None) -> None:
        self.num_slots, self.env_for = num_slots, env_for
        self._reset = reset or (lambda env, task: env.reset(seed=task))
        self.envs: list[Any] = [None] * num_slots  #: the env each slot plays now
        self._made: list[Any] = []

    def reset(self, slot: int, task: Any) -> tuple[str, dict[str, Any]]:
        env = self.env_for(slot, task)
        if not any(env is e for e in self._made):
            self._made.append(env)
        self.envs[slot] = env
        return self._reset(env, task)

    def step(self, actions: Sequence[str | None]) -> list[tuple[str, float, bool, bool, dict[str, Any]] | None]:
        return [None if a is None else self.envs[i].step(a) for i, a in enumerate(actions)]

    def retire(self, slot: int) -> None:
        pass

    def close(self) -> None:
        for env in self._made:
            env.close()


def play_slots(
    slots: Any,
    tasks: Sequence[Any],
    act: Callable[[list[str | None], list[dict[str, Any] | None], list[int | None]], Sequence[AgentStep | None]],
    *,
    on_start: Callable[[int, int, str, dict[str, Any]], None] | None = None,
    on_step: Callable[[AgentStep], None] | None = None,
) -> None:
    """The episode loop every rollout shares: plays ``tasks`` (episode ``k`` is ``tasks[k]``) on the
    ``slots.num_slots`` envs of ``slots`` (:class:`VectorSlots`, :class:`EnvSlots`) side by side;
    when a slot's episode ends, the slot is refilled with the next task of the list, and once the list
    is used up it idles. ``slots`` is closed at the end.

    Each step, ``act(observations, infos, episodes)`` decides for every slot at once (an idle slot's
    observation, info and episode are None) and returns one :class:`AgentStep` per slot (None for an
    idle one); what the env answers is filled into each record (``episode``, ``slot``, ``info``,
    ``reward``, ``next_observation``, ``terminated``, ``truncated``, ``next_info``), which is then
    handed to ``on_step``, before a finished slot is refilled. ``on_start(slot, episode, observation,
    info)`` is called when a slot starts an episode."""
    n = slots.num_slots
    episode: list[int | None] = [None] * n
    observations: list[str | None] = [None] * n
    infos: list[dict[str, Any] | None] = [None] * n
    upcoming = iter(range(len(tasks)))

    def fill(i: int) -> None:
        k = next(upcoming, None)
        episode[i] = k
        if k is None:
            observations[i] = infos[i] = None
            slots.retire(i)
            return
        observations[i], infos[i] = slots.reset(i, tasks[k])
        if on_start is not None:
            on_start(i, k, observations[i], infos[i])

    try:
        for i in range(n):
            fill(i)
        while any(k is not None for k in episode):
            steps = list(act(list(observations), list(infos), list(episode)))
            if len(steps) != n:
                raise ConfigError(f"expected one step for each of the {n} envs, got {len(steps)}")
            outcomes = slots.step([steps[i].action if episode[i] is not None else None for i in range(n)])
            for i in range(n):
                k = episode[i]
                if k is None:
                    continue
                step = steps[i]
                obs, reward, terminated, truncated, info = outcomes[i]
                step.episode, step.slot, step.info = k, i, infos[i]
                step.reward, step.next_observation, step.next_info = float(reward), obs, info
                step.terminated, step.truncated = bool(terminated), bool(truncated)
                if on_step is not None:
                    on_step(step)
                observations[i], infos[i] = obs, info
                if step.done:
                    fill(i)
    finally:
        slots.close()


def run_episodes(
    agent: Agent,
    env_id: str,
    *,
    split: str = "train",
    episodes: int | None = None,
    seeds: Sequence[int] | None = None,
    tasks: Sequence[Any] | None = None,
    num_envs: int = 1,
    vectorization_mode: str = "sync",
    env_kwargs: Mapping[str, Any] | None = None,
    progress: bool | str = False,
    on_step: Callable[[AgentStep], None] | None = None,
    samples: Sequence[int] | None = None,
    wrappers: Sequence[Callable[[Any], Any]] | None = None,
    trials: int | None = None,
) -> list[EpisodeResult]:
    """Plays ``agent`` on ``env_id`` for the given seeds (default ``range(episodes)``) or pinned tasks.

    ``on_step`` gets the record of every turn (:class:`~sparring.agents.step.AgentStep`: the agent's
    side, e.g. its prompt and scores, and the env's answer). ``samples`` numbers repeated tries of one
    task (one number per episode of the list); the agent
    sees it as ``info["sample"]``, so a sampling agent draws the same stream for a task's n-th try
    whatever else it has played (a resumed collection replays nothing). ``wrappers`` wrap each env
    of the vector (e.g. ``PerturbationWrapper.factory(...)``: the agent plays under attack).
    ``trials`` (default: the agent's ``trials`` attribute, else 1) above 1 gives the agent that many
    tries at each task (:class:`~sparring.envs.trials.TrialsWrapper`, innermost, so an attack
    perturbs every trial); an episode's steps, return and invalid actions then add up its trials.
    Returns one result per episode, in the order of the list.
    """
    plan: list[tuple[int, Any]] = _plan(episodes, seeds, tasks)
    if not plan:
        return []
    if samples is not None and len(samples) != len(plan):
        raise ConfigError(f"expected one sample number per episode ({len(plan)}), got {len(samples)}")
    wrappers = [*with_trials(agent, trials), *(wrappers or [])]
    n = min(num_envs, len(plan))
    envs = make_vec(
        env_id,
        num_envs=n,
        vectorization_mode=vectorization_mode,
        vector_kwargs={"autoreset_mode": AutoresetMode.DISABLED},
        **({"wrappers": list(wrappers)} if wrappers else {}),
        split=split,
        **dict(env_kwargs or {}),
    )
    results: list[EpisodeResult | None] = [None] * len(plan)
    returns = [0.0] * n
    bar = tqdm(total=len(plan), desc=progress if isinstance(progress, str) else env_id,
               disable=None if progress else True,  # None: only on a terminal
               leave=False, dynamic_ncols=True)

    def act(observations: list[str | None], infos: list[dict[str, Any] | None],
            episodes: list[int | None]) -> list[AgentStep | None]:
        if samples is not None:
            infos = [None if info is None else {**info, "sample": int(samples[episodes[i]])}
                     for i, info in enumerate(infos)]
        steps = agent_steps(agent, observations, infos)
        if len(steps) != n:
            raise ConfigError(f"agent {agent.name!r} returned {len(steps)} actions for {n} envs")
        return steps

    def start(slot: int, episode: int, observation: str, info: dict[str, Any]) -> None:
        returns[slot] = 0.0

    def stepped(step: AgentStep) -> None:
        returns[step.slot] += step.reward
        if on_step is not None:
            on_step(step)
        if step.done:
            results[step.episode] = _result(env_id, step.next_info, returns[step.slot], step.truncated)
            bar.update(1)

    try:
        play_slots(VectorSlots(envs, n), plan, act, on_start=start, on_step=stepped)
    finally:
        bar.close()
    return [r for r in results if r is not None]


def with_trials(agent: Any, trials: int | None = None) -> list[Callable[[Any], Any]]:
    """The wrappers that give ``agent`` its tries at each task: ``[TrialsWrapper.factory(K)]`` when
    ``trials`` (default: the agent's ``trials`` attribute, else 1) is above 1, else none."""
    from sparring.envs.trials import TrialsWrapper

    count = getattr(agent, "trials", 1) if trials is None else trials
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ConfigError(f"trials must be a positive integer (tries per task), got {count!r}")
    return [TrialsWrapper.factory(count)] if count > 1 else []


def _plan(episodes: int | None, seeds: Sequence[int] | None, tasks: Sequence[Any] | None) -> list[tuple[int, Any]]:
    if tasks is not None:
        if seeds is not None:
            raise ConfigError("pass seeds or tasks, not both")
        return [(-1, t) for t in tasks]
    if seeds is None:
        if episodes is None:
            raise ConfigError("pass episodes, seeds or tasks")
        if episodes < 0:
            raise ConfigError(f"episodes must be >= 0, got {episodes}")
        seeds = range(episodes)
    return [(int(s), None) for s in seeds]


def _result(env_id: str, info: Mapping[str, Any], episode_return: float, truncated: bool) -> EpisodeResult:
    return EpisodeResult(
        env_id=env_id,
        family=info["family"],
        split=info["split"],
        seed=int(info["seed"]),
        task=info["task"],
        won=bool(info["won"]),
        lost=bool(info["lost"]),
        score=float(info["score"]),
        max_score=float(info["max_score"]),
        steps=int(info.get("total_steps", info["step"])),  # all trials, under a TrialsWrapper
        episode_return=episode_return,
        invalid_actions=int(info.get("total_invalid", info["num_invalid"])),
        truncated=truncated,
        trials=int(info.get("trial", 0)) + 1,
    )

