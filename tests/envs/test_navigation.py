"""Navigation-specific behaviour: parser aliases and short forms, doors and keys, sub-goal order,
held-out compositions, knobs and spec validation."""

from __future__ import annotations

import copy

import gymnasium as gym
import pytest

from sparring.envs.navigation import (
    ALL_SEQUENCES,
    HELD_OUT_OBJECTS,
    HELD_OUT_SEQUENCES,
    KINDS,
    LEXICON,
    NavigationEnv,
    room_names,
)
from sparring.errors import ConfigError, InvalidTaskError, UnknownNameError

#: west room -(locked purple door)- east room; the key lies on the near side
LOCKED = {
    "grid": [1, 2],
    "doors": [["purple", "west room", "east room", "locked"]],
    "objects": [["red ball", "west room", None], ["purple key", "west room", "purple door"],
                ["green box", "east room", None]],
    "start": "west room",
    "mission": [["putnext", "red ball", "green box"], ["open", "purple door"]],
    "connective": "after",
}

#: three rooms in a row, two doors from the central one; used for the parser tests
ROW = {
    "grid": [1, 3],
    "doors": [["purple", "west room", "central room", "closed"], ["grey", "central room", "east room", "open"]],
    "objects": [["red ball", "central room", None], ["grey box", "central room", "red ball"],
                ["yellow key", "east room", None]],
    "start": "central room",
    "mission": [["goto", "yellow key"]],
    "connective": None,
}


def make(**kwargs) -> gym.Env:
    return gym.make("sparring/Navigation-v0", **kwargs)


def pinned(spec: dict, prefix: tuple[str, ...] = ()) -> gym.Env:
    env = make()
    env.reset(options={"task": spec})
    for command in prefix:
        *_, info = env.step(command)
        assert not info["invalid_action"], command
    return env


def state(env: gym.Env) -> tuple:
    e = env.unwrapped
    return (e._room, e._spot, e._carrying, dict(e._door_state), dict(e._anchor), e._progress, e._armed)


# --------------------------------------------------------------------------------------------------
# A scripted episode: keys, locked doors, and "after you" meaning the order it says
# --------------------------------------------------------------------------------------------------
def test_scripted_episode_unlocks_carries_and_keeps_the_mission_order():
    env = make()
    obs, info = env.reset(options={"task": LOCKED})
    assert obs.endswith("Your mission: open the purple door after you put the red ball next to the green box.")
    assert "a locked purple door to the east leads to the east room" in obs
    assert info["max_score"] == 2.0 and info["score"] == 0.0
    script = [
        ("go to the purple door", "It is locked", 0.0),
        ("open the purple door", "The purple door is locked. You need the purple key", 0.0),
        ("go to the purple key", "It lies next to the purple door", 0.0),
        ("pick up the purple key", "You pick up the purple key.", 0.0),
        ("go to the purple door", "You go to the purple door.", 0.0),
        # opening the door before the first sub-goal is done does not count for the second one
        ("open the purple door", "You unlock the purple door with the purple key and open it.", 0.0),
        ("drop the purple key", "You drop the purple key next to the purple door.", 0.0),
        ("go to the red ball", "You go to the red ball.", 0.0),
        ("pick up the red ball", "You pick up the red ball.", 0.0),
        ("go to the purple door", "It is open and leads to the east room", 0.0),
        ("go through the purple door", "You are in the east room, at the purple door. You see a green box.", 0.0),
        ("go to the green box", "You go to the green box.", 0.0),
        ("put the red ball next to the green box", "You put the red ball next to the green box.", 1.0),
        # the door was already open when its turn came: it must be opened again
        ("go to the purple door", "It is open", 1.0),
        ("close the purple door", "You close the purple door.", 1.0),
    ]
    for command, expected, score in script:
        obs, reward, terminated, truncated, info = env.step(command)
        assert not info["invalid_action"], (command, obs)
        assert expected in obs, (command, obs)
        assert info["score"] == score and not terminated, command
    obs, reward, terminated, truncated, info = env.step("open the purple door")
    assert terminated and info["won"] and reward == 1.0 and info["score"] == 2.0
    assert "You open the purple door. Beyond it is the west room." in obs


