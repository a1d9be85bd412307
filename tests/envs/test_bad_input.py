"""Bad input on every family: feedback, not exceptions; the state stays as it was."""

from __future__ import annotations

import gymnasium as gym
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparring.errors import EpisodeFinishedError

from ..conftest import ENV_IDS, make_env, play_oracle

BAD_ACTIONS = {
    "empty": "",
    "whitespace": " \t \n ",
    "one megabyte": "go " * 350_000,
    "control characters": "\x00\x07\x1b[31mlook\x7f",
    "emoji": "🙂🔥🚀",
    "other scripts": "открой холодильник 冰箱 ثلاجة",
    "several commands": "look; inventory",
    "several lines": "look\ninventory",
    "brackets": "]]][[[search[[x]]",
    "gibberish": "xyzzy plugh",
}


def _state(env: gym.Env, info: dict) -> tuple:
    """What a bad action must not change: the admissible actions, the score, and the expert's plan."""
    return tuple(info["admissible_actions"]), info["score"], info["won"], env.unwrapped.expert_action()


@pytest.mark.parametrize("name", sorted(BAD_ACTIONS))
def test_bad_actions_get_feedback_and_change_nothing(env_id, name):
    env = make_env(env_id)
    env.reset(seed=5)
    _, _, terminated, _, info = env.step(env.unwrapped.expert_action())  # not at the very start
    assert not terminated
    before = _state(env, info)
    obs, reward, terminated, truncated, info = env.step(BAD_ACTIONS[name])
    assert info["invalid_action"] is True and info["num_invalid"] == 1
    assert obs.startswith("Invalid action") and "look like" in obs, obs
    assert len(obs) < 2000 and reward == 0.0 and not terminated
    assert _state(env, info) == before
    # the episode is still winnable from here
    while not (terminated or truncated):
        obs, reward, terminated, truncated, info = env.step(env.unwrapped.expert_action())
    assert info["won"]


def test_non_string_action_raises_type_error(env_id):
    env = make_env(env_id)
    env.reset(seed=0)
    for bad in (None, 3, b"look", ["look"]):
        with pytest.raises(TypeError, match="str"):
            env.unwrapped.step(bad)


def test_stepping_a_finished_episode_says_reset(env_id):
    env = make_env(env_id).unwrapped
    with pytest.raises(EpisodeFinishedError, match="reset"):
        env.step("look")
    info = play_oracle(env, seed=1)
    assert info["won"]
    with pytest.raises(EpisodeFinishedError, match="reset"):
        env.step("look")


_text = st.text(st.characters(codec="utf-8"), max_size=80)


@st.composite
def commands(draw, admissible: list[str]):
    """Commands near the valid ones: admissible, mangled admissible, verbs with junk, or any text."""
    kind = draw(st.integers(0, 3))
    if kind == 0 and admissible:
        return draw(st.sampled_from(admissible))
    if kind == 1 and admissible:
        base = draw(st.sampled_from(admissible))
        cut = draw(st.integers(0, len(base)))
        return base[:cut] + draw(_text) + base[cut:]
    if kind == 2:
        verb = draw(st.sampled_from(["go to", "take", "open", "search[", "click[", "finish[", "buy", "pick up",
                                     "calculate[", "choose[", "put", "lookup["]))
        return verb + draw(_text) + draw(st.sampled_from(["", "]", " 1", "]]"]))
    return draw(_text)


@pytest.mark.parametrize("env_id", ENV_IDS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), seed=st.integers(0, 10_000))
def test_fuzzed_actions_never_raise_and_keep_info_consistent(env_id, data, seed):
    env = make_env(env_id)
    obs, info = env.reset(seed=seed)
    invalid = 0
    for _ in range(12):
        action = data.draw(commands(info["admissible_actions"]))
        obs, reward, terminated, truncated, info = env.step(action)
        invalid += info["invalid_action"]
        assert info["num_invalid"] == invalid
        assert isinstance(obs, str) and obs.strip()
        assert 0.0 <= info["score"] <= info["max_score"]
        assert all(isinstance(a, str) for a in info["admissible_actions"])
        assert info["admissible_actions"] or terminated or truncated
        if terminated or truncated:
            break
