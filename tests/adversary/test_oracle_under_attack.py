"""The oracle wins under every operator on every native family (registry-driven), and the wrapper
changes only text: the same actions give the same rewards, scores and task as the bare env.

For a meaning-preserving operator the oracle sends the *perturbed* text of its action with
``remap_actions=False``, so the env's own parser has to read it as the expert's command (validity
100%); for the others the wrapper maps the perturbed action back.
"""

from __future__ import annotations

import gymnasium as gym
import pytest

from sparring.adversary import OPERATORS, PerturbationWrapper, interpret
from sparring.adversary.edits import FIELDS

from .conftest import NATIVE_IDS

SEEDS = (0, 1, 2)


@pytest.mark.parametrize("env_id", NATIVE_IDS)
@pytest.mark.parametrize("name", list(OPERATORS))
def test_oracle_wins_under_every_operator(name, env_id):
    op = OPERATORS[name]
    targets = [f for f in FIELDS if f in op.fields]
    valid = edited = 0
    for seed in SEEDS:
        env = PerturbationWrapper(gym.make(env_id), name, budget=3, targets=targets, seed=seed,
                                  remap_actions=not op.preserves_meaning, hijack="state" if seed % 2 else "action")
        obs, info = env.reset(seed=seed)
        while True:
            expert = env.unwrapped.expert_action()
            assert expert in env.clean.actions
            shown = env.shown(expert)
            if shown != expert:
                edited += 1
                valid += interpret(env.unwrapped, shown) == interpret(env.unwrapped, expert)
            obs, reward, terminated, truncated, info = env.step(shown)
            assert not info["invalid_action"], (name, shown, obs)
            if terminated or truncated:
                break
        assert info["won"], f"the oracle lost {env_id} seed {seed} under {name}"
        assert not any(h["achieved"] for h in info["hijack"]), "the oracle never follows an injection"
    if op.preserves_meaning and "admissible_actions" in op.fields and not op.edits_list:
        assert edited > 0, f"{name} never rewrote the expert's action on {env_id}"
        assert valid == edited, f"validity of {name} on {env_id}: {valid}/{edited}"


@pytest.mark.parametrize("env_id", NATIVE_IDS)
def test_wrapper_changes_text_never_state(env_id):
    """The same commands on the bare env and under an attack on every field: same rewards, flags,
    scores and task; what the wrapper calls clean is exactly the bare env's text."""
    bare = gym.make(env_id)
    wrapped = PerturbationWrapper(gym.make(env_id), "all", budget=3, targets=list(FIELDS), seed=5,
                                  hijack="state")
    for seed in (0, 7):
        obs_b, info_b = bare.reset(seed=seed)
        obs_w, info_w = wrapped.reset(seed=seed)
        perturbed = 0
        while True:
            assert wrapped.clean.observation == obs_b
            assert wrapped.clean.actions == info_b["admissible_actions"]
            assert wrapped.clean.instruction == info_b["instruction"]
            for key in ("task", "seed", "split", "family", "score", "max_score", "won", "lost", "step"):
                assert info_w[key] == info_b[key], key
            perturbed += obs_w != obs_b or info_w["admissible_actions"] != info_b["admissible_actions"]
            command = bare.unwrapped.expert_action()
            obs_b, r_b, te_b, tr_b, info_b = bare.step(command)
            obs_w, r_w, te_w, tr_w, info_w = wrapped.step(wrapped.shown(command))
            assert (r_b, te_b, tr_b) == (r_w, te_w, tr_w)
            assert info_w["reward_terms"] == info_b["reward_terms"]
            if te_b or tr_b:
                break
        assert perturbed > 0
