"""Fixtures of the leaderboard tests: a tiny suite (two native families, two splits, one attack per
side of a family) and one run of it through the command line, shared by the tests that read its
outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

#: random + oracle on two fast families, 3 tasks per env and split, one train and one held-out attack
#: with two perturbation samples; 200 bootstrap resamples keep the figures quick
TINY_SUITE = """
name = "tiny"
description = "Leaderboard tests: two families, two splits, two attacks."
envs = ["sparring/ToolQA-v0", { id = "sparring/Shop-v0", kwargs = { max_steps = 8 } }]

[evaluation]
splits = ["train", "test"]
episodes = 3
task_seed = 0
seeds = [0]
num_envs = 2
resamples = 200
env_kwargs = { difficulty = "easy" }

[attacks]
splits = ["test"]
samples = 2
budget = 2
run = ["sentence/train", "injection/held_out"]

[agents.random]
kind = "random"

[agents.oracle]
kind = "oracle"
"""


@pytest.fixture
def suite_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_SUITE, encoding="utf-8")
    return path


def write_suite(tmp_path: Path, text: str, name: str = "suite.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_board(tmp_path_factory) -> dict:
    """The tiny suite run once through ``sparring leaderboard`` (one worker): its directory and JSON."""
    from sparring.cli import main

    root = tmp_path_factory.mktemp("board")
    suite = write_suite(root, TINY_SUITE, "tiny.toml")
    out = root / "out"
    code = main(["leaderboard", "--suite", str(suite), "--out", str(out), "--no-progress"])
    assert code == 0
    return {"out": out, "suite": suite, "data": json.loads((out / "leaderboard.json").read_text())}
