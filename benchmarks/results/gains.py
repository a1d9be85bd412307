"""The gains study: trained and parameter-free agents on a pretrained LLM against the baselines, on
unseen compositions, clean and under attacks no training run saw.

    python -m sparring.benchmarks.results.gains                  # the study (smollm2-135m + LoRA)
    python -m sparring.benchmarks.results.gains --quick          # a smoke run of every stage (minutes)
    python -m sparring.benchmarks.results.gains --device cuda    # the same on a GPU

On Household and Navigation (``easy``), one policy for both envs, with ``smollm2-135m``
(SmolLM2-135M-Instruct, shipped in a wheel) unless ``--model`` says otherwise:

1. **expert data**: the oracle on ``--expert-episodes`` train tasks per env, clean; and the same tasks
   played under a random adversary over the *train* operators (every field, budget 2, every turn),
   the oracle answering with the perturbed text of its command;
2. **SFT (clean arm)**: a LoRA adapter fine-tuned on the clean expert data for ``--sft-epochs``
   (bf16 mixed precision where the CPU or GPU has native bf16);
3. **SFT (adversarial arm)**: a LoRA adapter fine-tuned on the clean data plus the attacked data for
   half the epochs — the same number of gradient steps on the same tasks, half of what it saw
   perturbed;
4. **SFT → GRPO**: GRPO from the clean SFT policy (group baselines over ``--group-size`` tries of
   each task, env + progress reward) for ``--grpo-iterations`` iterations;
5. **the success table** (suite ``gains``: test_unseen, ``--tasks`` tasks per env, clean): random,
   the oracle, the zero-shot model, ``react-memory`` (the same model with the clean expert data as
   its memory, BM25 retrieval of a winning trajectory as an in-context example), ``react-reflexion``
   (``--trials`` tries, a reflection on each failure in the next try's prompt), and the three
   trained policies; pooled success with task-bootstrap 95% intervals;
6. **the robustness table** (suite ``gains_attacks``: test_unseen, ``--attack-tasks`` tasks per env):
   the two SFT arms clean and under the held-out attack of every operator family on every field;
   PDR per family and the macro PDR with 95% intervals.

Every agent plays greedily in score mode (a softmax over the admissible actions, prefix-cached
scoring on CPU) with the model in bf16 where that is native (``dtype=auto``). The summary says
whether the study's targets hold — some agent's interval above random's and above SFT's on
test_unseen; the adversarial arm's held-out macro PDR below the clean arm's with disjoint
intervals — and gives env steps/s and forward tokens/s of every model agent.

Every stage is kept under ``--out`` (default ``results/gains``) and skipped once finished (the
trainers and the leaderboards resume their own pieces), so an interrupted run resumes where it
stopped. It writes ``summary.json`` and ``table.md`` (the README's table).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from sparring.benchmarks.results import provenance, quiet_libraries, results_parser, run_once
from sparring.fileio import json_safe, write_json_atomic, write_text_atomic

ENV_IDS = ("sparring/Household-v0", "sparring/Navigation-v0")
SPLIT = "test_unseen"
#: the prompts of every agent and of the SFT data: 4 earlier turns, the admissible actions listed
AGENT = {"mode": "score", "normalization": "token", "window": 4, "show_admissible": True, "dtype": "auto"}
#: the labels of the success table, in its order
LABELS = {"random": "random", "oracle": "oracle (ceiling)", "zero-shot": "zero-shot",
          "memory": "react-memory", "reflexion": "react-reflexion", "sft": "SFT",
          "sft-adversarial": "SFT (adversarial)", "sft-grpo": "SFT → GRPO"}


def _stage(out: Path, name: str, run: Any) -> Any:
    return run_once(out, name, run)["result"]


def _spec(label: str, kind: str, model: str, **extra: Any) -> Any:
    from sparring.benchmarks.agent_specs import spec_from_table

    return spec_from_table(label, {"kind": kind, "model": model, **AGENT, **extra})


def success_rows(board: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each agent's pooled test_unseen success with its 95% interval, and per env."""
    rows: dict[str, dict[str, Any]] = {}
    for r in board["splits"]:
        if r["split"] != SPLIT:
            continue
        ci = r.get("success_ci95") or [None, None]
        rows[r["agent"]] = {"success": json_safe(r["success"]), "ci95": [json_safe(ci[0]), json_safe(ci[1])],
                            "envs": {}}
    for r in board.get("envs", []):
        if r.get("split") == SPLIT and r["agent"] in rows and "success" in r:
            rows[r["agent"]]["envs"][r["env_id"]] = json_safe(r["success"])
    return rows


