"""Baseline agents through the batched interface, and rollouts over vector envs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from sparring.agents import OracleAgent, RandomAgent, make_agent, run_episodes, unbatch_infos
from sparring.envs import make_vec
from sparring.errors import SparringError, UnknownNameError

from ..conftest import TEST_KWARGS


def test_oracle_agent_wins_through_vector_envs(env_id):
    results = run_episodes(OracleAgent(), env_id, split="test", episodes=12, num_envs=3,
                           env_kwargs=TEST_KWARGS.get(env_id))
    assert [r.seed for r in results] == list(range(12))
    assert all(r.won for r in results)


def test_random_agent_is_worse_than_oracle_and_reproducible(env_id):
    first = run_episodes(RandomAgent(seed=1), env_id, split="valid", episodes=20, num_envs=1,
                         env_kwargs=TEST_KWARGS.get(env_id))
    again = run_episodes(RandomAgent(seed=1), env_id, split="valid", episodes=20, num_envs=4,
                         env_kwargs=TEST_KWARGS.get(env_id))
    # the same episodes, whatever the number of envs run side by side
    assert [r.to_dict() for r in first] == [r.to_dict() for r in again]
    assert sum(r.won for r in first) < 20
    actions = {1: [], 2: []}
    for seed in (1, 2):
        run_episodes(RandomAgent(seed=seed), env_id, split="valid", episodes=3, env_kwargs=TEST_KWARGS.get(env_id),
                     on_step=lambda r, keep=actions[seed]: keep.append(r.action))
    assert actions[1] != actions[2], "another agent seed explores differently"


def test_async_rollout_matches_sync():
    sync = run_episodes(RandomAgent(), "sparring/Household-v0", episodes=6, num_envs=2)
    asyn = run_episodes(RandomAgent(), "sparring/Household-v0", episodes=6, num_envs=2, vectorization_mode="async")
    assert [r.to_dict() for r in sync] == [r.to_dict() for r in asyn]


def test_rollout_on_pinned_tasks_and_step_callback():
    env = gym.make("sparring/Household-v0", split="test")
    tasks = [env.reset(seed=s)[1]["task"] for s in (5, 6)]
    seen = []
    results = run_episodes(OracleAgent(), "sparring/Household-v0", split="test", tasks=tasks, num_envs=2,
                           on_step=seen.append)
    assert [r.task for r in results] == tasks and all(r.won for r in results)
    assert sum(r.steps for r in results) == len(seen)
    assert seen[0].info["step"] == 0 and seen[0].next_info["step"] == 1


def test_idle_envs_are_hidden_from_the_agent():
    class Recorder(OracleAgent):
        batches = []

        def act(self, observations, infos):
            assert all((o is None) == (i is None) for o, i in zip(observations, infos, strict=True))
            self.batches.append(tuple(o is None for o in observations))
            return super().act(observations, infos)

    agent = Recorder()
    results = run_episodes(agent, "sparring/Household-v0", episodes=3, num_envs=3)
    lengths = [r.steps for r in results]
    assert len(set(lengths)) > 1 and all(r.won for r in results)
    # each env is visible for exactly its episode's steps, then idles as None
    for k in range(3):
        assert sum(not batch[k] for batch in agent.batches) == lengths[k]


def test_unbatch_infos_inverts_vector_infos():
    envs = make_vec("sparring/Household-v0", num_envs=2)
    obs, vinfo = envs.reset(seed=[0, 1])
    infos = unbatch_infos(vinfo, 2)
    for k, seed in enumerate([0, 1]):
        single = gym.make("sparring/Household-v0").reset(seed=seed)[1]
        assert infos[k]["admissible_actions"] == single["admissible_actions"]
        assert infos[k]["task"] == single["task"] and infos[k]["seed"] == seed
        assert not isinstance(infos[k]["score"], np.generic)
    envs.close()


def test_oracle_refuses_episodes_it_did_not_drive():
    env = gym.make("sparring/Household-v0")
    obs, info = env.reset(seed=0)
    agent = OracleAgent()
    agent.act([obs], [info])
    obs, *_, info = env.step("look")
    obs, *_, info = env.step("look")
    with pytest.raises(SparringError, match="replica"):
        agent.act([obs], [info])


def test_unknown_agent_name():
    with pytest.raises(UnknownNameError, match="did you mean 'oracle'"):
        make_agent("oracel")
