"""The run-directory helpers every resumable trainer and results program shares."""

import json
import math

import pytest

from sparring.errors import ConfigError
from sparring.fileio import json_safe, staged_dir
from sparring.keyvalues import parse_key_values, parse_value
from sparring.trainers.metrics import JsonlLog
from sparring.trainers.run_dir import (
    RunLog,
    StageRecords,
    check_resume_config,
    refuse_existing,
    save_checkpoint,
    truncate_log,
)


def test_json_safe_makes_nan_and_infinities_none_at_any_depth():
    data = {"a": math.nan, "b": [1.0, math.inf, (2, -math.inf)], "c": {"d": "text", "e": None, "f": True}}
    assert json_safe(data) == {"a": None, "b": [1.0, None, [2, None]], "c": {"d": "text", "e": None, "f": True}}
    json.dumps(json_safe(data), allow_nan=False)  # strict JSON


def test_a_failed_staged_write_leaves_the_old_directory_and_no_staging_behind(tmp_path):
    target = tmp_path / "ckpt"
    with staged_dir(target) as staging:
        (staging / "a.txt").write_text("old")
    with pytest.raises(RuntimeError), staged_dir(target) as staging:
        (staging / "a.txt").write_text("half")
        raise RuntimeError("killed")
    assert (target / "a.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_save_checkpoint_writes_models_and_json_safe_files_in_one_publish(tmp_path):
    class Model:
        def save(self, directory, location):
            directory.mkdir()
            (directory / "weights").write_text("w")
            (directory / "location").write_text(str(location))

    target = save_checkpoint(tmp_path / "iter-1", models={"policy": Model()},
                             json_files={"state.json": {"x": math.nan}})
    assert (target / "policy" / "weights").read_text() == "w"
    assert (target / "policy" / "location").read_text() == str(tmp_path / "iter-1" / "policy")  # where it is published
    assert json.loads((target / "state.json").read_text()) == {"x": None}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iter-1"]


def test_the_resume_check_names_every_changed_field_and_what_to_do():
    check_resume_config({"seed": 0, "env_ids": ["a"]}, {"seed": 0, "env_ids": ("a",)}, ["seed", "env_ids"], "run")
    with pytest.raises(ConfigError, match=r"resuming run with a different config: seed was 0, now 1, lr was 1, now 2; "
                                          r"use the config of the run you resume"):
        check_resume_config({"seed": 0, "lr": 1}, {"seed": 1, "lr": 2}, ["seed", "lr"], "run")
    refuse_existing("out", None, resume=False)
    refuse_existing("out", "iter-000002", resume=True)
    with pytest.raises(ConfigError, match=r"out already holds checkpoints \(iter-000002\); pass resume=True"):
        refuse_existing("out", "iter-000002", resume=False)


def test_stage_records_run_a_stage_once_in_either_layout(tmp_path):
    calls = []

    def body(value):
        def run():
            calls.append(value)
            return {"value": value}
        return run

    files = StageRecords.files(tmp_path / "stages")
    record = files.run("a", body(1), timed=True)
    assert record["result"] == {"value": 1} and record["seconds"] >= 0 and "cpu_seconds" in record
    assert StageRecords.files(tmp_path / "stages").run("a", body(2), timed=True)["result"] == {"value": 1}
    assert calls == [1]
    # a key that changed runs the stage again
    assert files.run("b", body(3), timed=True, key="k1")["result"] == {"value": 3}
    assert files.run("b", body(4), timed=True, key="k1")["result"] == {"value": 3}
    assert files.run("b", body(5), timed=True, key="k2")["result"] == {"value": 5}
    assert calls == [1, 3, 5]

    saved = []
    records: dict = {}
    mapping = StageRecords(records, lambda: saved.append(dict(records)))
    assert mapping.run("x", body(6)) == {"value": 6} and "x" in mapping
    assert mapping.run("x", body(7)) == {"value": 6}
    assert saved == [{"x": {"value": 6}}] and calls == [1, 3, 5, 6]


def test_run_log_drops_what_a_killed_run_logged_after_its_checkpoint(tmp_path):
    log = JsonlLog(tmp_path / "log.jsonl")
    for i in range(1, 5):
        log.write({"iteration": i, "loss": math.nan})
    assert log.read()[0] == {"iteration": 1, "loss": None}
    emit = RunLog(tmp_path, prefix="ppo", tensorboard=False, resumed_at=2)
    emit({"iteration": 3, "loss": 0.5})
    emit.close()
    assert [r["iteration"] for r in log.read()] == [1, 2, 3]
    truncate_log(log, lambda r: r["iteration"] < 2)
    assert [r["iteration"] for r in log.read()] == [1]


def test_key_value_items_parse_as_json_values_or_text():
    assert parse_value("3") == 3 and parse_value("true") is True and parse_value("runs/x") == "runs/x"
    assert parse_key_values(["a=1", "b=x=y", 'c=["p"]'], what="--env-arg", example="--env-arg a=1") == {
        "a": 1, "b": "x=y", "c": ["p"]}
    with pytest.raises(ConfigError, match=r"expected --env-arg as KEY=VALUE, got 'a'; e.g. --env-arg a=1"):
        parse_key_values(["a"], what="--env-arg", example="--env-arg a=1")


def test_key_value_items_for_a_config_check_its_fields():
    import dataclasses

    @dataclasses.dataclass
    class Config:
        learning_rate: float = 1.0
        seed: int = 0

    assert parse_key_values(["learning_rate=0.5"], what="--x", example="", cls=Config) == {"learning_rate": 0.5}
    with pytest.raises(ConfigError, match="has no field 'learning_rat'; did you mean 'learning_rate'"):
        parse_key_values(["learning_rat=0.5"], what="--x", example="", cls=Config)
    with pytest.raises(ConfigError, match="--x: 'seed' is set by the recipe itself"):
        parse_key_values(["seed=1"], what="--x", example="", cls=Config, own=("seed",), owner="the recipe")
