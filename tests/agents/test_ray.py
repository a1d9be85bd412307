"""Rollouts and leaderboard cells on a local Ray: the same results as in one process, the list's order
kept, steps recorded, new weights reaching every actor copy."""

from __future__ import annotations

import json

import pytest

ray = pytest.importorskip("ray")

from sparring.agents import RandomAgent, make_agent, run_episodes  # noqa: E402
from sparring.agents.ray_actors import RayRollouts, _shares, init_ray, trainable_state  # noqa: E402
from sparring.benchmarks.leaderboard import run_leaderboard  # noqa: E402

ENV = "sparring/Navigation-v0"
KWARGS = {"difficulty": "easy", "max_steps": 8}


@pytest.fixture(scope="module")
def local_ray():
    module = init_ray(num_cpus=2)
    yield module
    module.shutdown()


def _outcomes(results):
    return [(r.seed, r.won, r.steps, r.episode_return) for r in results]


def test_shares_cover_the_list_in_order():
    assert _shares(7, 3) == [(0, 3), (3, 5), (5, 7)]
    assert _shares(2, 4) == [(0, 1), (1, 2)]


def test_rollouts_on_actors_match_one_process_and_record_every_step(local_ray):
    seeds = list(range(10, 19))
    local = run_episodes(RandomAgent(seed=3), ENV, split="train", seeds=seeds, num_envs=2, env_kwargs=KWARGS)
    rollouts = RayRollouts(RandomAgent(seed=3), workers=2, cpus_per_worker=0.5)
    try:
        results, steps = rollouts.run(ENV, split="train", seeds=seeds, num_envs=2, env_kwargs=KWARGS,
                                      record_steps=True)
    finally:
        rollouts.close()
    assert _outcomes(results) == _outcomes(local)  # same seeds, same streams: same episodes
    assert [len(s) for s in steps] == [r.steps for r in results]
    assert all(row["episode"] == i for i, episode in enumerate(steps) for row in episode)
    assert steps[0][0]["observation"] and steps[0][0]["action"] in steps[0][0]["info"]["admissible_actions"]


def test_new_weights_reach_every_actor(local_ray):
    import torch

    learner = make_agent("react", model="tiny", mode="score")
    rollouts = RayRollouts(learner, workers=2, cpus_per_worker=0.5)
    try:
        with torch.no_grad():  # a "training step": every weight moves
            for p in learner.model.parameters():
                p.add_(torch.randn_like(p) * 0.5)
        assert rollouts.sync_weights(learner.model) == len(trainable_state(learner.model)) > 0
        seeds = list(range(6))
        remote, _ = rollouts.run(ENV, split="train", seeds=seeds, num_envs=3, env_kwargs=KWARGS)
        local = run_episodes(learner, ENV, split="train", seeds=seeds, num_envs=3, env_kwargs=KWARGS)
        assert _outcomes(remote) == _outcomes(local)  # the actors play the learner's new weights
    finally:
        rollouts.close()


def test_leaderboard_cells_on_ray_give_the_numbers_of_one_process(local_ray, tmp_path):
    suite = tmp_path / "s.toml"
    suite.write_text("""
name = "ray"
description = "Leaderboard on Ray."
envs = ["sparring/ToolQA-v0"]

[evaluation]
splits = ["train", "test"]
episodes = 3
task_seed = 0
seeds = [0]
num_envs = 2
resamples = 100
env_kwargs = { difficulty = "easy" }

[agents.random]
kind = "random"

[agents.oracle]
kind = "oracle"
""", encoding="utf-8")
    on_ray = run_leaderboard(suite, None, tmp_path / "ray", workers=2, ray=True)
    here = run_leaderboard(suite, None, tmp_path / "here", workers=1)
    assert on_ray["run"]["executor"] == "ray" and on_ray["run"]["evaluated"] == 4
    for key in ("leaderboard", "splits", "gaps"):
        assert json.dumps(on_ray[key], sort_keys=True, default=str) == json.dumps(here[key], sort_keys=True, default=str)


def test_collection_on_ray_writes_the_episodes_of_one_process_and_resumes(local_ray, tmp_path):
    from sparring.agents import OracleAgent
    from sparring.trainers.collect import collect
    from sparring.trajectory import read_episodes

    here, there = tmp_path / "here.jsonl", tmp_path / "ray.jsonl"
    collect(OracleAgent(thoughts=True), [ENV], ["train"], here, episodes=6, num_envs=2, env_kwargs=KWARGS)
    stats = collect(OracleAgent(thoughts=True), [ENV], ["train"], there, episodes=4, num_envs=2, env_kwargs=KWARGS,
                    ray=True, ray_workers=2)
    assert stats.written == 4
    resumed = collect(OracleAgent(thoughts=True), [ENV], ["train"], there, episodes=6, num_envs=2,
                      env_kwargs=KWARGS, ray=True, ray_workers=2, resume=True)
    assert resumed.skipped == 4 and resumed.written == 2

    def by_key(path):
        return {e.key: [(s.action, s.thought, s.prompt) for s in e.steps] for e in read_episodes(path)}

    assert by_key(there) == by_key(here)  # the same episodes, prompts and thoughts, in whatever order
