"""The registry of sparring env ids, and ``make`` / ``make_vec`` with sparring's defaults.

Every env is registered with Gymnasium as ``sparring/Name-vN`` with a string entry point, so plain
``gymnasium.make("sparring/Household-v0", split="test")`` works once ``sparring`` is imported.
:func:`make` adds what Gymnasium does not: a "did you mean" for unknown ids, and constructor
failures re-raised with the id and kwargs. :func:`make_vec` defaults to ``shared_memory=False`` for
async vector envs (text spaces gain nothing from shared memory).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from sparring.envs.splits import SPLITS
from sparring.errors import ConfigError, EnvCreationError, SparringError, UnknownNameError


@dataclass(frozen=True)
class EnvEntry:
    """One registered id."""

    id: str
    entry_point: str
    family: str
    description: str
    kwargs: tuple[tuple[str, Any], ...] = ()
    splits: tuple[str, ...] = SPLITS


_REGISTRY: dict[str, EnvEntry] = {}


def register(entry: EnvEntry) -> None:
    """Registers an id with Gymnasium and with sparring's own listing."""
    _REGISTRY[entry.id] = entry
    if entry.id not in gym.registry:
        gym.register(id=entry.id, entry_point=entry.entry_point, kwargs=dict(entry.kwargs))


def registered() -> dict[str, EnvEntry]:
    """``{id: entry}`` of every sparring env, in registration order."""
    return dict(_REGISTRY)


def entry(env_id: str) -> EnvEntry:
    """The registry entry of an id, with a "did you mean" when it is unknown."""
    if env_id not in _REGISTRY:
        raise UnknownNameError("env id", env_id, _REGISTRY, hint="`sparring list-envs` lists them.")
    return _REGISTRY[env_id]


def make(env_id: str, **kwargs: Any) -> gym.Env:
    """``gymnasium.make`` for a sparring id, with clear errors."""
    entry(env_id)
    try:
        return gym.make(env_id, **kwargs)
    except SparringError as exc:
        exc.args = (f"{env_id} with kwargs {kwargs!r}: {exc}",)
        raise
    except Exception as exc:
        raise EnvCreationError(f"could not create {env_id} with kwargs {kwargs!r}: {type(exc).__name__}: {exc}") from exc


def make_vec(
    env_id: str,
    num_envs: int = 1,
    *,
    vectorization_mode: str = "sync",
    vector_kwargs: dict[str, Any] | None = None,
    **kwargs: Any,
) -> gym.vector.VectorEnv:
    """``gymnasium.make_vec`` for a sparring id; async envs default to ``shared_memory=False``."""
    entry(env_id)
    if vectorization_mode not in ("sync", "async"):
        raise ConfigError(f"vectorization_mode must be 'sync' or 'async', got {vectorization_mode!r}")
    if not isinstance(num_envs, int) or num_envs < 1:
        raise ConfigError(f"num_envs must be a positive integer, got {num_envs!r}")
    vector_kwargs = dict(vector_kwargs or {})
    if vectorization_mode == "async":
        vector_kwargs.setdefault("shared_memory", False)
    try:
        return gym.make_vec(
            env_id, num_envs=num_envs, vectorization_mode=vectorization_mode, vector_kwargs=vector_kwargs, **kwargs
        )
    except SparringError as exc:
        exc.args = (f"{env_id} with kwargs {kwargs!r}: {exc}",)
        raise
    except Exception as exc:
        raise EnvCreationError(
            f"could not create {num_envs} x {env_id} ({vectorization_mode}) with kwargs {kwargs!r}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def family_class(family: str) -> type:
    """The env class of a family (e.g. ``"household"``), for its syntax, lexicon and replicas."""
    for registered_entry in _REGISTRY.values():
        if registered_entry.family == family:
            return gym.envs.registration.load_env_creator(registered_entry.entry_point)
    raise UnknownNameError("env family", family, {e.family for e in _REGISTRY.values()})
