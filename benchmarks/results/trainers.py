"""Trainers, part 1, measured: SFT on oracle trajectories, then ETO rounds, with the ``tiny`` model.

    python -m sparring.benchmarks.results.trainers                # the full run (CPU, ~1 hour)
    python -m sparring.benchmarks.results.trainers --quick        # a few minutes, small budgets

Stages, each kept in ``--out`` and skipped when already finished (an interrupted run resumes):

1. oracle trajectories on the train split of Household and Navigation (``expert.jsonl``);
2. valid-split success of the random agent and of the untrained ``tiny`` ReAct agent (score mode,
   greedy): the levels to beat;
3. SFT of ``tiny`` on the expert trajectories (``sft/``), then its valid success;
4. ETO rounds from the SFT policy (``eto/``): explore train tasks with sampling, pair failures with
   the expert's trajectories, DPO, evaluate on valid.

It writes ``summary.json`` (every figure, with 95% Wilson intervals, the command, versions and
seeds) and ``curves.png`` (SFT loss per step; valid success per stage; DPO margins per round).
The figures are whatever this run measures; nothing here is a target.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from sparring.benchmarks.results import provenance, quiet_libraries, results_parser, run_once, save_figure
from sparring.fileio import write_json_atomic

ENV_IDS = ("sparring/Household-v0", "sparring/Navigation-v0")


def evaluate_agent(name: str, *, model: str, split: str, episodes: int, difficulty: str, num_envs: int,
                   seed: int) -> dict[str, Any]:
    """Success (with a 95% Wilson interval) per env, pooled over envs too."""
    from sparring.agents import make_agent
    from sparring.agents.evaluate import evaluate, wilson_interval

    agent = make_agent(name, model=model, seed=seed) if name.startswith("react") else make_agent(name, seed=seed)
    rows, wins, total = {}, 0, 0
    for env_id in ENV_IDS:
        row, _ = evaluate(agent, env_id, split=split, episodes=episodes, num_envs=num_envs,
                          env_kwargs={"difficulty": difficulty})
        rows[env_id] = {k: row[k] for k in ("episodes", "success", "success_ci95", "mean_steps", "invalid_rate")}
        wins += round(row["success"] * row["episodes"])
        total += row["episodes"]
    rows["pooled"] = {"episodes": total, "success": wins / total, "success_ci95": list(wilson_interval(wins, total))}
    return rows


_stage = run_once  # each stage's record ({"result", "seconds", "cpu_seconds"}), kept under out/stages


def plot(summary: dict[str, Any], sft_log: list[dict[str, Any]], target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    steps = [r["step"] for r in sft_log if "loss" in r]
    axes[0].plot(steps, [r["loss"] for r in sft_log if "loss" in r], color="tab:blue")
    axes[0].set(title="SFT on oracle trajectories", xlabel="optimizer step", ylabel="loss (action tokens)")

    labels = ["random", "untrained", "SFT"] + [f"ETO {r['round']}" for r in summary["eto"]["rounds"][1:]]
    stages = [summary["random"], summary["untrained"], summary["sft"]] + [r["valid"] for r in summary["eto"]["rounds"][1:]]
    for env_id, marker in zip(ENV_IDS + ("pooled",), ("o", "s", "D"), strict=True):
        values = [s[env_id]["success"] for s in stages]
        axes[1].plot(range(len(values)), values, marker=marker, label=env_id.split("/")[-1])
    pooled = [s["pooled"]["success_ci95"] for s in stages]
    axes[1].fill_between(range(len(pooled)), [p[0] for p in pooled], [p[1] for p in pooled], alpha=0.15,
                         color="tab:green", label="pooled 95% CI")
    axes[1].set_xticks(range(len(labels)), labels, rotation=20)
    axes[1].set(title="valid-split success", ylim=(0, 1.02), ylabel="success rate")
    axes[1].legend(fontsize=8)

    rounds = summary["eto"]["rounds"][1:]
    axes[2].plot([r["round"] for r in rounds], [r.get("dpo_first_margin") or 0 for r in rounds], marker="o",
                 label="first logged margin")
    axes[2].plot([r["round"] for r in rounds], [r.get("dpo_last_margin") or 0 for r in rounds], marker="o",
                 label="last logged margin")
    axes[2].set(title="DPO chosen - rejected reward margin", xlabel="ETO round", ylabel="margin")
    axes[2].legend(fontsize=8)
    save_figure(fig, target)


def main(argv: list[str] | None = None) -> int:
    parser = results_parser(__doc__, "results/trainers")
    parser.add_argument("--difficulty", default="easy", help="difficulty of both envs (default easy)")
    parser.add_argument("--expert-tasks", type=int, help="oracle episodes per env (default 150; quick 20)")
    parser.add_argument("--valid-episodes", type=int, help="valid episodes per env and stage (default 60; quick 10)")
    parser.add_argument("--sft-epochs", type=float, help="SFT passes over the expert data (default 3; quick 1)")
    parser.add_argument("--eto-rounds", type=int, help="ETO rounds (default 3; quick 1)")
    parser.add_argument("--eto-tasks", type=int, help="train tasks explored per env and round (default 40; quick 8)")
    parser.add_argument("--eto-learning-rate", type=float, default=5e-4,
                        help="DPO learning rate of each ETO round's adapter (default 5e-4)")
    parser.add_argument("--num-envs", type=int, default=8, help="envs played side by side (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every stage (default 0)")
    args = parser.parse_args(argv)
    quick = args.quick
    budget = {
        "expert_tasks": args.expert_tasks or (20 if quick else 150),
        "valid_episodes": args.valid_episodes or (10 if quick else 60),
        "sft_epochs": args.sft_epochs or (1.0 if quick else 3.0),
        "eto_rounds": args.eto_rounds or (1 if quick else 3),
        "eto_tasks": args.eto_tasks or (8 if quick else 40),
    }
    out = Path(args.out).resolve()  # stage records name checkpoints by absolute path
    out.mkdir(parents=True, exist_ok=True)
    quiet_libraries()

    from sparring.agents import OracleAgent
    from sparring.trainers.collect import collect
    from sparring.trainers.eto import ETOConfig, run_eto
    from sparring.trainers.metrics import JsonlLog
    from sparring.trainers.sft import SFTConfig, train_sft

    started = time.perf_counter()
    common = {"split": "valid", "episodes": budget["valid_episodes"], "difficulty": args.difficulty,
              "num_envs": args.num_envs, "seed": args.seed}
    expert = out / "expert.jsonl"
    collect(OracleAgent(), ENV_IDS, ["train"], expert, episodes=budget["expert_tasks"], num_envs=args.num_envs,
            env_kwargs={"difficulty": args.difficulty}, resume=True)
    random_ = _stage(out, "random", lambda: evaluate_agent("random", model="", **common))
    untrained = _stage(out, "untrained", lambda: evaluate_agent("react", model="tiny", **common))
    sft_dir = out / "sft"
    sft = _stage(out, "sft", lambda: train_sft(SFTConfig(
        data=[str(expert)], output_dir=str(sft_dir), epochs=budget["sft_epochs"], seed=args.seed,
        logging_steps=5, resume=True)))
    sft_policy = sft["result"]["final"]
    sft_valid = _stage(out, "sft_valid", lambda: evaluate_agent("react", model=sft_policy, **common))
    eto = _stage(out, "eto", lambda: run_eto(ETOConfig(
        model=sft_policy, expert=str(expert), env_ids=ENV_IDS, difficulty=args.difficulty,
        output_dir=str(out / "eto"), rounds=budget["eto_rounds"], tasks=budget["eto_tasks"],
        valid_episodes=budget["valid_episodes"], num_envs=args.num_envs, seed=args.seed,
        learning_rate=args.eto_learning_rate, resume=True)))
    # run_eto logs success rates; with the episode count they give the same intervals as above
    from sparring.agents.evaluate import wilson_interval

    n = budget["valid_episodes"]
    rounds = []
    for record in eto["result"]["rounds"]:
        wins = {env_id: round(record["valid_success"][env_id] * n) for env_id in ENV_IDS}
        valid = {env_id: {"episodes": n, "success": wins[env_id] / n,
                          "success_ci95": list(wilson_interval(wins[env_id], n))} for env_id in ENV_IDS}
        total = sum(wins.values())
        valid["pooled"] = {"episodes": n * len(ENV_IDS), "success": total / (n * len(ENV_IDS)),
                           "success_ci95": list(wilson_interval(total, n * len(ENV_IDS)))}
        rounds.append({**record, "valid": valid})

    summary = {
        **provenance(), "envs": list(ENV_IDS),
        "difficulty": args.difficulty, "seed": args.seed, "budget": budget, "model": "tiny",
        "eto_learning_rate": args.eto_learning_rate,
        "valid_seeds": f"0..{budget['valid_episodes'] - 1} per env",
        "random": random_["result"], "untrained": untrained["result"],
        "sft": sft_valid["result"], "sft_training": sft["result"], "sft_seconds": sft["seconds"],
        "eto": {"rounds": rounds, "seconds": eto["seconds"]},
        "seconds_this_run": time.perf_counter() - started,
    }
    plot(summary, JsonlLog(sft_dir / "metrics.jsonl").read(), out / "curves.png")
    write_json_atomic(out / "summary.json", summary)

    from sparring.agents.evaluate import format_table

    labels = [("random", random_["result"]), ("untrained tiny", untrained["result"]), ("SFT", sft_valid["result"])]
    labels += [(f"SFT + ETO round {r['round']}", r["valid"]) for r in rounds[1:]]
    table = [{"stage": name, **{env_id.split("/")[-1]: res[env_id]["success"] for env_id in ENV_IDS},
              "pooled": res["pooled"]["success"], "ci": res["pooled"]["success_ci95"]} for name, res in labels]
    print(format_table(table, [("stage", "stage"), ("Household-v0", "Household"), ("Navigation-v0", "Navigation"),
                               ("pooled", "pooled"), ("ci", "pooled 95% CI")]))
    print(f"\nvalid-split success, {budget['valid_episodes']} episodes per env; wrote {out / 'summary.json'} "
          f"and {out / 'curves.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
