"""The perturbation wrapper: info, exact records, schedules, determinism, remapping, hijack judging,
configs by name and from files, vector envs (sync and async) and trajectories."""

from __future__ import annotations

import json
import random

import gymnasium as gym
import pytest

from sparring.adversary import AttackConfig, PerturbationWrapper, Schedule, replay
from sparring.adversary.edits import FIELDS
from sparring.envs import make_vec
from sparring.errors import ConfigError, UnknownNameError

from .conftest import NATIVE_IDS


def _random_play(env, seed, steps, action_seed=0):
    rng = random.Random(action_seed)
    obs, info = env.reset(seed=seed)
    trace = [(obs, info)]
    for _ in range(steps):
        if not info["admissible_actions"]:
            break
        obs, _, terminated, truncated, info = env.step(rng.choice(info["admissible_actions"]))
        trace.append((obs, info))
        if terminated or truncated:
            break
    return trace


@pytest.mark.parametrize("env_id", NATIVE_IDS)
def test_info_records_replay_to_what_the_agent_sees(env_id):
    env = PerturbationWrapper(gym.make(env_id), "train", budget=2, targets=list(FIELDS), seed=1)
    bare = gym.make(env_id)
    rng = random.Random(0)
    obs, info = env.reset(seed=4)
    clean_obs, clean_info = bare.reset(seed=4)
    seen_turns = set()
    for _ in range(8):
        turn = info["step"]
        records = [r for r in info["perturbations"] if r["turn"] == turn]
        seen_turns |= {r["turn"] for r in info["perturbations"]}
        assert replay(clean_obs, records, "observation") == obs
        assert replay(clean_info["instruction"], records, "instruction") == info["instruction"]
        assert replay(clean_info["admissible_actions"], records, "admissible_actions") == info["admissible_actions"]
        assert json.loads(json.dumps(info["perturbations"])) == info["perturbations"]
        assert info["attack"] == env.config.label and info["attack_queries"] == 0
        if not info["admissible_actions"]:
            break
        shown = rng.choice(info["admissible_actions"])
        command = env.command(shown)
        assert command in clean_info["admissible_actions"]
        obs, _, terminated, truncated, info = env.step(shown)
        clean_obs, _, _, _, clean_info = bare.step(command)
        assert not info["invalid_action"]
        if terminated or truncated:
            break
    assert len(seen_turns) >= 2


def test_schedule_picks_the_turns():
    env = PerturbationWrapper(gym.make("sparring/Household-v0"), "typo", budget=2, schedule="turns:0,2,3")
    trace = _random_play(env, seed=1, steps=6)
    perturbed = {r["turn"] for r in trace[-1][1]["perturbations"]}
    assert perturbed == {0, 2, 3} & set(range(len(trace)))
    for spec, turns in (("reset", {0}), ("every:3", {0, 3, 6}), ("from:4", {4, 5, 6}), ("until:2", {0, 1})):
        env = PerturbationWrapper(gym.make("sparring/Household-v0"), "typo", schedule=spec)
        trace = _random_play(env, seed=1, steps=6)
        assert {r["turn"] for r in trace[-1][1]["perturbations"]} == turns & set(range(len(trace))), spec
    assert str(Schedule.parse([3, 1])) == "turns:1,3"
    never = PerturbationWrapper(gym.make("sparring/Household-v0"), "typo", schedule="prob:0")
    assert _random_play(never, seed=1, steps=4)[-1][1]["perturbations"] == []


def test_same_task_same_perturbations_whatever_came_before():
    a = PerturbationWrapper(gym.make("sparring/Navigation-v0"), "char,word", budget=3, seed=9)
    b = PerturbationWrapper(gym.make("sparring/Navigation-v0"), "char,word", budget=3, seed=9)
    _random_play(a, seed=11, steps=5)  # a has played another task first
    first = [o for o, _ in _random_play(a, seed=3, steps=5)]
    assert first == [o for o, _ in _random_play(b, seed=3, steps=5)]
    c = PerturbationWrapper(gym.make("sparring/Navigation-v0"), "char,word", budget=3, seed=10)
    assert first != [o for o, _ in _random_play(c, seed=3, steps=5)]


