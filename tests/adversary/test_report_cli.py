"""`sparring attack`: the vulnerability report end to end with the tiny model on a tiny budget."""

from __future__ import annotations

import json

from sparring.cli import main

BASE = ["attack", "--agent", "react", "--model", "tiny", "--env", "sparring/Household-v0", "--difficulty", "easy",
        "--env-arg", "max_steps=4", "--episodes", "2"]


def test_attack_report_end_to_end(tmp_path, capsys, tiny_agent):
    report = tmp_path / "report"
    code = main(BASE + ["--families", "char,injection", "--targets", "observation,admissible_actions",
                        "--probe-steps", "2", "--probe-words", "6",
                        "--report", str(report), "--json", str(tmp_path / "data.json")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "char:admissible_actions" in out and "injection:observation" in out
    for name in ("report.md", "report.json", "robustness.png", "words.png"):
        assert (report / name).is_file(), name
    for png in ("robustness.png", "words.png"):
        assert (report / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((report / "report.json").read_text())
    assert data == json.loads((tmp_path / "data.json").read_text())
    rows = {r["attack"]: r for r in data["rows"]}
    assert set(rows) == {"char:observation", "char:admissible_actions", "injection:observation"}
    for row in rows.values():
        assert row["episodes"] == 2 and row["perturbed_turns"] > 0 and row["probed_turns"] > 0
        assert 0.0 <= row["flip_rate"] <= 1.0 and 0.0 < row["edit_fraction"]["mean"] <= 1.0
        assert {"pdr", "pdr_ci95", "asr", "asr_ci95", "nrp", "sr"} <= set(row)
    assert "targeted_asr" in rows["injection:observation"]
    assert 0.0 <= rows["char:admissible_actions"]["validity"] <= 1.0
    assert set(data["families"]) == {"char", "injection"}
    assert data["words"]["probed_turns"] == 2 and data["words"]["queries"] > 2 and data["words"]["words"]
    assert sum(p["probes"] for p in data["words"]["positions"]) == sum(w["probes"] for w in data["words"]["words"])
    markdown = (report / "report.md").read_text()
    for heading in ("## By family", "## By family and target", "## Which words flip decisions",
                    "## Example transcripts"):
        assert heading in markdown
    assert "Injection target" in markdown


def test_attack_one_attack_with_the_greedy_policy(tmp_path, capsys, tiny_agent):
    code = main(BASE + ["--episodes", "1", "--attack", "typo,synonym", "--targets", "admissible_actions",
                        "--policy", "greedy", "--query-budget", "4", "--probe-steps", "0", "--samples", "2",
                        "--json", str(tmp_path / "greedy.json")])
    assert code == 0, capsys.readouterr().out
    (row,) = json.loads((tmp_path / "greedy.json").read_text())["rows"]
    assert row["config"]["policy"] == "greedy" and 0 < row["queries_per_turn"] <= 4
    assert row["k"] == 2 and 0.0 <= row["rsr_at_k"] <= row["sr"]


def test_attack_list_and_bad_names(capsys):
    assert main(["attack", "--list"]) == 0
    listing = capsys.readouterr().out
    assert "homoglyph" in listing and "held_out" in listing and "inject_authority" in listing
    assert main(BASE + ["--attack", "tpyo"]) == 2
    assert "did you mean 'typo'" in capsys.readouterr().err
    assert main(BASE + ["--families", "chars"]) == 2
    assert "did you mean 'char'" in capsys.readouterr().err
    assert main(["attack", "--agent", "oracle"]) == 2
    assert "--env" in capsys.readouterr().err
