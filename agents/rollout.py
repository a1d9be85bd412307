"""Run an agent for a fixed list of episodes over a Gymnasium vector env.

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


@dataclasses.dataclass
class StepRecord:
    """One step, as handed to ``on_step`` (transcripts, trajectory collection)."""

    episode: int  #: index of the episode in the run's list
    slot: int  #: which env of the vector played it (the agent's position index)
    observation: str  #: what the agent saw before acting
    info: Mapping[str, Any]  #: the info the agent saw before acting
    action: str
    next_observation: str
    reward: float
    terminated: bool
    truncated: bool
    next_info: Mapping[str, Any]


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
    on_step: Callable[[StepRecord], None] | None = None,
    samples: Sequence[int] | None = None,
    wrappers: Sequence[Callable[[Any], Any]] | None = None,
    trials: int | None = None,
) -> list[EpisodeResult]:
    """Plays ``agent`` on ``env_id`` for the given seeds (default ``range(episodes)``) or pinned tasks.

    ``samples`` numbers repeated tries of one task (one number per episode of the list); the agent
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
    slot_episode: list[int | None] = [None] * n
    returns = [0.0] * n
    observations: list[str | None] = [None] * n
    infos: list[dict[str, Any] | None] = [None] * n
    upcoming = iter(range(len(plan)))
    bar = tqdm(total=len(plan), desc=progress if isinstance(progress, str) else env_id,
               disable=None if progress else True,  # None: only on a terminal
               leave=False, dynamic_ncols=True)
    try:
        for i in range(n):
            _start(envs, i, next(upcoming), plan, slot_episode, returns, observations, infos, n)
        while any(e is not None for e in slot_episode):
            visible_obs = [observations[i] if slot_episode[i] is not None else None for i in range(n)]
            visible_info = [infos[i] if slot_episode[i] is not None else None for i in range(n)]
            if samples is not None:
                visible_info = [None if info is None else {**info, "sample": int(samples[slot_episode[i]])}
                                for i, info in enumerate(visible_info)]
            actions = list(agent.act(visible_obs, visible_info))
            if len(actions) != n:
                raise ConfigError(f"agent {agent.name!r} returned {len(actions)} actions for {n} envs")
            sent = [a if slot_episode[i] is not None else _IDLE_ACTION for i, a in enumerate(actions)]
            obs, rewards, terminated, truncated, vinfo = envs.step(tuple(sent))
            step_infos = unbatch_infos(vinfo, n)
            for i in range(n):
                done = bool(terminated[i] or truncated[i])
                episode = slot_episode[i]
                if episode is not None:
                    returns[i] += float(rewards[i])
                    if on_step is not None:
                        on_step(StepRecord(
                            episode=episode, slot=i, observation=observations[i], info=infos[i], action=sent[i],
                            next_observation=obs[i], reward=float(rewards[i]), terminated=bool(terminated[i]),
                            truncated=bool(truncated[i]), next_info=step_infos[i],
                        ))
                    if done:
                        results[episode] = _result(env_id, step_infos[i], returns[i], bool(truncated[i]))
                        bar.update(1)
                observations[i], infos[i] = obs[i], step_infos[i]
                if done:
                    following = next(upcoming, None)
                    if following is None:
                        # keep the idle env steppable: autoreset is off, so a finished env must be reset
                        _start(envs, i, episode if episode is not None else 0, plan, slot_episode, returns,
                               observations, infos, n)
                        slot_episode[i] = None
                    else:
                        _start(envs, i, following, plan, slot_episode, returns, observations, infos, n)
    finally:
        bar.close()
        envs.close()
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


def _start(envs: Any, i: int, episode: int, plan: list[tuple[int, Any]], slot_episode: list[int | None],
           returns: list[float], observations: list[str | None], infos: list[dict[str, Any] | None], n: int) -> None:
    seed, task = plan[episode]
    mask = np.zeros(n, dtype=np.bool_)
    mask[i] = True
    seeds: list[int | None] = [None] * n
    seeds[i] = seed if seed >= 0 else None
    options: dict[str, Any] = {"reset_mask": mask}
    if task is not None:
        options["task"] = task
    obs, vinfo = envs.reset(seed=seeds, options=options)
    observations[i] = obs[i]
    infos[i] = unbatch_infos(vinfo, n)[i]
    slot_episode[i] = episode
    returns[i] = 0.0


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