def test_a_later_sub_goal_done_first_does_not_count():
    spec = {**ROW, "mission": [["goto", "grey door"], ["pickup", "red ball"]], "connective": "then"}
    env = pinned(spec)
    for command in ["go to the red ball", "pick up the red ball", "go to the grey door"]:
        *_, info = env.step(command)
    assert info["score"] == 1.0 and not info["won"]  # carrying the ball already: not yet "then"
    for command in ["drop the red ball", "go to the red ball"]:
        *_, info = env.step(command)
        assert info["score"] == 1.0
    *_, terminated, _, info = env.step("pick up the red ball")
    assert terminated and info["won"] and info["score"] == 2.0


def test_the_expert_redoes_a_sub_goal_that_held_too_early():
    env = pinned(LOCKED, ("go to the purple key", "pick up the purple key", "go to the purple door",
                          "open the purple door"))
    info = {"won": False}
    terminated = truncated = False
    commands = []
    while not (terminated or truncated):
        commands.append(env.unwrapped.expert_action())
        *_, terminated, truncated, info = env.step(commands[-1])
    assert info["won"]
    assert commands[-2:] == ["close the purple door", "open the purple door"]


def test_a_locked_door_refuses_the_wrong_key_and_stays_locked():
    spec = copy.deepcopy(LOCKED)
    spec["objects"].append(["blue key", "west room", "purple door"])
    env = pinned(spec, ("go to the blue key", "pick up the blue key", "go to the purple door"))
    before = state(env)
    obs, reward, terminated, truncated, info = env.step("unlock the doorway")
    assert not info["invalid_action"] and "The blue key does not fit" in obs
    assert state(env) == before and "go through the purple door" not in info["admissible_actions"]


def test_objects_carried_and_dropped_move_with_the_agent():
    env = pinned(ROW, ("go to the red ball", "pick up the red ball"))
    obs, *_, info = env.step("look")
    assert "You see a grey box." in obs and "You are carrying the red ball." in obs  # the box's anchor went
    for command in ["go to the grey door", "go through the grey door", "drop the red ball"]:
        obs, *_, info = env.step(command)
    assert obs == "You drop the red ball next to the grey door."
    obs, *_ = env.step("look")
    assert "You are in the east room, at the grey door." in obs and "a red ball next to the grey door" in obs
    assert "go to the red ball" in info["admissible_actions"]


# --------------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------------
#: (commands that set the state up, a canonical command) covering every word of the lexicon
CANONICAL = [
    ((), "go to the red ball"),
    ((), "go to the grey box"),
    ((), "go to the purple door"),
    (("go to the purple door",), "open the purple door"),
    (("go to the grey door",), "close the grey door"),
    (("go to the grey door",), "go through the grey door"),
    (("go to the red ball",), "pick up the red ball"),
    (("go to the red ball", "pick up the red ball"), "drop the red ball"),
    (("go to the red ball", "pick up the red ball", "go to the grey box"), "put the red ball next to the grey box"),
    ((), "look"),
    (("go to the red ball", "pick up the red ball"), "inventory"),
]


def test_every_alias_is_accepted_in_place_of_its_word():
    covered = set()
    for prefix, command in CANONICAL:
        expected_obs, _, _, _, expected_info = pinned(ROW, prefix).step(command)
        assert not expected_info["invalid_action"], command
        for canonical, aliases in LEXICON.entries().items():
            padded = f" {command} "
            if f" {canonical} " not in padded:
                continue
            covered.add(canonical)
            for alias in aliases:
                variant = padded.replace(f" {canonical} ", f" {alias} ", 1).strip()
                env = pinned(ROW, prefix)
                obs, _, _, _, info = env.step(variant)
                assert not info["invalid_action"] and obs == expected_obs, (variant, obs)
    assert covered == set(LEXICON.entries()), set(LEXICON.entries()) - covered


