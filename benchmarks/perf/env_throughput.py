"""Env throughput: steps per second of each env with random admissible actions, on one core.

Each env is stepped in this one process with actions drawn uniformly from
``info["admissible_actions"]`` (so the admissible actions are computed on every step), resets
included, through ``gymnasium.make`` (what users get) and on the bare class. A reference env that
does nothing but return fixed strings runs through the same loop in the same run, so the table
shows how much of the budget the harness itself takes on this machine.

    python -m sparring.benchmarks.perf.env_throughput [--seconds 3] [--out results/perf/env_throughput.json]

The native families run by default (TextWorld ids are measured against raw TextWorld by
``textworld_throughput``). Target: at least 20,000 steps/s per family (for scale, on a 2-core machine TextWorldExpress does
about 4,500 steps/s through its Python API and TextWorld with admissible commands about 230).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import time
from typing import Any

import gymnasium as gym

import sparring
from sparring.agents.evaluate import format_table
from sparring.envs import registered
from sparring.envs.spaces import UnicodeText
from sparring.fileio import write_json_atomic

TARGET_STEPS_PER_SECOND = 20_000


class NullTextEnv(gym.Env):
    """The cheapest possible text env: the harness's own cost, measured in the same run."""

    metadata = {"render_modes": []}

    def __init__(self) -> None:
        self.observation_space = UnicodeText(100)
        self.action_space = UnicodeText(100)
        self._actions = [f"action {i}" for i in range(10)]
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[str, dict]:
        super().reset(seed=seed)
        self._t = 0
        return "You are somewhere.", {"admissible_actions": list(self._actions)}

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        self._t += 1
        return "Nothing happens.", 0.0, self._t >= 50, False, {"admissible_actions": list(self._actions)}


def measure(env: gym.Env, seconds: float, seed: int = 0) -> dict[str, Any]:
    """Steps ``env`` with random admissible actions for ``seconds``; resets included."""
    rng = random.Random(seed)
    obs, info = env.reset(seed=seed)
    steps = episodes = admissible = 0
    # warm-up outside the clock: first-call checks of Gymnasium's wrappers, caches
    for _ in range(200):
        obs, _, terminated, truncated, info = env.step(rng.choice(info["admissible_actions"]))
        if terminated or truncated:
            obs, info = env.reset()
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(500):
            actions = info["admissible_actions"]
            admissible += len(actions)
            obs, _, terminated, truncated, info = env.step(rng.choice(actions))
            steps += 1
            if terminated or truncated:
                episodes += 1
                obs, info = env.reset()
        now = time.perf_counter()
        if now >= deadline:
            break
    elapsed = now - start
    return {
        "steps": steps,
        "seconds": elapsed,
        "steps_per_second": steps / elapsed,
        "episodes_per_second": episodes / elapsed,
        "mean_admissible_actions": admissible / steps,
    }


def run(seconds: float = 3.0, env_ids: list[str] | None = None) -> dict[str, Any]:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as the target says
    rows = []
    reference = measure(gym.wrappers.OrderEnforcing(NullTextEnv()), seconds)
    rows.append({"env": "reference: null text env", "family": "-", **reference, "raw_steps_per_second": None,
                 "target": None, "meets_target": None})
    for env_id, env_entry in registered().items():
        if env_ids and env_id not in env_ids:
            continue
        if not env_ids and env_entry.entry_point.startswith("sparring.envs.textworld_games"):
            continue  # TextWorld has its own benchmark, against raw TextWorld: textworld_throughput
        made = measure(gym.make(env_id), seconds)
        raw = measure(gym.make(env_id).unwrapped, seconds)
        rows.append({
            "env": env_id,
            "family": env_entry.family,
            **made,
            "raw_steps_per_second": raw["steps_per_second"],
            "target": TARGET_STEPS_PER_SECOND,
            "meets_target": made["steps_per_second"] >= TARGET_STEPS_PER_SECOND,
        })
    return {
        "benchmark": "env_throughput",
        "sparring_version": sparring.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "seconds_per_measurement": seconds,
        "target_steps_per_second": TARGET_STEPS_PER_SECOND,
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per measurement (default 3)")
    parser.add_argument("--env", action="append", help="only these env ids (default: all)")
    parser.add_argument("--out", default="results/perf/env_throughput.json", help="JSON output path")
    args = parser.parse_args(argv)
    report = run(args.seconds, args.env)
    table = []
    for row in report["rows"]:
        table.append({
            **row,
            "sps": f"{row['steps_per_second']:,.0f}",
            "raw": f"{row['raw_steps_per_second']:,.0f}" if row["raw_steps_per_second"] else "-",
            "eps": f"{row['episodes_per_second']:,.0f}",
            "adm": f"{row['mean_admissible_actions']:.1f}",
            "ok": "-" if row["meets_target"] is None else ("PASS" if row["meets_target"] else "FAIL"),
        })
    print(format_table(table, [("env", "env"), ("sps", "steps/s (gym.make)"), ("raw", "steps/s (bare class)"),
                               ("eps", "episodes/s"), ("adm", "admissible/step"),
                               ("ok", f">= {TARGET_STEPS_PER_SECOND:,}/s")]))
    out = write_json_atomic(args.out, report)
    print(f"\nwrote {out}")
    return 0 if all(r["meets_target"] is not False for r in report["rows"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
