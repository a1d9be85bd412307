"""The memory and Reflexion agents on the leaderboard and the command line: their specs and option
checks, the memory files in the fingerprint, a tiny leaderboard with both (clean and attacked, the
Reflexion agent through its trials), and `sparring eval` with their flags."""

from __future__ import annotations

import json

import pytest

from sparring.agents import OracleAgent
from sparring.benchmarks.agent_specs import AgentSpec, parse_agent, spec_from_table, with_fingerprint
from sparring.benchmarks.leaderboard import run_leaderboard
from sparring.errors import ConfigError, UnknownNameError

from .conftest import write_suite

ENV = "sparring/Navigation-v0"


@pytest.fixture(scope="module")
def expert_file(tmp_path_factory):
    from sparring.trainers.collect import collect

    path = tmp_path_factory.mktemp("memory") / "expert.jsonl"
    collect(OracleAgent(), [ENV], ["train"], path, episodes=8, env_kwargs={"difficulty": "easy"})
    return path


def test_specs_check_the_options_of_each_kind(expert_file):
    with pytest.raises(ConfigError, match="needs memory"):
        spec_from_table("m", {"kind": "react-memory"})
    with pytest.raises(ConfigError, match="k must be an integer >= 1"):
        spec_from_table("m", {"kind": "react-memory", "memory": "x.jsonl", "k": 0})
    with pytest.raises(ConfigError, match="retriever must be 'bm25' or 'embedding'"):
        spec_from_table("m", {"kind": "react-memory", "memory": "x.jsonl", "retriever": "tfidf"})
    with pytest.raises(ConfigError, match="memory must be a trajectory file"):
        spec_from_table("m", {"kind": "react-memory", "memory": []})
    with pytest.raises(UnknownNameError, match="trials"):
        spec_from_table("r", {"kind": "react", "trials": 3})  # only Reflexion takes trials
    with pytest.raises(ConfigError, match="reflection must be 'model' or 'summary'"):
        parse_agent("react-reflexion,reflection=dream")
    with pytest.raises(ConfigError, match="starts with an option"):
        parse_agent("memory=x.jsonl")

    reflexion = parse_agent("react-reflexion,trials=2")
    assert reflexion.trials == 2 and reflexion.declaration()["trials"] == 2
    assert parse_agent("react-reflexion").trials == 3 and parse_agent("react").trials == 1
    assert "trials" not in parse_agent("react").declaration()  # one-try agents keep their old identity
    memory = spec_from_table("m", {"kind": "react-memory", "memory": [str(expert_file), str(expert_file)], "k": 1})
    assert dict(memory.options)["memory"] == (str(expert_file),) * 2 and hash(memory)


def test_the_memory_files_enter_the_fingerprint(tmp_path, expert_file):
    copy = tmp_path / "memory.jsonl"
    copy.write_bytes(expert_file.read_bytes())
    spec = parse_agent(f"m=react-memory,memory={copy}")
    first = with_fingerprint(spec).fingerprint
    assert first.startswith("zoo:") and "+memory:" in first
    assert with_fingerprint(spec).fingerprint == first
    copy.write_bytes(expert_file.read_bytes() + expert_file.read_bytes().splitlines(keepends=True)[0])
    assert with_fingerprint(spec).fingerprint != first
    missing = parse_agent(f"m=react-memory,memory={tmp_path / 'gone.jsonl'}")
    with pytest.raises(ConfigError, match="agent 'm': memory file .* does not exist"):
        with_fingerprint(missing)


SUITE = """
name = "memory-reflexion"
envs = [{{ id = "sparring/Navigation-v0", kwargs = {{ max_steps = 4 }} }}]

[evaluation]
splits = ["test"]
episodes = 2
seeds = [0]
num_envs = 2
resamples = 50
env_kwargs = {{ difficulty = "easy" }}

[attacks]
splits = ["test"]
samples = 1
budget = 2
run = ["char/held_out"]

[agents.memory]
kind = "react-memory"
memory = "{memory}"
k = 1

[agents.reflexion]
kind = "react-reflexion"
trials = 2
reflection_tokens = 8
"""


def test_a_leaderboard_plays_both_clean_and_attacked_and_shows_the_trials(tmp_path, expert_file, sparring_cache):
    memory = tmp_path / "memory.jsonl"
    memory.write_bytes(expert_file.read_bytes())
    suite = write_suite(tmp_path, SUITE.format(memory=memory), "agents.toml")
    out = tmp_path / "out"
    data = run_leaderboard(suite, None, out)
    assert data["run"]["cells"] == data["run"]["evaluated"] == 4  # 2 agents x (clean + 1 attack)
    agents = {a["name"]: a for a in data["agents"]}
    assert agents["reflexion"]["trials"] == 2 and "trials" not in agents["memory"]
    assert "+memory:" in agents["memory"]["fingerprint"]
    rows = {r["agent"]: r for r in data["leaderboard"]}
    assert rows["reflexion"]["trials"] == 2 and rows["memory"]["trials"] == 1
    assert "| trials |" in (out / "leaderboard.md").read_text()
    assert {(c["agent"], c["trials"]) for c in data["cells"]} == {("memory", 1), ("reflexion", 2)}
    for cell in data["cells"]:
        result = json.loads((out / "cells" / f"{cell['key']}.json").read_text())
        assert result["trials"] == cell["trials"] and len(result["episodes"]) == 2
        for episode in result["episodes"]:
            if cell["agent"] == "reflexion":  # each episode records its trials; a failed one used both
                assert episode["trials"] == 2 or episode["won"]
                assert episode["won"] or episode["steps"] == 2 * 4
            else:
                assert "trials" not in episode
    # a changed memory re-evaluates the memory agent's cells, and only those
    memory.write_bytes(expert_file.read_bytes().splitlines(keepends=True)[0])
    again = run_leaderboard(suite, None, out)
    assert again["run"]["evaluated"] == 2 and again["run"]["cached"] == 2
    assert {c["agent"] for c in again["cells"] if not c["cached"]} == {"memory"}


def test_sparring_eval_takes_both_agents_flags(tmp_path, expert_file, sparring_cache, capsys):
    from sparring.cli import main

    common = ["--env", ENV, "--split", "test", "--episodes", "2", "--difficulty", "easy", "--env-arg", "max_steps=4",
              "--num-envs", "2", "--no-progress", "--episodes-detail"]
    out = tmp_path / "reflexion.json"
    assert main(["eval", "--agent", "react-reflexion", "--trials", "2", "--reflection", "summary", *common,
                 "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["results"][0]["agent"] == "react-reflexion (2 trials)"
    assert all(e["trials"] == 2 or e["won"] for e in data["episodes"])
    out = tmp_path / "memory.json"
    assert main(["eval", "--agent", "react-memory", "--memory", str(expert_file), "--k", "1", *common,
                 "--json", str(out)]) == 0
    assert json.loads(out.read_text())["results"][0]["agent"] == "react-memory"
    capsys.readouterr()
    assert main(["eval", "--agent", "react-memory", *common]) == 2
    assert "needs --memory FILE" in capsys.readouterr().err


def test_spec_kinds_match_the_agents_make_agent_knows():
    from sparring.agents import AGENTS
    from sparring.benchmarks.agent_specs import KINDS

    assert set(KINDS) == set(AGENTS)
    assert AgentSpec("r", "react-reflexion", options=(("trials", 4),)).trials == 4
