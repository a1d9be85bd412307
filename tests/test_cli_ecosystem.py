"""The command line as a tool among others: --version, one meaning of --json on every command, a
closed pipe, a missing optional package, and agents that are not sparring's own models (a served
model, your own agent) named on the command line."""

from __future__ import annotations

import json
import os
import sys

import pytest

import sparring
from sparring.cli import main, missing_extra

from .agents.test_openai_backend import Stub

NAVIGATION = "sparring/Navigation-v0"


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip().startswith(f"sparring {sparring.__version__} (Python ")


def test_json_means_the_same_on_every_command(capsys, tmp_path):
    # no PATH (or "-"): the JSON alone on stdout, parseable
    code, out, _ = run(capsys, "list-envs", "--json")
    assert code == 0 and json.loads(out)[0]["id"] == "sparring/Household-v0"
    code, out, _ = run(capsys, "eval", "--agent", "oracle", "--env", NAVIGATION, "--episodes", "2", "--no-progress",
                       "--json", "-")
    assert code == 0 and json.loads(out)["results"][0]["success"] == 1.0
    episodes = tmp_path / "oracle.jsonl"
    code, out, _ = run(capsys, "collect", "--agent", "oracle", "--env", NAVIGATION, "--difficulty", "easy",
                       "--episodes", "2", "--out", str(episodes), "--no-progress", "--json")
    assert code == 0 and json.loads(out) == {"out": str(episodes), "written": 2, "skipped": 0, "won": 2}
    code, out, _ = run(capsys, "filter", str(episodes), "--won", "--out", str(tmp_path / "kept.jsonl"), "--json")
    assert code == 0 and json.loads(out)["kept"]["kept"] == 2
    # PATH: the JSON written there, the tables printed as usual
    code, out, _ = run(capsys, "list-envs", "--json", str(tmp_path / "envs.json"))
    assert code == 0 and "sparring/Household-v0" in out and not out.lstrip().startswith("[")
    assert json.loads((tmp_path / "envs.json").read_text())[1]["id"] == NAVIGATION
    # the old spelling of filter's summary file still works
    code, out, _ = run(capsys, "filter", str(episodes), "--won", "--out", str(tmp_path / "k2.jsonl"), "--report",
                       str(tmp_path / "summary.json"))
    assert code == 0 and "kept" in out and json.loads((tmp_path / "summary.json").read_text())["episodes"] == 2


def test_a_closed_pipe_ends_quietly(monkeypatch, capsys):
    read, write = os.pipe()
    os.close(read)  # the reader is gone, like `| head` after its lines
    stream = os.fdopen(write, "w", buffering=1)
    monkeypatch.setattr(sys, "stdout", stream)
    code = main(["list-envs", "--json"])
    monkeypatch.undo()
    stream.close()
    assert code == 141
    assert "Traceback" not in capsys.readouterr().err


def test_a_missing_optional_package_says_what_to_install(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "trl", None)  # as if sparring[train] were not installed
    data = tmp_path / "d.jsonl"
    main(["collect", "--agent", "oracle", "--env", NAVIGATION, "--episodes", "1", "--out", str(data), "--no-progress"])
    code = main(["train", "sft", "--data", str(data), "--output-dir", str(tmp_path / "sft"), "--epochs", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "needs the package 'trl'" in err and "pip install 'sparring[train]'" in err
    assert missing_extra("ray.util") == "pip install 'sparring[ray]'"
    assert "PyTorch" in missing_extra("torch") and missing_extra("numpy_extras_nothing") is None


def test_train_prints_a_summary_and_json_on_request(capsys, tmp_path):
    data = tmp_path / "d.jsonl"
    main(["collect", "--agent", "oracle", "--env", NAVIGATION, "--difficulty", "easy", "--episodes", "2", "--out",
          str(data), "--no-progress"])
    capsys.readouterr()
    code, out, _ = run(capsys, "train", "sft", "--data", str(data), "--output-dir", str(tmp_path / "sft"),
                       "--epochs", "1", "--json", str(tmp_path / "sft.json"))
    assert code == 0 and out.startswith("train sft: done") and "final:" in out
    assert json.loads((tmp_path / "sft.json").read_text())["final"] in out


def test_eval_and_collect_with_a_served_model(capsys, tmp_path):
    with Stub() as stub:
        code, out, err = run(capsys, "eval", "--agent", "openai", "--model", "stub-model", "--base-url", stub.url,
                             "--env", NAVIGATION, "--difficulty", "easy", "--episodes", "2", "--num-envs", "2",
                             "--no-progress", "--json")
        assert code == 0, err
        row = json.loads(out)["results"][0]
        assert row["agent"] == "openai:stub-model" and row["agent_stats"]["requests"] == len(stub.requests) > 0
        code, out, err = run(capsys, "collect", "--agent", "openai", "--model", "stub-model", "--base-url", stub.url,
                             "--env", NAVIGATION, "--difficulty", "easy", "--env-arg", "max_steps=4", "--episodes",
                             "2", "--out", str(tmp_path / "served.jsonl"), "--no-progress")
        assert code == 0 and "wrote 2 episodes" in out, err
        first = json.loads((tmp_path / "served.jsonl").read_text().splitlines()[0])
        assert first["steps"][0]["thought"].startswith("step")
    code, _, err = run(capsys, "eval", "--agent", "openai", "--env", NAVIGATION, "--base-url", "http://x/v1")
    assert code == 2 and "needs --model" in err


def test_eval_your_own_agent_with_options(capsys, tmp_path, monkeypatch):
    (tmp_path / "cli_agent_mod.py").write_text(
        "class A:\n"
        "    name = 'mine'\n"
        "    def __init__(self, word):\n"
        "        self.word = word\n"
        "    def act(self, observations, infos):\n"
        "        return [self.word for _ in infos]\n"
        "def make(word='look'):\n"
        "    return A(word)\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    code, out, err = run(capsys, "eval", "--agent", "cli_agent_mod:make", "--agent-arg", "word=dance", "--env",
                         NAVIGATION, "--episodes", "1", "--env-arg", "max_steps=3", "--no-progress", "--json")
    assert code == 0, err
    row = json.loads(out)["results"][0]
    assert row["success"] == 0.0 and row["invalid_rate"] == 1.0  # "dance" is no command: every step invalid


def test_curves_of_a_users_own_run(capsys, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "log.jsonl").write_text("".join(json.dumps({"iteration": i, "loss": 1.0 / (i + 1), "success": i / 4})
                                               + "\n" for i in range(5)), encoding="utf-8")
    code, out, err = run(capsys, "curves", str(run_dir))
    assert code == 0, err
    png = run_dir / "curves.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "2 metrics" in out
    code, out, _ = run(capsys, "curves", str(run_dir), "--metrics", "loss", "--out", str(tmp_path / "loss.png"),
                       "--json")
    assert code == 0 and json.loads(out)[str(run_dir)]["metrics"] == {"loss": 5, "success": 5}
    assert (tmp_path / "loss.png").is_file()
    code, _, err = run(capsys, "curves", str(tmp_path / "nowhere"))
    assert code == 2 and "not a directory" in err
