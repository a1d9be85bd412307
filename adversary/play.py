"""Playing an agent under attack, with what a robustness report needs from every episode.

:func:`play` runs an agent on a fixed list of seeds, each env in its own
:class:`~sparring.adversary.wrapper.PerturbationWrapper` (or bare, for the clean run), a batch of
envs side by side so the agent acts on them together. Beside the outcome it keeps, per episode:
the hijacks and whether they worked, the edit fraction of each perturbed text, how many perturbed
admissible actions the env still reads as the same command (validity), the adversary's queries and,
when a scorer of the agent is given, whether the agent's decision *flipped*: on each perturbed turn
the scorer is asked what the agent would have done on the clean text with the same history, and
that is compared with what it did.

The wrappers run in this process (not in a vector env's workers) because the flip probe and the
greedy policy need the clean text and the agent side by side.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sparring.adversary.config import AttackConfig
from sparring.adversary.edits import edit_fraction
from sparring.adversary.policies import AdversaryPolicy
from sparring.adversary.scoring import ActionScorer, ScoreRequest, argmax
from sparring.adversary.wrapper import PerturbationWrapper, interpret
from sparring.agents.rollout import EnvSlots, play_slots, with_trials
from sparring.agents.step import AgentStep, agent_steps
from sparring.envs.registration import make
from sparring.errors import ConfigError


@dataclasses.dataclass
class TurnLog:
    """One turn of an episode, for transcripts."""

    turn: int
    observation: str  #: what the agent saw
    clean_observation: str
    records: list[dict[str, Any]]  #: edits of this turn
    instruction: str = ""  #: the instruction the agent saw
    actions: list[str] = dataclasses.field(default_factory=list)  #: the admissible actions it saw
    action: str = ""  #: what the agent answered
    command: str = ""  #: what the env executed (after mapping back)
    clean_choice: str | None = None  #: the command the agent would have chosen on the clean text
    flipped: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class EpisodeLog:
    """One episode's outcome and attack statistics."""

    env_id: str
    family: str
    split: str
    seed: int
    task: str
    attack: str  #: the attack's label ("clean" for none)
    won: bool = False
    lost: bool = False
    steps: int = 0
    perturbed_turns: int = 0
    edit_fractions: list[float] = dataclasses.field(default_factory=list)  #: one per perturbed text
    valid_actions: int = 0  #: perturbed admissible actions the env reads as the same command
    perturbed_actions: int = 0
    queries: int = 0
    flips: int = 0  #: perturbed turns where the agent's decision differs from its clean one
    probed_turns: int = 0
    hijacks: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    trials: int = 1  #: tries the agent took at the task (under a TrialsWrapper; steps add them up)
    turns: list[TurnLog] = dataclasses.field(default_factory=list)  #: kept for the first episodes only

    @property
    def key(self) -> str:
        """The task's identity, which pairs clean and attacked runs."""
        return f"{self.env_id}|{self.split}|{self.seed}"

    @property
    def hijacked(self) -> bool:
        return any(h.get("achieved") for h in self.hijacks)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["key"], data["hijacked"] = self.key, self.hijacked
        return data


