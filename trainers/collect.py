"""Collect trajectories from any agent: the oracle (expert trajectories), a model agent sampling with a
temperature, several samples per task (self-exploration), a random agent.

Each finished episode is appended to a JSON Lines file at once (one write, flushed to disk), so a
killed run loses only the episodes in flight, never leaves a broken line behind, and ``resume=True``
continues where it stopped without duplicates: episodes already in the file (same env id, split,
seed, agent and sample) are skipped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sparring.agents.base import Agent
from sparring.agents.prompting import build_messages
from sparring.agents.rollout import run_episodes
from sparring.agents.step import AgentStep
from sparring.envs.registration import entry
from sparring.errors import ConfigError
from sparring.trajectory import Episode, Step, append_episodes, iter_episodes, repair

#: turns of history in the stored prompts (the ReAct agent's default window)
PROMPT_WINDOW = 4


@dataclasses.dataclass
class CollectStats:
    """What a collection run did."""

    written: int = 0
    skipped: int = 0  #: already in the file (resume)
    won: int = 0

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def prompt_for(family: str, instruction: str, history: Sequence[Any], observation: str,
               admissible: Sequence[str], *, with_thought: bool, window: int = PROMPT_WINDOW) -> list[dict[str, str]]:
    """The chat messages a ReAct policy is given for one turn (the format SFT and DPO train on):
    :func:`~sparring.agents.prompting.build_messages` with the stored prompts' window; ``history`` is
    the episode's earlier turns (stored steps or agent steps)."""
    return build_messages(family=family, instruction=instruction, history=history, observation=observation,
                          admissible=admissible, window=window, with_thought=with_thought)


def stored_step(step: AgentStep, prompt: list[dict[str, str]], *, with_thought: bool = True) -> Step:
    """The stored record (:class:`~sparring.trajectory.Step`) of a played turn, with the prompt it is
    stored with; ``with_thought=False`` drops the agent's thought (a trajectory without thoughts)."""
    return Step(
        observation=step.observation, admissible=list(step.info["admissible_actions"]), prompt=prompt,
        action=step.action, thought=step.thought if with_thought else "", reward=step.reward,
        reward_terms=dict(step.next_info.get("reward_terms", {})), next_observation=step.next_observation,
        terminated=step.terminated, truncated=step.truncated, invalid=step.invalid,
    )


def writes_thoughts(agent: Agent) -> bool:
    """Whether an agent explains its actions: an oracle made with ``thoughts=True``, or a ReAct agent
    in generate mode (it writes ``Thought: ...`` before each action)."""
    if not callable(getattr(agent, "thought", None)):
        return False
    return bool(getattr(agent, "thoughts", False)) or getattr(agent, "mode", None) == "generate"


class _Recorder:
    """Builds episodes from the rollout's turn records and appends each one when it ends."""

    def __init__(self, agent: Agent, env_id: str, plan: list[tuple[int, int]], out: Path | list[Episode],
                 stats: CollectStats, with_thought: bool) -> None:
        #: ``out``: the file each finished episode is appended to, or a list it is appended to
        self.agent, self.env_id, self.plan, self.out, self.stats = agent, env_id, plan, out, stats
        #: a trajectory stored without thoughts keeps none, so its completions match its prompts' format
        self.with_thought = with_thought
        self.open: dict[int, Episode] = {}

    def __call__(self, record: AgentStep) -> None:
        info, k = record.info, record.episode
        if k not in self.open:
            seed, sample = self.plan[k]
            self.open[k] = Episode(
                env_id=self.env_id, family=info["family"], split=info["split"], seed=int(info["seed"]),
                task=info["task"], instruction=info["instruction"], agent=self.agent.name, sample=sample,
                perturbations=list(info.get("perturbations", [])),
            )
        episode = self.open[k]
        # the stored prompt has the stored format (window, thoughts), whatever the agent's own prompt was
        prompt = prompt_for(episode.family, episode.instruction, episode.steps, record.observation,
                            info["admissible_actions"], with_thought=self.with_thought)
        episode.steps.append(stored_step(record, prompt, with_thought=self.with_thought))
        if record.terminated or record.truncated:
            final = record.next_info
            episode.won, episode.lost = bool(final["won"]), bool(final["lost"])
            episode.score, episode.max_score = float(final["score"]), float(final["max_score"])
            episode.episode_return = sum(s.reward for s in episode.steps)
            episode.truncated = record.truncated
            # the wrapper's list grows over the episode: the last info holds every edit the agent saw
            episode.perturbations = list(final.get("perturbations", episode.perturbations))
            if isinstance(self.out, list):
                self.out.append(episode)
            else:
                append_episodes(self.out, [episode])
            self.stats.written += 1
            self.stats.won += episode.won
            del self.open[k]


