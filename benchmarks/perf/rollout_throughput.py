"""Rollout throughput: env steps per second of the ReAct agent (tiny model, score mode) on N vector envs,
and the share of wall time spent inside the model's forward passes.

The share is measured with forward hooks on the model (time between entering and leaving its
top-level forward), so everything else — prompt building, tokenisation, padding, picking, the envs,
Gymnasium's vector machinery — is the remainder. Target: at least 80% of the time in the model.

    python -m sparring.benchmarks.perf.rollout_throughput [--envs 1 4 16] [--steps 64]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from typing import Any

import torch

import sparring
from sparring.benchmarks.evaluate import format_table
from sparring.fileio import write_json_atomic

TARGET_MODEL_SHARE = 0.80


class ForwardTimer:
    """Accumulates wall time spent inside a module's forward (outermost calls only)."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.seconds = 0.0
        self._depth = 0
        self._start = 0.0
        self._handles = [module.register_forward_pre_hook(self._enter), module.register_forward_hook(self._leave)]

    def _enter(self, *_: Any) -> None:
        if self._depth == 0:
            self._start = time.perf_counter()
        self._depth += 1

    def _leave(self, *_: Any) -> None:
        self._depth -= 1
        if self._depth == 0:
            self.seconds += time.perf_counter() - self._start

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()


def measure(env_id: str, num_envs: int, steps: int, model: Any, tokenizer: Any) -> dict[str, Any]:
    from sparring.agents.react import ReActAgent
    from sparring.agents.rollout import run_episodes

    agent = ReActAgent(model, tokenizer, mode="score", window=4)
    # warm-up outside the clock (first calls allocate)
    run_episodes(agent, env_id, split="train", seeds=[10_000], env_kwargs={"max_steps": 8})
    timer = ForwardTimer(model)
    counted = {"steps": 0}
    start = time.perf_counter()
    results = run_episodes(agent, env_id, split="train", episodes=2 * num_envs, num_envs=num_envs,
                           env_kwargs={"max_steps": steps},
                           on_step=lambda r: counted.__setitem__("steps", counted["steps"] + 1))
    elapsed = time.perf_counter() - start
    timer.close()
    return {
        "env": env_id, "num_envs": num_envs, "steps": counted["steps"], "episodes": len(results),
        "seconds": elapsed, "steps_per_second": counted["steps"] / elapsed, "model_seconds": timer.seconds,
        "model_share": timer.seconds / elapsed, "meets_target": timer.seconds / elapsed >= TARGET_MODEL_SHARE,
    }


def run(env_ids: list[str], sizes: list[int], steps: int, model_name: str) -> dict[str, Any]:
    from transformers.utils import logging as hf_logging

    from sparring.agents.zoo import load_model

    hf_logging.disable_progress_bar()
    model, tokenizer = load_model(model_name)
    rows = [measure(env_id, n, steps, model, tokenizer) for env_id in env_ids for n in sizes]
    return {
        "benchmark": "rollout_throughput", "sparring_version": sparring.__version__, "model": model_name,
        "torch": torch.__version__, "threads": torch.get_num_threads(), "python": platform.python_version(),
        "cpu_count": os.cpu_count(), "target_model_share": TARGET_MODEL_SHARE, "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", action="append", help="env ids (default: the four native families)")
    parser.add_argument("--envs", nargs="+", type=int, default=[1, 4, 16], help="vector sizes N")
    parser.add_argument("--steps", type=int, default=24, help="step limit of each episode (2N episodes per cell)")
    parser.add_argument("--model", default="tiny", help="zoo name or path (default tiny)")
    parser.add_argument("--out", default="results/perf/rollout_throughput.json", help="JSON output path")
    args = parser.parse_args(argv)
    env_ids = args.env or ["sparring/Household-v0", "sparring/Navigation-v0", "sparring/ToolQA-v0", "sparring/Shop-v0"]
    report = run(env_ids, args.envs, args.steps, args.model)
    table = [{**r, "sps": f"{r['steps_per_second']:.1f}", "share": f"{100 * r['model_share']:.1f}%",
              "ok": "PASS" if r["meets_target"] else "FAIL"} for r in report["rows"]]
    print(format_table(table, [("env", "env"), ("num_envs", "N"), ("steps", "steps"), ("sps", "env steps/s"),
                               ("share", "time in model"), ("ok", f">= {TARGET_MODEL_SHARE:.0%}")]))
    out = write_json_atomic(args.out, report)
    print(f"\nwrote {out}")
    return 0 if all(r["meets_target"] for r in report["rows"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
