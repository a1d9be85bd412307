"""Shared fixtures: the registry drives the env tests, so a new env id needs no test edit."""

from __future__ import annotations

import random

import gymnasium as gym
import pytest

import sparring  # noqa: F401  (registers the ids)
from sparring.envs import registered

ENV_IDS = list(registered())
#: every (id, split) an env declares
ENV_SPLITS = [(env_id, split) for env_id, e in registered().items() for split in e.splits]
DIFFICULTIES = ("easy", "medium", "hard")
TEXTWORLD_IDS = [i for i, e in registered().items() if e.entry_point.startswith("sparring.envs.textworld_games")]
#: kwargs the tests add per id: TextWorld games take seconds to generate, so tests cycle through two
#: games per split (generated once per session into the session's cache)
TEST_KWARGS: dict[str, dict] = {env_id: {"num_games": 2} for env_id in TEXTWORLD_IDS}
#: seeds the oracle test plays per id, split and difficulty
ORACLE_SEEDS: dict[str, int] = {env_id: 10 for env_id in TEXTWORLD_IDS}


def make_env(env_id: str, **kwargs) -> gym.Env:
    """``gymnasium.make`` with the id's test kwargs."""
    return gym.make(env_id, **{**TEST_KWARGS.get(env_id, {}), **kwargs})


def rollout(env: gym.Env, seed: int, steps: int, action_seed: int = 0) -> list:
    """Random admissible actions from a seeded reset; returns every (obs, reward, flags, info)."""
    rng = random.Random(action_seed)
    obs, info = env.reset(seed=seed)
    trace = [(obs, info)]
    for _ in range(steps):
        action = rng.choice(info["admissible_actions"])
        obs, reward, terminated, truncated, info = env.step(action)
        trace.append((obs, reward, terminated, truncated, info))
        if terminated or truncated:
            obs, info = env.reset(seed=seed + 1000)
            trace.append((obs, info))
    return trace


def play_oracle(env: gym.Env, **reset_kwargs) -> dict:
    """Plays the env's expert to the end of one episode; returns the last info."""
    obs, info = env.reset(**reset_kwargs)
    while True:
        action = env.unwrapped.expert_action()
        assert action in info["admissible_actions"], (action, info["admissible_actions"])
        obs, reward, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            return info


@pytest.fixture(scope="session", autouse=True)
def sparring_cache(tmp_path_factory):
    """A cache of this test session's own, so tests build the models they use (and never touch the
    user's cache)."""
    import os

    path = tmp_path_factory.mktemp("sparring-cache")
    previous = os.environ.get("SPARRING_CACHE")
    os.environ["SPARRING_CACHE"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("SPARRING_CACHE", None)
    else:
        os.environ["SPARRING_CACHE"] = previous


@pytest.fixture(scope="session")
def tiny(sparring_cache):
    """The ``tiny`` zoo model and tokenizer, built once per session."""
    from transformers.utils import logging as hf_logging

    from sparring.agents.zoo import load_model

    hf_logging.disable_progress_bar()
    return load_model("tiny")


@pytest.fixture(params=ENV_IDS)
def env_id(request) -> str:
    return request.param