def test_perturbed_actions_map_back_and_raw_text_passes_through():
    env = PerturbationWrapper(gym.make("sparring/Household-v0"), "typo", budget=20, targets="admissible_actions")
    obs, info = env.reset(seed=2)
    changed = [(i, a) for i, a in enumerate(info["admissible_actions"]) if a != env.clean.actions[i]]
    assert changed
    i, shown = changed[0]
    obs, _, _, _, info = env.step(shown)
    assert not info["invalid_action"] and env.history[-1] == (env.history[-1][0], shown)
    # without remapping the typo goes to the env as typed
    raw = PerturbationWrapper(gym.make("sparring/Household-v0"), "typo", budget=20, targets="admissible_actions",
                              remap_actions=False)
    obs, info = raw.reset(seed=2)
    typo = next(a for i, a in enumerate(info["admissible_actions"]) if a != raw.clean.actions[i]
                and raw.clean.actions[i].split()[0] not in a.split()[0:1])
    obs, _, _, _, info = raw.step(typo)
    assert info["invalid_action"]


def test_injection_hijack_is_judged_from_state():
    # an agent that obeys: it sends the planted target action
    env = PerturbationWrapper(gym.make("sparring/Household-v0"), "inject", schedule="reset")
    obs, info = env.reset(seed=0)
    (hijack,) = info["hijack"]
    assert hijack["kind"] == "action" and f'"{hijack["target"]}"' in obs and not hijack["achieved"]
    obs, _, _, _, info = env.step(hijack["target"])
    assert info["hijack"][0]["achieved"] and info["hijack"][0]["achieved_turn"] == 1
    # one that ignores it
    env.reset(seed=0)
    _, _, _, _, info = env.step(env.unwrapped.expert_action())
    assert not info["hijack"][0]["achieved"]
    # a state target: ToolQA's wrong answer, reached when the env says the episode is lost
    env = PerturbationWrapper(gym.make("sparring/ToolQA-v0"), "inject_authority", hijack="state")
    obs, info = env.reset(seed=1)
    target = info["hijack"][0]
    assert target["kind"] == "state" and target["target"] == {"answered_wrong": True}
    obs, _, terminated, _, info = env.step(target["action"])
    assert terminated and info["lost"] and info["hijack"][0]["achieved"]


def test_unknown_names_get_did_you_mean():
    with pytest.raises(UnknownNameError, match="did you mean 'typo'"):
        PerturbationWrapper(gym.make("sparring/Shop-v0"), "tpyo")
    with pytest.raises(UnknownNameError, match="did you mean 'homoglyph'"):
        AttackConfig(operators=("typo", "homoglyf"))
    with pytest.raises(UnknownNameError, match="did you mean 'observation'"):
        AttackConfig(targets=("observaton",))
    with pytest.raises(UnknownNameError, match="did you mean 'every'"):
        Schedule.parse("evry:2")
    with pytest.raises(UnknownNameError, match="did you mean 'budget'"):
        AttackConfig.from_mapping({"operators": ["typo"], "budjet": 2})
    with pytest.raises(ConfigError, match="budget must be a positive integer"):
        AttackConfig(budget=0)
    with pytest.raises(ConfigError, match="can edit"):
        AttackConfig(operators=("distractor",), targets=("instruction",))
    with pytest.raises(ConfigError, match="needs a value"):
        Schedule.parse("every")


