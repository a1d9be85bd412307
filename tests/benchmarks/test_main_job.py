"""The main job (``sparring main``): every stage end to end on a small budget, the re-run that reuses
every stage and the leaderboard cache, a changed setting that reruns only the stages after it, and bad
settings that fail before any work."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import write_suite

#: one env, two splits, one held-out attack family: the smallest suite that has every kind of figure
SMALL_SUITE = """
name = "main-test"
description = "Navigation, train and test_unseen, two tasks, held-out char attack on test_unseen."

[evaluation]
splits = ["train", "test_unseen"]
episodes = 2
task_seed = 0
seeds = [0]
num_envs = 2
resamples = 200
bootstrap_seed = 0
env_kwargs = { difficulty = "easy", max_steps = 6 }

[[envs]]
id = "sparring/Navigation-v0"

[attacks]
splits = ["test_unseen"]
samples = 1
budget = 2
schedule = "all"
run = ["char/held_out"]
"""

SMALL_FLAGS = ("--env-ids", "sparring/Navigation-v0", "--expert-episodes", "4", "--sft-epochs", "1", "--rounds", "1",
               "--ppo-iterations", "1", "--ppo-episodes", "2", "--adversary-updates", "1", "--adversary-tasks", "2",
               "--num-envs", "2", "--workers", "1", "--no-progress")


def sparring(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sparring", *args], capture_output=True, text=True, timeout=900)


def test_main_job_runs_every_stage_then_reuses_them(tmp_path):
    suite = write_suite(tmp_path, SMALL_SUITE, "small.toml")
    out = tmp_path / "main"
    first = sparring("main", *SMALL_FLAGS, "--suite", str(suite), "--out", str(out))
    assert first.returncode == 0, first.stderr[-3000:]
    for stage in ("expert", "sft", "ppo-clean", "ppo-adversarial"):
        assert f"[main] {stage}: done in" in first.stdout
    data = json.loads((out / "main.json").read_text())
    assert list(data["stages"]) == ["expert", "sft", "ppo-clean", "ppo-adversarial"]
    assert data["stages"]["expert"]["result"]["written"] == data["stages"]["expert"]["result"]["won"] == 4
    adversarial, clean = (data["stages"][arm]["result"]["history"][0] for arm in ("ppo-adversarial", "ppo-clean"))
    assert adversarial["adversary/updates"] == 1 and "ppo/last_attacked_success" in adversarial
    assert "adversary/updates" not in clean and "ppo/last_attacked_success" not in clean
    rows = {row["agent"]: row for row in data["leaderboard"]["rows"]}
    assert set(rows) == {"random", "oracle", "sft", "sft-ppo", "sft-ppo-adversarial"}
    assert rows["oracle"]["success_test_unseen"] == 1.0
    assert "macro_pdr_held_out_test_unseen" in rows["sft"]
    # 5 agents x (train, test_unseen clean + test_unseen under the attack)
    assert data["leaderboard"]["cells"] == 15 and data["leaderboard"]["cached"] == 0
    board = out / "leaderboard"
    assert (board / "index.html").is_file() and (board / "leaderboard.md").is_file()
    assert "sft-ppo-adversarial" in first.stdout and "PDR held-out @test_unseen" in first.stdout

    again = sparring("main", *SMALL_FLAGS, "--suite", str(suite), "--out", str(out))
    assert again.returncode == 0, again.stderr[-3000:]
    for stage in ("expert", "sft", "ppo-clean", "ppo-adversarial"):
        assert f"[main] {stage}: finished earlier" in again.stdout
    assert "running" not in again.stdout.replace("leaderboard: suite", "")
    rerun = json.loads((out / "main.json").read_text())
    assert rerun["leaderboard"]["cached"] == rerun["leaderboard"]["cells"] == 15
    assert rerun["leaderboard"]["rows"] == data["leaderboard"]["rows"]


def test_a_rebuilt_main_command_parses_back_to_the_same_options():
    import shlex

    from sparring.cli import _main_command, build_parser

    argv = ["main", "--rounds", "3", "--env-ids", "sparring/Shop-v0", "sparring/ToolQA-v0", "--no-progress",
            "--attack-fraction", "0.25"]
    args = build_parser().parse_args(argv)
    command = _main_command(args)
    assert command.startswith("sparring main ") and "--no-progress" in command
    assert vars(build_parser().parse_args(shlex.split(command)[1:])) == vars(args)


def test_stages_rerun_what_a_changed_setting_touches(tmp_path):
    from sparring.benchmarks.main_job import Stages

    calls = []

    def stage(name):
        def body():
            calls.append(name)
            (tmp_path / "work" / name).mkdir(parents=True, exist_ok=True)
            return {"ran": name}
        return body

    def run(a, b):
        stages = Stages(tmp_path)
        stages.run("a", {"x": a}, tmp_path / "work" / "a", stage("a"), say=lambda _: None)
        stages.run("b", {"y": b}, tmp_path / "work" / "b", stage("b"), say=lambda _: None)

    run(1, 1)
    assert calls == ["a", "b"]
    run(1, 1)
    assert calls == ["a", "b"]  # both reused
    run(1, 2)
    assert calls == ["a", "b", "b"]  # only the changed stage
    run(2, 2)
    assert calls == ["a", "b", "b", "a", "b"]  # a changed: b hangs off it and reruns too


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--suite", "quik"), "did you mean 'quick'"),
        (("--suite", "missing.toml"), "does not exist"),
        (("--env-ids", "sparring/Housework-v0"), "Household"),
        (("--attack-fraction", "0"), "attack_fraction must be a number in (0, 1]"),
        (("--ppo-episodes", "0"), "ppo_episodes must be an integer >= 1"),
    ],
)
def test_bad_settings_fail_before_any_work(tmp_path, flags, message):
    out = tmp_path / "main"
    result = sparring("main", *flags, "--out", str(out), "--no-progress")
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()
