"""Action scoring: prefix-cached scoring of K candidate actions vs one prompt forward vs naive forwards.

For each model, prompt length (~300 and ~1,000 tokens) and K (4, 16, 64 candidates), in the same
run:

* ``prompt``: one forward of the prompt alone (the floor: scoring cannot cost less);
* ``cached``: the agent's scoring — the prompt once, then the K suffixes batched on copies of its
  KV cache;
* ``naive``: K full forwards of prompt + candidate, batched 16 sequences at a time (every candidate
  pays for the whole prompt again, as when each candidate is scored as its own sequence).

Targets for K = 16: cached scoring costs at most 2x one prompt forward, and is at least 5x faster
than naive.

    python -m sparring.benchmarks.perf.action_scoring [--models tiny smollm2-135m] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from typing import Any

import torch

import sparring
from sparring.agents.evaluate import format_table
from sparring.fileio import write_json_atomic

KS = (4, 16, 64)
PROMPT_TOKENS = (300, 1000)


def _prompt_and_candidates(agent: Any, target_tokens: int, k: int) -> tuple[list[int], list[list[int]]]:
    """A real Household prompt grown to about ``target_tokens`` with earlier turns, and k commands."""
    import gymnasium as gym

    env = gym.make("sparring/Household-v0", difficulty="hard", max_steps=10_000)
    obs, info = env.reset(seed=0)
    agent.window = 10_000
    agent.act([obs], [info])
    text = agent.prompt(0, obs, info)
    while len(agent._encode(text)) < target_tokens:
        action = env.unwrapped.expert_action() if not info["won"] else "look"
        obs, _, terminated, truncated, info = env.step(action)
        agent._record(0, action, "")
        text = agent.prompt(0, obs, info)
        if terminated:
            obs, info = env.reset(seed=1)
    ids = agent._encode(text)[-target_tokens:]
    pool = list(info["admissible_actions"])
    rooms = ["cabinet", "drawer", "shelf", "countertop", "fridge", "sinkbasin", "garbagecan", "desk"]
    extra = [f"{verb} {obj} {n}" for n in range(1, 9) for obj in rooms for verb in ("go to", "open", "examine")]
    candidates = (pool + [c for c in extra if c not in pool])[:k]
    return ids, [agent._suffix_ids(c) for c in candidates]


def _time(fn: Any, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _cell(agent: Any, prompt: list[int], suffixes: list[list[int]], repeats: int) -> dict[str, Any]:
    from sparring.agents.react import left_pad

    def prompt_only() -> None:
        ids, mask, pos = left_pad([prompt], agent.tokenizer.pad_token_id, agent.device)
        with torch.no_grad():
            agent.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1)

    t_prompt = _time(prompt_only, repeats)
    t_cached = _time(lambda: agent.candidate_logprobs([prompt], [suffixes]), repeats)
    t_naive = _time(lambda: agent.candidate_logprobs_naive([prompt], [suffixes], batch_size=16), max(1, repeats // 2))
    k = len(suffixes)
    return {
        "prompt_s": t_prompt, "cached_s": t_cached, "naive_s": t_naive, "cached_over_prompt": t_cached / t_prompt,
        "speedup_vs_naive": t_naive / t_cached,
        "meets_target": (t_cached <= 2 * t_prompt and t_naive >= 5 * t_cached) if k == 16 else None,
    }


def run(models: list[str], repeats: int) -> dict[str, Any]:
    from transformers.utils import logging as hf_logging

    from sparring.agents.react import ReActAgent
    from sparring.agents.zoo import load_model

    hf_logging.disable_progress_bar()
    rows = []
    for name in models:
        model, tokenizer = load_model(name)
        agent = ReActAgent(model, tokenizer, mode="score")
        for tokens in PROMPT_TOKENS:
            for k in KS:
                prompt, suffixes = _prompt_and_candidates(agent, tokens, k)
                rows.append({"model": name, "prompt_tokens": len(prompt), "k": k,
                             **_cell(agent, prompt, suffixes, repeats)})
        del model
    return {
        "benchmark": "action_scoring", "sparring_version": sparring.__version__, "torch": torch.__version__,
        "threads": torch.get_num_threads(), "python": platform.python_version(), "machine": platform.machine(),
        "cpu_count": os.cpu_count(), "device": "cpu", "repeats": repeats,
        "targets": {"k": 16, "cached_over_prompt_at_most": 2.0, "speedup_vs_naive_at_least": 5.0},
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["tiny", "smollm2-135m"], help="zoo names or paths")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per cell (median)")
    parser.add_argument("--out", default="results/perf/action_scoring.json", help="JSON output path")
    args = parser.parse_args(argv)
    report = run(args.models, args.repeats)
    table = [{
        **r, "prompt_ms": f"{1000 * r['prompt_s']:.1f}", "cached_ms": f"{1000 * r['cached_s']:.1f}",
        "naive_ms": f"{1000 * r['naive_s']:.1f}", "ratio": f"{r['cached_over_prompt']:.2f}x",
        "speedup": f"{r['speedup_vs_naive']:.1f}x",
        "ok": "-" if r["meets_target"] is None else ("PASS" if r["meets_target"] else "FAIL"),
    } for r in report["rows"]]
    print(format_table(table, [("model", "model"), ("prompt_tokens", "prompt tokens"), ("k", "K"),
                               ("prompt_ms", "prompt fwd ms"), ("cached_ms", "cached ms"), ("naive_ms", "naive ms"),
                               ("ratio", "cached/prompt"), ("speedup", "naive/cached"),
                               ("ok", "K=16: <=2x, >=5x")]))
    out = write_json_atomic(args.out, report)
    print(f"\nwrote {out}")
    return 0 if all(r["meets_target"] is not False for r in report["rows"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