def play(
    agent: Any,
    env_id: str,
    seeds: Sequence[int],
    *,
    attack: AttackConfig | None = None,
    split: str = "test",
    env_kwargs: Mapping[str, Any] | None = None,
    num_envs: int = 1,
    scorer: ActionScorer | None = None,
    policy: AdversaryPolicy | Callable[[], AdversaryPolicy] | None = None,
    keep_turns: int = 0,
    wrappers: Sequence[Callable[[Any], Any]] | None = None,
    trials: int | None = None,
) -> list[EpisodeLog]:
    """Plays ``agent`` on ``seeds`` of ``env_id`` / ``split``, under ``attack`` (None: clean).

    ``policy`` (an instance, or a factory called once per env) replaces the config's policy, e.g.
    a :class:`~sparring.adversary.policies.GreedyPolicy` over ``scorer``. ``keep_turns`` keeps the
    turn-by-turn log of the first that many episodes (for transcripts). ``wrappers`` wrap each env
    *under* the perturbation wrapper, so the attack sees what they make. ``trials`` (default: the
    agent's ``trials`` attribute, else 1) above 1 gives the agent that many tries at each task
    (:class:`~sparring.envs.trials.TrialsWrapper`, innermost): every trial is attacked."""
    if not isinstance(num_envs, int) or num_envs < 1:
        raise ConfigError(f"num_envs must be a positive integer, got {num_envs!r}")
    seeds = [int(s) for s in seeds]
    if not seeds:
        return []
    n = min(num_envs, len(seeds))
    inner = [*with_trials(agent, trials), *(wrappers or [])]
    envs: list[Any] = []
    for _ in range(n):
        env = make(env_id, split=split, **dict(env_kwargs or {}))
        for wrap in inner:
            env = wrap(env)
        if attack is not None:
            chosen = policy() if callable(policy) and not hasattr(policy, "choose") else policy
            env = PerturbationWrapper(env, attack, policy=chosen)
        envs.append(env)
    label = attack.label if attack is not None else "clean"
    logs: list[EpisodeLog | None] = [None] * len(seeds)
    slots = EnvSlots(n, lambda i, seed: envs[i])

    def start(i: int, k: int, obs: str, info: dict[str, Any]) -> None:
        logs[k] = EpisodeLog(env_id=env_id, family=info["family"], split=info["split"], seed=seeds[k],
                             task=info["task"], attack=label)
        _account(envs[i], logs[k], obs, info, keep=k < keep_turns)

    def act(observations: list[str | None], infos: list[dict[str, Any] | None],
            slot: list[int | None]) -> list[AgentStep | None]:
        steps = agent_steps(agent, observations, infos)
        if len(steps) != n:
            raise ConfigError(f"agent {getattr(agent, 'name', agent)!r} returned {len(steps)} actions for {n} envs")
        actions = [step.action if step is not None else "" for step in steps]
        if scorer is not None and attack is not None:
            _probe_flips(envs, slot, logs, actions, scorer)
        for i, k in enumerate(slot):
            log = logs[k] if k is not None else None
            if log is not None and k < keep_turns and log.turns:
                log.turns[-1].action = actions[i]
                log.turns[-1].command = envs[i].command(actions[i]) if attack is not None else actions[i]
        return steps

    def stepped(step: AgentStep) -> None:
        env, log, info = envs[step.slot], logs[step.episode], step.next_info
        log.steps = int(info.get("total_steps", info.get("step", log.steps + 1)))
        if step.done:
            log.won, log.lost = bool(info.get("won")), bool(info.get("lost"))
            log.trials = int(info.get("trial", 0)) + 1
            if attack is not None:
                log.hijacks = [dict(h) for h in env.hijacks]
                log.queries = env.queries
        else:
            _account(env, log, step.next_observation, info, keep=step.episode < keep_turns)

    play_slots(slots, seeds, act, on_start=start, on_step=stepped)
    return [log for log in logs if log is not None]


def _account(env: Any, log: EpisodeLog, observation: str, info: Mapping[str, Any], keep: bool) -> None:
    """Statistics of the turn just presented (edits, validity) and its log entry."""
    if not isinstance(env, PerturbationWrapper):
        if keep:
            log.turns.append(TurnLog(int(info.get("step", len(log.turns))), observation, observation, [],
                                     info.get("instruction", ""), list(info.get("admissible_actions", []))))
        return
    records = env.turn_records()
    if records:
        log.perturbed_turns += 1
        clean = env.clean
        for field, length in (("observation", len(clean.observation)), ("instruction", len(clean.instruction)),
                              ("admissible_actions", sum(len(a) for a in clean.actions))):
            mine = [r for r in records if r["field"] == field]
            if mine:
                log.edit_fractions.append(edit_fraction(length, mine))
        edited = sorted({r["index"] for r in records if r["field"] == "admissible_actions" and r["index"] is not None})
        base = env.unwrapped
        for index in edited:
            shown, command = env.view.actions[index], env.view.commands[index]
            log.perturbed_actions += 1
            log.valid_actions += interpret(base, shown) == interpret(base, command)
    if keep:
        log.turns.append(TurnLog(env.turn, env.view.observation, env.clean.observation, records,
                                 env.view.instruction, list(env.view.actions)))


def _probe_flips(envs: list[Any], slot: list[int | None], logs: list[EpisodeLog | None], actions: list[str],
                 scorer: ActionScorer) -> None:
    """Asks the scorer what the agent would do on the clean text of each perturbed turn."""
    asked, requests = [], []
    for i, k in enumerate(slot):
        env = envs[i]
        if k is None or not env.clean.actions or not env.turn_records():
            continue
        clean = env.clean
        requests.append(ScoreRequest(env.family, clean.instruction, env.history, clean.observation, clean.actions))
        asked.append((i, k))
    if not requests:
        return
    for (i, k), scores in zip(asked, scorer.scores(requests), strict=True):
        env, log = envs[i], logs[k]
        choice = env.clean.commands[argmax(scores)]
        flipped = choice != env.command(actions[i])
        log.probed_turns += 1
        log.flips += flipped
        if log.turns and log.turns[-1].turn == env.turn:
            log.turns[-1].clean_choice, log.turns[-1].flipped = choice, flipped


__all__ = ["EpisodeLog", "TurnLog", "play"]
