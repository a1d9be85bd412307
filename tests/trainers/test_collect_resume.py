"""A killed `sparring collect` resumes without duplicates or broken lines."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from sparring.agents import OracleAgent, RandomAgent
from sparring.errors import ConfigError
from sparring.trainers.collect import collect
from sparring.trajectory import read_episodes, repair

ENV = "sparring/Household-v0"
EASY = {"difficulty": "easy"}


def _cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sparring.cli", "collect", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def _collect_args(out, episodes: int, *extra: str) -> list[str]:
    return ["--agent", "random", "--env", ENV, "--difficulty", "easy", "--episodes", str(episodes),
            "--num-envs", "1", "--out", str(out), "--no-progress", *extra]


def _complete_lines(path) -> list[dict]:
    """Every line of the file parsed as JSON (fails on a broken line anywhere)."""
    data = path.read_bytes()
    assert data.endswith(b"\n"), "the file ends in a partial line"
    return [json.loads(line) for line in data.decode().splitlines()]


def _keys(episodes) -> list[tuple]:
    return [e.key for e in episodes]


def test_a_killed_collect_resumes_with_no_duplicate_and_no_broken_line(tmp_path):
    out, planned = tmp_path / "random.jsonl", 120  # ~2-3 s of work: the kill lands mid-run
    proc = _cli(*_collect_args(out, planned))
    deadline = time.monotonic() + 60
    try:
        while not (out.exists() and out.read_bytes().count(b"\n") >= 8):
            assert proc.poll() is None, f"collect ended before it could be killed: {proc.communicate()}"
            assert time.monotonic() < deadline, "collect wrote nothing within 60 s"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    survived = read_episodes(out)  # a partial last line, if the kill cut one, is skipped
    assert 8 <= len(survived) < planned
    assert len(set(_keys(survived))) == len(survived)

    resumed = subprocess.run([sys.executable, "-m", "sparring.cli", "collect", *_collect_args(out, planned, "--resume")],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"wrote {planned - len(survived)} episodes" in resumed.stdout
    assert f"{len(survived)} already there" in resumed.stdout

    rows = _complete_lines(out)  # no broken line anywhere
    episodes = read_episodes(out)
    assert len(rows) == len(episodes) == planned
    keys = _keys(episodes)
    assert len(set(keys)) == planned, "an episode was written twice"
    assert set(keys) == {(ENV, "train", seed, "random", 0) for seed in range(planned)}
    # the episodes kept from the killed run are untouched, and come first
    assert [e.to_dict() for e in episodes[:len(survived)]] == [e.to_dict() for e in survived]
    # around the kill, the file holds what an uninterrupted run writes
    first = len(survived) - 2
    fresh = tmp_path / "fresh.jsonl"
    collect(RandomAgent(), [ENV], ["train"], fresh, episodes=4, seed_offset=first, env_kwargs=EASY)
    by_key = {e.key: e.to_dict() for e in episodes}
    for episode in read_episodes(fresh):
        assert by_key[episode.key] == episode.to_dict()


def test_a_partial_last_line_is_skipped_and_repaired_on_resume(tmp_path, caplog):
    out = tmp_path / "oracle.jsonl"
    collect(OracleAgent(), [ENV], ["train"], out, episodes=5, env_kwargs=EASY)
    whole = out.read_bytes()
    # a kill in the middle of writing seed 5's line: half of it, no newline
    spare = tmp_path / "spare.jsonl"
    collect(OracleAgent(), [ENV], ["train"], spare, episodes=1, seed_offset=5, env_kwargs=EASY)
    line = spare.read_bytes()
    with open(out, "ab") as handle:
        handle.write(line[:len(line) // 2])
    assert [e.seed for e in read_episodes(out)] == [0, 1, 2, 3, 4]
    assert "partial last line" in caplog.text

    stats = collect(OracleAgent(), [ENV], ["train"], out, episodes=8, env_kwargs=EASY, resume=True)
    assert (stats.written, stats.skipped) == (3, 5)
    rows = _complete_lines(out)
    assert out.read_bytes().startswith(whole)
    episodes = read_episodes(out)
    assert len(rows) == len(episodes) == 8
    assert sorted(e.seed for e in episodes) == list(range(8))
    assert episodes[5].to_dict() == read_episodes(spare)[0].to_dict()  # seed 5, written whole this time


def test_repair_truncates_only_a_partial_last_line(tmp_path):
    path = tmp_path / "episodes.jsonl"
    path.write_bytes(b'{"a":1}\n{"b":2}\n{"c":')
    assert repair(path) == len(b'{"c":')
    assert path.read_bytes() == b'{"a":1}\n{"b":2}\n'
    assert repair(path) == 0 and path.read_bytes() == b'{"a":1}\n{"b":2}\n'
    path.write_bytes(b'{"only": "half')  # the first line was cut: nothing survives
    assert repair(path) == len(b'{"only": "half') and path.read_bytes() == b""
    assert read_episodes(path) == []


def test_collecting_into_an_existing_file_needs_resume(tmp_path):
    out = tmp_path / "oracle.jsonl"
    collect(OracleAgent(), [ENV], ["train"], out, episodes=3, env_kwargs=EASY)
    before = out.read_bytes()
    with pytest.raises(ConfigError, match=r"exists; pass resume=True \(--resume\)"):
        collect(OracleAgent(), [ENV], ["train"], out, episodes=3, env_kwargs=EASY)
    refused = subprocess.run([sys.executable, "-m", "sparring.cli", "collect", "--agent", "oracle", "--env", ENV,
                              "--episodes", "3", "--out", str(out), "--no-progress"],
                             capture_output=True, text=True, timeout=120, env={**os.environ})
    assert refused.returncode == 2
    assert "exists; pass resume=True (--resume)" in refused.stderr and "Traceback" not in refused.stderr
    assert out.read_bytes() == before
    # resuming a complete file writes nothing
    stats = collect(OracleAgent(), [ENV], ["train"], out, episodes=3, env_kwargs=EASY, resume=True)
    assert (stats.written, stats.skipped) == (0, 3) and out.read_bytes() == before
    # resume=True on a file that does not exist yet just starts it
    new = tmp_path / "new.jsonl"
    stats = collect(OracleAgent(), [ENV], ["train"], new, episodes=2, env_kwargs=EASY, resume=True)
    assert (stats.written, stats.skipped) == (2, 0) and len(read_episodes(new)) == 2


def test_resume_tells_samples_and_agents_apart(tmp_path):
    out = tmp_path / "mixed.jsonl"
    collect(RandomAgent(), [ENV], ["train"], out, episodes=2, samples_per_task=2, env_kwargs=EASY)
    stats = collect(RandomAgent(), [ENV], ["train"], out, episodes=2, samples_per_task=3, env_kwargs=EASY,
                    resume=True)
    assert (stats.written, stats.skipped) == (2, 4)
    stats = collect(OracleAgent(), [ENV], ["train"], out, episodes=2, env_kwargs=EASY, resume=True)
    assert (stats.written, stats.skipped) == (2, 0)
    keys = _keys(read_episodes(out))
    assert len(keys) == len(set(keys)) == 8
    assert {k for k in keys if k[3] == "random"} == {(ENV, "train", s, "random", n) for s in range(2) for n in range(3)}


def test_a_resumed_sample_is_a_new_sample(tmp_path):
    out = tmp_path / "samples.jsonl"
    collect(RandomAgent(), [ENV], ["train"], out, episodes=1, samples_per_task=2, env_kwargs=EASY)
    collect(RandomAgent(), [ENV], ["train"], out, episodes=1, samples_per_task=3, env_kwargs=EASY, resume=True)
    resumed = {e.sample: [s.action for s in e.steps] for e in read_episodes(out)}
    uninterrupted = tmp_path / "uninterrupted.jsonl"
    collect(RandomAgent(), [ENV], ["train"], uninterrupted, episodes=1, samples_per_task=3, env_kwargs=EASY)
    expected = {e.sample: [s.action for s in e.steps] for e in read_episodes(uninterrupted)}
    assert len({tuple(a) for a in expected.values()}) == 3  # samples of one task differ
    assert resumed == expected
