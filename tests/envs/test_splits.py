"""Split hygiene on every family: held-out compositions stay out of training; splits never share a task."""

from __future__ import annotations

import gymnasium as gym
import pytest

from sparring.envs import SEEN_SPLITS, registered
from sparring.envs.splits import canonical_json

from ..conftest import ENV_IDS


def _tasks(env_id: str, split: str, n: int, difficulty: str = "medium") -> list[dict]:
    env = gym.make(env_id, split=split, difficulty=difficulty).unwrapped
    return [env.sample_task(seed)[0] for seed in range(n)]


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_no_held_out_composition_in_10000_train_tasks(env_id):
    cls = type(gym.make(env_id).unwrapped)
    leaks = [(i, cls.held_out(t)) for i, t in enumerate(_tasks(env_id, "train", 10_000)) if cls.held_out(t)]
    assert not leaks, f"train seeds with held-out compositions: {leaks[:5]}"


@pytest.mark.parametrize("difficulty", ["easy", "medium", "hard"])
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_every_test_unseen_task_holds_a_held_out_composition(env_id, difficulty):
    if "test_unseen" not in registered()[env_id].splits:
        pytest.skip(f"{env_id} declares no test_unseen split")
    cls = type(gym.make(env_id).unwrapped)
    tasks = _tasks(env_id, "test_unseen", 500, difficulty)
    assert all(cls.held_out(t) for t in tasks)
    kinds = {key.split(":", 1)[0] for t in tasks for key in cls.held_out(t)}
    assert kinds, "test_unseen must hold something out"


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_seen_splits_are_disjoint_and_seeds_differ(env_id):
    cls = type(gym.make(env_id).unwrapped)
    sets = {}
    for split in SEEN_SPLITS:
        tasks = _tasks(env_id, split, 2000, difficulty="easy")  # small worlds collide most easily
        assert not any(cls.held_out(t) for t in tasks)
        sets[split] = {canonical_json(t) for t in tasks}
        assert len(sets[split]) > 1000, f"{split} has few distinct tasks: {len(sets[split])}"
    assert not sets["train"] & sets["valid"]
    assert not sets["train"] & sets["test"]
    assert not sets["valid"] & sets["test"]