@pytest.mark.parametrize("prefix,command,expected", [
    ((), "Go to the RED ball!", "go to the red ball"),
    ((), "go to ball", "go to the red ball"),  # only one ball here: the colour may be left out
    ((), "walk to the crate", "go to the grey box"),
    (("go to the red ball",), "pick it up", "pick up the red ball"),
    (("go to the red ball",), "pick up", "pick up the red ball"),
    (("go to the red ball",), "grab it", "pick up the red ball"),
    (("go to the red ball", "pick up the red ball"), "put it down", "drop the red ball"),
    (("go to the red ball", "pick up the red ball"), "drop", "drop the red ball"),
    (("go to the red ball", "pick up the red ball", "go to the grey box"), "put it next to the box",
     "put the red ball next to the grey box"),
    (("go to the red ball", "pick up the red ball", "go to the grey box"), "place the ball near the crate",
     "put the red ball next to the grey box"),
    (("go to the grey door",), "go through", "go through the grey door"),
    (("go to the grey door",), "enter the east room", "go through the grey door"),
    (("go to the grey door",), "walk through it", "go through the grey door"),
    (("go to the grey door",), "shut the door", "close the grey door"),
    (("go to the purple door",), "open", "open the purple door"),
])
def test_short_forms_do_what_the_full_command_does(prefix, command, expected):
    canonical_obs, *_ = pinned(ROW, prefix).step(expected)
    env = pinned(ROW, prefix)
    obs, *_, info = env.step(command)
    assert not info["invalid_action"] and obs == canonical_obs, obs
    reference = pinned(ROW, prefix)
    reference.step(expected)
    assert state(env) == state(reference)


@pytest.mark.parametrize("prefix,command", [
    ((), "go to the door"),  # two doors here: the colour is needed
    ((), "go to the blue ball"),  # a colour that does not fit is not dropped
    ((), "pick up the red ball"),  # not at it
    ((), "go through the purple door"),  # not at it
    ((), "drop it"),  # carrying nothing
    ((), "open it"),  # at nothing
    ((), "enter the west room"),  # not at the door that leads there
    ((), "go to the yellow key"),  # in another room
    (("go to the purple door",), "go through the purple door"),  # closed
    (("go to the red ball",), "put the red ball next to the grey box"),  # not carrying it
    (("go to the red ball",), "pick it up; go to the grey box"),
    ((), "go to the red ball then pick it up"),
    ((), "🙂 it [[ ]] \x00"),
])
def test_impossible_commands_are_invalid_and_change_nothing(prefix, command):
    env = pinned(ROW, prefix)
    before = state(env)
    obs, reward, terminated, truncated, info = env.step(command)
    assert info["invalid_action"] and obs.startswith("Invalid action") and reward == 0.0
    assert state(env) == before


def test_lexicon_words_are_never_both_alias_and_canonical():
    words = set(LEXICON.entries())
    aliases = {a for a_s in LEXICON.entries().values() for a in a_s}
    assert not words & aliases
    # a canonical command is unchanged by normalisation (no alias hides inside one)
    env = pinned(ROW, ("go to the red ball", "pick up the red ball", "go to the grey box"))
    for command in env.unwrapped._admissible():
        assert LEXICON.normalize(command) == command.replace("the ", ""), command


# --------------------------------------------------------------------------------------------------
# Generation and splits
# --------------------------------------------------------------------------------------------------
def _tasks(split: str, difficulty: str, n: int, **knobs) -> list[dict]:
    env = make(split=split, difficulty=difficulty, **knobs).unwrapped
    return [env.sample_task(seed)[0] for seed in range(n)]


def _sequence(task: dict) -> str | None:
    mission = task["mission"]
    return f"{mission[0][0]}>{mission[1][0]}" if len(mission) == 2 else None


