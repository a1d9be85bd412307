"""The trainer commands end to end, in process through ``sparring.cli.main``: collect -> filter (kept
episodes, pairs, corrections, report) -> train reward -> filter by the reward model -> train sft ->
train dpo -> eval the result. Tiny budgets throughout."""

from __future__ import annotations

import json

import pytest

from sparring.cli import main
from sparring.trainers import filters as F
from sparring.trajectory import read_episodes

HOUSEHOLD, NAVIGATION = "sparring/Household-v0", "sparring/Navigation-v0"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def collected(tmp_path_factory, sparring_cache):
    """Oracle and random episodes on 4 tasks of each env, through `sparring collect`."""
    root = tmp_path_factory.mktemp("cli-data")
    paths = {}
    for agent in ("oracle", "random"):
        paths[agent] = root / f"{agent}.jsonl"
        code = main(["collect", "--agent", agent, "--env", HOUSEHOLD, "--env", NAVIGATION, "--difficulty", "easy",
                     "--episodes", "4", "--num-envs", "2", "--out", str(paths[agent]), "--no-progress"])
        assert code == 0
    return paths


def test_collect_prints_what_it_wrote(collected, tmp_path, capsys):
    oracle, random_ = read_episodes(collected["oracle"]), read_episodes(collected["random"])
    assert len(oracle) == len(random_) == 8 and all(e.won for e in oracle)
    assert {(e.env_id, e.seed) for e in oracle} == {(e.env_id, e.seed) for e in random_}
    out = tmp_path / "again.jsonl"
    code, stdout, _ = run(capsys, "collect", "--agent", "oracle", "--env", NAVIGATION, "--difficulty", "easy",
                          "--episodes", "3", "--out", str(out), "--no-progress")
    assert code == 0 and stdout.strip() == f"wrote 3 episodes to {out} (3 won; 0 already there)"
    code, stdout, _ = run(capsys, "collect", "--agent", "oracle", "--env", NAVIGATION, "--difficulty", "easy",
                          "--episodes", "4", "--out", str(out), "--resume", "--no-progress")
    assert code == 0 and "wrote 1 episodes" in stdout and "3 already there" in stdout


def test_filter_writes_kept_episodes_pairs_corrections_and_a_report(collected, tmp_path, capsys):
    kept_path, pairs_path = tmp_path / "kept.jsonl", tmp_path / "pairs.jsonl"
    corrected_path, report_path = tmp_path / "corrected.jsonl", tmp_path / "report.json"
    code, stdout, stderr = run(
        capsys, "filter", str(collected["random"]), str(collected["oracle"]), "--won", "--max-turns", "10",
        "--no-loops", "3", "--out", str(kept_path), "--pairs", str(pairs_path), "--expert", str(collected["oracle"]),
        "--corrected", str(corrected_path), "--report", str(report_path))
    assert code == 0, stderr
    episodes = read_episodes(collected["random"]) + read_episodes(collected["oracle"])
    failed = [e for e in episodes if not e.won]
    summary = json.loads(report_path.read_text())
    # the summary agrees with the files
    kept = read_episodes(kept_path)
    assert summary["episodes"] == len(episodes) == summary["kept"]["total"]
    assert summary["kept"]["kept"] == len(kept)
    assert summary["kept"]["kept"] + sum(summary["kept"]["dropped"].values()) == len(episodes)
    assert summary["pairs"] == len(_lines(pairs_path))
    assert summary["corrected"] == len(read_episodes(corrected_path))
    assert summary["corrected"] + summary["not_corrected"] == len(failed)
    # ... and with the library
    expected, report = F.apply([F.won(), F.max_turns(10), F.no_loops(3)], episodes)
    assert [e.key for e in kept] == [e.key for e in expected]
    assert summary["kept"]["dropped"] == report.dropped and report.dropped["won"] == len(failed)
    assert all(e.won and len(e.steps) <= 10 for e in kept)
    assert len(failed) > 0 and summary["pairs"] == len(failed)  # every failed task has an oracle win
    pairs = _lines(pairs_path)
    assert all(p["meta"]["kind"] == "step" and p["chosen"] != p["rejected"] for p in pairs)
    corrected = read_episodes(corrected_path)
    assert corrected and all(e.won and e.agent == "corrected" for e in corrected)
    assert {tuple(e.meta["corrected_from"]) for e in corrected} <= {e.key for e in failed}
    # what it printed
    assert f"kept {len(kept)}/{len(episodes)}" in stdout
    assert f"{len(pairs)} step preference pairs from {len(failed)} failed episodes" in stdout
    assert f"{len(corrected)} failed episodes corrected by the oracle" in stdout


