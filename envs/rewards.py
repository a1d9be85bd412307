"""Reward sources: the env's own, a model's, or any function, behind one interface.

A *reward source* maps a :class:`Transition` to a float. Sources combine with weights; the env
reports every source's raw value in ``info["reward_terms"]`` and returns the weighted sum as the
reward. Select them with ``gym.make(id, reward=...)`` or wrap an env in :class:`RewardWrapper`:

* ``"env"`` — the env's outcome reward: 1 on the step that wins (the Shop family pays the share of
  requirements met when the agent buys), 0 otherwise.
* ``"progress"`` — dense shaping: the change in ``score / max_score`` on this step, so it sums to
  the final share of sub-goals reached.
* a :class:`RewardModel` (any object with ``score(transitions) -> floats``) — a learned reward model
  or an LLM judge, wrapped as :class:`ModelReward`.
* any callable ``fn(transition) -> float`` — a custom reward, wrapped as :class:`CustomReward`.
* a mapping ``{"env": 1.0, "progress": 0.1}`` or a list of ``(source, weight)`` pairs — a weighted mix.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from sparring.errors import ConfigError, UnknownNameError


@dataclass(frozen=True)
class Transition:
    """One step of an episode, as a reward source sees it."""

    instruction: str
    observation: str  #: what the agent saw before acting
    action: str
    next_observation: str
    outcome: float  #: the env's outcome reward for this step (see module docstring)
    progress: float  #: change in score / max_score on this step
    terminated: bool
    truncated: bool
    #: the env's info after the step (its ``reward_terms`` are filled in once the sources have scored)
    info: Mapping[str, Any] = field(default_factory=dict)


class RewardSource(Protocol):
    """Anything with a ``name`` that maps a transition to a float."""

    name: str

    def __call__(self, transition: Transition) -> float: ...


@runtime_checkable
class RewardModel(Protocol):
    """A model that scores transitions, batched: a learned reward model, an LLM judge, ..."""

    def score(self, transitions: Sequence[Transition]) -> Sequence[float]: ...


@dataclass(frozen=True)
class EnvReward:
    """The env's own reward: the outcome (sparse), or the sub-goal progress (dense)."""

    dense: bool = False

    @property
    def name(self) -> str:
        return "progress" if self.dense else "env"

    def __call__(self, transition: Transition) -> float:
        return transition.progress if self.dense else transition.outcome


@dataclass(frozen=True)
class ModelReward:
    """Scores each transition with a :class:`RewardModel`."""

    model: RewardModel
    name: str = "model"

    def __call__(self, transition: Transition) -> float:
        (value,) = self.model.score([transition])
        return float(value)


@dataclass(frozen=True)
class CustomReward:
    """Any user function of the transition."""

    fn: Callable[[Transition], float]
    name: str = "custom"

    def __call__(self, transition: Transition) -> float:
        return float(self.fn(transition))


@dataclass(frozen=True)
class WeightedReward:
    """A weighted sum of sources; each source's raw value is reported under its name."""

    parts: tuple[tuple[RewardSource, float], ...]

    def __post_init__(self) -> None:
        names = [source.name for source, _ in self.parts]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(
                f"reward sources need distinct names to be reported apart, got {duplicates} twice; "
                f"give each CustomReward/ModelReward its own name=..."
            )
        if not self.parts:
            raise ConfigError("a weighted reward needs at least one source, got none")

    def evaluate(self, transition: Transition) -> tuple[float, dict[str, float]]:
        """Returns the weighted total and the raw value of every term."""
        terms: dict[str, float] = {}
        total = 0.0
        for source, weight in self.parts:
            value = float(source(transition))
            if not math.isfinite(value):
                raise ValueError(
                    f"reward source {source.name!r} returned {value} for action "
                    f"{transition.action!r}; reward sources must return finite floats"
                )
            terms[source.name] = value
            total += weight * value
        return total, terms


_BUILTIN = {"env": EnvReward(dense=False), "progress": EnvReward(dense=True)}


def as_source(spec: Any) -> RewardSource:
    """One reward source from a name, a reward model, a source object, or a function."""
    if isinstance(spec, str):
        if spec not in _BUILTIN:
            raise UnknownNameError(
                "reward source", spec, _BUILTIN,
                hint="Pass a RewardModel or a function of the transition for model or custom rewards.",
            )
        return _BUILTIN[spec]
    if isinstance(spec, (EnvReward, ModelReward, CustomReward)):
        return spec
    if isinstance(spec, RewardModel):
        return ModelReward(spec)
    if callable(spec):
        if hasattr(spec, "name") and isinstance(spec.name, str):
            return spec  # already a RewardSource
        return CustomReward(spec, name=getattr(spec, "__name__", "custom").strip("<>") or "custom")
    raise ConfigError(
        f"expected a reward source (a name in {sorted(_BUILTIN)}, a RewardModel, or a function of the "
        f"transition), got {type(spec).__name__}"
    )


def make_reward(spec: Any = "env") -> WeightedReward:
    """Builds the weighted reward of an env from ``gym.make(..., reward=spec)``."""
    if isinstance(spec, WeightedReward):
        return spec
    if isinstance(spec, Mapping):
        pairs = list(spec.items())
    elif isinstance(spec, Sequence) and not isinstance(spec, str):
        pairs = []
        for item in spec:
            if isinstance(item, tuple) and len(item) == 2:
                pairs.append(item)
            else:
                pairs.append((item, 1.0))
    else:
        pairs = [(spec, 1.0)]
    parts = []
    for source, weight in pairs:
        if not isinstance(weight, (int, float)) or not math.isfinite(weight):
            raise ConfigError(f"reward weights must be finite numbers, got {weight!r} for {source!r}")
        parts.append((as_source(source), float(weight)))
    return WeightedReward(tuple(parts))
