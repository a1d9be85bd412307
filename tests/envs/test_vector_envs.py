"""Vector envs carry the text intact: sync, async without and with shared memory."""

from __future__ import annotations

import random

import gymnasium as gym
import numpy as np
import pytest

from sparring.envs import make_vec

from ..conftest import TEST_KWARGS, make_env


def _single_env_trace(env_id: str, seeds: list[int], steps: int) -> list[list[str]]:
    """Observations of each env alone, following the same action choices as the vector run."""
    traces = []
    for k, seed in enumerate(seeds):
        env = make_env(env_id)
        rng = random.Random(k)
        obs, info = env.reset(seed=seed)
        trace = [obs]
        for _ in range(steps):
            obs, _, terminated, truncated, info = env.step(rng.choice(info["admissible_actions"]))
            trace.append(obs)
            if terminated or truncated:
                break
        traces.append(trace)
    return traces


@pytest.mark.parametrize(
    "mode,vector_kwargs",
    [("sync", {}), ("async", {}), ("async", {"shared_memory": True})],
    ids=["sync", "async", "async-shared-memory"],
)
def test_vector_env_observations_match_single_envs(env_id, mode, vector_kwargs):
    seeds, steps = [3, 4], 6
    expected = _single_env_trace(env_id, seeds, steps)
    envs = make_vec(env_id, num_envs=2, vectorization_mode=mode, vector_kwargs=dict(vector_kwargs),
                    **TEST_KWARGS.get(env_id, {}))
    try:
        obs, infos = envs.reset(seed=seeds)
        rngs = [random.Random(k) for k in range(2)]
        got = [[obs[0]], [obs[1]]]
        alive = [True, True]
        for _ in range(steps):
            actions = tuple(rngs[k].choice(infos["admissible_actions"][k]) for k in range(2))
            obs, rewards, terminated, truncated, infos = envs.step(actions)
            for k in range(2):
                if alive[k]:
                    got[k].append(obs[k])
                    alive[k] = not (terminated[k] or truncated[k])
        assert isinstance(rewards, np.ndarray)
    finally:
        envs.close()
    for k in range(2):
        n = len(expected[k])
        assert got[k][:n] == expected[k], f"env {k} text differs in {mode} mode"
        assert all(o.strip() for o in got[k])


def test_gymnasium_make_vec_async_default_shared_memory_keeps_text():
    # plain gymnasium.make_vec, not our wrapper: our space's shared-memory transport must carry text
    envs = gym.make_vec("sparring/Household-v0", num_envs=2, vectorization_mode="async")
    try:
        obs, _ = envs.reset(seed=[1, 2])
        single = [gym.make("sparring/Household-v0").reset(seed=s)[0] for s in (1, 2)]
        assert list(obs) == single
    finally:
        envs.close()
