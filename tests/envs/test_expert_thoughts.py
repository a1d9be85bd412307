"""The expert's thoughts on every registered id: the oracle still wins, each command comes with a short,
deterministic reason, and no reason tells what the agent has not seen yet."""

from __future__ import annotations

import json
import re

import pytest

from sparring.agents import OracleAgent, make_agent
from sparring.agents.prompting import parse_action
from sparring.envs import TextEnv, registered
from sparring.envs.text_env import generic_thought

from ..conftest import DIFFICULTIES, TEXTWORLD_IDS, make_env

NATIVE_SPLITS = [(env_id, split) for env_id, e in registered().items() if env_id not in TEXTWORLD_IDS
                 for split in e.splits]
SEEDS = range(6)
MAX_WORDS = 25
#: a thought never says where something is ("the mug 1 is in the cabinet 2"); a plan says where to look
_LOCATION_CLAIM = re.compile(r"\b(?:is|are|lies|lie) (?:in|on|inside|at|under|behind)\b")


def play(env, agent: OracleAgent, seed: int) -> list[dict]:
    """One episode of ``agent`` on ``env``; per turn the observations seen so far, the thought, the
    command, the info, and the env's own expert thought taken before the command."""
    obs, info = env.reset(seed=seed)
    seen = [obs]
    turns = []
    while True:
        own = env.unwrapped.expert_thought()
        action = agent.act([obs], [info])[0]
        turns.append({"seen": "\n".join(seen), "thought": agent.thought(0), "action": action, "info": info,
                      "own": own})
        obs, _, terminated, truncated, info = env.step(action)
        seen.append(obs)
        if terminated or truncated:
            turns[-1]["won"] = info["won"]
            return turns


def check_thoughts(turns: list[dict], where: str) -> None:
    for turn in turns:
        thought, action = turn["thought"], turn["action"]
        assert isinstance(thought, str) and thought.strip(), f"{where}: no thought for {action!r}"
        assert thought == turn["own"], f"{where}: the oracle's replica and the env disagree"
        assert "\n" not in thought and "Action" not in thought and thought.endswith("."), thought
        assert len(thought.split()) <= MAX_WORDS, f"{where}: {len(thought.split())} words: {thought}"
        assert not _LOCATION_CLAIM.search(thought), f"{where}: {thought}"
        # the ReAct format round-trips: generate-mode agents parse exactly this back
        assert parse_action(f"Thought: {thought}\nAction: {action}") == (action, thought)


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
@pytest.mark.parametrize("env_id,split", NATIVE_SPLITS)
def test_oracle_with_thoughts_wins_and_explains_every_command(env_id, split, difficulty):
    for seed in SEEDS:
        env = make_env(env_id, split=split, difficulty=difficulty)
        turns = play(env, OracleAgent(thoughts=True), seed)
        where = f"{env_id} {split} {difficulty} seed {seed}"
        assert turns[-1]["won"], f"{where}: the oracle with thoughts lost"
        check_thoughts(turns, where)
        again = play(make_env(env_id, split=split, difficulty=difficulty), OracleAgent(thoughts=True), seed)
        assert [t["thought"] for t in again] == [t["thought"] for t in turns], f"{where}: not deterministic"


@pytest.mark.parametrize("env_id", TEXTWORLD_IDS)
def test_textworld_oracle_explains_every_command(env_id):
    turns = play(make_env(env_id, split="train"), OracleAgent(thoughts=True), 0)
    assert turns[-1]["won"]
    check_thoughts(turns, env_id)


def test_thoughts_come_from_any_state_not_only_the_experts_path():
    """A reason for every state a model agent can reach (collected corrections start there)."""
    import random

    for env_id, split in NATIVE_SPLITS:
        env = make_env(env_id, split=split, difficulty="hard").unwrapped
        for seed in range(5):
            rng = random.Random(seed)
            _, info = env.reset(seed=seed)
            for _ in range(30):
                thought = env.expert_thought()
                assert thought and thought == env.expert_thought() and len(thought.split()) <= MAX_WORDS, thought
                _, _, terminated, truncated, info = env.step(rng.choice(info["admissible_actions"]))
                if terminated or truncated:
                    break


# --------------------------------------------------------------------------------------------------
# Nothing the agent has not seen
# --------------------------------------------------------------------------------------------------
def _episodes(env_id: str, seeds=range(12)):
    for split in registered()[env_id].splits:
        for difficulty in DIFFICULTIES:
            for seed in seeds:
                yield f"{split} {difficulty} {seed}", play(make_env(env_id, split=split, difficulty=difficulty),
                                                          OracleAgent(thoughts=True), seed)