@pytest.mark.parametrize("difficulty", ["easy", "medium", "hard"])
def test_generated_tasks_are_well_formed(difficulty):
    cfg = make(difficulty=difficulty).unwrapped.config
    for split in ("train", "test_unseen"):
        env = make(split=split, difficulty=difficulty).unwrapped
        for seed in range(150):
            task = env.sample_task(seed)[0]
            env.reset(options={"task": task})  # _load rejects unsolvable or already-true missions
            assert task["grid"] == [cfg.rows, cfg.cols]
            assert len(task["doors"]) == cfg.rows * cfg.cols - 1 + cfg.extra_doors
            assert sum(d[3] == "locked" for d in task["doors"]) == cfg.num_locked_doors
            assert len(task["objects"]) == cfg.num_objects + cfg.num_locked_doors
            assert 1 <= len(task["mission"]) <= cfg.max_subgoals
            named = [t for goal in task["mission"] for t in goal[1:]]
            assert len(named) == len(set(named)), "the sub-goals of a mission name distinct things"


def test_held_out_compositions_never_appear_in_seen_splits():
    for split in ("train", "valid", "test"):
        for difficulty in ("easy", "medium", "hard"):
            for task in _tasks(split, difficulty, 400):
                assert not {o[0] for o in task["objects"]} & set(HELD_OUT_OBJECTS), task
                assert _sequence(task) not in HELD_OUT_SEQUENCES, task
                assert NavigationEnv.held_out(task) == []


@pytest.mark.parametrize("difficulty", ["easy", "medium", "hard"])
def test_every_test_unseen_task_puts_a_held_out_piece_in_its_mission(difficulty):
    objects, sequences = set(), set()
    for task in _tasks("test_unseen", difficulty, 400):
        keys = NavigationEnv.held_out(task)
        named = {t for goal in task["mission"] for t in goal[1:]}
        held_sequence = _sequence(task) in HELD_OUT_SEQUENCES
        assert held_sequence or named & set(HELD_OUT_OBJECTS), task
        assert keys and all(k.startswith(("object:", "sequence:")) for k in keys)
        objects |= named & set(HELD_OUT_OBJECTS)
        sequences |= {_sequence(task)} if held_sequence else set()
    assert objects == set(HELD_OUT_OBJECTS)
    assert sequences == (set(HELD_OUT_SEQUENCES) if difficulty != "easy" else set())


def test_each_held_out_piece_appears_in_training_on_its_own():
    tasks = _tasks("train", "hard", 2000)
    mission_objects = {t for task in tasks for goal in task["mission"] if goal[0] != "open" for t in goal[1:]}
    colours = {o.split()[0] for o in mission_objects}
    types = {o.split()[1] for o in mission_objects}
    for held in HELD_OUT_OBJECTS:
        colour, kind = held.split()
        assert colour in colours and kind in types, held
    sequences = {_sequence(t) for t in tasks} - {None}
    assert sequences == set(ALL_SEQUENCES) - set(HELD_OUT_SEQUENCES)
    for held in HELD_OUT_SEQUENCES:
        first, second = held.split(">")
        assert any(s.startswith(first + ">") for s in sequences) and any(s.endswith(">" + second) for s in sequences)
    assert {t["mission"][0][0] for t in tasks if len(t["mission"]) == 1} == set(KINDS)
    assert {t["connective"] for t in tasks if len(t["mission"]) == 2} == {"then", "after"}


def test_keys_lie_where_they_can_be_reached_without_their_own_door():
    env = make(split="train", difficulty="hard", num_locked_doors=5).unwrapped
    for seed in range(200):
        env.reset(seed=seed)
        assert env._unreachable_rooms() == []
    # the same world with a key moved behind its own door is rejected
    spec = copy.deepcopy(LOCKED)
    spec["objects"][1][1:] = ["east room", None]
    with pytest.raises(InvalidTaskError, match="cannot be reached"):
        env.reset(options={"task": spec})


