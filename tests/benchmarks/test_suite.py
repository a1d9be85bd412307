"""Suites and agent specs: the shipped suites load, and every kind of mistake is caught, with a message
that says what to do, before any work starts."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from sparring.benchmarks.agent_specs import AgentSpec, model_fingerprint, parse_agent, select_agents
from sparring.benchmarks.attack_specs import resolve_attack
from sparring.benchmarks.suite import available_suites, load_suite, parse_suite
from sparring.errors import ConfigError, UnknownNameError

from .conftest import TINY_SUITE, write_suite

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_suites_load_by_name_and_cover_what_they_promise():
    assert {"quick", "full"} <= set(available_suites())
    quick, full = load_suite("quick"), load_suite("full")
    for suite in (quick, full):
        assert suite.splits == ("train", "valid", "test", "test_unseen")
        assert {"random", "oracle"} <= set(suite.agent_table)
        assert any(a.uses_model for a in suite.agents)
        # every operator family has its held-out attack, on a split that is evaluated clean as well
        assert {a.family for a in suite.attacks if a.split == "held_out"} == {
            "char", "word", "sentence", "paraphrase", "injection"}
        assert set(suite.attack_splits) <= set(suite.splits)
    assert {e.id for e in quick.envs} == {"sparring/Household-v0", "sparring/Navigation-v0", "sparring/ToolQA-v0",
                                          "sparring/Shop-v0"}
    assert all(dict(e.kwargs)["difficulty"] == "easy" for e in quick.envs)
    assert dict(quick.agent_table["react-tiny"].options)["mode"] == "score"
    assert {a.split for a in full.attacks} == {"train", "held_out"}
    assert len({a.family for a in full.attacks if a.split == "train"}) >= 4
    coin = next(e for e in full.envs if "CoinCollector" in e.id)
    assert "test_unseen" not in coin.splits and not coin.attacked


def test_attack_names_resolve_to_one_side_of_one_family():
    from sparring.adversary.registry import BY_FAMILY, split_of

    attack = resolve_attack("char/held_out", {"budget": 3}, samples=2)
    assert attack.family == "char" and attack.split == "held_out" and attack.samples == 2
    assert set(attack.operators) == {op for op in BY_FAMILY["char"] if split_of(op) == "held_out"}
    assert attack.config.budget == 3 and "observation" in attack.config.targets
    typo = resolve_attack({"name": "typo-heavy", "operators": ["typo"], "budget": 6, "targets": ["observation"]})
    assert (typo.name, typo.family, typo.split, typo.config.targets) == ("typo-heavy", "char", "train", ("observation",))
    mixed = resolve_attack("typo,ocr")
    assert mixed.split == "mixed"
    with pytest.raises(UnknownNameError, match="did you mean 'char'"):
        resolve_attack("chr/held_out")
    with pytest.raises(UnknownNameError, match="did you mean 'held_out'"):
        resolve_attack("char/heldout")
    with pytest.raises(UnknownNameError, match="did you mean 'typo'"):
        resolve_attack("typoo")
    # every side of every family runs on its own: no operator is named like a group (a family, "train", ...),
    # which would bring the family's held-out operators into a train attack
    from sparring.adversary.registry import GROUPS, OPERATORS

    assert not set(OPERATORS) & set(GROUPS)
    for family, names in BY_FAMILY.items():
        for side in ("train", "held_out"):
            members = [op for op in names if split_of(op) == side]
            resolved = resolve_attack(f"{family}/{side}")
            assert set(resolved.operators) == set(members) and resolved.split == side


SPLIT_LACKING = """
envs = ["sparring/TextWorld-CoinCollector-v0"]
[evaluation]
splits = ["train", "test_unseen"]
"""


@pytest.mark.parametrize(("text", "error", "message"), [
    ('envs = ["sparring/ToolQA-v0"]\nepisodes = 3\n', UnknownNameError, r"unknown key in the suite 'episodes'"),
    ('envs = ["sparring/ToolQA-v0"]\n[evaluation]\nepisode = 3\n', UnknownNameError, r"did you mean 'episodes'"),
    ('envs = ["sparring/ToolQA-v0"]\n[evaluation]\nepisodes = "3"\n', ConfigError,
     r"evaluation.episodes must be a positive integer, got str '3'"),
    ('envs = ["sparring/ToolQA-v0"]\n[evaluation]\nepisodes = 0\n', ConfigError, "positive integer"),
    ('envs = ["sparring/ToolQA-v0"]\n[evaluation]\nseeds = 0\n', ConfigError, r"non-empty list of integers"),
    ('envs = ["sparring/ToolQA-v0"]\n[evaluation]\nseeds = [0, 0]\n', ConfigError, "lists a seed twice"),
    ('envs = ["sparring/ToolQA-v0"]\n[evaluation]\nsplits = ["train", "tset"]\n', UnknownNameError,
     r"did you mean 'test'"),
    ('envs = ["sparring/ToolQ-v0"]\n', UnknownNameError, r"unknown env id 'sparring/ToolQ-v0'; did you mean "
                                                        r"'sparring/ToolQA-v0'"),
    ('envs = "sparring/ToolQA-v0"\n', ConfigError, "envs must be a non-empty list"),
    (SPLIT_LACKING, ConfigError, r"TextWorld-CoinCollector-v0 has no split 'test_unseen' \(it has train, valid, "
                                 r"test\); give its entry its own splits"),
    ('envs = [{ id = "sparring/ToolQA-v0", kwargs = { difficulty = "eazy" } }]\n', UnknownNameError,
     r"did you mean 'easy'"),
    ('envs = [{ id = "sparring/ToolQA-v0", split = "test" }]\n', UnknownNameError, r"did you mean 'splits'"),
    ('envs = ["sparring/ToolQA-v0", "sparring/ToolQA-v0"]\n', ConfigError, "listed twice"),
    ('envs = ["sparring/ToolQA-v0"]\n[attacks]\nrun = ["char/held_out"]\nsplits = ["valid"]\n'
     '[evaluation]\nsplits = ["train", "test"]\n', ConfigError, "evaluation.splits does not have"),
    ('envs = ["sparring/ToolQA-v0"]\n[attacks]\nrun = ["char/hold_out"]\n', UnknownNameError,
     r"attacks.run\[0\]: unknown attack split 'hold_out'; did you mean 'held_out'"),
    ('envs = ["sparring/ToolQA-v0"]\n[attacks]\nrun = ["char/held_out"]\nbudjet = 2\n', UnknownNameError,
     r"did you mean 'budget'"),
    ('envs = ["sparring/ToolQA-v0"]\n[attacks]\nrun = ["char/held_out"]\nbudget = "two"\n', ConfigError,
     r"attack 'char/held_out': budget must be a positive integer"),
    ('envs = ["sparring/ToolQA-v0"]\n[attacks]\nrun = ["char/held_out", "char/held_out"]\n', ConfigError,
     "two attacks called"),
    ('envs = ["sparring/ToolQA-v0"]\n[agents.mine]\nkind = "reactt"\n', UnknownNameError, r"did you mean 'react'"),
    ('envs = ["sparring/ToolQA-v0"]\n[agents.mine]\nmodel = "tiny"\n', ConfigError, "agents.mine needs a kind"),
    ('envs = ["sparring/ToolQA-v0"]\n[agents.mine]\nkind = "react"\nnormalisation = "sum"\n', UnknownNameError,
     r"did you mean 'normalization'"),
    ('envs = ["sparring/ToolQA-v0"]\n[agents.mine]\nkind = "react"\nmode = "sample"\n', ConfigError,
     r"mode must be 'score' or 'generate', got 'sample'"),
    ('envs = ["sparring/ToolQA-v0"]\n[agents.mine]\nkind = "react"\ntemperature = -1\n', ConfigError,
     "temperature must be a number >= 0"),
    ('envs = ["sparring/ToolQA-v0"]\n[agents.random]\nmodel = "tiny"\n', ConfigError,
     "random agent, which takes no model or options"),
    ('envs = ["sparring/ToolQA-v0"]\n[agents]\nrandom = 1\n', ConfigError, "agents.random must be a table"),
    ('envs = ["sparring/ToolQA-v0"\n', ConfigError, "not valid TOML"),
])
def test_bad_suites_are_refused_with_a_clear_message(tmp_path, text, error, message):
    path = write_suite(tmp_path, text)
    with pytest.raises(error, match=message) as caught:
        load_suite(path)
    assert str(path) in str(caught.value)  # the message names the file


def test_a_suite_name_that_is_not_shipped_gets_a_suggestion(tmp_path):
    with pytest.raises(UnknownNameError, match=r"unknown suite 'quik'; did you mean 'quick'"):
        load_suite("quik")
    with pytest.raises(ConfigError, match="does not exist"):
        load_suite(tmp_path / "missing.toml")


def test_the_command_line_refuses_a_bad_suite_or_agent_with_exit_2_before_any_work(tmp_path, capsys):
    from sparring.cli import main

    out = tmp_path / "out"
    bad = write_suite(tmp_path, TINY_SUITE.replace('"sparring/ToolQA-v0"', '"sparring/ToolQa-v0"'), "bad.toml")
    assert main(["leaderboard", "--suite", str(bad), "--out", str(out), "--no-progress"]) == 2
    assert "did you mean 'sparring/ToolQA-v0'" in capsys.readouterr().err
    good = write_suite(tmp_path, TINY_SUITE, "good.toml")
    assert main(["leaderboard", "--suite", str(good), "--agents", "random", "orcale", "--out", str(out),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "unknown agent 'orcale'; did you mean 'oracle'" in err and err.startswith("sparring: error:")
    assert main(["leaderboard", "--suite", str(good), "--agents", "random", "mine=react,model=no/such/dir",
                 "--out", str(out), "--no-progress"]) == 2
    assert "unknown model 'no/such/dir'" in capsys.readouterr().err
    assert main(["leaderboard", "--out", str(out)]) == 2
    assert "name a suite: --suite" in capsys.readouterr().err
    assert not out.exists()  # nothing was evaluated, nothing written


def test_agent_specs_from_the_command_line():
    suite_agents = {"react-tiny": AgentSpec("react-tiny", "react", "tiny", (("mode", "score"),))}
    assert parse_agent("oracle", suite_agents) == AgentSpec("oracle", "oracle")
    assert parse_agent("react-tiny", suite_agents) is suite_agents["react-tiny"]
    ppo = parse_agent("ppo=react,model=runs/ppo/final,mode=generate,temperature=0.7,show_admissible=false")
    assert (ppo.name, ppo.kind, ppo.model) == ("ppo", "react", "runs/ppo/final")
    assert dict(ppo.options) == {"mode": "generate", "temperature": 0.7, "show_admissible": False}
    hot = parse_agent("react-tiny,temperature=1.0", suite_agents)  # a suite agent with an option changed
    assert hot.name == "react-tiny,temperature=1.0" and dict(hot.options) == {"mode": "score", "temperature": 1.0}
    assert parse_agent("react").model == "tiny"
    with pytest.raises(ConfigError, match="starts with an option"):
        parse_agent("model=tiny")
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_agent("react,tiny")
    with pytest.raises(UnknownNameError, match="did you mean 'window'"):
        parse_agent("react,windw=2")
    with pytest.raises(ConfigError, match="two agents are called 'oracle'"):
        select_agents(["oracle", "oracle"], {})
    assert [a.name for a in select_agents(None, suite_agents)] == ["react-tiny"]


def test_a_checkpoint_fingerprint_follows_its_files(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    (base / "model.safetensors").write_bytes(b"\x00" * 64)
    checkpoint = tmp_path / "ckpt"
    (checkpoint / "adapter").mkdir(parents=True)
    (checkpoint / "adapter" / "weights.safetensors").write_bytes(b"\x00" * 64)
    (checkpoint / "sparring_agent.json").write_text(json.dumps({"format": 1, "base_model": str(base)}))
    first = model_fingerprint(str(checkpoint))
    assert first.startswith("dir:") and model_fingerprint(str(checkpoint)) == first
    (checkpoint / "adapter" / "weights.safetensors").write_bytes(b"\x01" + b"\x00" * 63)  # retrained
    second = model_fingerprint(str(checkpoint))
    assert second != first
    (base / "model.safetensors").write_bytes(b"\x02" * 64)  # the base it loads from outside changed
    assert model_fingerprint(str(checkpoint)) not in (first, second)
    with pytest.raises(UnknownNameError, match="unknown model 'runs/none/final'"):
        model_fingerprint("runs/none/final")


def test_pyproject_ships_the_suites_as_package_data():
    try:
        import tomllib
    except ModuleNotFoundError:
        import tomli as tomllib
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["sparring.benchmarks"]
    shipped = {p.name for pattern in patterns for p in (ROOT / "benchmarks").glob(pattern)}
    assert {f"{name}.toml" for name in available_suites()} <= shipped
    requirement = [d for d in config["project"]["dependencies"] if d.startswith("tomli")]
    assert requirement and re.search(r"python_version\s*<\s*'3.11'", requirement[0])


@pytest.mark.slow
def test_an_installed_wheel_finds_the_suites_by_name(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    (wheel,) = tmp_path.glob("sparring-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for suite in available_suites():
        assert f"sparring/benchmarks/suites/{suite}.toml" in names
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from sparring.benchmarks.suite import load_suite; "
            "import sparring; assert sparring.__file__.startswith(sys.argv[1]); "
            "print(load_suite('quick').name, load_suite('full').name)")
    out = subprocess.run([sys.executable, "-c", code, str(target)], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["quick", "full"]


def test_parse_suite_keeps_the_text_and_resolves_defaults():
    suite = parse_suite(TINY_SUITE, "tiny.toml")
    assert suite.text == TINY_SUITE and suite.source == "tiny.toml"
    shop = next(e for e in suite.envs if e.id == "sparring/Shop-v0")
    assert dict(shop.kwargs) == {"difficulty": "easy", "max_steps": 8}  # per-env kwargs over the suite's
    assert suite.task_seeds(shop) == (0, 1, 2)
    assert suite.attack_splits_of(shop) == ("test",)
    bigger = suite.with_overrides(episodes=7, seeds=[1, 2], samples=3, num_envs=4)
    assert all(bigger.task_seeds(e) == tuple(range(7)) for e in bigger.envs)
    assert bigger.seeds == (1, 2) and bigger.num_envs == 4
    assert {a.samples for a in bigger.attacks} == {3}
    with pytest.raises(ConfigError, match="episodes must be a positive integer"):
        suite.with_overrides(episodes=0)
