"""Household-specific behaviour: parser aliases, a scripted episode, held-out compositions, knobs."""

from __future__ import annotations

import gymnasium as gym
import pytest

from sparring.envs.household import HELD_OUT_PAIRS, HELD_OUT_TASKS, LEXICON, OBJECTS, SEEN_TASKS, HouseholdEnv
from sparring.errors import ConfigError, UnknownNameError

SPEC = {
    "goal": {"type": "heat", "object": "mug", "target": "diningtable"},
    "rooms": ["kitchen", "livingroom"],
    "doors": [["livingroom", "kitchen"]],
    "receptacles": [["countertop 1", "kitchen"], ["microwave 1", "kitchen"], ["diningtable 1", "kitchen"],
                    ["cabinet 1", "livingroom"], ["sofa 1", "livingroom"]],
    "objects": [["mug 1", "cabinet 1"], ["apple 1", "countertop 1"], ["remotecontrol 1", "sofa 1"]],
    "lamp": None,
    "start": "livingroom",
}


def make(**kwargs) -> gym.Env:
    return gym.make("sparring/Household-v0", **kwargs)


def test_scripted_episode_on_a_pinned_task_uses_aliases():
    env = make()
    obs, info = env.reset(options={"task": SPEC})
    assert "heat some mug and put it in diningtable" in obs
    assert info["max_score"] == 3.0 and info["score"] == 0.0
    script = [
        ("Walk to the cupboard 1.", "The cabinet 1 is closed."),
        ("open cabinet", "In it, you see a mug 1."),  # no instance number: only one cabinet here
        ("grab the cup 1 out of the cupboard 1", "You pick up the mug 1 from the cabinet 1."),
        ("go to kitchen", "You enter the kitchen."),
        ("head over to the microwave oven 1", "You arrive at microwave 1."),
        ("warm up cup 1 in the microwave 1", "You heat the mug 1 using the microwave 1."),
        ("go to dining table 1", "You arrive at diningtable 1."),
        ("place the mug 1 on the dining table 1", "You put the mug 1 in/on the diningtable 1."),
    ]
    for command, expected in script:
        obs, reward, terminated, truncated, info = env.step(command)
        assert not info["invalid_action"], (command, obs)
        assert expected in obs, (command, obs)
    assert terminated and info["won"] and reward == 1.0 and info["score"] == 3.0


def test_verifier_reads_state_not_text():
    env = make()
    env.reset(options={"task": SPEC})
    for command in ["go to cabinet 1", "open cabinet 1", "take mug 1 from cabinet 1", "go to kitchen",
                    "go to diningtable 1", "put mug 1 in/on diningtable 1"]:
        *_, info = env.step(command)
    # placed, but never heated: not won, and the milestone for holding it is kept
    assert not info["won"] and info["score"] == 1.0
    assert "heat" not in " ".join(info["admissible_actions"])


def test_ambiguous_and_impossible_commands_say_why():
    env = make()
    spec = dict(SPEC, objects=[["mug 1", "countertop 1"], ["mug 2", "countertop 1"]], start="kitchen")
    env.reset(options={"task": spec})
    env.step("go to countertop 1")
    obs, *_, info = env.step("take mug from countertop")
    assert info["invalid_action"] and "could mean several things" in obs and "mug 2" in obs
    obs, *_, info = env.step("take fork 1 from countertop 1")
    assert info["invalid_action"] and "not possible right now" in obs
    obs, *_, info = env.step("take mug 2")
    assert not info["invalid_action"] and "You pick up the mug 2" in obs


def test_every_alias_is_accepted_in_place_of_its_word():
    env = make()
    env.reset(options={"task": SPEC})
    for canonical, aliases in LEXICON.entries().items():
        for alias in aliases:
            assert LEXICON.normalize(f"go to {alias} 1") == LEXICON.normalize(f"go to {canonical} 1") or (
                canonical in ("go to", "take", "put", "in/on", "from", "with", "use", "examine", "inventory",
                              "look", "open", "close", "heat", "cool", "clean")
            ), alias
    env.step("go to kitchen")
    for alias in LEXICON.aliases("countertop"):
        obs, *_, info = env.step(f"go to {alias} 1")
        assert not info["invalid_action"] and "countertop 1" in obs, alias
        env.step("go to microwave 1")


def test_held_out_pieces_each_appear_in_training():
    env = make(split="train", difficulty="hard").unwrapped
    goals = [env.sample_task(s)[0]["goal"] for s in range(4000)]
    trained_objects = {g["object"] for g in goals}
    trained_targets = {g["target"] for g in goals}
    trained_types = {g["type"] for g in goals}
    assert trained_types == set(SEEN_TASKS)
    for obj, target in HELD_OUT_PAIRS:
        assert obj in trained_objects and target in trained_targets, (obj, target)
        assert not any(g["object"] == obj and g["target"] == target for g in goals)
    # the held-out compositions combine a modifier and a count that training sees apart
    assert {"heat", "cool", "clean", "pick_two"} <= trained_types
    unseen = make(split="test_unseen", difficulty="hard").unwrapped
    unseen_types = {unseen.sample_task(s)[0]["goal"]["type"] for s in range(400)}
    assert set(HELD_OUT_TASKS) <= unseen_types


def test_held_out_pairs_are_a_real_fraction():
    pairs = sum(len(places) + examinable for places, _, examinable in OBJECTS.values())
    assert 0.1 < len(HELD_OUT_PAIRS) / pairs < 0.35


@pytest.mark.parametrize("difficulty,rooms", [("easy", 1), ("medium", 2), ("hard", 4)])
def test_difficulty_presets_shape_the_world(difficulty, rooms):
    env = make(difficulty=difficulty)
    env.reset(seed=0)
    assert len(env.unwrapped.task["rooms"]) == rooms


def test_knobs_override_presets_and_bad_knobs_are_clear():
    env = make(difficulty="easy", num_rooms=3, task_types=["heat"])
    obs, info = env.reset(seed=1)
    assert len(env.unwrapped.task["rooms"]) == 3 and info["instruction"].startswith("heat")
    with pytest.raises(ConfigError, match="num_rooms must be between 1 and 4, got 9"):
        make(num_rooms=9)
    with pytest.raises(ConfigError, match="held out for test_unseen"):
        make(task_types=["heat_two"])
    with pytest.raises(UnknownNameError, match="did you mean 'num_rooms'"):
        make(num_room=2)
    with pytest.raises(UnknownNameError, match="did you mean 'hard'"):
        make(difficulty="hrad")


def test_class_docstring_has_the_env_headings():
    for heading in ("Description", "Actions", "Observations", "Rewards", "Episode end", "Splits", "Version history"):
        assert f"## {heading}" in HouseholdEnv.__doc__