# --------------------------------------------------------------------------------------------------
# Knobs, presets and specs
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("difficulty,grid,subgoals", [("easy", (1, 2), 1), ("medium", (2, 2), 2), ("hard", (3, 3), 2)])
def test_difficulty_presets_shape_the_world(difficulty, grid, subgoals):
    env = make(difficulty=difficulty)
    obs, info = env.reset(seed=0)
    cfg = env.unwrapped.config
    assert (cfg.rows, cfg.cols) == grid and cfg.max_subgoals == subgoals
    assert env.unwrapped.task["start"] in room_names(*grid) and "Your mission: " in obs


def test_a_single_room_works_without_doors():
    env = make(difficulty="easy", cols=1)
    for seed in range(30):
        obs, info = env.reset(seed=seed)
        assert "You are in the room." in obs and "door" not in obs
        assert env.unwrapped.task["mission"][0][0] != "open"


def test_knobs_override_presets_and_bad_knobs_are_clear():
    env = make(difficulty="easy", rows=3, cols=3, num_locked_doors=3, max_subgoals=2)
    env.reset(seed=1)
    assert len(room_names(3, 3)) == 9 and env.unwrapped.task["grid"] == [3, 3]
    with pytest.raises(ConfigError, match="rows must be an integer between 1 and 3, got 4"):
        make(rows=4)
    with pytest.raises(ConfigError, match="extra_doors must be between 0 and 0 for a 1x2 grid"):
        make(difficulty="easy", extra_doors=1)
    with pytest.raises(ConfigError, match="needs 12 doors.*lower extra_doors"):
        make(difficulty="hard", extra_doors=4)
    with pytest.raises(ConfigError, match="num_locked_doors must be between 0 and the number of doors"):
        make(difficulty="easy", num_locked_doors=2)
    with pytest.raises(ConfigError, match="max_subgoals must be 1"):
        make(max_subgoals=3)
    with pytest.raises(ConfigError, match="num_objects must be between 2"):
        make(num_objects=1)
    with pytest.raises(UnknownNameError, match="did you mean 'num_objects'"):
        make(num_object=2)


@pytest.mark.parametrize("change,message", [
    (lambda s: s["doors"][0].__setitem__(3, "ajar"), "a door is one of"),
    (lambda s: s["doors"][0].__setitem__(0, "teal"), "unknown door colour 'teal'"),
    (lambda s: s.__setitem__("grid", [1, 4]), "'grid' must be"),
    (lambda s: s["objects"].append(["red ball", "east room", None]), "two red balls"),
    (lambda s: s["objects"].append(["red hat", "east room", None]), "unknown object 'red hat'"),
    (lambda s: s["objects"][0].__setitem__(2, "green box"), "not another object or a door"),
    (lambda s: s["objects"].pop(1), "there is no purple key"),
    (lambda s: s.__setitem__("start", "attic"), "start room 'attic'"),
    (lambda s: s["mission"].__setitem__(0, ["fly", "red ball"]), "is not one of"),
    (lambda s: s["mission"].__setitem__(0, ["pickup", "blue ball"]), "not in the world"),
    (lambda s: s["mission"].append(["goto", "red ball"]), "1 or 2 sub-goals"),
    (lambda s: s.__setitem__("connective", "and"), "'connective'"),
    (lambda s: s["objects"][0].__setitem__(2, "purple key") or s["mission"].__setitem__(
        0, ["putnext", "purple key", "red ball"]), "already holds"),
    (lambda s: s["doors"][0].__setitem__(2, "west room"), "do not share a wall"),
])
def test_bad_specs_are_clear_errors(change, message):
    spec = copy.deepcopy(LOCKED)
    change(spec)
    with pytest.raises(InvalidTaskError, match=message):
        make().reset(options={"task": spec})


def test_class_docstring_has_the_env_headings():
    for heading in ("Description", "Actions", "Observations", "Rewards", "Episode end", "Splits", "Version history"):
        assert f"## {heading}" in NavigationEnv.__doc__
