"""Fixtures of the adversary tests: clean turns of every native family, and a one-thread tiny agent."""

from __future__ import annotations

import random

import gymnasium as gym
import pytest

from sparring.adversary import Context, View
from sparring.envs import registered

#: the native families' ids, from the registry (TextWorld games are adapters, not native worlds)
NATIVE_IDS = [i for i, e in registered().items() if not e.entry_point.startswith("sparring.envs.textworld_games")]


def turns_of(env_id: str, episodes: int = 3, steps: int = 6, seed: int = 0) -> list[tuple[View, Context, object]]:
    """Clean turns (view, context, the env at that turn) along expert and random play."""
    out = []
    rng = random.Random(seed)
    for episode in range(episodes):
        env = gym.make(env_id).unwrapped
        obs, info = env.reset(seed=seed + episode)
        for _ in range(steps):
            ctx = Context(family=env.family, lexicon=env.lexicon, task=info["task"], instruction=info["instruction"],
                          admissible=tuple(info["admissible_actions"]), expert=env.expert_action, env=env)
            out.append((View(obs, info["instruction"], info["admissible_actions"]), ctx, env))
            if not info["admissible_actions"]:
                break
            action = env.expert_action() if rng.random() < 0.7 else rng.choice(info["admissible_actions"])
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
    return out


@pytest.fixture(scope="module")
def one_thread():
    """Model tests run on one torch thread: on a shared 2-core machine that is several times faster."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def tiny_agent(one_thread, sparring_cache):
    from transformers.utils import logging as hf_logging

    from sparring.agents import make_agent

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    return make_agent("react", model="tiny")