def robustness_rows(board: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each agent's held-out macro PDR on test_unseen (95% interval), clean success, PDR per family."""
    rows: dict[str, dict[str, Any]] = {}
    for r in board["macro"]:
        if r["split"] == SPLIT and r["attack_split"] == "held_out":
            ci = r.get("macro_pdr_ci95") or [None, None]
            rows[r["agent"]] = {"macro_pdr": json_safe(r["macro_pdr"]), "ci95": [json_safe(ci[0]), json_safe(ci[1])],
                                "families": {}}
    for r in board["families"]:
        if r["split"] == SPLIT and r.get("attack_split") == "held_out" and r["agent"] in rows:
            rows[r["agent"]]["families"][r["family"]] = {"pdr": json_safe(r.get("pdr")),
                                                         "sr_attacked": json_safe(r.get("sr_attacked"))}
    for r in board["splits"]:
        if r["split"] == SPLIT and r["agent"] in rows:
            rows[r["agent"]]["clean_success"] = json_safe(r["success"])
    return rows


def throughput(board: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Env steps/s and forward tokens/s of each model agent over its clean cells (per worker process)."""
    sums: dict[str, dict[str, float]] = {}
    for cell in board["cells"]:
        stats = cell.get("agent_stats") or {}
        if cell["attack"] is not None or not stats or cell["cached"] and not cell.get("seconds"):
            continue
        entry = sums.setdefault(cell["agent"], {"seconds": 0.0, "actions": 0, "forward_tokens": 0, "prompt_tokens": 0})
        entry["seconds"] += float(cell.get("seconds") or 0.0)
        for key in ("actions", "forward_tokens", "prompt_tokens"):
            entry[key] += int(stats.get(key, 0))
    return {agent: {**s, "steps_per_second": s["actions"] / s["seconds"] if s["seconds"] else None,
                    "forward_tokens_per_second": s["forward_tokens"] / s["seconds"] if s["seconds"] else None}
            for agent, s in sums.items()}


def disjoint_above(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether ``a``'s 95% interval lies wholly above ``b``'s."""
    low, high = a["ci95"][0], b["ci95"][1]
    return low is not None and high is not None and low > high


def targets(success: dict[str, dict[str, Any]], robust: dict[str, dict[str, Any]]) -> dict[str, Any]:
    candidates = [k for k in ("memory", "reflexion", "sft-adversarial", "sft-grpo", "sft", "zero-shot") if k in success]
    beats_random = [k for k in candidates if "random" in success and disjoint_above(success[k], success["random"])]
    beats_both = [k for k in beats_random if k != "sft" and "sft" in success and disjoint_above(success[k], success["sft"])]
    clean, adv = robust.get("sft", {}), robust.get("sft-adversarial", {})
    cut = (clean.get("macro_pdr") is not None and adv.get("macro_pdr") is not None
           and adv["macro_pdr"] < clean["macro_pdr"])
    disjoint = cut and adv["ci95"][1] is not None and clean["ci95"][0] is not None and adv["ci95"][1] < clean["ci95"][0]
    return {"above_random": beats_random, "above_random_and_sft": beats_both,
            "gain_target_met": bool(beats_both),
            "adversarial_cuts_macro_pdr": bool(cut), "adversarial_cut_intervals_disjoint": bool(disjoint),
            "clean_macro_pdr": clean.get("macro_pdr"), "adversarial_macro_pdr": adv.get("macro_pdr")}


def _cell(value: Any, ci: list[Any] | None = None) -> str:
    if value is None:
        return "n/a"
    text = f"{value:.2f}"
    if ci and ci[0] is not None and ci[1] is not None:
        text += f" [{ci[0]:.2f}, {ci[1]:.2f}]"
    return text


def markdown(summary: dict[str, Any]) -> str:
    """The README's tables: success on test_unseen, then robustness under held-out attacks."""
    success, robust, speed = summary["success"], summary["robustness"], summary["throughput"]
    envs = [e.split("/")[1].removesuffix("-v0") for e in summary["envs"]]
    lines = [f"| agent | test_unseen success [95% CI] | {' | '.join(envs)} | steps/s |",
             "|---|---|" + "---|" * len(envs) + "---|"] if success else []
    for key, label in LABELS.items():
        if key not in success:
            continue
        row = success[key]
        per_env = " | ".join(_cell(row["envs"].get(e)) for e in summary["envs"])
        rate = speed.get(key, {}).get("steps_per_second")
        lines.append(f"| {label} | {_cell(row['success'], row['ci95'])} | {per_env} | "
                     f"{f'{rate:.2f}' if rate else '-'} |")
    families = sorted({f for r in robust.values() for f in r["families"]})
    if robust:
        lines += [""] if lines else []
        lines += ["| policy | clean success | held-out macro PDR [95% CI] | " + " | ".join(families) + " |",
                  "|---|---|---|" + "---|" * len(families)]
    for key in ("sft", "sft-adversarial"):
        if key in robust:
            r = robust[key]
            fams = " | ".join(_cell(r["families"].get(f, {}).get("pdr")) for f in families)
            lines.append(f"| {LABELS[key]} | {_cell(r.get('clean_success'))} | {_cell(r['macro_pdr'], r['ci95'])} | "
                         f"{fams} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = results_parser(__doc__, "results/gains")
    parser.add_argument("--model", default="smollm2-135m", help="the base model (default smollm2-135m)")
    parser.add_argument("--device", default=None, help="torch device of training and evaluation (e.g. cuda)")
    parser.add_argument("--expert-episodes", type=int, help="oracle train tasks per env (default 16; quick 3)")
    parser.add_argument("--sft-epochs", type=float, help="SFT passes of the clean arm (default 2; quick 1)")
    parser.add_argument("--grpo-iterations", type=int, help="GRPO iterations after SFT (default 4; quick 1)")
    parser.add_argument("--group-size", type=int, default=4, help="GRPO tries per task (default 4)")
    parser.add_argument("--grpo-tasks", type=int, help="GRPO tasks per env and iteration (default 4; quick 2)")
    parser.add_argument("--trials", type=int, default=2, help="react-reflexion's tries per task (default 2)")
    parser.add_argument("--tasks", type=int, help="test_unseen tasks per env in the success table (default: "
                                                  "the suite's 30; quick 3)")
    parser.add_argument("--attack-tasks", type=int, help="test_unseen tasks per env under each attack (default: "
                                                         "the suite's 12; quick 2)")
    parser.add_argument("--workers", type=int, default=2, help="leaderboard worker processes (default 2)")
    parser.add_argument("--tables", default="success,robustness",
                        help="which tables to make, comma-separated (default success,robustness); the stages "
                             "only the other table needs are skipped (GRPO and the parameter-free agents serve "
                             "the success table only), so the two halves can run on different machines")
    args = parser.parse_args(argv)
    tables = {t.strip() for t in args.tables.split(",") if t.strip()}
    if not tables or tables - {"success", "robustness"}:
        parser.error(f"--tables takes success, robustness or both (comma-separated), not {args.tables!r}")
    quick = args.quick
    budget = {
        "expert_episodes": args.expert_episodes or (3 if quick else 16),
        "sft_epochs": args.sft_epochs or (1.0 if quick else 2.0),
        "grpo_iterations": args.grpo_iterations if args.grpo_iterations is not None else (1 if quick else 4),
        "grpo_tasks": args.grpo_tasks or (2 if quick else 4),
        "group_size": args.group_size, "trials": args.trials,
        "tasks": args.tasks or (3 if quick else None), "attack_tasks": args.attack_tasks or (2 if quick else None),
    }
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    quiet_libraries()

    from sparring.adversary import PerturbationWrapper
    from sparring.adversary.edits import FIELDS
    from sparring.agents import OracleAgent
    from sparring.agents.zoo import fast_bf16
    from sparring.benchmarks.leaderboard import run_leaderboard
    from sparring.trainers.adversarial import ShownExpert
    from sparring.trainers.collect import collect
    from sparring.trainers.grpo import GRPOConfig, train_grpo
    from sparring.trainers.sft import SFTConfig, train_sft

    started = time.perf_counter()
    env_kwargs = {"difficulty": "easy"}
    command = " ".join([sys.executable, "-m", "sparring.benchmarks.results.gains",
                        *(argv if argv is not None else sys.argv[1:])])
    say = print

    def expert() -> dict[str, Any]:
        data = out / "data" / "expert.jsonl"
        stats = collect(OracleAgent(), ENV_IDS, ["train"], data, episodes=budget["expert_episodes"],
                        env_kwargs=env_kwargs, num_envs=8, resume=True)
        return {"data": str(data), **stats.to_dict()}

    def expert_attacked() -> dict[str, Any]:
        data = out / "data" / "expert-attacked.jsonl"
        wrapper = PerturbationWrapper.factory("train", budget=2, targets=FIELDS, schedule="all", policy="random",
                                              seed=0)
        stats = collect(ShownExpert(), ENV_IDS, ["train"], data, episodes=budget["expert_episodes"],
                        env_kwargs=env_kwargs, num_envs=8, resume=True, wrappers=[wrapper])
        return {"data": str(data), **stats.to_dict()}

    say("[gains] expert data")
    clean_data = _stage(out, "expert", expert)
    attacked_data = _stage(out, "expert-attacked", expert_attacked)
    bf16 = fast_bf16(args.device)

    def sft(name: str, data: list[str], epochs: float) -> dict[str, Any]:
        return train_sft(SFTConfig(data=data, model=args.model, output_dir=str(out / name), epochs=epochs,
                                   seed=0, resume=True, bf16=bf16, device=args.device, logging_steps=5))

    say("[gains] SFT, clean arm")
    sft_clean = _stage(out, "sft", lambda: sft("sft", [clean_data["data"]], budget["sft_epochs"]))
    say("[gains] SFT, adversarial arm")
    sft_adv = _stage(out, "sft-adversarial", lambda: sft("sft-adversarial", [clean_data["data"], attacked_data["data"]],
                                                          budget["sft_epochs"] / 2))

    def grpo() -> dict[str, Any]:
        config = GRPOConfig(model=sft_clean["final"], env_ids=ENV_IDS, env_args=("max_steps=15",),
                            reward=("env", "progress=0.5"), output_dir=str(out / "sft-grpo"),
                            iterations=budget["grpo_iterations"], tasks_per_iteration=budget["grpo_tasks"],
                            group_size=budget["group_size"], learning_rate=5e-5, kl_coef=0.04,
                            minibatch_size=32, micro_batch_size=8, window=AGENT["window"], seed=0, resume=True,
                            device=args.device)
        return train_grpo(config).to_dict()

    say("[gains] SFT -> GRPO")
    sft_grpo = _stage(out, "sft-grpo", grpo) if budget["grpo_iterations"] > 0 and "success" in tables else None

    model = args.model
    from sparring.benchmarks.agent_specs import spec_from_table

    agents = [spec_from_table("random", {}), spec_from_table("oracle", {}), _spec("zero-shot", "react", model),
              _spec("memory", "react-memory", model, memory=clean_data["data"], retriever="bm25", k=1),
              _spec("reflexion", "react-reflexion", model, trials=budget["trials"]),
              _spec("sft", "react", sft_clean["final"]), _spec("sft-adversarial", "react", sft_adv["final"])]
    if sft_grpo is not None:
        agents.append(_spec("sft-grpo", "react", sft_grpo["final"]))

    def board(suite: str, names: list[Any], episodes: int | None) -> dict[str, Any]:
        return run_leaderboard(suite, names, out / suite, workers=args.workers, episodes=episodes, command=command,
                               cache_dir=out / "cells", device=args.device)

    empty: dict[str, Any] = {"splits": [], "envs": [], "macro": [], "families": [], "cells": []}
    clean_board = attack_board = empty
    if "success" in tables:
        say("[gains] success table (test_unseen, clean)")
        clean_board = _stage(out, "board-success", lambda: _keep(board("gains", agents, budget["tasks"])))
    if "robustness" in tables:
        say("[gains] robustness table (test_unseen, held-out attacks)")
        attack_board = _stage(out, "board-robustness",
                              lambda: _keep(board("gains_attacks",
                                                  [a for a in agents if a.name in ("sft", "sft-adversarial")],
                                                  budget["attack_tasks"])))
    success, robust = success_rows(clean_board), robustness_rows(attack_board)
    summary = {
        **provenance(command), "device": args.device or "cpu",
        "bf16": bf16, "model": model, "envs": list(ENV_IDS), "split": SPLIT, "difficulty": "easy",
        "budget": budget, "tables": sorted(tables), "agent": AGENT, "agents": [a.declaration() for a in agents],
        "data": {"clean": clean_data, "attacked": attacked_data},
        "training": {"sft": sft_clean, "sft-adversarial": sft_adv, "sft-grpo": sft_grpo and
                     {k: sft_grpo.get(k) for k in ("final", "iterations", "env_steps", "episodes", "first", "last")}},
        "success": success, "robustness": robust, "throughput": throughput(clean_board if clean_board["cells"] else attack_board),
        "targets": targets(success, robust),
        "seconds_this_run": time.perf_counter() - started,
        "stage_seconds": {p.stem: json.loads(p.read_text()).get("seconds") for p in (out / "stages").glob("*.json")},
    }
    summary["stage_seconds_total"] = sum(v for v in summary["stage_seconds"].values() if v)
    write_json_atomic(out / "summary.json", summary)
    table = markdown(summary)
    write_text_atomic(out / "table.md", table)
    print(table)
    t = summary["targets"]
    print(f"above random (disjoint 95% CIs): {', '.join(t['above_random']) or 'none'}; above random and SFT: "
          f"{', '.join(t['above_random_and_sft']) or 'none'}")
    print(f"adversarial arm's held-out macro PDR {_cell(t['adversarial_macro_pdr'])} vs clean arm's "
          f"{_cell(t['clean_macro_pdr'])}: lower {t['adversarial_cuts_macro_pdr']}, intervals disjoint "
          f"{t['adversarial_cut_intervals_disjoint']}")
    print(f"stages took {summary['stage_seconds_total']:.0f} s in all; wrote {out / 'summary.json'} and "
          f"{out / 'table.md'}")
    return 0


def _keep(board: dict[str, Any]) -> dict[str, Any]:
    """What the study reads of a leaderboard, JSON-safe (NaN as None)."""
    return json_safe({k: board.get(k, []) for k in ("splits", "envs", "macro", "families", "cells")})


if __name__ == "__main__":
    raise SystemExit(main())
