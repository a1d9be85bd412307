"""TextWorld throughput: sparring's TextWorld envs against raw ``textworld.gym`` on the same game.

For each challenge, one game is generated into a fresh cache (timed: the first-use generation), then
loaded from the cache by a new env (timed: the cached load). Then the same game file is stepped by
sparring's env (through ``gymnasium.make``, with ``num_games=1`` so every reset replays it) and by
raw ``textworld.gym`` with the same requested infos (admissible commands, score, max score, won,
lost, objective) and the same step limit, both with actions drawn uniformly from the admissible
commands, resets included, in alternating rounds in this one process; the table shows the median
steps/s of each and the wrapper's overhead. ``textworld.gym`` reloads the game file on every reset;
a third column steps ``textworld.start`` directly (no reload, what sparring's env runs underneath),
so the gap to it is the cost of the wrapper alone.

    python -m sparring.benchmarks.perf.textworld_throughput [--seconds 5] [--rounds 3]
        [--difficulty easy] [--out results/perf/textworld_throughput.json]

Target: the wrapper costs at most 10% of raw TextWorld's steps per second.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import tempfile
import time
from typing import Any

import gymnasium as gym

import sparring
from sparring.agents.evaluate import format_table
from sparring.envs.textworld_games import CACHE_ENV, TextWorldEnv, register_textworld
from sparring.fileio import write_json_atomic

TARGET_OVERHEAD_PERCENT = 10.0
ENV_IDS = ("sparring/TextWorld-Simple-v0", "sparring/TextWorld-CoinCollector-v0",
           "sparring/TextWorld-TreasureHunter-v0", "sparring/TextWorld-Cooking-v0")


def _steps_per_second(reset, step, seconds: float, seed: int) -> float:
    """Random admissible actions for ``seconds``; ``step`` returns (info, done)."""
    rng = random.Random(seed)
    info = reset()
    steps = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(50):
            info, done = step(rng.choice(info["admissible"]))
            steps += 1
            if done:
                info = reset()
        now = time.perf_counter()
        if now >= deadline:
            return steps / (now - start)


def measure_sparring(env: gym.Env, seconds: float, seed: int = 0) -> float:
    def reset() -> dict:
        _, info = env.reset()
        return {"admissible": info["admissible_actions"]}

    def step(action: str) -> tuple[dict, bool]:
        _, _, terminated, truncated, info = env.step(action)
        return {"admissible": info["admissible_actions"]}, terminated or truncated

    env.reset(seed=0)
    return _steps_per_second(reset, step, seconds, seed)


def measure_raw(game_file: str, max_steps: int, seconds: float, seed: int = 0) -> float:
    import textworld
    import textworld.gym

    infos = textworld.EnvInfos(admissible_commands=True, score=True, max_score=True, won=True, lost=True,
                               objective=True)
    env = textworld.gym.make(textworld.gym.register_game(game_file, request_infos=infos,
                                                         max_episode_steps=max_steps))

    def reset() -> dict:
        _, info = env.reset()
        return {"admissible": info["admissible_commands"]}

    def step(action: str) -> tuple[dict, bool]:
        _, _, done, info = env.step(action)
        return {"admissible": info["admissible_commands"]}, done

    try:
        return _steps_per_second(reset, step, seconds, seed)
    finally:
        env.close()


def measure_bare(game_file: str, max_steps: int, seconds: float, seed: int = 0) -> float:
    """``textworld.start`` stepped directly: no gym layer and no game reload on reset (what sparring's
    env does underneath), so the gap to it is the wrapper's own cost."""
    import textworld

    infos = textworld.EnvInfos(admissible_commands=True, score=True, max_score=True, won=True, lost=True,
                               objective=True)
    env = textworld.start(game_file, infos)
    steps = 0

    def reset() -> dict:
        nonlocal steps
        steps = 0
        return {"admissible": env.reset()["admissible_commands"]}

    def step(action: str) -> tuple[dict, bool]:
        nonlocal steps
        steps += 1
        state, _, done = env.step(action)
        return {"admissible": state["admissible_commands"]}, done or steps >= max_steps

    try:
        return _steps_per_second(reset, step, seconds, seed)
    finally:
        env.close()


