"""TextWorld-specific behaviour: the game cache, TextWorld's info mapped onto the contract, the
expert, the parser on real TextWorld commands, bad input, splits, knobs and their errors.

The games are small ones, generated once into a temporary cache."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest

pytest.importorskip("textworld")
# TextWorld silences Jericho's "not fully supported" warning (its score comes from TextWorld's own
# tracking); pytest's warning capture would bring it back.
pytestmark = pytest.mark.filterwarnings("ignore:Game '.*' is not fully supported:UserWarning")

from sparring.envs import registration  # noqa: E402
from sparring.envs import textworld_games as twg  # noqa: E402
from sparring.envs.splits import SEEN_SPLITS, SPLITS  # noqa: E402
from sparring.envs.textworld_games import (  # noqa: E402
    LEXICON,
    CoinCollectorConfig,
    CookingConfig,
    SimpleConfig,
    TextWorldCoinCollectorEnv,
    TextWorldCookingEnv,
    TextWorldSimpleEnv,
    TextWorldTreasureHunterEnv,
    TreasureHunterConfig,
    clean_text,
    ensure_game,
    game_directory,
    tw_make_command,
)
from sparring.errors import ConfigError, EnvCreationError, InvalidTaskError, UnknownNameError  # noqa: E402

COOKING = dict(recipe=1, take=1, go=1, open=True, cook=True, cut=True)
#: one small game per challenge (and split), all generated once by the `cache` fixture
SMALL = {
    "simple": (TextWorldSimpleEnv, dict(difficulty="easy")),
    "coin": (TextWorldCoinCollectorEnv, dict(level=2)),
    "treasure": (TextWorldTreasureHunterEnv, dict(level=1)),
    "cooking": (TextWorldCookingEnv, COOKING),
}
SIMPLE_SPEC = {"challenge": "tw-simple", "settings": {"rewards": "dense", "goal": "detailed", "test": False},
               "game_seed": 0}
#: TextWorld's winning policy of SIMPLE_SPEC (the game is fixed by its spec)
SIMPLE_PLAN = ("open chest drawer", "take old key from chest drawer", "unlock wooden door with old key",
               "open wooden door", "go east", "open refrigerator", "take lettuce from refrigerator",
               "put lettuce on stove")
COIN_SETTINGS = {"level": 2}


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    """A private game cache for this module, with the small games generated once."""
    root = tmp_path_factory.mktemp("sparring-cache")
    previous = os.environ.get(twg.CACHE_ENV)
    os.environ[twg.CACHE_ENV] = str(root)
    try:
        for cls, knobs in SMALL.values():
            for split in cls.splits():
                if split in ("train", "test_unseen"):
                    make(cls, split=split, **knobs).generate_games([0])
        yield root
    finally:
        if previous is None:
            os.environ.pop(twg.CACHE_ENV, None)
        else:
            os.environ[twg.CACHE_ENV] = previous


def make(cls, split: str = "train", **knobs) -> twg.TextWorldEnv:
    return cls(split=split, **{"num_games": 1, **knobs})


def small(name: str, split: str = "train") -> twg.TextWorldEnv:
    cls, knobs = SMALL[name]
    return make(cls, split=split, **knobs)


def play_expert(env, **reset_kwargs) -> tuple[dict, float, list[str]]:
    obs, info = env.reset(**reset_kwargs)
    total, actions = 0.0, []
    while True:
        action = env.expert_action()
        assert action in info["admissible_actions"], (action, info["admissible_actions"])
        obs, reward, terminated, truncated, info = env.step(action)
        total += reward
        actions.append(action)
        if terminated or truncated:
            return info, total, actions


# --------------------------------------------------------------------------------------------------
# The cache
# --------------------------------------------------------------------------------------------------
def _ensure_in_child(seed: int, barrier, queue) -> None:
    barrier.wait()
    files = ensure_game("tw-coin_collector", COIN_SETTINGS, seed)
    queue.put((files.generated, files.manifest["files"]))


def test_parallel_generation_gives_one_valid_entry(cache):
    seed = 4242
    ctx = multiprocessing.get_context("fork")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    workers = [ctx.Process(target=_ensure_in_child, args=(seed, barrier, queue)) for _ in range(2)]
    for w in workers:
        w.start()
    results = [queue.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0
    assert sorted(generated for generated, _ in results) == [False, True]  # one made it, one waited
    assert results[0][1] == results[1][1]
    directory = game_directory("tw-coin_collector", COIN_SETTINGS, seed)
    assert sorted(p.name for p in directory.iterdir()) == ["game.json", "game.z8", "manifest.json"]
    assert not list(directory.parent.glob(f".{seed}.*.tmp"))
    again = ensure_game("tw-coin_collector", COIN_SETTINGS, seed)
    assert not again.generated and again.manifest["files"] == results[0][1]


def test_corrupt_partial_and_interrupted_entries_are_regenerated(cache):
    seed = 4343
    first = ensure_game("tw-coin_collector", COIN_SETTINGS, seed)
    assert first.generated
    (first.directory / "game.z8").write_bytes(b"truncated")  # a corrupt file
    repaired = ensure_game("tw-coin_collector", COIN_SETTINGS, seed)
    assert repaired.generated and repaired.manifest["files"] == first.manifest["files"]
    (repaired.directory / "manifest.json").unlink()  # a partial entry: the manifest is written last
    stale = repaired.directory.parent / f".{seed}.killed.tmp"  # what a killed generation leaves
    stale.mkdir()
    assert ensure_game("tw-coin_collector", COIN_SETTINGS, seed).generated
    assert not stale.exists()
    env = make(TextWorldCoinCollectorEnv, level=2)
    info, total, _ = play_expert(env, options={"task": {"challenge": "tw-coin_collector",
                                                        "settings": COIN_SETTINGS, "game_seed": seed}})
    assert info["won"] and total == 1.0


def test_cache_location_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(twg.CACHE_ENV, str(tmp_path / "mine"))
    assert twg.cache_root() == tmp_path / "mine"
    monkeypatch.delenv(twg.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert twg.cache_root() == tmp_path / "xdg" / "sparring"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert twg.cache_root() == tmp_path / "home" / ".cache" / "sparring"
    entry = game_directory("tw-cooking", {"recipe": 1}, 7)
    assert entry.parts[-4:-2] == ("textworld", "tw-cooking") and entry.name == "7"


def test_a_failed_generation_names_challenge_settings_seed_and_command(monkeypatch):
    def broken(settings, options):
        raise ValueError("no quest fits this map")

    challenges = twg._textworld().challenges
    desc, _, add_arguments = challenges["tw-coin_collector"]
    monkeypatch.setitem(challenges, "tw-coin_collector", (desc, broken, add_arguments))
    with pytest.raises(EnvCreationError) as err:
        ensure_game("tw-coin_collector", {"level": 3}, 77)
    message = str(err.value)
    assert "tw-coin_collector" in message and '{"level":3}' in message and "seed 77" in message
    assert "no quest fits this map" in message
    assert "tw-make tw-coin_collector --level 3 --seed 77 --output" in message
    directory = game_directory("tw-coin_collector", {"level": 3}, 77)
    assert not directory.exists() and not list(directory.parent.glob(".77.*.tmp"))


def test_our_generation_is_what_tw_make_makes(tmp_path):
    files = ensure_game("tw-coin_collector", COIN_SETTINGS, 0)
    command = tw_make_command("tw-coin_collector", COIN_SETTINGS, 0, output=str(tmp_path / "game.z8"))
    assert files.manifest["command"] == tw_make_command("tw-coin_collector", COIN_SETTINGS, 0)
    tw_make = Path(sys.executable).parent / "tw-make"
    subprocess.run([str(tw_make), *command.split()[1:], "--silent"], check=True, capture_output=True)
    assert _game_meaning(files.directory / "game.json") == _game_meaning(tmp_path / "game.json")


def _game_meaning(path: Path) -> tuple:
    """What a game is, independent of the order TextWorld happens to write sets in."""
    tw = twg._textworld()
    game = tw.textworld.Game.load(str(path))
    policy = tw.Inform7Game(game).gen_commands_from_actions(tw.GameProgression(game).winning_policy)
    names = sorted((key, info.name or "", info.desc or "") for key, info in game.infos.items())
    return sorted(map(str, game.world.facts)), names, game.objective, game.max_score, policy


def test_tw_make_command_spells_settings_as_flags():
    settings = {"recipe": 2, "take": 1, "go": 6, "open": True, "cook": False, "cut": True, "drop": False,
                "recipe_seed": 0, "split": "test"}
    assert tw_make_command("tw-cooking", settings, 5) == (
        "tw-make tw-cooking --recipe 2 --take 1 --go 6 --open --cut --recipe-seed 0 --split test "
        "--seed 5 --output game.z8")


# --------------------------------------------------------------------------------------------------
# The contract on TextWorld's output
# --------------------------------------------------------------------------------------------------
def test_info_maps_textworld_state():
    import textworld

    env = small("coin")
    obs, info = env.reset(seed=0)
    infos = textworld.EnvInfos(admissible_commands=True, objective=True, max_score=True, score=True)
    raw = textworld.start(env._tw_file, infos)
    state = raw.reset()
    assert info["admissible_actions"] == state["admissible_commands"]
    assert info["instruction"] == state["objective"] and state["objective"] in obs
    assert (info["score"], info["max_score"], info["won"], info["lost"]) == (0.0, 1.0, False, False)
    assert json.loads(info["task"]) == {"challenge": "tw-coin_collector", "settings": COIN_SETTINGS,
                                        "game_seed": 0}
    assert info["family"] == "textworld_coin_collector" and info["seed"] == 0
    for command in ("go west", "take coin"):
        obs, reward, terminated, truncated, info = env.step(command)
        state, score, _ = raw.step(command)
        assert info["admissible_actions"] == state["admissible_commands"] and info["score"] == score
    assert terminated and info["won"] and reward == 1.0 and info["reward_terms"] == {"env": 1.0}
    assert "*** The End ***" in obs and "RESTART" not in obs
    raw.close()


def test_observations_drop_textworld_noise_but_keep_its_text():
    env = small("cooking")
    obs, _ = env.reset(seed=0)
    assert obs.startswith("You are hungry!") and "-= Kitchen =-" in obs
    assert "$$" not in obs and "\n>" not in obs and "\n\n\n" not in obs
    raw = ("\n\n   ________  __\n  |  \\  _  |  \\ \n   \\$$$$$$$$| $$\n\nGo north.\n\n-= Hall =-\nA hall.\n\n\n\n"
           ">                          -= Hall =-0/1")
    assert clean_text(raw, banner=True) == "Go north.\n\n-= Hall =-\nA hall."
    end = ("\nYou eat the meal.\n\n\n   *** The End ***\n\nYou scored 3 out of a possible 3, in 4 turns.\n\n\n"
           "Would you like to RESTART, RESTORE a saved game, QUIT or UNDO the last command?\n>    -= Kitchen =-2/4")
    assert clean_text(end) == "You eat the meal.\n\n*** The End ***\n\nYou scored 3 out of a possible 3, in 4 turns."


def test_a_game_without_objective_says_so_in_its_first_observation():
    env = make(TextWorldSimpleEnv)
    spec = {**SIMPLE_SPEC, "settings": {**SIMPLE_SPEC["settings"], "goal": "none"}}
    obs, info = env.reset(options={"task": spec})
    assert info["instruction"].startswith("No objective is given") and obs.endswith(info["instruction"])
    assert "-= Bedroom =-" in obs and "chest drawer" not in info["instruction"]


def test_scripted_episode_on_a_pinned_simple_game_scores_every_sub_goal():
    env = make(TextWorldSimpleEnv)
    obs, info = env.reset(options={"task": SIMPLE_SPEC})
    assert "open the chest drawer" in obs and info["max_score"] == 7.0 and info["seed"] == -1
    assert env.expert_action() == SIMPLE_PLAN[0] and env._plan == SIMPLE_PLAN
    rewards = []
    for command in SIMPLE_PLAN:
        obs, reward, terminated, truncated, info = env.step(command)
        rewards.append(reward)
    assert rewards == [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0]  # opening the fridge earns nothing
    assert terminated and info["won"] and info["score"] == 7.0 and "You put the lettuce on the stove" in obs


def test_eating_the_food_loses_the_simple_game():
    env = make(TextWorldSimpleEnv)
    env.reset(options={"task": SIMPLE_SPEC})
    for command in SIMPLE_PLAN[:-1]:
        env.step(command)
    obs, reward, terminated, truncated, info = env.step("eat lettuce")
    assert terminated and info["lost"] and not info["won"] and reward == 0.0


def test_progress_reward_is_the_share_of_points():
    env = TextWorldSimpleEnv(reward="progress", num_games=1)
    env.reset(options={"task": SIMPLE_SPEC})
    rewards = [env.step(c)[1] for c in SIMPLE_PLAN]
    assert rewards[0] == pytest.approx(1 / 7) and sum(rewards) == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------------
# The expert
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,split", [("simple", "train"), ("simple", "test_unseen"), ("coin", "train"),
                                        ("treasure", "train"), ("cooking", "train"), ("cooking", "test_unseen")])
def test_expert_wins_each_challenge(name, split):
    info, total, _ = play_expert(small(name, split), seed=0)
    assert info["won"] and total == info["score"] == info["max_score"]


@pytest.mark.parametrize("name", ["simple", "cooking"])
def test_expert_replans_after_the_agent_leaves_its_plan(name):
    env = small(name)
    outcomes = []
    for seed in range(6):
        rng = random.Random(seed)
        obs, info = env.reset(seed=0)
        terminated = truncated = False
        for _ in range(rng.randint(1, 6)):
            obs, reward, terminated, truncated, info = env.step(rng.choice(info["admissible_actions"]))
            if terminated:
                break
        while not (terminated or truncated):
            action = env.expert_action()
            assert action in info["admissible_actions"]
            obs, reward, terminated, truncated, info = env.step(action)
        outcomes.append("won" if info["won"] else "lost" if info["lost"] else "truncated")
    assert "truncated" not in outcomes and outcomes.count("won") >= 3, outcomes


def test_the_first_plan_of_a_game_is_computed_once():
    env = small("coin")
    env.reset(seed=0)
    env.expert_action()
    first = env._first_plan
    assert first == ("go west", "take coin")
    env.reset(seed=0)
    assert env._plan is first


# --------------------------------------------------------------------------------------------------
# The parser on TextWorld's commands
# --------------------------------------------------------------------------------------------------
def _twin_step(command: str, variant: str, prefix: tuple[str, ...] = ()):
    """Steps ``command`` in one env and ``variant`` in another, both on SIMPLE_SPEC after ``prefix``."""
    outs = []
    for text in (command, variant):
        env = make(TextWorldSimpleEnv)
        env.reset(options={"task": SIMPLE_SPEC})
        for c in prefix:
            env.step(c)
        outs.append(env.step(text))
    return outs


@pytest.mark.parametrize("variant,command,prefix", [
    ("Pull open the chest drawer.", "open chest drawer", ()),
    ("open drawer", "open chest drawer", ()),  # a partial name, as TextWorld's own parser allows
    ("grab the old key out of the chest drawer", "take old key from chest drawer", SIMPLE_PLAN[:1]),
    ("get key", "take old key from chest drawer", SIMPLE_PLAN[:1]),
    ("unlock the door using the key", "unlock wooden door with old key", SIMPLE_PLAN[:2]),
    ("e", "go east", SIMPLE_PLAN[:4]),
    ("east", "go east", SIMPLE_PLAN[:4]),
    ("walk east", "go east", SIMPLE_PLAN[:4]),
    ("open the fridge", "open refrigerator", SIMPLE_PLAN[:5]),
    ("put the lettuce in the fridge", "insert lettuce into refrigerator", SIMPLE_PLAN[:7]),
    ("place lettuce on top of the stove", "put lettuce on stove", SIMPLE_PLAN[:7]),
    ("x note", "examine note", SIMPLE_PLAN[:5]),
    ("i", "inventory", ()),
])
def test_aliases_partial_names_and_alternative_syntax(variant, command, prefix):
    (obs_a, r_a, *_, info_a), (obs_b, r_b, *_, info_b) = _twin_step(command, variant, prefix)
    assert not info_a["invalid_action"], obs_a
    assert not info_b["invalid_action"], (variant, obs_b)
    assert (obs_b, r_b, info_b["admissible_actions"]) == (obs_a, r_a, info_a["admissible_actions"])


def test_every_lexicon_alias_is_accepted_for_its_canonical_word():
    checked = 0
    for name in ("simple", "cooking"):
        env = small(name)
        obs, info = env.reset(seed=0)
        done = False
        while not done:
            for command, op in env._actions.items():
                for canonical, aliases in LEXICON.entries().items():
                    if f" {canonical} " not in f" {command.lower()} ":
                        continue
                    for alias in aliases:
                        variant = f" {command.lower()} ".replace(f" {canonical} ", f" {alias} ", 1).strip()
                        assert env._match(variant)[0] == op, (variant, command)
                        checked += 1
            obs, _, terminated, truncated, info = env.step(env.expert_action())
            done = terminated or truncated
    assert checked > 100


def test_cooking_verbs_map_to_the_appliance_and_cut_asks_how():
    env = small("cooking")
    env.reset(seed=0)
    for command in ("open fridge", "take carrot from fridge"):
        env.step(command)
    assert env.expert_action() == "cook carrot with oven"
    assert env._match("roast the carrot")[0] == "cook carrot with oven"
    assert env._match("bake carrot")[0] == "cook carrot with oven"
    env.step("cook carrot with oven")
    env.step("take knife from table")
    obs, *_, info = env.step("cut the carrot")
    assert info["invalid_action"] and "slice, dice or chop" in obs
    obs, reward, *_, info = env.step("slice up the carrot with the blade")
    assert not info["invalid_action"] and reward == 1.0, obs


def test_ambiguous_partial_names_are_refused_with_the_options():
    env = make(TextWorldSimpleEnv)
    env.reset(options={"task": SIMPLE_SPEC})
    obs, *_, info = env.step("examine")
    assert info["invalid_action"] and "could mean several things" in obs and "'examine antique trunk'" in obs


# --------------------------------------------------------------------------------------------------
# Bad input never reaches TextWorld
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("action", [
    "go west; take coin", "go west\ntake coin", "go west && take coin", "go west and then take coin",
    "go west, then take coin", "take coin. go west.", "", "   ", "🙂🔥", "\x00\x1b[31mlook", "]]][[[x]]",
    "go " * 10_000, "xyzzy", "take the coin", "go north",
])
def test_bad_input_is_answered_without_touching_textworld(action):
    env = small("coin")
    obs, info = env.reset(seed=0)
    moves = len(env._history)
    expert = env.expert_action()
    obs, reward, terminated, truncated, info = env.step(action)
    assert info["invalid_action"] and obs.startswith("Invalid action") and reward == 0.0 and not terminated
    assert len(env._history) == moves and env.expert_action() == expert
    assert info["admissible_actions"] == ["go west", "inventory", "look"]
    info, total, _ = play_expert(env, seed=0)  # TextWorld still runs
    assert info["won"]


# --------------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------------
def test_splits_own_disjoint_seed_ranges_and_num_games_cycles():
    seeds = {}
    for split in SEEN_SPLITS:
        env = TextWorldCoinCollectorEnv(split=split)
        seeds[split] = {env.sample_task(s)[0]["game_seed"] for s in range(0, 10**7, 9973)}
        assert min(seeds[split]) == twg.SPLIT_OFFSETS[split]
        assert max(seeds[split]) < twg.SPLIT_OFFSETS[split] + twg.SEEDS_PER_SPLIT
    assert not seeds["train"] & seeds["valid"] and not seeds["train"] & seeds["test"]
    assert not seeds["valid"] & seeds["test"]
    env = TextWorldCoinCollectorEnv(split="valid", num_games=3)
    assert [env.sample_task(s)[0]["game_seed"] for s in range(7)] == [1_000_000, 1_000_001, 1_000_002] * 2 + [
        1_000_000]


@pytest.mark.parametrize("cls", [TextWorldSimpleEnv, TextWorldCookingEnv])
def test_held_out_foods_only_in_test_unseen(cls):
    for split in SEEN_SPLITS:
        env = cls(split=split, difficulty="hard")
        assert not any(cls.held_out(env.sample_task(s)[0]) for s in range(3000))
    unseen = cls(split="test_unseen", difficulty="hard")
    assert all(cls.held_out(unseen.sample_task(s)[0]) == ["foods:test"] for s in range(3000))


def test_test_unseen_cooking_games_come_from_textworlds_test_distribution():
    foods = twg._textworld().textworld.challenges.tw_cooking.cooking.FOODS_SPLITS
    for split, marker in (("train", "tw-cooking-train-"), ("test_unseen", "tw-cooking-test-")):
        env = small("cooking", split)
        env.reset(seed=0)
        game = json.loads((Path(env._tw_file).parent / "game.json").read_text())
        assert game["metadata"]["uuid"].startswith(marker)
        plan = " | ".join(env._replan())
        ingredients = {name for name in foods["train"] + foods["test"] if f"take {name} from" in plan}
        assert ingredients, plan
        assert ingredients <= set(foods["train"] if split == "train" else foods["test"] + foods["train"])
    # this seed's recipe is a food TextWorld holds out of training
    assert ingredients & set(foods["test"])


def test_challenges_without_a_held_out_distribution_have_no_test_unseen():
    for cls in (TextWorldCoinCollectorEnv, TextWorldTreasureHunterEnv):
        assert cls.splits() == SEEN_SPLITS
        with pytest.raises(ConfigError, match="no 'test_unseen' split.*train"):
            cls(split="test_unseen")
    assert TextWorldSimpleEnv.splits() == TextWorldCookingEnv.splits() == SPLITS


# --------------------------------------------------------------------------------------------------
# Task specs, knobs, registration
# --------------------------------------------------------------------------------------------------
def test_pinned_task_replays_the_episode():
    a = small("cooking")
    obs, info = a.reset(seed=0)
    b = TextWorldCookingEnv(split="valid")  # other knobs and split: the spec alone pins the game
    replay_obs, replay_info = b.reset(options={"task": info["task"]})
    assert replay_obs == obs and replay_info["admissible_actions"] == info["admissible_actions"]
    for _ in range(4):
        action = a.expert_action()
        assert a.step(action)[:4] == b.step(action)[:4]


@pytest.mark.parametrize("spec,message", [
    ({"challenge": "tw-coin_collector", "settings": COIN_SETTINGS}, "exactly the keys"),
    ({"challenge": "tw-cooking", "settings": COIN_SETTINGS, "game_seed": 0}, "plays tw-coin_collector games"),
    ({"challenge": "tw-coin_collector", "settings": {"level": 0}, "game_seed": 0}, "level must be"),
    ({"challenge": "tw-coin_collector", "settings": {"level": 2, "x": 1}, "game_seed": 0}, "exactly the keys"),
    ({"challenge": "tw-coin_collector", "settings": COIN_SETTINGS, "game_seed": -1}, "game_seed must be"),
    ({"challenge": "tw-coin_collector", "settings": COIN_SETTINGS, "game_seed": 2**32}, "game_seed must be"),
    ({"challenge": "tw-coin_collector", "settings": COIN_SETTINGS, "game_seed": "0"}, "game_seed must be"),
])
def test_bad_task_specs_are_clear_errors(spec, message):
    with pytest.raises(InvalidTaskError, match=message):
        small("coin").reset(options={"task": spec})


def test_cooking_spec_split_setting_is_checked():
    env = small("cooking")
    _, info = env.reset(seed=0)
    spec = json.loads(info["task"])
    spec["settings"]["split"] = "valid"
    with pytest.raises(InvalidTaskError, match="'split' must be one of"):
        env.reset(options={"task": spec})


def test_the_running_textworld_env_is_reused():
    env = small("coin")
    env.reset(seed=0)
    running, game_file = env._tw_env, env._tw_file
    env.reset(seed=0)
    assert env._tw_env is running and env._tw_file == game_file
    env.reset(options={"task": {"challenge": "tw-coin_collector", "settings": COIN_SETTINGS, "game_seed": 4343}})
    assert env._tw_env is running and env._tw_file != game_file
    assert list(env._tw_env.unwrapped._jericho._cache) == [env._tw_file]  # the old story file is let go
    env.close()
    assert env._tw_env is None


@pytest.mark.parametrize("config,knobs,message", [
    (CookingConfig, dict(recipe=1, take=2), "take must be an integer from 0 to 1"),
    (CookingConfig, dict(go=5), "go must be 1, 6, 9 or 12"),
    (CookingConfig, dict(cut="yes"), "cut must be True or False"),
    (CookingConfig, dict(recipe=6), "recipe must be an integer from 1 to 5"),
    (CoinCollectorConfig, dict(level=0), "level must be an integer from 1 to 300"),
    (CoinCollectorConfig, dict(level=260), "needs 180 rooms but TextWorld games hold at most 100"),
    (TreasureHunterConfig, dict(level=31), "level must be an integer from 1 to 30"),
    (SimpleConfig, dict(rewards="medium"), "rewards must be 'dense', 'balanced' or 'sparse'"),
    (SimpleConfig, dict(goal="short"), "goal must be 'detailed', 'brief' or 'none'"),
    (SimpleConfig, dict(num_games=0), "num_games must be an integer from 1 to 1000000"),
])
def test_config_errors_say_what_is_allowed(config, knobs, message):
    with pytest.raises(ConfigError, match=message):
        config(**knobs)


@pytest.mark.parametrize("cls", [TextWorldSimpleEnv, TextWorldCoinCollectorEnv, TextWorldTreasureHunterEnv,
                                 TextWorldCookingEnv])
def test_difficulty_presets_are_valid_challenge_settings(cls):
    settings = []
    for difficulty in ("easy", "medium", "hard"):
        env = cls(difficulty=difficulty)
        spec, _ = env.sample_task(0)
        env._check_spec(spec)  # the settings are ones the spec validation accepts
        settings.append(spec["settings"])
    assert len({json.dumps(s, sort_keys=True) for s in settings}) == 3
    with pytest.raises(UnknownNameError, match="unknown"):
        cls(levle=3)


def test_knobs_reach_the_settings():
    env = TextWorldCookingEnv(difficulty="easy", recipe=3, take=2, cut=True)
    settings = env.sample_task(0)[0]["settings"]
    assert (settings["recipe"], settings["take"], settings["cut"], settings["go"]) == (3, 2, True, 1)


@pytest.fixture
def private_registry(monkeypatch):
    """Registration into copies of both registries, so other tests see the registry unchanged."""
    import gymnasium.envs.registration as gym_registration

    copy = dict(gym_registration.registry)
    monkeypatch.setattr(gym_registration, "registry", copy)
    monkeypatch.setattr(gym, "registry", copy)
    monkeypatch.setattr(registration, "_REGISTRY", dict(registration._REGISTRY))


def test_register_textworld_ids_and_gym_make(private_registry):
    twg.register_textworld()
    entries = registration.registered()
    ids = {"sparring/TextWorld-Simple-v0": SPLITS, "sparring/TextWorld-CoinCollector-v0": SEEN_SPLITS,
           "sparring/TextWorld-TreasureHunter-v0": SEEN_SPLITS, "sparring/TextWorld-Cooking-v0": SPLITS}
    for env_id, splits in ids.items():
        assert entries[env_id].splits == splits
        assert gym.spec(env_id).entry_point.startswith("sparring.envs.textworld_games:")
    env = gym.make("sparring/TextWorld-CoinCollector-v0", level=2, num_games=1)
    obs, info = env.reset(seed=0)
    assert isinstance(env.unwrapped, TextWorldCoinCollectorEnv) and info["admissible_actions"]


def test_without_textworld_the_ids_register_and_make_says_how_to_install(private_registry, monkeypatch):
    monkeypatch.setattr(twg, "_TW", None)
    monkeypatch.setitem(sys.modules, "textworld", None)  # `import textworld` now fails
    twg.register_textworld()
    with pytest.raises(gym.error.DependencyNotInstalled, match=r"pip install 'sparring\[textworld\]'"):
        gym.make("sparring/TextWorld-Cooking-v0")
    with pytest.raises(EnvCreationError, match=r"TextWorld-Cooking-v0.*pip install 'sparring\[textworld\]'"):
        registration.make("sparring/TextWorld-Cooking-v0")


def test_generate_games_fills_the_cache_for_a_split():
    env = TextWorldCoinCollectorEnv(split="valid", level=2, num_games=2)
    made = env.generate_games([0, 1, 2])
    assert [f.directory.name for f in made] == ["1000000", "1000001", "1000000"]
    assert made[2].generated is False and made[2].directory == made[0].directory
    assert all(f.game_file.is_file() for f in made)


def test_cache_entries_hold_only_what_playing_needs(cache):
    entry = game_directory("tw-coin_collector", COIN_SETTINGS, 0)
    manifest = json.loads((entry / "manifest.json").read_text())
    assert sorted(p.name for p in entry.iterdir()) == ["game.json", "game.z8", "manifest.json"]
    assert manifest["textworld_version"] and manifest["generation_seconds"] > 0
    assert set(manifest["files"]) == {"game.z8", "game.json"}