def collect(
    agent: Agent,
    env_ids: Sequence[str],
    splits: Sequence[str],
    out: str | Path,
    *,
    episodes: int = 10,
    samples_per_task: int = 1,
    seed_offset: int = 0,
    num_envs: int = 1,
    vectorization_mode: str = "sync",
    env_kwargs: Mapping[str, Any] | None = None,
    resume: bool = False,
    progress: bool = False,
    wrappers: Sequence[Any] | None = None,
    thoughts: bool | None = None,
    ray: str | bool | None = None,
    ray_workers: int = 2,
) -> CollectStats:
    """Plays ``agent`` on ``episodes`` tasks (seeds ``seed_offset..``) of every env id and split,
    ``samples_per_task`` times each, appending every finished episode to ``out``.

    ``wrappers`` wrap every env: ``[PerturbationWrapper.factory("typo", budget=2)]`` collects
    adversarial trajectories (each episode records the edits the agent saw).

    ``thoughts`` chooses the format of the stored prompts and completions: True stores the
    ``Thought: ... / Action: ...`` format (the system message asks for it, and each completion holds
    the agent's thought), which generate-mode SFT learns to reason from; it needs an agent that writes
    thoughts (``OracleAgent(thoughts=True)``, a ReAct agent in generate mode). False stores
    ``Action: ...`` only, dropping any thoughts. None (default) follows the agent.

    ``ray`` plays the episodes on ``ray_workers`` Ray actors, each with a copy of the agent (True or
    ``"local"``: a local Ray or ``$RAY_ADDRESS``; else a cluster address such as ``ray://head:10001``);
    each actor's share of episodes is appended as soon as it is done, so an interrupted run resumes."""
    if episodes < 1 or samples_per_task < 1:
        raise ConfigError(f"episodes and samples_per_task must be >= 1, got {episodes} and {samples_per_task}")
    writes = writes_thoughts(agent)
    if thoughts and not writes:
        raise ConfigError(
            f"thoughts=True needs an agent that writes thoughts, got {agent.name!r} which does not; use "
            f"OracleAgent(thoughts=True) (`--agent oracle --thoughts`) or a react agent in generate mode "
            f"(`--mode generate`), or drop thoughts=True (--thoughts)"
        )
    with_thought = writes if thoughts is None else bool(thoughts)
    for env_id in env_ids:
        entry(env_id)
    path = Path(out)
    if path.exists() and not resume:
        raise ConfigError(f"{path} exists; pass resume=True (--resume) to continue it, or choose another file")
    done: set[tuple] = set()
    if path.exists():
        repair(path)
        done = {e.key for e in iter_episodes(path)}
    stats = CollectStats()
    rollouts = None
    try:
        for env_id in env_ids:
            for split in splits:
                if split not in entry(env_id).splits:
                    raise ConfigError(f"{env_id} has no split {split!r}; it has {entry(env_id).splits}")
                plan = [(seed, sample) for seed in range(seed_offset, seed_offset + episodes)
                        for sample in range(samples_per_task)]
                todo = [(s, n) for s, n in plan if (env_id, split, s, agent.name, n) not in done]
                stats.skipped += len(plan) - len(todo)
                if not todo:
                    continue
                play = {"num_envs": num_envs, "vectorization_mode": vectorization_mode, "env_kwargs": env_kwargs,
                        "wrappers": wrappers}
                if ray:
                    if rollouts is None:
                        from sparring.agents.ray_actors import RayRollouts, _shares

                        rollouts = RayRollouts(agent, workers=ray_workers, address=None if ray is True else str(ray))
                    shares = [todo[a:b] for a, b in _shares(len(todo), len(rollouts.actors) * 4)]
                    calls = [(env_id, split, share, with_thought, play) for share in shares]
                    for _, (episodes_done, share_stats) in rollouts.map_unordered(_collect_share, calls):
                        append_episodes(path, episodes_done)
                        stats.written += share_stats.written
                        stats.won += share_stats.won
                    continue
                recorder = _Recorder(agent, env_id, todo, path, stats, with_thought)
                run_episodes(agent, env_id, split=split, seeds=[s for s, _ in todo], samples=[n for _, n in todo],
                             progress=progress and f"collect {agent.name} {env_id} {split}", on_step=recorder, **play)
    finally:
        if rollouts is not None:
            rollouts.close()
    return stats


def _collect_share(agent: Agent, env_id: str, split: str, todo: list[tuple[int, int]], with_thought: bool,
                   play: Mapping[str, Any]) -> tuple[list[Episode], CollectStats]:
    """One Ray actor's share of a collection: the episodes of ``todo`` (seed, sample), as a list."""
    episodes: list[Episode] = []
    stats = CollectStats()
    recorder = _Recorder(agent, env_id, todo, episodes, stats, with_thought)
    run_episodes(agent, env_id, split=split, seeds=[s for s, _ in todo], samples=[n for _, n in todo],
                 on_step=recorder, **play)
    return episodes, stats
