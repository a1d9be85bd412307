"""PPO update: throughput against a bare forward + backward, and peak memory against an SFT step.

The batch is real: ``--turns`` turns of Household (train split, random admissible actions, the
ReAct prompt with a window of 4 turns and the admissible actions listed), each a prompt followed by
all its candidate actions packed side by side, exactly what PPO trains on in score mode. The policy
is the model with a fresh LoRA adapter and a value head on its backbone; the reference is the same
model with the adapter disabled. In one run:

* ``bare``: the plain training step a language-model trainer takes on the same token rows —
  ``model(...).logits``, the mean log-likelihood of the action tokens, backward, AdamW step —
  in the same micro-batches;
* ``backbone``: a stricter floor, the transformer alone on the same rows (no LM head, a trivial
  loss on the hidden states), reported beside the target;
* ``ppo step``: one PPO minibatch on the same rows (:func:`sparring.trainers.ppo.update` with one
  epoch and one minibatch): the packed forward, value head, clipped policy and value losses,
  entropy, KL to the cached reference log-probs, backward, clipping, AdamW step;
* ``ppo iteration``: what an iteration's update costs per epoch once the reference pass (one
  no-grad forward with the adapter disabled, :func:`sparring.trainers.ppo.score_batch`) is shared by
  ``--epochs`` epochs.

Throughput is tokens (prompt + candidates, padding excluded) per second; the target is a PPO step
at **at least 70%** of the bare step's throughput (the iteration figure is reported beside it).

Peak memory: the reference pass plus one PPO step, against one SFT step (the bare step above, which
is what TRL's SFT step computes: full logits, loss on the completion tokens) on the same batch. On
CUDA it is ``torch.cuda.max_memory_allocated`` over the step minus the memory allocated before it;
on the CPU each measurement runs in a fresh process and reports its peak resident set (``ru_maxrss``)
minus its resident set just before the step, so one measurement's freed-but-cached memory cannot
hide another's. Target: PPO at **at most 1.5x** the SFT step's peak growth.

    python -m sparring.benchmarks.perf.ppo_update [--model tiny] [--turns 16] [--micro-batch 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

import torch

import sparring
from sparring.agents.evaluate import format_table
from sparring.fileio import write_json_atomic

TARGET_THROUGHPUT = 0.70
TARGET_MEMORY = 1.5


def build(model_name: str, turns: int, micro_batch: int, epochs: int, device: str) -> dict[str, Any]:
    """The policy (LoRA + value head), a PPO config for the batch, and the batch of decisions."""
    import gymnasium as gym

    from sparring.agents.react import ReActAgent
    from sparring.agents.zoo import load_agent_model
    from sparring.trainers.ppo import Decision, PPOConfig

    torch.manual_seed(0)
    policy = load_agent_model(model_name, trainable=True)
    policy.add_lora(r=16, alpha=32)
    policy.add_value_head()
    policy.model.to(device)
    policy.value_head.to(device)
    agent = ReActAgent(policy.model, policy.tokenizer, mode="score", window=4)
    env = gym.make("sparring/Household-v0", difficulty="medium").unwrapped
    rng = random.Random(0)
    decisions: list[Decision] = []
    obs, info = env.reset(seed=0)
    while len(decisions) < turns:
        text = agent.prompt(0, obs, info)
        candidates = list(info["admissible_actions"])
        suffixes = [agent._suffix_ids(c) for c in candidates]
        action = rng.choice(candidates)
        decisions.append(Decision(agent._encode(text), suffixes, candidates.index(action),
                                  [float(len(s)) for s in suffixes]))
        agent._record(0, action, "")
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            obs, info = env.reset(seed=len(decisions))
    config = PPOConfig(model=model_name, iterations=1, update_epochs=1, minibatch_size=turns,
                       micro_batch_size=micro_batch, kl_coef=0.05, tensorboard=False, progress=False)
    from sparring.trainers.ppo import action_logprobs

    with torch.no_grad():  # the rollout's log-probs and values, and fixed advantages and returns
        gen = torch.Generator().manual_seed(1)
        for at in range(0, len(decisions), micro_batch):
            chunk = decisions[at:at + micro_batch]
            out = action_logprobs(policy.model, policy.value_head, chunk, mode="score", temperature=1.0,
                                  pad_id=policy.tokenizer.pad_token_id)
            for d, unit, value in zip(chunk, out["units"].tolist(), out["values"].tolist(), strict=True):
                d.old_logprobs, d.old_value = [unit], value
                d.advantage = float(torch.randn((), generator=gen))
                d.ret = value + d.advantage
    tokens = sum(len(d.prompt_ids) + sum(len(s) for s in d.action_ids) for d in decisions)
    return {"policy": policy, "config": config, "decisions": decisions, "tokens": tokens, "epochs": epochs}


def _rows(decisions: list[Any], pad_id: int, device: str) -> tuple[torch.Tensor, ...]:
    """Right-padded rows (prompt + packed candidates), their mask, and the action-token mask."""
    rows = [d.prompt_ids + [t for s in d.action_ids for t in s] for d in decisions]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    target = torch.zeros_like(ids, dtype=torch.bool)
    for b, (d, row) in enumerate(zip(decisions, rows, strict=True)):
        ids[b, : len(row)] = torch.tensor(row)
        mask[b, : len(row)] = 1
        target[b, len(d.prompt_ids): len(row)] = True
    return ids.to(device), mask.to(device), target.to(device)


def bare_step(bench: dict[str, Any], optimizer: torch.optim.Optimizer) -> None:
    """The plain LM training step on the same rows, in the same micro-batches."""
    policy, config, decisions = bench["policy"], bench["config"], bench["decisions"]
    device = next(policy.model.parameters()).device
    for at in range(0, len(decisions), config.micro_batch_size):
        ids, mask, target = _rows(decisions[at:at + config.micro_batch_size], policy.tokenizer.pad_token_id, device)
        logits = policy.model(input_ids=ids, attention_mask=mask).logits.float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(2, ids[:, 1:, None]).squeeze(2)
        loss = -(logp * target[:, 1:]).sum() / target.sum()
        loss.backward()
    torch.nn.utils.clip_grad_norm_([p for p in policy.model.parameters() if p.requires_grad], 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def backbone_step(bench: dict[str, Any], optimizer: torch.optim.Optimizer) -> None:
    """The strictest floor: the transformer alone (no LM head, no losses worth the name) on the same rows."""
    from sparring.trainers.ppo import _backbone_and_head

    policy, config, decisions = bench["policy"], bench["config"], bench["decisions"]
    backbone, _, _ = _backbone_and_head(policy.model)
    device = next(policy.model.parameters()).device
    for at in range(0, len(decisions), config.micro_batch_size):
        ids, mask, target = _rows(decisions[at:at + config.micro_batch_size], policy.tokenizer.pad_token_id, device)
        hidden = backbone(input_ids=ids, attention_mask=mask).last_hidden_state
        (hidden.float() * target[..., None]).mean().backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def reference_pass(bench: dict[str, Any]) -> None:
    from sparring.trainers.ppo import score_batch

    score_batch(bench["policy"], None, bench["decisions"], bench["config"], with_kl=True)


def ppo_step(bench: dict[str, Any], optimizer: torch.optim.Optimizer, parameters: list[Any]) -> None:
    from sparring.trainers.ppo import update

    update(bench["policy"], optimizer, parameters, bench["decisions"], bench["config"], kl_coef=0.05, with_kl=True,
           generator=torch.Generator().manual_seed(0), where="benchmark", last_good="")


def _optimizers(bench: dict[str, Any]) -> tuple[Any, Any, list[Any]]:
    policy = bench["policy"]
    lora = [p for p in policy.model.parameters() if p.requires_grad]
    head = list(policy.value_head.parameters())
    bare = torch.optim.AdamW(lora, lr=1e-5)
    ppo = torch.optim.AdamW([{"params": lora, "lr": 1e-5}, {"params": head, "lr": 1e-5}])
    return bare, ppo, lora + head


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _time(fn: Any, repeats: int, device: str) -> float:
    fn()  # warm-up: first calls allocate optimizer state and caches
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def throughput(args: argparse.Namespace, device: str) -> dict[str, Any]:
    bench = build(args.model, args.turns, args.micro_batch, args.epochs, device)
    bare_opt, ppo_opt, parameters = _optimizers(bench)
    reference_pass(bench)
    t_bare = _time(lambda: bare_step(bench, bare_opt), args.repeats, device)
    t_backbone = _time(lambda: backbone_step(bench, bare_opt), args.repeats, device)
    t_ppo = _time(lambda: ppo_step(bench, ppo_opt, parameters), args.repeats, device)
    t_ref = _time(lambda: reference_pass(bench), args.repeats, device)
    tokens = bench["tokens"]
    t_iteration = t_ppo + t_ref / args.epochs
    return {
        "model": args.model, "turns": args.turns, "tokens": tokens, "micro_batch": args.micro_batch,
        "mean_candidates": statistics.mean(len(d.action_ids) for d in bench["decisions"]),
        "bare_s": t_bare, "backbone_s": t_backbone, "ppo_step_s": t_ppo, "reference_pass_s": t_ref,
        "bare_tokens_per_s": tokens / t_bare, "backbone_tokens_per_s": tokens / t_backbone,
        "ppo_step_tokens_per_s": tokens / t_ppo, "step_over_backbone_ratio": t_backbone / t_ppo,
        "ppo_iteration_tokens_per_s": tokens / t_iteration,
        "step_ratio": t_bare / t_ppo, "iteration_ratio": t_bare / t_iteration, "epochs": args.epochs,
    }


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory_child(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    """One memory measurement (in this process): the growth of the peak over the step."""
    device = args.device
    bench = build(args.model, args.turns, args.micro_batch, args.epochs, device)
    bare_opt, ppo_opt, parameters = _optimizers(bench)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    else:
        before = _rss_bytes()
    if kind == "sft":
        bare_step(bench, bare_opt)
    else:
        reference_pass(bench)
        ppo_step(bench, ppo_opt, parameters)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
        method = "torch.cuda.max_memory_allocated - memory_allocated before the step"
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux
        method = "peak RSS (ru_maxrss) - RSS before the step, fresh process per measurement"
    return {"kind": kind, "before_bytes": before, "peak_bytes": peak, "growth_bytes": peak - before,
            "method": method}


def memory(args: argparse.Namespace) -> dict[str, Any]:
    results = {}
    for kind in ("sft", "ppo"):
        if args.device.startswith("cuda"):
            results[kind] = memory_child(kind, args)
            torch.cuda.empty_cache()
            continue
        command = [sys.executable, "-m", "sparring.benchmarks.perf.ppo_update", "--memory-child", kind,
                   "--model", args.model, "--turns", str(args.turns), "--micro-batch", str(args.micro_batch),
                   "--epochs", str(args.epochs), "--device", args.device]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"memory measurement {kind} failed:\n{done.stderr[-3000:]}")
        results[kind] = json.loads(done.stdout.strip().splitlines()[-1])
    ratio = results["ppo"]["growth_bytes"] / max(results["sft"]["growth_bytes"], 1)
    return {"sft": results["sft"], "ppo": results["ppo"], "ratio": ratio, "method": results["ppo"]["method"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny", help="zoo name or model directory (default tiny)")
    parser.add_argument("--turns", type=int, default=16, help="turns in the batch (one minibatch; default 16)")
    parser.add_argument("--micro-batch", type=int, default=8, help="turns per forward/backward (default 8)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs sharing one reference pass (default 4)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (median; default 3)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device")
    parser.add_argument("--out", default="results/perf/ppo_update.json", help="JSON output path")
    parser.add_argument("--memory-child", choices=("sft", "ppo"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child, args)))
        return 0
    speed = throughput(args, args.device)
    mem = memory(args)
    checks = {"step_throughput_at_least_70pct": speed["step_ratio"] >= TARGET_THROUGHPUT,
              "memory_at_most_1_5x": mem["ratio"] <= TARGET_MEMORY}
    report = {
        "benchmark": "ppo_update", "sparring_version": sparring.__version__, "torch": torch.__version__,
        "threads": torch.get_num_threads(), "python": platform.python_version(), "machine": platform.machine(),
        "cpu_count": os.cpu_count(), "device": args.device, "repeats": args.repeats,
        "targets": {"ppo_step_over_bare_throughput_at_least": TARGET_THROUGHPUT,
                    "ppo_over_sft_peak_memory_at_most": TARGET_MEMORY},
        "throughput": speed, "memory": mem, "checks": checks,
    }
    rows = [
        {"what": "bare forward + backward", "ms": 1000 * speed["bare_s"], "tok_s": speed["bare_tokens_per_s"],
         "vs": "1.00x"},
        {"what": "backbone only forward + backward", "ms": 1000 * speed["backbone_s"],
         "tok_s": speed["backbone_tokens_per_s"], "vs": f"{speed['bare_s'] / speed['backbone_s']:.2f}x"},
        {"what": "PPO step (one minibatch)", "ms": 1000 * speed["ppo_step_s"],
         "tok_s": speed["ppo_step_tokens_per_s"], "vs": f"{speed['step_ratio']:.2f}x",
         "ok": "PASS" if checks["step_throughput_at_least_70pct"] else "FAIL"},
        {"what": f"PPO per epoch, reference pass shared by {args.epochs}",
         "ms": 1000 * (speed["ppo_step_s"] + speed["reference_pass_s"] / args.epochs),
         "tok_s": speed["ppo_iteration_tokens_per_s"], "vs": f"{speed['iteration_ratio']:.2f}x"},
        {"what": "peak memory: SFT step", "mb": mem["sft"]["growth_bytes"] / 2**20, "vs": "1.00x"},
        {"what": "peak memory: reference pass + PPO step", "mb": mem["ppo"]["growth_bytes"] / 2**20,
         "vs": f"{mem['ratio']:.2f}x", "ok": "PASS" if checks["memory_at_most_1_5x"] else "FAIL"},
    ]
    print(f"{args.model} on {args.device}: {speed['turns']} turns, {speed['tokens']} tokens, "
          f"{speed['mean_candidates']:.1f} candidates per turn, micro-batches of {args.micro_batch}")
    print(format_table(rows, [("what", "measurement"), ("ms", "ms"), ("tok_s", "tokens/s"), ("mb", "MiB"),
                              ("vs", "vs reference"), ("ok", "target")]))
    print(f"PPO step / backbone-only step throughput: {speed['step_over_backbone_ratio']:.2f}x (the bare step "
          f"computes the LM head on every position; PPO only on the positions that predict action tokens)")
    print(f"memory: {mem['method']}")
    out = write_json_atomic(args.out, report)
    print(f"\nwrote {out}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
