"""The text space, reward sources and the reward wrapper."""

from __future__ import annotations

import gymnasium as gym
import pytest

from sparring.envs import CustomReward, RewardWrapper, Transition, UnicodeText, make_reward
from sparring.errors import ConfigError, UnknownNameError

from ..conftest import TEXTWORLD_IDS, make_env, play_oracle


def test_unicode_text_contains_any_string_and_samples_short_ones():
    space = UnicodeText(100)
    for text in ["", "Hello, world.", "холодильник 🙂", "\x00\n\t", "x" * 100]:
        assert space.contains(text)
    assert not space.contains("x" * 101) and not space.contains(b"bytes") and not space.contains(3)
    space.seed(0)
    samples = [space.sample() for _ in range(50)]
    assert all(space.contains(s) and len(s) <= 64 for s in samples)
    assert len(set(samples)) > 40


def test_gymnasium_default_text_space_would_reject_our_observations():
    # why we have our own space: Gymnasium's default charset has no space or punctuation
    obs, _ = gym.make("sparring/Household-v0").reset(seed=0)
    assert not gym.spaces.Text(10_000).contains(obs)


class ConstantModel:
    def score(self, transitions):
        return [0.25 for _ in transitions]


def test_env_progress_model_and_custom_rewards_compose(env_id):
    def brevity(t: Transition) -> float:
        return -0.01 * len(t.action)

    env = make_env(env_id, reward=[("env", 1.0), ("progress", 0.5), (ConstantModel(), 2.0), (brevity, 1.0)])
    obs, info = env.reset(seed=2)
    total_progress, total = 0.0, 0.0
    while True:
        action = env.unwrapped.expert_action()
        obs, reward, terminated, truncated, info = env.step(action)
        terms = info["reward_terms"]
        assert set(terms) == {"env", "progress", "model", "brevity"}
        assert terms["model"] == 0.25 and terms["brevity"] == pytest.approx(-0.01 * len(action))
        assert reward == pytest.approx(terms["env"] + 0.5 * terms["progress"] + 0.5 + terms["brevity"])
        total_progress += terms["progress"]
        total += terms["env"]
        if terminated or truncated:
            break
    assert info["won"] and total > 0
    # dense progress sums to the final share of the score
    assert total_progress == pytest.approx(info["score"] / info["max_score"])


def test_custom_rewards_see_the_info_after_the_step():
    def invalid_penalty(t: Transition) -> float:
        return -0.1 if t.info["invalid_action"] else 0.0

    env = gym.make("sparring/Household-v0", reward=[("env", 1.0), (invalid_penalty, 1.0)])
    env.reset(seed=0)
    _, reward, *_, info = env.step("xyzzy")
    assert reward == pytest.approx(-0.1) and info["reward_terms"]["invalid_penalty"] == -0.1
    _, reward, *_, info = env.step("look")
    assert reward == 0.0


def test_reward_wrapper_replaces_the_reward():
    env = RewardWrapper(gym.make("sparring/Household-v0"), CustomReward(lambda t: 1.0, name="one"))
    env.reset(seed=0)
    _, reward, *_, info = env.step(env.unwrapped.expert_action())
    assert reward == 1.0 and info["reward_terms"] == {"one": 1.0}


def test_sparse_env_reward_pays_only_on_winning(env_id):
    env = make_env(env_id)
    rewards = []
    env.reset(seed=4)
    while True:
        _, reward, terminated, truncated, info = env.step(env.unwrapped.expert_action())
        rewards.append(reward)
        if terminated or truncated:
            break
    if env_id in TEXTWORLD_IDS:  # TextWorld pays its points as they come: the return is the score
        assert sum(rewards) == pytest.approx(info["score"]) and info["won"]
    else:
        assert rewards[-1] == pytest.approx(1.0) and all(r == 0.0 for r in rewards[:-1])


def test_bad_reward_specs_are_clear_errors():
    with pytest.raises(UnknownNameError, match="did you mean 'progress'"):
        make_reward("progres")
    with pytest.raises(ConfigError, match="distinct names"):
        make_reward([("env", 1.0), ("env", 2.0)])
    with pytest.raises(ConfigError, match="finite"):
        make_reward({"env": float("nan")})
    env = gym.make("sparring/Household-v0", reward=lambda t: float("inf"))
    env.reset(seed=0)
    with pytest.raises(ValueError, match="finite"):
        env.step("look")


def test_oracle_play_helper_sanity():
    assert play_oracle(gym.make("sparring/Household-v0"), seed=0)["won"]