def test_household_thoughts_name_only_what_the_agent_has_seen():
    """An object instance ("mug 1") or a receptacle ("cabinet 2") appears in a thought only after an
    observation showed it; before that the thought says what is needed and where it will look."""
    instance = re.compile(r"\b[a-z]+ \d+\b")
    looked = 0
    for where, turns in _episodes("sparring/Household-v0"):
        for turn in turns:
            for name in instance.findall(turn["thought"]):
                assert re.search(rf"\b{name}\b", turn["seen"]), f"{where}: {turn['thought']!r} names unseen {name!r}"
            instruction = turn["info"]["instruction"]
            goal = re.search(r"\b(?:some|two|at) (\w+)", instruction).group(1)
            if not re.search(rf"\b{goal} \d+\b", turn["seen"]):
                # no goal object seen yet: the thought is a plan, never a claim about where one is
                assert f"I need a{'n' if goal[0] in 'aeiou' else ''} {goal}" in turn["thought"] or \
                    turn["thought"].startswith("The "), f"{where}: {turn['thought']!r}"
                looked += "I will check the" in turn["thought"] or "I will look for one" in turn["thought"]
    assert looked > 100


def test_navigation_thoughts_look_for_unseen_objects():
    objects = re.compile(r"\b(?:red|green|blue|purple|yellow|grey|orange|white|black|brown) (?:ball|box|key)\b")
    for where, turns in _episodes("sparring/Navigation-v0", range(8)):
        for turn in turns:
            mission = turn["info"]["instruction"]
            for name in objects.findall(turn["thought"]):
                if name not in turn["seen"] and name not in mission:
                    assert "to look for" in turn["thought"], f"{where}: {turn['thought']!r} places unseen {name!r}"


def test_toolqa_thoughts_use_only_names_and_numbers_already_read():
    for where, turns in _episodes("sparring/ToolQA-v0", range(8)):
        spec = json.loads(turns[0]["info"]["task"])
        names = [n for group in ("people", "cities", "companies", "countries") for n in spec[group]]
        for turn in turns:
            seen = turn["seen"].replace(",", "")
            for number in re.findall(r"\d[\d,]*", turn["thought"]):
                assert number.replace(",", "") in seen, f"{where}: {turn['thought']!r} knows {number} unread"
            for name in names:
                if re.search(rf"\b{re.escape(name)}\b", turn["thought"]):
                    assert name in turn["seen"], f"{where}: {turn['thought']!r} names unread {name!r}"
        assert turns[-1]["action"].startswith("finish[") and "submit" in turns[-1]["thought"]


def test_shop_thoughts_name_products_from_the_page_only():
    for where, turns in _episodes("sparring/Shop-v0", range(8)):
        spec = json.loads(turns[0]["info"]["task"])
        titles = [record.split(" | ")[1] for record in spec["products"]]
        for turn in turns:
            for title in titles:
                if title in turn["thought"]:
                    assert title in turn["seen"], f"{where}: {turn['thought']!r}"
            for price in re.findall(r"\$\d+\.\d\d", turn["thought"]):
                assert price in turn["seen"], f"{where}: {turn['thought']!r}"
        assert turns[-1]["action"] == "buy" and "buy" in turns[-1]["thought"]


# --------------------------------------------------------------------------------------------------
# The generic reason, and the cost
# --------------------------------------------------------------------------------------------------
def test_the_default_thought_reads_the_verb_and_a_short_task():
    assert generic_thought("take carrot from fridge", "Find the carrot.") == (
        "My task: find the carrot. I take the carrot from the fridge because the task needs it.")
    assert generic_thought("go east") == "I go east to get where the task leads."
    assert generic_thought("unlock wooden door with old key") == (
        "I unlock the wooden door with the old key so that I can open it.")
    long_objective = "You are now playing a exciting session of TextWorld which has a very long intro! Go east."
    assert not generic_thought("go east", long_objective).startswith("My task")
    assert generic_thought("frobnicate the widget").startswith("I frobnicate the widget")
    # any family gets it from TextEnv: here the household's expert command, explained generically
    env = make_env("sparring/Household-v0").unwrapped
    env.reset(seed=0)
    thought = TextEnv.expert_thought(env)
    assert thought.startswith(f"My task: {env._instruction_text.rstrip('.')}.")
    assert env.expert_action() == "go to sinkbasin 1" and "I go to the sinkbasin 1 to get where" in thought


def test_thoughts_cost_nothing_unless_asked(monkeypatch):
    """``step`` and the oracle without ``thoughts`` never compute one (env throughput is unchanged)."""
    def refuse(self):
        raise AssertionError("expert_thought called")

    for env_id, _ in NATIVE_SPLITS[::4]:
        env = make_env(env_id)
        monkeypatch.setattr(type(env.unwrapped), "expert_thought", refuse)
        agent = OracleAgent()
        turns = play_without_thoughts(env, agent)
        assert turns and all(agent.thought(0) == "" for _ in turns)


def play_without_thoughts(env, agent) -> list[str]:
    obs, info = env.reset(seed=1)
    actions = []
    while True:
        actions.append(agent.act([obs], [info])[0])
        obs, _, terminated, truncated, info = env.step(actions[-1])
        if terminated or truncated:
            assert info["won"]
            return actions


def test_make_agent_builds_an_oracle_with_thoughts():
    assert make_agent("oracle", thoughts=True).thoughts
    assert not make_agent("oracle").thoughts
