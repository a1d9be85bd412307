"""An agent defined outside sparring (an import path ``module:factory``): made by name, declared in a
suite and on the leaderboard's command line, ranked beside the built-in agents, played in worker
processes, and re-evaluated when its code changes."""

from __future__ import annotations

import json
import subprocess
import sys

import gymnasium as gym
import pytest

from sparring.agents import make_agent
from sparring.benchmarks.agent_specs import build_agent, parse_agent, spec_from_table, with_fingerprint
from sparring.benchmarks.leaderboard import run_leaderboard
from sparring.errors import ConfigError, UnknownNameError

#: a user's own agent, in a module of its own: it plays the first admissible action, or hands over to
#: sparring's oracle when ``cheat`` is set (so a leaderboard can tell its two settings apart)
AGENT_MODULE = '''
from sparring.agents import OracleAgent


class FirstAction:
    def __init__(self, seed=0, cheat=False):
        self.name = "first-action"
        self.seed = seed
        self.cheat = cheat
        self.oracle = OracleAgent() if cheat else None

    def act(self, observations, infos):
        if self.oracle is not None:
            return self.oracle.act(observations, infos)
        return ["look" if info is None else info["admissible_actions"][0] for info in infos]


def make(seed=0, cheat=False):
    return FirstAction(seed=seed, cheat=cheat)


def make_without_seed(cheat=False):
    return FirstAction(cheat=cheat)


NOT_CALLABLE = 3


def not_an_agent(seed=0):
    return object()
'''

SUITE = """
name = "plugins"
description = "A user's agent beside the baselines."
envs = ["sparring/Navigation-v0"]

[evaluation]
splits = ["test"]
episodes = 3
task_seed = 0
seeds = [0]
num_envs = 2
resamples = 100
env_kwargs = { difficulty = "easy", max_steps = 12 }

[agents.random]
kind = "random"

[agents.mine]
kind = "user_agents_mod:make"
cheat = true
"""


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "user_agents_mod.py").write_text(AGENT_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))
    sys.modules.pop("user_agents_mod", None)
    yield folder
    sys.modules.pop("user_agents_mod", None)


def test_make_agent_builds_a_plugin_and_it_plays(user_module):
    agent = make_agent("user_agents_mod:make", seed=5, cheat=False)
    assert type(agent).__module__ == "user_agents_mod" and agent.seed == 5
    env = gym.make("sparring/Navigation-v0", difficulty="easy")
    _, info = env.reset(seed=0)
    assert agent.act([None, "obs"], [None, info]) == ["look", info["admissible_actions"][0]]
    assert make_agent("user_agents_mod:make_without_seed", seed=3).seed == 0  # a factory without seed is fine


def test_bad_plugins_say_what_to_fix(user_module):
    with pytest.raises(ConfigError, match="could not import module 'no_such_mod'.*PYTHONPATH"):
        make_agent("no_such_mod:make")
    with pytest.raises(ConfigError, match="has no 'nope'"):
        make_agent("user_agents_mod:nope")
    with pytest.raises(ConfigError, match="not a callable"):
        make_agent("user_agents_mod:NOT_CALLABLE")
    with pytest.raises(ConfigError, match="no act"):
        make_agent("user_agents_mod:not_an_agent")
    with pytest.raises(ConfigError, match="did not take options"):
        make_agent("user_agents_mod:make", colour="red")
    with pytest.raises(UnknownNameError, match="did you mean 'react'.*import path 'module:factory'"):
        spec_from_table("x", {"kind": "reactt"})


def test_specs_from_suites_and_the_command_line(user_module):
    table = spec_from_table("mine", {"kind": "user_agents_mod:make", "cheat": True})
    line = parse_agent("mine=user_agents_mod:make,cheat=true")
    assert table == line and table.is_plugin and not table.uses_model and dict(table.options) == {"cheat": True}
    assert parse_agent("user_agents_mod:make").name == "user_agents_mod:make"
    printed = with_fingerprint(table)
    assert printed.fingerprint.startswith("plugin:")
    assert printed.identity()["options"] == {"cheat": True}
    agent = build_agent(printed, seed=2)
    assert agent.cheat and agent.seed == 2 and agent.name == "mine"
    # the fingerprint follows the code: an edited module is another agent for the cell cache
    (user_module / "user_agents_mod.py").write_text(AGENT_MODULE + "\n# edited\n", encoding="utf-8")
    assert with_fingerprint(table).fingerprint != printed.fingerprint


def test_a_plugin_is_ranked_on_the_leaderboard_in_worker_processes(user_module, tmp_path):
    suite = tmp_path / "plugins.toml"
    suite.write_text(SUITE, encoding="utf-8")
    data = run_leaderboard(suite, None, tmp_path / "out", workers=2)
    ranked = {row["agent"]: row for row in data["leaderboard"]}
    assert set(ranked) == {"random", "mine"}
    # the suite's option reached the factory in the worker processes: the oracle inside wins every task
    assert ranked["mine"]["success_test"] == 1.0 and ranked["mine"]["rank"] == 1
    assert ranked["mine"]["kind"] == "user_agents_mod:make"
    assert [c["agent"] for c in data["cells"]].count("mine") == 1


def test_the_cli_ranks_a_plugin_given_with_agents(user_module, tmp_path):
    suite = tmp_path / "plugins.toml"
    suite.write_text(SUITE, encoding="utf-8")
    env = {"PYTHONPATH": str(user_module), "PATH": "/usr/bin:/bin"}
    out = tmp_path / "cli"
    done = subprocess.run([sys.executable, "-m", "sparring", "leaderboard", "--suite", str(suite), "--out", str(out),
                           "--no-progress", "--agents", "random", "theirs=user_agents_mod:make,cheat=false"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    board = json.loads((out / "leaderboard.json").read_text())
    ranked = {row["agent"]: row for row in board["leaderboard"]}
    assert set(ranked) == {"random", "theirs"} and ranked["theirs"]["success_test"] < 1.0  # no oracle inside
    assert "theirs" in done.stdout
