"""Rollout throughput: env steps per second of the ReAct agent (score mode) on N vector envs, prompt
tokens per second, and the share of wall time spent inside the model's forward passes; for each
weight dtype and with the prefix cache off and on, against the reference (float32, no prefix cache)
measured in the same run on the same episodes.

The share is measured with forward hooks on the model (time between entering and leaving its
top-level forward), so everything else — prompt building, tokenisation, padding, picking, the envs,
Gymnasium's vector machinery — is the remainder. Target: at least 80% of the time in the model.
"Prompt tokens/s" counts every prompt's tokens; "run" tokens are those the model actually ran (the
prefix cache serves the rest from an episode's earlier prompt).

    python -m sparring.benchmarks.perf.rollout_throughput [--envs 1 4 16] [--steps 64]
    python -m sparring.benchmarks.perf.rollout_throughput --model smollm2-135m --envs 8 \
        --dtypes float32 bfloat16 --prefix-cache off on
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from typing import Any

import torch

import sparring
from sparring.agents.evaluate import format_table
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


def measure(env_id: str, num_envs: int, steps: int, model: Any, tokenizer: Any, *,
            prefix_cache: bool = False) -> dict[str, Any]:
    from sparring.agents.react import ReActAgent
    from sparring.agents.rollout import run_episodes

    agent = ReActAgent(model, tokenizer, mode="score", window=4, prefix_cache=prefix_cache)
    # warm-up outside the clock (first calls allocate)
    run_episodes(agent, env_id, split="train", seeds=[10_000], env_kwargs={"max_steps": 8})
    agent.stats.update(prompt_tokens=0, forward_tokens=0)
    timer = ForwardTimer(model)
    counted = {"steps": 0}
    start = time.perf_counter()
    results = run_episodes(agent, env_id, split="train", episodes=2 * num_envs, num_envs=num_envs,
                           env_kwargs={"max_steps": steps},
                           on_step=lambda r: counted.__setitem__("steps", counted["steps"] + 1))
    elapsed = time.perf_counter() - start
    timer.close()
    return {
        "env": env_id, "num_envs": num_envs, "prefix_cache": prefix_cache, "steps": counted["steps"],
        "episodes": len(results), "seconds": elapsed, "steps_per_second": counted["steps"] / elapsed,
        "prompt_tokens": agent.stats["prompt_tokens"], "forward_tokens": agent.stats["forward_tokens"],
        "prompt_tokens_per_second": agent.stats["prompt_tokens"] / elapsed,
        "forward_tokens_per_second": agent.stats["forward_tokens"] / elapsed,
        "model_seconds": timer.seconds, "model_share": timer.seconds / elapsed,
        "meets_target": timer.seconds / elapsed >= TARGET_MODEL_SHARE,
    }


def run(env_ids: list[str], sizes: list[int], steps: int, model_name: str, dtypes: list[str] | None = None,
        prefix_caches: list[bool] | None = None) -> dict[str, Any]:
    from transformers.utils import logging as hf_logging

    from sparring.agents.zoo import load_model

    hf_logging.disable_progress_bar()
    dtypes = dtypes or ["float32"]
    prefix_caches = prefix_caches or [False]
    rows = []
    for dtype in dtypes:
        model, tokenizer = load_model(model_name, dtype=getattr(torch, dtype))
        for env_id in env_ids:
            for n in sizes:
                for cached in prefix_caches:
                    rows.append({"dtype": dtype, **measure(env_id, n, steps, model, tokenizer, prefix_cache=cached)})
    for row in rows:  # the speed-up over float32 without the prefix cache on the same env and N, when measured
        ref = next((r for r in rows if r["dtype"] == "float32" and not r["prefix_cache"]
                    and r["env"] == row["env"] and r["num_envs"] == row["num_envs"]), None)
        row["speedup"] = row["steps_per_second"] / ref["steps_per_second"] if ref else None
    return {
        "benchmark": "rollout_throughput", "sparring_version": sparring.__version__, "model": model_name,
        "torch": torch.__version__, "threads": torch.get_num_threads(), "python": platform.python_version(),
        "cpu_count": os.cpu_count(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "target_model_share": TARGET_MODEL_SHARE, "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", action="append", help="env ids (default: the four native families)")
    parser.add_argument("--envs", nargs="+", type=int, default=[1, 4, 16], help="vector sizes N")
    parser.add_argument("--steps", type=int, default=24, help="step limit of each episode (2N episodes per cell)")
    parser.add_argument("--model", default="tiny", help="zoo name or path (default tiny)")
    parser.add_argument("--dtypes", nargs="+", default=["float32"], choices=["float32", "bfloat16", "float16"],
                        help="weight dtypes to measure (default float32)")
    parser.add_argument("--prefix-cache", nargs="+", default=["off"], choices=["off", "on"],
                        help="prefix cache settings to measure (default off)")
    parser.add_argument("--out", default="results/perf/rollout_throughput.json", help="JSON output path")
    args = parser.parse_args(argv)
    env_ids = args.env or ["sparring/Household-v0", "sparring/Navigation-v0", "sparring/ToolQA-v0", "sparring/Shop-v0"]
    report = run(env_ids, args.envs, args.steps, args.model, args.dtypes, [v == "on" for v in args.prefix_cache])
    table = [{**r, "sps": f"{r['steps_per_second']:.2f}", "share": f"{100 * r['model_share']:.1f}%",
              "cache": "on" if r["prefix_cache"] else "off", "tps": f"{r['prompt_tokens_per_second']:.0f}",
              "fps": f"{r['forward_tokens_per_second']:.0f}",
              "x": "n/a" if r["speedup"] is None else f"{r['speedup']:.2f}x",
              "ok": "PASS" if r["meets_target"] else "FAIL"} for r in report["rows"]]
    print(format_table(table, [("env", "env"), ("dtype", "dtype"), ("cache", "prefix cache"), ("num_envs", "N"),
                               ("steps", "steps"), ("sps", "env steps/s"), ("tps", "prompt tokens/s"),
                               ("fps", "run tokens/s"), ("x", "vs fp32, no cache"), ("share", "time in model"),
                               ("ok", f">= {TARGET_MODEL_SHARE:.0%}")]))
    out = write_json_atomic(args.out, report)
    print(f"\nwrote {out}")
    return 0 if all(r["meets_target"] for r in report["rows"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