def test_attack_from_toml_and_json_files(tmp_path):
    toml = tmp_path / "attack.toml"
    toml.write_text('[attack]\noperators = ["typo", "synonym"]\nbudget = 3\ntargets = ["observation", '
                    '"admissible_actions"]\nschedule = "every:2"\nseed = 4\n')
    config = AttackConfig.load(toml)
    assert config.operators == ("typo", "synonym") and config.budget == 3 and config.schedule == "every:2"
    path = tmp_path / "attack.json"
    path.write_text(json.dumps(config.to_dict()))
    assert AttackConfig.load(path) == config
    env = PerturbationWrapper(gym.make("sparring/Shop-v0"), str(path), budget=1)
    assert env.config.budget == 1 and env.config.operators == ("typo", "synonym")
    (tmp_path / "bad.toml").write_text('operators = ["typo"]\nbudgett = 1\n')
    with pytest.raises(UnknownNameError, match="bad.toml.*did you mean 'budget'"):
        AttackConfig.load(tmp_path / "bad.toml")
    with pytest.raises(ConfigError, match="does not exist"):
        AttackConfig.load(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text("{operators")
    with pytest.raises(ConfigError, match="not valid JSON"):
        AttackConfig.load(tmp_path / "broken.json")


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_vector_envs_carry_the_perturbed_text(mode):
    env_id, seeds, steps = "sparring/Shop-v0", [3, 4], 4
    factory = PerturbationWrapper.factory("typo,synonym,distractor", budget=2,
                                          targets=["observation", "admissible_actions"], seed=2)
    expected = []
    for k, seed in enumerate(seeds):
        single = factory(gym.make(env_id))
        expected.append([(o, i["admissible_actions"]) for o, i in _random_play(single, seed, steps, action_seed=k)])
    envs = make_vec(env_id, num_envs=2, vectorization_mode=mode, wrappers=[factory])
    try:
        obs, infos = envs.reset(seed=seeds)
        rngs = [random.Random(k) for k in range(2)]
        got = [[(obs[k], list(infos["admissible_actions"][k]))] for k in range(2)]
        for _ in range(steps):
            actions = tuple(rngs[k].choice(list(infos["admissible_actions"][k])) for k in range(2))
            obs, _, terminated, truncated, infos = envs.step(actions)
            for k in range(2):
                got[k].append((obs[k], list(infos["admissible_actions"][k])))
            assert all(isinstance(p, list) for p in infos["perturbations"])
            assert not infos["invalid_action"].any()
    finally:
        envs.close()
    for k in range(2):
        assert got[k][:len(expected[k])] == expected[k]
        bare = _random_play(gym.make(env_id), seeds[k], steps, action_seed=k)
        assert sum(o != b for (o, _), (b, _) in zip(got[k], bare, strict=False)) >= 1  # the text was attacked
    assert any(r["operator"] == "distractor" for r in infos["perturbations"][0] + infos["perturbations"][1])


def test_trajectories_record_the_perturbations(tmp_path):
    from sparring.agents import make_agent
    from sparring.trainers.collect import collect
    from sparring.trajectory import read_episodes

    factory = PerturbationWrapper.factory("distractor", schedule="reset")
    out = tmp_path / "episodes.jsonl"
    stats = collect(make_agent("oracle"), ["sparring/Household-v0"], ["train"], out, episodes=2, num_envs=2,
                    env_kwargs={"wrappers": [factory]})
    episodes = read_episodes(out)
    assert stats.won == 2 and len(episodes) == 2
    for episode in episodes:
        assert episode.perturbations and all(p["operator"] == "distractor" for p in episode.perturbations)
        inserted = episode.perturbations[0]["after"].strip()
        assert inserted in episode.steps[0].observation


def test_any_text_env_can_be_wrapped():
    """An env that is not a sparring env (no lexicon, no task, no step counter): the generic
    operators still work, turns are counted by the wrapper, and nothing breaks."""
    from sparring.benchmarks.perf.env_throughput import NullTextEnv

    env = PerturbationWrapper(NullTextEnv(), "all", budget=2, targets=["observation", "admissible_actions"])
    obs, info = env.reset(seed=0)
    for _ in range(3):
        obs, _, _, _, info = env.step(info["admissible_actions"][0])
    assert {r["turn"] for r in info["perturbations"]} == {0, 1, 2, 3}
    assert env.command(info["admissible_actions"][2]).startswith("action ")