def run_one(env_id: str, difficulty: str, seconds: float, rounds: int) -> dict[str, Any]:
    make_kwargs = dict(difficulty=difficulty, num_games=1)
    start = time.perf_counter()
    env = gym.make(env_id, **make_kwargs)
    env.reset(seed=0)
    generation = time.perf_counter() - start
    env.close()

    start = time.perf_counter()
    env = gym.make(env_id, **make_kwargs)
    _, info = env.reset(seed=0)
    cached_load = time.perf_counter() - start
    start = time.perf_counter()
    env.reset(seed=0)
    same_game_reset = time.perf_counter() - start

    unwrapped: TextWorldEnv = env.unwrapped
    game_file = unwrapped._tw_file
    max_steps = unwrapped.config.max_steps
    ours, raw, bare = [], [], []
    for k in range(rounds):
        ours.append(measure_sparring(env, seconds, seed=k))
        raw.append(measure_raw(game_file, max_steps, seconds, seed=k))
        bare.append(measure_bare(game_file, max_steps, seconds, seed=k))
    env.close()
    ours_sps, raw_sps, bare_sps = statistics.median(ours), statistics.median(raw), statistics.median(bare)
    overhead = 100.0 * (1.0 - ours_sps / raw_sps)
    return {
        "env": env_id,
        "difficulty": difficulty,
        "task": info["task"],
        "first_use_seconds": generation,
        "cached_load_seconds": cached_load,
        "same_game_reset_seconds": same_game_reset,
        "sparring_steps_per_second": ours_sps,
        "raw_steps_per_second": raw_sps,
        "bare_steps_per_second": bare_sps,
        "sparring_rounds": ours,
        "raw_rounds": raw,
        "bare_rounds": bare,
        "overhead_percent": overhead,
        "overhead_vs_bare_percent": 100.0 * (1.0 - ours_sps / bare_sps),
        "meets_target": overhead <= TARGET_OVERHEAD_PERCENT,
    }


def run(seconds: float = 5.0, rounds: int = 3, difficulty: str = "easy", env_ids: list[str] | None = None,
        cache: str | None = None) -> dict[str, Any]:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, like env_throughput
    register_textworld()
    previous = os.environ.get(CACHE_ENV)
    with tempfile.TemporaryDirectory(prefix="sparring-tw-bench-") as fresh:
        os.environ[CACHE_ENV] = cache or fresh  # a cold cache, so the first use really generates
        try:
            rows = [run_one(env_id, difficulty, seconds, rounds) for env_id in (env_ids or ENV_IDS)]
        finally:
            if previous is None:
                os.environ.pop(CACHE_ENV, None)
            else:
                os.environ[CACHE_ENV] = previous
    import textworld

    return {
        "benchmark": "textworld_throughput",
        "sparring_version": sparring.__version__,
        "textworld_version": textworld.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "seconds_per_round": seconds,
        "rounds": rounds,
        "target_overhead_percent": TARGET_OVERHEAD_PERCENT,
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per measurement round (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per side (default 3)")
    parser.add_argument("--difficulty", default="easy", help="difficulty preset of the games (default easy)")
    parser.add_argument("--env", action="append", help="only these env ids (default: all four)")
    parser.add_argument("--cache", help="cache directory to use (default: a fresh temporary one)")
    parser.add_argument("--out", default="results/perf/textworld_throughput.json", help="JSON output path")
    args = parser.parse_args(argv)
    report = run(args.seconds, args.rounds, args.difficulty, args.env, args.cache)
    table = [{
        **row,
        "gen": f"{row['first_use_seconds']:.2f}",
        "load": f"{row['cached_load_seconds'] * 1000:.0f}",
        "reset": f"{row['same_game_reset_seconds'] * 1000:.1f}",
        "raw": f"{row['raw_steps_per_second']:,.0f}",
        "ours": f"{row['sparring_steps_per_second']:,.0f}",
        "bare": f"{row['bare_steps_per_second']:,.0f}",
        "over": f"{row['overhead_percent']:+.1f}%",
        "over_bare": f"{row['overhead_vs_bare_percent']:+.1f}%",
        "ok": "PASS" if row["meets_target"] else "FAIL",
    } for row in report["rows"]]
    print(format_table(table, [("env", "env"), ("gen", "first use s"), ("load", "cached load ms"),
                               ("reset", "same-game reset ms"), ("raw", "raw textworld.gym steps/s"),
                               ("bare", "textworld.start steps/s"), ("ours", "sparring steps/s"),
                               ("over", "overhead vs raw"), ("over_bare", "vs textworld.start"),
                               ("ok", f"<= {TARGET_OVERHEAD_PERCENT:.0f}%")]))
    out = write_json_atomic(args.out, report)
    print(f"\nwrote {out}")
    return 0 if all(row["meets_target"] for row in report["rows"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
