"""Filters over episodes, preference pairs from expert and explored episodes, and oracle corrections.

A *filter* is any callable ``Episode -> bool`` (True keeps the episode). The ones here carry a
``name`` so :func:`apply` can report how many episodes each of them dropped:

* by the env's verdict: :func:`won`, :func:`min_score`;
* by rules: :func:`max_turns`, :func:`max_invalid_ratio`, :func:`no_loops`;
* by a model: :func:`min_reward_model_score` (any :class:`~sparring.envs.rewards.RewardModel`, e.g. a
  :class:`~sparring.trainers.reward_model.LearnedRewardModel` or an LLM judge);
* composed: :func:`all_of`, :func:`any_of`.

Failures are not thrown away: :func:`preference_pairs` pairs a failed explored episode with an expert
episode that won the same task (DPO / ETO rows), and :func:`correct_with_oracle` keeps a failed
episode's prefix and lets the oracle finish it (an SFT demonstration that starts where the agent
really goes).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sparring.envs.rewards import RewardModel, Transition
from sparring.errors import ConfigError, SparringError
from sparring.trainers.collect import PROMPT_WINDOW, prompt_for
from sparring.trajectory import Episode, Step

logger = logging.getLogger(__name__)

EpisodeFilter = Callable[[Episode], bool]
#: a scripted expert: the next command in the current state of a (bare, unwrapped) sparring env
Expert = Callable[[Any], str]


@dataclasses.dataclass(frozen=True)
class Filter:
    """A named predicate over episodes; True keeps the episode."""

    name: str
    predicate: EpisodeFilter

    def __call__(self, episode: Episode) -> bool:
        return bool(self.predicate(episode))

    def __repr__(self) -> str:
        return f"Filter({self.name})"


def filter_name(fn: EpisodeFilter) -> str:
    """The name a filter is reported under (its ``name``, else the function's name)."""
    name = getattr(fn, "name", None)
    if isinstance(name, str) and name:
        return name
    return getattr(fn, "__name__", type(fn).__name__).strip("<>")


def _check_filter(fn: Any) -> EpisodeFilter:
    if not callable(fn):
        raise ConfigError(
            f"expected a filter (a callable Episode -> bool, e.g. won() or max_turns(20)), got "
            f"{type(fn).__name__} {fn!r:.60}; call the filter factory, e.g. won() rather than won"
        )
    if fn in _FACTORIES:
        raise ConfigError(
            f"expected a filter, got the factory {fn.__name__}; call it to build the filter, e.g. {fn.__name__}(...)"
        )
    return fn


# --------------------------------------------------------------------------------------------------
# By the env
# --------------------------------------------------------------------------------------------------
def won() -> Filter:
    """Keeps the episodes the env's verifier declared won."""
    return Filter("won", lambda episode: episode.won)


def share_of_score(episode: Episode) -> float:
    """``score / max_score``; an env that reports no score (max_score 0) counts 1 if won, else 0."""
    if episode.max_score > 0:
        return episode.score / episode.max_score
    return 1.0 if episode.won else 0.0


def min_score(share: float) -> Filter:
    """Keeps episodes whose final ``score / max_score`` is at least ``share`` (sub-goals reached)."""
    if not isinstance(share, (int, float)) or not 0.0 <= share <= 1.0:
        raise ConfigError(f"min_score share must be a number in [0, 1], got {share!r}; e.g. 0.5 for half the sub-goals")
    return Filter(f"min_score({share:g})", lambda episode: share_of_score(episode) >= share)


# --------------------------------------------------------------------------------------------------
# By rules
# --------------------------------------------------------------------------------------------------
def max_turns(n: int) -> Filter:
    """Keeps episodes of at most ``n`` turns."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"max_turns needs a positive integer, got {n!r}")
    return Filter(f"max_turns({n})", lambda episode: len(episode.steps) <= n)


def max_invalid_ratio(ratio: float) -> Filter:
    """Keeps episodes in which at most ``ratio`` of the actions were rejected by the env as invalid."""
    if not isinstance(ratio, (int, float)) or not 0.0 <= ratio <= 1.0:
        raise ConfigError(f"max_invalid_ratio needs a number in [0, 1], got {ratio!r}; 0 keeps only clean episodes")

    def keep(episode: Episode) -> bool:
        return not episode.steps or episode.num_invalid / len(episode.steps) <= ratio

    return Filter(f"max_invalid_ratio({ratio:g})", keep)


def find_loop(actions: Sequence[str], repeats: int, max_period: int = 4) -> tuple[int, int] | None:
    """``(start, period)`` of the first stretch where a block of ``period`` actions (1..max_period)
    occurs ``repeats`` times back to back, or None. Period 1 is one action repeated."""
    n = len(actions)
    for start in range(n):
        for period in range(1, max_period + 1):
            end = start + period * repeats
            if end > n:
                break
            block = actions[start:start + period]
            # a block that is itself a repetition (a, a) is caught at its shorter period
            if all(actions[start + r * period:start + (r + 1) * period] == block for r in range(1, repeats)):
                return start, period
    return None


def no_loops(k: int, max_period: int = 4) -> Filter:
    """Rejects an episode that repeats one action ``k`` times in a row, or cycles through the same
    short sequence of actions (up to ``max_period`` long, e.g. go to A, go to B) ``k`` times in a row."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 2:
        raise ConfigError(f"no_loops needs k >= 2 (repetitions that make a loop), got {k!r}")
    if not isinstance(max_period, int) or max_period < 1:
        raise ConfigError(f"no_loops max_period must be a positive integer, got {max_period!r}")

    def keep(episode: Episode) -> bool:
        return find_loop([s.action.strip() for s in episode.steps], k, max_period) is None

    return Filter(f"no_loops({k})", keep)


# --------------------------------------------------------------------------------------------------
# By a model
# --------------------------------------------------------------------------------------------------
def episode_transitions(episode: Episode) -> list[Transition]:
    """The episode's steps as the :class:`Transition` objects a reward source sees in the env.

    ``info`` carries the episode's identity and the step number the env reports (so a model that
    follows an episode's history, like the learned reward model, sees the same stream as live). The
    outcome and progress come from the stored reward terms ``"env"`` and ``"progress"``; an episode
    collected without those terms gets outcome 1 on a winning last step and progress 0.
    """
    transitions = []
    last = len(episode.steps) - 1
    for i, step in enumerate(episode.steps):
        final = i == last
        info: dict[str, Any] = {
            "admissible_actions": list(episode.steps[i + 1].admissible) if not final else [],
            "instruction": episode.instruction,
            "won": episode.won and final,
            "lost": episode.lost and final,
            "family": episode.family,
            "split": episode.split,
            "seed": episode.seed,
            "task": episode.task,
            "step": i + 1,
            "invalid_action": step.invalid,
            "reward_terms": dict(step.reward_terms),
        }
        if final:
            info.update(score=episode.score, max_score=episode.max_score)
        outcome = step.reward_terms.get("env", 1.0 if final and episode.won else 0.0)
        transitions.append(Transition(
            instruction=episode.instruction, observation=step.observation, action=step.action,
            next_observation=step.next_observation, outcome=float(outcome),
            progress=float(step.reward_terms.get("progress", 0.0)), terminated=step.terminated,
            truncated=step.truncated, info=info,
        ))
    return transitions


_REDUCE: dict[str, Callable[[Sequence[float]], float]] = {
    "mean": lambda values: sum(values) / len(values),
    "last": lambda values: values[-1],
    "min": min,
}


def min_reward_model_score(model: RewardModel, threshold: float, reduce: str = "mean") -> Filter:
    """Keeps episodes whose steps ``model`` scores at least ``threshold`` on average (``"mean"``), on
    the last step (``"last"``), or on every step (``"min"``). Episodes without steps are dropped."""
    if not isinstance(model, RewardModel):
        raise ConfigError(
            f"expected a RewardModel (an object with score(transitions) -> floats), got {type(model).__name__}; "
            f"load one with LearnedRewardModel.load(path)"
        )
    if reduce not in _REDUCE:
        raise ConfigError(f"reduce must be one of {sorted(_REDUCE)}, got {reduce!r}")
    if not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise ConfigError(f"threshold must be a finite number, got {threshold!r}")
    combine = _REDUCE[reduce]

    def keep(episode: Episode) -> bool:
        if not episode.steps:
            return False
        values = [float(v) for v in model.score(episode_transitions(episode))]
        if len(values) != len(episode.steps):
            raise SparringError(
                f"the reward model returned {len(values)} scores for {len(episode.steps)} transitions; "
                f"score(transitions) must return one float per transition"
            )
        return combine(values) >= threshold

    return Filter(f"min_reward_model_score({threshold:g},{reduce})", keep)


# --------------------------------------------------------------------------------------------------
# Composition
# --------------------------------------------------------------------------------------------------
def all_of(*filters: EpisodeFilter) -> Filter:
    """Keeps the episodes every filter keeps (checked in order, stopping at the first rejection)."""
    if not filters:
        raise ConfigError("all_of needs at least one filter, got none")
    checked = [_check_filter(f) for f in filters]
    return Filter(f"all_of({', '.join(map(filter_name, checked))})", lambda e: all(f(e) for f in checked))


def any_of(*filters: EpisodeFilter) -> Filter:
    """Keeps the episodes at least one filter keeps."""
    if not filters:
        raise ConfigError("any_of needs at least one filter, got none")
    checked = [_check_filter(f) for f in filters]
    return Filter(f"any_of({', '.join(map(filter_name, checked))})", lambda e: any(f(e) for f in checked))


@dataclasses.dataclass
class FilterReport:
    """What :func:`apply` did: how many episodes came in, were kept, and were dropped by each filter
    (an episode is counted against the first filter, in order, that rejects it)."""

    total: int = 0
    kept: int = 0
    dropped: dict[str, int] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        parts = [f"{name}: -{count}" for name, count in self.dropped.items()]
        return f"kept {self.kept}/{self.total}" + (f" ({', '.join(parts)})" if parts else "")


def apply(filters: EpisodeFilter | Sequence[EpisodeFilter], episodes: Iterable[Episode]) -> tuple[list[Episode], FilterReport]:
    """Runs the filters in order over the episodes; returns the kept episodes (in their order) and a
    :class:`FilterReport`. Later filters only see what earlier ones kept, so put cheap rules before a
    model filter."""
    chain = [filters] if callable(filters) else list(filters)
    checked = [_check_filter(f) for f in chain]
    names: list[str] = []
    for f in checked:
        name, n = filter_name(f), 2
        while name in names:  # two filters with one name would share a count
            name, n = f"{filter_name(f)}#{n}", n + 1
        names.append(name)
    report = FilterReport(dropped=dict.fromkeys(names, 0))
    kept = []
    for episode in episodes:
        report.total += 1
        for name, f in zip(names, checked, strict=True):
            if not f(episode):
                report.dropped[name] += 1
                break
        else:
            kept.append(episode)
    report.kept = len(kept)
    logger.info("filters: %s", report)
    return kept, report


_FACTORIES = (won, min_score, max_turns, max_invalid_ratio, no_loops, min_reward_model_score)


# --------------------------------------------------------------------------------------------------
# Preference pairs
# --------------------------------------------------------------------------------------------------
def task_key(episode: Episode) -> tuple[str, str, str]:
    """What makes two episodes the same task: env id, split and the task spec (canonical JSON)."""
    return episode.env_id, episode.split, episode.task


def _divergence(a: Sequence[Step], b: Sequence[Step]) -> int:
    """The first turn at which the two episodes' actions differ (the shorter length if none does)."""
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x.action != y.action:
            return i
    return min(len(a), len(b))


def _continuation(steps: Sequence[Step]) -> list[dict[str, str]]:
    """The turns after the first prompt as chat messages: each completion, then the observation it
    led to (the last observation is left out: nothing is asked of the agent after it)."""
    messages = []
    for i, step in enumerate(steps):
        messages.append({"role": "assistant", "content": step.completion})
        if i < len(steps) - 1:
            messages.append({"role": "user", "content": step.next_observation})
    return messages


def preference_pairs(expert: Iterable[Episode], explored: Iterable[Episode], kind: str = "step") -> list[dict[str, Any]]:
    """DPO rows in TRL's conversational preference format from won expert episodes and failed
    explored episodes of the same task.

    Each failed explored episode is paired with the won expert episode of its task whose actions
    agree with it the longest (the first such one on a tie); explored episodes with no won expert
    episode of their task are skipped.

    * ``kind="trajectory"`` (ETO): ``prompt`` is the first turn's prompt; ``chosen`` / ``rejected``
      are the rest of each episode as alternating assistant (the step's completion) and user (the
      observation that followed) messages.
    * ``kind="step"``: at the first turn where the two action sequences differ, ``prompt`` is that
      turn's prompt (the history both share, as the explored agent was shown it), ``chosen`` the
      expert's completion and ``rejected`` the explored agent's. A failed episode that never leaves
      the expert's actions (it was cut short) gives no step pair.

    Every row has a ``meta`` dict: ``task_key`` (env id, split, task), ``kind``, ``divergence_turn``,
    and the ``chosen_key`` / ``rejected_key`` of the two episodes (as strings).
    """
    if kind not in ("step", "trajectory"):
        raise ConfigError(f"kind must be 'step' or 'trajectory', got {kind!r}")
    winners: dict[tuple[str, str, str], list[Episode]] = {}
    for episode in expert:
        if episode.won and episode.steps:
            winners.setdefault(task_key(episode), []).append(episode)
    rows: list[dict[str, Any]] = []
    unmatched = 0
    for failed in explored:
        if failed.won or not failed.steps:
            continue
        candidates = winners.get(task_key(failed))
        if not candidates:
            unmatched += 1
            continue
        # the expert that stays with the failed episode longest: the sharpest contrast at the divergence
        best = max(candidates, key=lambda e: _divergence(e.steps, failed.steps))
        turn = _divergence(best.steps, failed.steps)
        meta = {"task_key": list(task_key(failed)), "kind": kind, "divergence_turn": turn,
                "chosen_key": [str(v) for v in best.key], "rejected_key": [str(v) for v in failed.key]}
        if kind == "trajectory":
            rows.append({"prompt": list(failed.steps[0].prompt), "chosen": _continuation(best.steps),
                         "rejected": _continuation(failed.steps), "meta": meta})
        elif turn < len(failed.steps) and turn < len(best.steps):
            rows.append({
                "prompt": list(failed.steps[turn].prompt),
                "chosen": [{"role": "assistant", "content": best.steps[turn].completion}],
                "rejected": [{"role": "assistant", "content": failed.steps[turn].completion}],
                "meta": meta,
            })
    if unmatched:
        logger.info("preference pairs: %d failed episodes have no won expert episode of their task", unmatched)
    return rows


# --------------------------------------------------------------------------------------------------
# Oracle corrections
# --------------------------------------------------------------------------------------------------
def _oracle(env: Any) -> str:
    return env.expert_action()


def _prompt_style(episode: Episode) -> tuple[bool, int]:
    """``(with_thought, window)`` the episode's stored prompts were built with, so new steps match."""
    first = episode.steps[0]
    probe = prompt_for(episode.family, episode.instruction, [], first.observation, first.admissible, with_thought=True)
    with_thought = bool(first.prompt) and first.prompt[0] == probe[0]
    window = PROMPT_WINDOW
    for i, step in enumerate(episode.steps):
        shown = sum(m.get("role") == "assistant" for m in step.prompt)
        if shown < i:  # the history was clipped: the window is what was shown
            window = shown
            break
    return with_thought, window


def correct_with_oracle(
    failed_episode: Episode,
    cut: str | int = "divergence",
    expert: Expert | None = None,
    *,
    max_steps: int = 500,
    env_kwargs: Mapping[str, Any] | None = None,
) -> Episode:
    """A winning episode that starts with the failed episode's first turns and ends with the oracle's.

    The failed episode's actions are replayed on its pinned task in a fresh env, up to ``cut``: an
    int keeps that many turns; ``"divergence"`` (default) keeps the turns up to the first one where
    the episode's action differs from the expert's in the same state. From that state the expert
    plays until the task is won. ``expert`` is the scripted policy, a function of the (unwrapped)
    env returning its next command; the default is the env's own ``expert_action()``.

    The kept turns are the failed episode's own steps; every new step's prompt is built with
    :func:`~sparring.trainers.collect.prompt_for` in the style of the episode's stored prompts, so
    the result reads like a collected episode. The new steps carry the env's own reward (``"env"``).
    The episode is played without the env's step limit (up to ``max_steps`` turns in all), so it may
    be longer than the limit of the difficulty it was collected at. Returns a new
    :class:`Episode` with ``agent="corrected"`` and ``meta`` recording the source episode's key, the
    number of kept turns and the cut. Raises :class:`SparringError` if the replay does not reproduce
    the recorded observations (another env version, or perturbed text), if the kept prefix already
    ends the episode, or if the expert does not win.
    """
    from sparring.envs.registration import make

    episode = failed_episode
    if episode.won:
        raise ConfigError(f"expected a failed episode, got a won one ({episode.key}); only failures need correcting")
    if not episode.steps:
        raise ConfigError(f"expected an episode with steps, got an empty one ({episode.key})")
    if episode.perturbations:
        raise ConfigError(
            f"expected an unperturbed episode, got one with {len(episode.perturbations)} perturbations "
            f"({episode.key}); the replay renders clean text, so correct the episode collected without the adversary"
        )
    if cut != "divergence" and (not isinstance(cut, int) or isinstance(cut, bool) or not 0 <= cut <= len(episode.steps)):
        raise ConfigError(f"cut must be 'divergence' or a turn count in [0, {len(episode.steps)}], got {cut!r}")
    if not isinstance(max_steps, int) or max_steps < 1:
        raise ConfigError(f"max_steps must be a positive integer, got {max_steps!r}")
    policy = expert or _oracle
    env = make(episode.env_id, split=episode.split, max_steps=10**9, **dict(env_kwargs or {})).unwrapped
    observation, info = env.reset(seed=episode.seed if episode.seed >= 0 else None, options={"task": episode.task})

    def check(turn: int, seen: str) -> None:
        if seen != episode.steps[turn].observation:
            raise SparringError(
                f"replaying {episode.key} on {episode.env_id}: turn {turn} shows {seen!r:.80}, the episode "
                f"recorded {episode.steps[turn].observation!r:.80}; it was recorded with another version of the env"
            )

    limit = len(episode.steps) if cut == "divergence" else cut
    kept = 0
    done = False
    while kept < limit:
        check(kept, observation)
        step = episode.steps[kept]
        if cut == "divergence" and policy(env) != step.action:
            break
        observation, _, terminated, truncated, info = env.step(step.action)
        kept += 1
        done = terminated or truncated
        if done:
            break
    if done:
        raise SparringError(
            f"the first {kept} turns of {episode.key} end the episode (won={info['won']}, lost={info['lost']}); "
            f"nothing is left for the expert to correct; choose a smaller cut"
        )
    if kept < len(episode.steps):
        check(kept, observation)
    with_thought, window = _prompt_style(episode)
    steps = copy.deepcopy(episode.steps[:kept])
    while not done:
        if len(steps) >= max_steps:
            raise SparringError(
                f"the expert did not win {episode.key} within {max_steps} turns after a prefix of {kept}; "
                f"raise max_steps, or check the expert from this state"
            )
        admissible = list(info["admissible_actions"])
        action = policy(env)
        next_observation, reward, terminated, truncated, next_info = env.step(action)
        steps.append(Step(
            observation=observation, admissible=admissible,
            prompt=prompt_for(episode.family, episode.instruction, steps, observation, admissible,
                              with_thought=with_thought, window=window),
            action=action, reward=float(reward), reward_terms=dict(next_info["reward_terms"]),
            next_observation=next_observation, terminated=terminated, truncated=truncated,
            invalid=bool(next_info["invalid_action"]),
        ))
        observation, info, done = next_observation, next_info, terminated or truncated
    if not info["won"]:
        raise SparringError(
            f"the expert did not win {episode.key} from the state after {kept} turns (lost={info['lost']}); "
            f"choose another cut"
        )
    return dataclasses.replace(
        episode, agent="corrected", perturbations=[], won=True, lost=bool(info["lost"]), score=float(info["score"]),
        max_score=float(info["max_score"]), episode_return=sum(s.reward for s in steps), truncated=False,
        steps=steps, meta={"corrected_from": list(episode.key), "prefix_steps": kept, "cut": cut},
    )


__all__ = [
    "Filter", "FilterReport", "all_of", "any_of", "apply", "correct_with_oracle", "episode_transitions",
    "filter_name", "find_loop", "max_invalid_ratio", "max_turns", "min_reward_model_score", "min_score",
    "no_loops", "preference_pairs", "share_of_score", "task_key", "won",
]
