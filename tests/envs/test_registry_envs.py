"""Tests run on every registered id and split (Gymnasium's tests/envs/test_envs.py, Minigrid's bot test)."""

from __future__ import annotations

import random

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env, data_equivalence

from sparring.envs import TextEnv
from sparring.envs.spaces import MAX_OBSERVATION_LENGTH

from ..conftest import DIFFICULTIES, ENV_IDS, ENV_SPLITS, ORACLE_SEEDS, make_env, play_oracle, rollout

#: ids whose oracle may lose some tasks, with the reason; empty: every oracle wins every task
KNOWN_ORACLE_FAILURES: dict[str, str] = {}

INFO_KEYS = {"admissible_actions", "instruction", "won", "lost", "score", "max_score", "family", "split",
             "seed", "task", "step", "invalid_action", "num_invalid", "reward_terms"}


@pytest.mark.parametrize("env_id,split", ENV_SPLITS)
def test_env_checker(env_id, split):
    env = make_env(env_id, split=split).unwrapped
    assert isinstance(env, TextEnv)
    check_env(env, skip_render_check=False)


@pytest.mark.parametrize("env_id,split", ENV_SPLITS)
def test_seeded_rollouts_are_deterministic(env_id, split):
    first = rollout(make_env(env_id, split=split), seed=7, steps=150)
    second = rollout(make_env(env_id, split=split), seed=7, steps=150)
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        assert data_equivalence(a, b)
    other = rollout(make_env(env_id, split=split), seed=8, steps=1)
    assert other[0][0] != first[0][0] or other[0][1]["task"] != first[0][1]["task"]


@pytest.mark.parametrize("env_id,split", ENV_SPLITS)
def test_info_contract_and_spaces(env_id, split):
    env = make_env(env_id, split=split)
    for obs, *rest in rollout(env, seed=3, steps=120):
        info = rest[-1]
        assert INFO_KEYS <= set(info), INFO_KEYS - set(info)
        assert env.observation_space.contains(obs) and len(obs) <= MAX_OBSERVATION_LENGTH
        assert obs.strip(), "observations are never blank"
        assert info["split"] == split and info["family"] == env.unwrapped.family
        assert isinstance(info["task"], str) and info["instruction"]
        assert all(isinstance(a, str) and env.action_space.contains(a) for a in info["admissible_actions"])
        done = len(rest) == 4 and (rest[1] or rest[2])
        assert info["admissible_actions"] or done, "while an episode runs there is always something to do"
        assert 0.0 <= info["score"] <= info["max_score"]
        assert isinstance(info["won"], bool) and isinstance(info["lost"], bool)


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
@pytest.mark.parametrize("env_id,split", ENV_SPLITS)
def test_oracle_wins_every_task(env_id, split, difficulty):
    env = make_env(env_id, split=split, difficulty=difficulty)
    losses = [seed for seed in range(ORACLE_SEEDS.get(env_id, 100)) if not play_oracle(env, seed=seed)["won"]]
    if env_id in KNOWN_ORACLE_FAILURES:
        pytest.xfail(KNOWN_ORACLE_FAILURES[env_id])
    assert not losses, f"the oracle lost {env_id} {split} {difficulty} seeds {losses[:10]}"


def test_reset_pins_a_task(env_id):
    env = make_env(env_id, split="valid")
    obs, info = env.reset(seed=11)
    replay_obs, replay_info = make_env(env_id, split="valid").reset(options={"task": info["task"]})
    assert replay_obs == obs and replay_info["task"] == info["task"]
    assert replay_info["seed"] == -1  # a pinned task is not a seeded one
    # the pinned episode plays out exactly like the seeded one
    a = make_env(env_id, split="valid")
    b = make_env(env_id, split="valid")
    a.reset(seed=11)
    b.reset(options={"task": info["task"]})
    for _ in range(30):
        action = a.unwrapped.expert_action()
        out_a, out_b = a.step(action), b.step(action)
        assert out_a[0] == out_b[0] and out_a[1:4] == out_b[1:4]
        if out_a[2] or out_a[3]:
            break


def test_bad_task_spec_is_a_clear_error(env_id):
    from sparring.errors import InvalidTaskError

    env = make_env(env_id)
    for bad in ({"nonsense": 1}, "not json", 42):
        with pytest.raises(InvalidTaskError, match="task"):
            env.reset(options={"task": bad})
    with pytest.raises(Exception, match="option"):
        env.reset(options={"tsk": {}})


def test_env_ids_use_the_naming_convention():
    for env_id in ENV_IDS:
        namespace, _, name = env_id.partition("/")
        assert namespace == "sparring" and name.rsplit("-", 1)[1].startswith("v"), env_id
        assert gym.spec(env_id).entry_point.startswith("sparring.envs."), env_id


def _steps_to_end(env, seed: int, cap: int = 500) -> tuple[int, bool]:
    """Random admissible play from a seeded reset: (steps taken, truncated) when the episode ends."""
    rng = random.Random(seed)
    _, info = env.reset(seed=seed)
    for step in range(1, cap + 1):
        _, _, terminated, truncated, info = env.step(rng.choice(info["admissible_actions"]))
        if terminated or truncated:
            return step, truncated
    raise AssertionError(f"no end in {cap} steps")


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_spec_exposes_the_horizon_the_env_truncates_at(env_id, difficulty):
    env = make_env(env_id, difficulty=difficulty)
    horizon = env.spec.max_episode_steps
    assert horizon == env.unwrapped.config.max_steps and horizon > 0
    assert make_env(env_id, difficulty=difficulty, max_steps=horizon + 3).spec.max_episode_steps == horizon + 3
    # the env truncates itself there (no TimeLimit is registered)
    ends = [_steps_to_end(make_env(env_id, difficulty=difficulty, max_steps=8), seed) for seed in range(3)]
    assert all(steps <= 8 and (steps == 8 or not truncated) for steps, truncated in ends)
    # a user's own limit still goes through Gymnasium's TimeLimit and shows in the spec
    limited = make_env(env_id, difficulty=difficulty, max_episode_steps=2)
    assert limited.spec.max_episode_steps == 2
    ends = [_steps_to_end(limited, seed) for seed in range(3)]
    assert all(steps <= 2 and (steps == 2 or not truncated) for steps, truncated in ends)
    assert any(truncated for _, truncated in ends)


def test_a_family_written_with_the_old_hook_name_still_works():
    from sparring.envs.navigation import NavigationEnv

    with pytest.warns(DeprecationWarning, match="_evaluate, which is now called _verify"):
        class OldNavigation(NavigationEnv):
            def _evaluate(self):
                score, max_score, won, lost = NavigationEnv._verify(self)
                return score, max_score, won, lost

    env = OldNavigation(difficulty="easy")
    _, info = env.reset(seed=0)
    while True:
        _, _, terminated, truncated, info = env.step(env.expert_action())
        if terminated or truncated:
            break
    assert info["won"]
