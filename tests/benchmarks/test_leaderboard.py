"""The leaderboard end to end: a tiny suite through ``sparring leaderboard``, every output, the cell
cache (a finished run re-evaluates nothing; an interrupted one resumes), and parallel workers."""

from __future__ import annotations

import json
import os
import shlex
import sys

import pytest

from sparring.benchmarks.agent_specs import AgentSpec
from sparring.benchmarks.cells import Cell
from sparring.benchmarks.leaderboard import dumps, plan_cells, run_leaderboard
from sparring.benchmarks.suite import load_suite
from sparring.errors import SparringError

from .conftest import TINY_SUITE, write_suite

#: what the numbers of a run are (not when or how fast it ran, nor where its cache was)
FIGURES = ("leaderboard", "splits", "gaps", "robustness", "families", "macro", "envs")


def figures(data: dict) -> dict:
    """The figures as JSON has them (undefined ones null), so runs compare exactly."""
    return json.loads(dumps({key: data[key] for key in FIGURES}))


def cell_files(out) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}


def test_every_output_is_written(tiny_board):
    out, data = tiny_board["out"], tiny_board["data"]
    assert sorted(p.name for p in out.iterdir()) == ["cells", "index.html", "leaderboard.json", "leaderboard.md",
                                                    "pdr_by_family.png", "success_by_split.png"]
    for png in ("success_by_split.png", "pdr_by_family.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert data["schema"] == "sparring.leaderboard" and data["schema_version"] == 1
    import sparring

    assert data["sparring_version"] == sparring.__version__
    assert data["git_commit"] is None or len(data["git_commit"]) == 40
    assert data["command"].startswith("sparring leaderboard --suite ") and "--out" in data["command"]
    assert data["suite"]["text"] == TINY_SUITE and data["suite"]["name"] == "tiny"
    assert data["seeds"]["task_seeds"] == {"sparring/ToolQA-v0": [0, 1, 2], "sparring/Shop-v0": [0, 1, 2]}
    assert data["seeds"]["evaluation_seeds"] == [0]
    assert data["seeds"]["attack_seeds"] == {"sentence/train": [0, 1], "injection/held_out": [0, 1]}
    # 2 agents x (2 envs x 2 splits clean + 2 envs x 1 split x 2 attacks)
    assert data["run"]["cells"] == len(data["cells"]) == 2 * (4 + 4) and data["run"]["evaluated"] == 8 * 2
    markdown = (out / "leaderboard.md").read_text()
    assert markdown.startswith("# Leaderboard: tiny")
    for title in ("## Ranking", "## Success by split", "## Generalisation gaps", "## Robustness by attack family",
                  "## Robustness by attack", "## Per env"):
        assert title in markdown
    assert "| rank | agent |" in markdown and "| 1 | oracle |" in markdown


def test_the_oracle_wins_everything_and_no_attack_hurts_it(tiny_board):
    data = tiny_board["data"]
    oracle = next(r for r in data["leaderboard"] if r["agent"] == "oracle")
    assert oracle["rank"] == 1
    assert oracle["success_train"] == oracle["success_test"] == 1.0 and oracle["gap_test"] == 0.0
    for row in data["robustness"]:
        assert 0.0 <= row["sr_attacked"] <= 1.0 and row["rsr_k"] == 2
        if row["agent"] == "oracle":  # success is judged from state, which attacks never touch
            assert (row["sr_clean"], row["sr_attacked"], row["pdr"], row["asr"], row["rsr"]) == (1.0, 1.0, 0.0, 0.0, 1.0)
    injection = [r for r in data["robustness"] if r["attack"] == "injection/held_out"]
    assert all(r["targeted_asr"] is not None for r in injection)  # injections were planted and judged
    assert {r["attack_split"] for r in data["macro"]} == {"train", "held_out"}


def test_cells_play_the_same_tasks_as_sparring_eval(tiny_board):
    """A cell is the fixed-seed evaluation `sparring eval` runs: same tasks, same outcomes."""
    from sparring.agents import make_agent
    from sparring.agents.evaluate import evaluate

    row, _ = evaluate(make_agent("random", seed=0), "sparring/Shop-v0", split="test", episodes=3,
                      env_kwargs={"difficulty": "easy", "max_steps": 8})
    mine = next(r for r in tiny_board["data"]["envs"]
                if (r["agent"], r["env_id"], r["split"]) == ("random", "sparring/Shop-v0", "test"))
    assert mine["success"] == row["success"] and mine["mean_return"] == pytest.approx(row["mean_return"])
    assert mine["mean_steps"] == row["mean_steps"] and mine["tasks"] == 3


def test_a_finished_run_evaluates_nothing_and_an_interrupted_one_resumes(tiny_board, tmp_path, monkeypatch):
    import shutil

    import sparring.benchmarks.cells as cells

    out = tmp_path / "out"
    shutil.copytree(tiny_board["out"] / "cells", out / "cells")
    before = cell_files(out)
    calls = []
    real = cells.run_cell
    monkeypatch.setattr(cells, "run_cell", lambda cell: calls.append(cell.label) or real(cell))

    again = run_leaderboard(tiny_board["suite"], None, out)
    assert again["run"]["evaluated"] == 0 and again["run"]["cached"] == again["run"]["cells"] == 16
    assert calls == [] and cell_files(out) == before  # nothing re-evaluated, nothing rewritten
    assert figures(again) == figures(tiny_board["data"])

    # a run stopped part way: one cell lost, one left truncated by a crash, one from an older definition
    names = sorted(before)
    os.remove(out / "cells" / names[0])
    (out / "cells" / names[1]).write_text('{"key": "trunc')
    stale = json.loads((out / "cells" / names[2]).read_text())
    stale["definition"]["num_envs"] = 99
    (out / "cells" / names[2]).write_text(json.dumps(stale))
    resumed = run_leaderboard(tiny_board["suite"], None, out)
    assert resumed["run"]["evaluated"] == 3 and len(calls) == 3
    assert figures(resumed) == figures(tiny_board["data"])
    after = cell_files(out)
    assert sorted(after) == names
    assert [n for n in names if after[n] != before.get(n)] == sorted(names[:3])


def test_a_failing_cell_stops_the_run_and_keeps_the_finished_cells(tiny_board, tmp_path, monkeypatch, capsys):
    import sparring.benchmarks.cells as cells
    from sparring.cli import main

    real = cells.run_cell
    played = []

    def flaky(cell):
        if len(played) == 5:
            raise RuntimeError("power cut")
        played.append(cell.key)
        return real(cell)

    monkeypatch.setattr(cells, "run_cell", flaky)
    out = tmp_path / "out"
    assert main(["leaderboard", "--suite", str(tiny_board["suite"]), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "failed: RuntimeError: power cut" in err and "run the same command again to resume" in err
    assert set(p.stem for p in (out / "cells").glob("*.json")) == set(played)  # the finished cells are kept
    assert not (out / "leaderboard.json").exists()  # no half report
    monkeypatch.setattr(cells, "run_cell", real)
    resumed = run_leaderboard(tiny_board["suite"], None, out)
    assert resumed["run"]["cached"] == 5 and resumed["run"]["evaluated"] == 11
    assert figures(resumed) == figures(tiny_board["data"])


def test_parallel_workers_give_the_numbers_of_one_worker(tiny_board, tmp_path):
    parallel = run_leaderboard(tiny_board["suite"], None, tmp_path / "parallel", workers=2)
    assert parallel["run"]["evaluated"] == 16 and parallel["run"]["workers"] == 2
    assert figures(parallel) == figures(tiny_board["data"])
    assert [c["key"] for c in parallel["cells"]] == [c["key"] for c in tiny_board["data"]["cells"]]


def test_the_quick_suite_leaves_every_task_winnable(tmp_path):
    """Its step limits are tight (so a model agent finishes in minutes): the oracle must still win every
    task of every cell, clean and under every attack."""
    data = run_leaderboard("quick", ["oracle"], tmp_path / "quick")
    assert data["run"]["cells"] == 4 * 4 + 4 * 5 and data["run"]["evaluated"] == 36
    assert all(row["success"] == 1.0 for row in data["envs"])
    assert all(row["sr_attacked"] == 1.0 and row["rsr"] == 1.0 for row in data["robustness"])
    assert data["command"] == shlex.join(sys.orig_argv)  # a library call records the process's command line


def test_the_cache_key_covers_the_whole_definition():
    suite = load_suite_text(TINY_SUITE)
    (cell,) = [c for c in plan_cells(suite, [AgentSpec("a", "random")]) if c.attack is None][:1]
    variants = [
        Cell(**{**cell.__dict__, "task_seeds": (0, 1, 3)}),
        Cell(**{**cell.__dict__, "eval_seeds": (1,)}),
        Cell(**{**cell.__dict__, "env_kwargs": (("difficulty", "hard"),)}),
        Cell(**{**cell.__dict__, "split": "train" if cell.split != "train" else "test"}),
        Cell(**{**cell.__dict__, "agent": AgentSpec("a", "react", "tiny", fingerprint="zoo:abc")}),
        Cell(**{**cell.__dict__, "agent": AgentSpec("a", "react", "tiny", fingerprint="zoo:abd")}),
        Cell(**{**cell.__dict__, "attack": suite.attacks[0]}),
    ]
    keys = {cell.key, *(v.key for v in variants)}
    assert len(keys) == 1 + len(variants)
    assert Cell(**{**cell.__dict__, "agent": AgentSpec("renamed", "random")}).key == cell.key  # a label is not data


def test_two_labels_for_one_agent_share_their_cells(tmp_path, suite_file):
    data = run_leaderboard(suite_file, ["a=random", "b=random"], tmp_path / "out")
    assert data["run"]["cells"] == 16 and data["run"]["evaluated"] == 8
    a, b = (json.loads(dumps(next(r for r in data["leaderboard"] if r["agent"] == name))) for name in "ab")
    assert {k: v for k, v in a.items() if k not in ("agent", "rank")} == \
        {k: v for k, v in b.items() if k not in ("agent", "rank")}


def test_a_suite_without_attacks_or_train_split_reports_what_it_has(tmp_path):
    text = TINY_SUITE.split("[attacks]")[0].replace('splits = ["train", "test"]', 'splits = ["valid", "test"]')
    suite = write_suite(tmp_path, text + '[agents.oracle]\nkind = "oracle"\n', "clean.toml")
    out = tmp_path / "out"
    (out).mkdir()
    (out / "pdr_by_family.png").write_bytes(b"stale")  # from an earlier run with attacks
    data = run_leaderboard(suite, None, out)
    assert data["gaps"] == data["robustness"] == data["families"] == data["macro"] == []
    assert [r["split"] for r in data["splits"]] == ["valid", "test"]
    assert sorted(data["outputs"]) == ["html", "json", "markdown", "success_plot"]
    assert not (out / "pdr_by_family.png").exists()
    page = (out / "index.html").read_text()
    assert 'id="leaderboard"' in page and 'id="robustness"' not in page
    assert "gap" not in " ".join(data["leaderboard"][0])  # no train split, no gap columns


def load_suite_text(text: str):
    from sparring.benchmarks.suite import parse_suite

    return parse_suite(text, "tiny.toml")


def test_run_leaderboard_refuses_bad_arguments(tmp_path, suite_file):
    with pytest.raises(SparringError, match="workers must be a positive integer"):
        run_leaderboard(suite_file, ["random"], tmp_path / "o", workers=0)
    (tmp_path / "file").write_text("")
    with pytest.raises(SparringError, match="is a file"):
        run_leaderboard(suite_file, ["random"], tmp_path / "file")
    greedy = write_suite(tmp_path, TINY_SUITE.replace('budget = 2', 'budget = 2\npolicy = "greedy"'), "greedy.toml")
    with pytest.raises(SparringError, match="greedy policy"):
        run_leaderboard(load_suite(greedy), ["random"], tmp_path / "o")


@pytest.mark.slow
def test_model_agents_end_to_end_loaded_once_per_worker_and_parallel_matches_serial(tmp_path, sparring_cache):
    """The tiny ReAct agent from the zoo and from a checkpoint directory, clean, under a random attack
    and under the greedy adversary (which queries the agent's action scores)."""
    from sparring.agents.policy import METADATA
    from sparring.agents.zoo import load_agent_model
    from sparring.benchmarks.agent_specs import CHECKPOINT_METADATA

    assert CHECKPOINT_METADATA == METADATA
    checkpoint = tmp_path / "ckpt"
    load_agent_model("tiny").save(checkpoint)
    text = TINY_SUITE.replace('envs = ["sparring/ToolQA-v0", { id = "sparring/Shop-v0", kwargs = { max_steps = 8 } }]',
                              'envs = [{ id = "sparring/ToolQA-v0", kwargs = { max_steps = 6 } }]')
    text = text.replace("episodes = 3", "episodes = 2").replace("samples = 2", "samples = 1")
    text = text.replace('run = ["sentence/train", "injection/held_out"]',
                        'run = ["char/held_out", { name = "greedy-typo", operators = ["typo"], policy = "greedy", '
                        'query_budget = 4, targets = ["observation"] }]')
    suite = write_suite(tmp_path, text, "react.toml")
    agents = ["tiny=react,model=tiny,mode=score", f"ckpt=react,model={checkpoint}"]
    serial = run_leaderboard(suite, agents, tmp_path / "serial", workers=1)
    parallel = run_leaderboard(suite, agents, tmp_path / "parallel", workers=2)
    assert parallel["run"]["evaluated"] == serial["run"]["evaluated"] == 2 * (2 + 2)
    assert figures(parallel) == figures(serial)
    specs = {a["name"]: a for a in parallel["agents"]}
    assert specs["tiny"]["fingerprint"].startswith("zoo:") and specs["ckpt"]["fingerprint"].startswith("dir:")
    # the checkpoint holds the zoo model's weights: the same agent, so the same numbers
    rows = {r["agent"]: json.loads(dumps(r)) for r in parallel["leaderboard"]}
    assert {k: v for k, v in rows["tiny"].items() if k not in ("agent", "model", "rank")} == \
        {k: v for k, v in rows["ckpt"].items() if k not in ("agent", "model", "rank")}
    greedy = [r for r in parallel["robustness"] if r["attack"] == "greedy-typo"]
    assert greedy and all(r["queries_per_turn"] > 0 for r in greedy)
    loaded: dict[int, int] = {}
    for path in (tmp_path / "parallel" / "cells").glob("*.json"):
        process = json.loads(path.read_text())["process"]
        loaded[process["pid"]] = max(loaded.get(process["pid"], 0), process["models_loaded"])
    assert loaded and os.getpid() not in loaded
    assert max(loaded.values()) <= 2  # two model agents: each worker loads each at most once
    (checkpoint / "value_head.safetensors").write_bytes(b"retrained")  # the checkpoint changed: its cells rerun
    again = run_leaderboard(suite, agents, tmp_path / "parallel", workers=1)
    assert again["run"]["evaluated"] == 4 and again["run"]["cached"] == 4