def test_filter_trajectory_pairs_and_a_turn_cut(collected, tmp_path, capsys):
    pairs_path, corrected_path = tmp_path / "pairs.jsonl", tmp_path / "corrected.jsonl"
    code, stdout, stderr = run(capsys, "filter", str(collected["random"]), "--pairs", str(pairs_path), "--expert",
                               str(collected["oracle"]), "--pair-kind", "trajectory", "--corrected",
                               str(corrected_path), "--cut", "2", "--report", "-")
    assert code == 0, stderr
    pairs = _lines(pairs_path)
    assert pairs and all(p["meta"]["kind"] == "trajectory" and p["chosen"][0]["role"] == "assistant" for p in pairs)
    corrected = read_episodes(corrected_path)
    assert corrected and all(e.meta["prefix_steps"] == 2 and e.meta["cut"] == 2 and e.won for e in corrected)
    summary = json.loads(stdout[stdout.index("{"):])  # --report - prints the summary last
    assert summary["pairs"] == len(pairs) and summary["corrected"] == len(corrected) and "kept" not in summary


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--won"], "nothing to write: pass --out"),
        (["--out", "{tmp}/x.jsonl", "--reward-model", "{tmp}/rm"], "--reward-model and --min-reward go together"),
        (["--out", "{tmp}/x.jsonl", "--min-reward", "0.5"], "--reward-model and --min-reward go together"),
        (["--out", "{tmp}/x.jsonl", "--reward-model", "{tmp}", "--min-reward", "0.5"], "not a sparring reward model"),
        (["--pairs", "{tmp}/p.jsonl", "--expert", "{tmp}/missing.jsonl"], "does not exist"),
        (["--corrected", "{tmp}/c.jsonl", "--cut", "half"], "--cut expects 'divergence' or a number"),
        (["--out", "{tmp}/x.jsonl", "--max-turns", "0"], "max_turns needs a positive integer"),
        (["--out", "{tmp}/x.jsonl", "--min-score", "2"], "min_score share must be a number in [0, 1]"),
    ],
)
def test_filter_bad_input_exits_2_with_a_clear_message(collected, tmp_path, capsys, argv, message):
    argv = [a.format(tmp=tmp_path) for a in argv]
    code, stdout, stderr = run(capsys, "filter", str(collected["random"]), *argv)
    assert code == 2
    assert stderr.startswith("sparring: error: ") and message in stderr, stderr
    assert not (tmp_path / "x.jsonl").exists() and not (tmp_path / "p.jsonl").exists()


def test_filter_missing_input_file(tmp_path, capsys):
    code, _, stderr = run(capsys, "filter", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "x.jsonl"))
    assert code == 2 and "missing.jsonl' does not exist; write one with `sparring collect`" in stderr


def test_train_bad_input_exits_2(tmp_path, capsys):
    code, _, stderr = run(capsys, "train", "sft", "--data", str(tmp_path / "missing.jsonl"))
    assert code == 2 and "does not exist" in stderr
    code, _, stderr = run(capsys, "train", "dpo", "--pairs", str(tmp_path / "missing.jsonl"))
    assert code == 2 and "does not exist" in stderr
    code, _, stderr = run(capsys, "train", "reward", "--learning-rate", "2", "--output-dir", str(tmp_path / "rm"))
    assert code == 2 and "learning_rate must be a number > 0.0 and <= 1.0" in stderr


