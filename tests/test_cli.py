"""Each CLI command once, end to end, in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def sparring(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sparring", *args], input=stdin, capture_output=True, text=True,
                          timeout=300)


def test_list_envs():
    out = sparring("list-envs")
    assert out.returncode == 0, out.stderr
    for family in ("Household", "Navigation", "ToolQA", "Shop"):
        assert f"sparring/{family}-v0" in out.stdout
    rows = json.loads(sparring("list-envs", "--json").stdout)
    assert {"id", "family", "splits", "description"} <= set(rows[0])
    assert rows[0]["splits"] == ["train", "valid", "test", "test_unseen"]


def test_eval_oracle_table_and_json(tmp_path):
    out = sparring("eval", "--agent", "oracle", "--env", "sparring/Household-v0", "--split", "test_unseen",
                   "--episodes", "8", "--num-envs", "2", "--json", str(tmp_path / "r.json"), "--episodes-detail")
    assert out.returncode == 0, out.stderr
    assert "oracle" in out.stdout and "1.000" in out.stdout
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["results"][0]["success"] == 1.0 and len(data["episodes"]) == 8


def test_eval_json_to_stdout_and_random_agent():
    out = sparring("eval", "--agent", "random", "--env", "sparring/Household-v0", "--episodes", "3", "--json",
                   "--no-progress")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["results"][0]["agent"] == "random" and data["results"][0]["episodes"] == 3


@pytest.mark.parametrize(
    "args,message",
    [
        (["eval", "--agent", "oracle", "--env", "sparring/Housold-v0"], "did you mean 'sparring/Household-v0'"),
        (["eval", "--agent", "orcle", "--env", "sparring/Household-v0"], "did you mean 'oracle'"),
        (["eval", "--agent", "oracle", "--env", "sparring/Household-v0", "--split", "tset"], "did you mean 'test'"),
        (["eval", "--agent", "oracle", "--env", "sparring/Household-v0", "--env-arg", "num_room=3"], "num_rooms"),
    ],
)
def test_bad_arguments_are_clear_errors(args, message):
    out = sparring(*args, "--no-progress")
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_play_in_the_terminal():
    out = sparring("play", "sparring/Household-v0", "--seed", "0", stdin="help\n1\nxyzzy\nquit\n")
    assert out.returncode == 0, out.stderr
    assert "Your task is to" in out.stdout and "Commands look like" in out.stdout
    assert "Invalid action" in out.stdout and "[reward 0 | score" in out.stdout


def test_eval_react_agent_with_the_tiny_model_shows_a_transcript(sparring_cache):
    import os

    env = {**os.environ, "SPARRING_CACHE": str(sparring_cache)}
    out = subprocess.run(
        [sys.executable, "-m", "sparring", "eval", "--agent", "react-fewshot", "--model", "tiny", "--env",
         "sparring/Navigation-v0", "--episodes", "2", "--num-envs", "2", "--env-arg", "max_steps=3", "--show",
         "--json", "-", "--dtype", "bfloat16"],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert out.returncode == 0, out.stderr
    import re

    end = re.search(r"=== (won|not won) in (\d) steps ===\n", out.stdout)
    transcript, data = out.stdout[: end.start()], out.stdout[end.end():]
    steps = int(end.group(2))
    assert "=== transcript: navigation / test / seed 0 ===" in transcript and transcript.count("\n> ") == steps
    row = json.loads(data)["results"][0]
    assert row["agent"] == "react-fewshot" and row["episodes"] == 2 and 2 <= row["agent_stats"]["actions"] <= 6