def test_train_reward_then_sft_dpo_and_eval(collected, tmp_path, capsys):
    rm_dir = tmp_path / "rm"
    code, stdout, stderr = run(
        capsys, "train", "reward", "--data", str(collected["oracle"]), str(collected["random"]),
        "--output-dir", str(rm_dir), "--epochs", "1", "--learning-rate", "1e-3", "--batch-size", "32",
        "--max-length", "64", "--history-turns", "1", "--no-tensorboard", "--device", "cpu", "--json")
    assert code == 0, stderr
    report = json.loads(stdout)
    assert "valid_auc" in report and report["epochs"] == 1 and report["model_dir"] == str(rm_dir / "reward_model")
    assert report["valid_tasks"] == 2 and report["train_tasks"] == 6
    assert not (rm_dir / "tensorboard").exists()

    # filter by the reward model
    kept_path, report_path = tmp_path / "rm_kept.jsonl", tmp_path / "rm_report.json"
    code, _, stderr = run(capsys, "filter", str(collected["oracle"]), str(collected["random"]), "--reward-model",
                          str(rm_dir), "--min-reward", "0.5", "--out", str(kept_path), "--report", str(report_path),
                          "--device", "cpu")
    assert code == 0, stderr
    summary = json.loads(report_path.read_text())
    assert summary["kept"]["total"] == 16 and summary["kept"]["kept"] == len(read_episodes(kept_path))
    assert list(summary["kept"]["dropped"]) == ["min_reward_model_score(0.5,mean)"]

    # pairs for DPO
    pairs_path = tmp_path / "pairs.jsonl"
    code, _, stderr = run(capsys, "filter", str(collected["random"]), "--pairs", str(pairs_path),
                          "--expert", str(collected["oracle"]))
    assert code == 0, stderr

    # SFT on the expert episodes, DPO on the pairs from the SFT policy, then evaluate the result
    code, stdout, stderr = run(capsys, "train", "sft", "--data", str(collected["oracle"]), "--output-dir",
                               str(tmp_path / "sft"), "--epochs", "1", "--batch-size", "8", "--max-length", "512",
                               "--device", "cpu", "--json")
    assert code == 0, stderr
    sft = json.loads(stdout)
    assert sft["final"] == str(tmp_path / "sft" / "final") and sft["episodes"] == 8
    code, stdout, stderr = run(capsys, "train", "dpo", "--pairs", str(pairs_path), "--model", sft["final"],
                               "--output-dir", str(tmp_path / "dpo"), "--epochs", "1", "--batch-size", "4",
                               "--max-length", "512", "--device", "cpu", "--json")
    assert code == 0, stderr
    dpo = json.loads(stdout)
    assert dpo["pairs"] == len(_lines(pairs_path)) > 0
    result_path = tmp_path / "eval.json"
    code, stdout, stderr = run(capsys, "eval", "--agent", "react", "--model", dpo["final"], "--env", NAVIGATION,
                               "--difficulty", "easy", "--split", "valid", "--episodes", "1", "--no-progress",
                               "--json", str(result_path), "--device", "cpu")
    assert code == 0, stderr
    results = json.loads(result_path.read_text())["results"]
    assert results[0]["agent"] == "react" and results[0]["episodes"] == 1 and results[0]["env_id"] == NAVIGATION
    assert "react" in stdout  # the table


def test_train_reward_with_a_missing_data_file_exits_2(tmp_path, capsys):
    code, _, stderr = run(capsys, "train", "reward", "--data", str(tmp_path / "missing.jsonl"), "--output-dir",
                          str(tmp_path / "rm"))
    assert code == 2 and "missing.jsonl" in stderr and "does not exist" in stderr


def test_filter_on_a_file_that_is_not_episodes_exits_2(collected, tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    assert main(["filter", str(collected["random"]), "--pairs", str(pairs), "--expert", str(collected["oracle"])]) == 0
    capsys.readouterr()
    code, _, stderr = run(capsys, "filter", str(pairs), "--out", str(tmp_path / "x.jsonl"))
    assert code == 2 and "not a sparring episode" in stderr


def test_collect_adversarial_trajectories_records_every_edit(tmp_path, capsys):
    out = tmp_path / "attacked.jsonl"
    code, stdout, stderr = run(capsys, "collect", "--agent", "oracle", "--env", HOUSEHOLD, "--difficulty", "easy",
                               "--episodes", "3", "--attack", "typo", "--attack-budget", "2", "--out", str(out),
                               "--no-progress")
    assert code == 0, stderr
    episodes = read_episodes(out)
    assert len(episodes) == 3 and all(e.won for e in episodes)  # the state is untouched: the oracle still wins
    for episode in episodes:
        turns = {p["turn"] for p in episode.perturbations}
        assert all(p["operator"] == "typo" for p in episode.perturbations)
        assert len(turns) > 1, "edits of every turn, not only the first"
        shown = [s.observation for s in episode.steps]
        assert any(p["after"] in text for p in episode.perturbations for text in shown if p["field"] == "observation")
    code, _, stderr = run(capsys, "collect", "--agent", "oracle", "--env", HOUSEHOLD, "--attack", "typpo",
                          "--out", str(tmp_path / "x.jsonl"), "--no-progress")
    assert code == 2 and "did you mean" in stderr and not (tmp_path / "x.jsonl").exists()
