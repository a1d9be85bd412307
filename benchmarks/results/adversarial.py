"""Min-max training, measured: a clean-trained and an adversarially trained agent from the same SFT
policy with the same budget, judged on attacks neither ever saw.

    python -m sparring.benchmarks.results.adversarial            # the full run (CPU, about an hour on 2 cores)
    python -m sparring.benchmarks.results.adversarial --quick    # minutes, small budgets

On Household and Navigation (``easy``) with the ``tiny`` model on CPU:

1. the oracle plays ``--expert-episodes`` training tasks per env; ``tiny`` is fine-tuned on them
   (all weights): the **SFT start**, shared by every run below;
2. for each training seed, two runs of :func:`sparring.trainers.adversarial.train_adversarial` from
   that start with the same budget — ``--rounds`` rounds of SFT on fresh expert trajectories and PPO
   (the same numbers of episodes, iterations and updates) — one **clean** (``attack_fraction=0``:
   no adversary, every episode clean) and one **adversarial** (the learned adversary trained each
   round against the current agent on the train attacks, and ``--attack-fraction`` of the expert
   trajectories and PPO episodes played under its population);
3. the leaderboard (:func:`sparring.benchmarks.leaderboard.run_leaderboard`) on the suite
   ``benchmarks/suites/adversarial.toml``: the SFT start and every trained policy on the test and
   test_unseen splits, clean and under the **held-out attack** of each operator family on every field
   it edits; success, per-family PDR and the macro PDR of the held-out side, with task-bootstrap 95%
   intervals;
4. over the seeds: the mean of each figure with a t-interval over seeds, and the adversarial run
   minus the clean run of the same seed (paired by seed).

The issue's target: adversarial training at least halves the macro PDR on held-out attacks while
clean test_unseen success drops by no more than 2 points. The figures are whatever this run
measures; the summary says whether the target was met.

Every stage is kept under ``--out`` (default ``results/adversarial``) and skipped once finished
(the trainer and the leaderboard resume their own pieces), so an interrupted run resumes. It writes
``summary.json`` (every figure, settings, versions, seeds and times) and ``adversarial.png``.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from sparring.benchmarks.results import provenance, quiet_libraries, results_parser, run_once, save_figure
from sparring.fileio import json_safe, write_json_atomic

ENV_IDS = ("sparring/Household-v0", "sparring/Navigation-v0")
SPLITS = ("test", "test_unseen")
SUITE = "adversarial"
#: the agent settings of every stage and of the evaluation (SFT's prompts: 4 earlier turns, actions listed)
AGENT = {"mode": "score", "normalization": "token", "window": 4, "show_admissible": True}
#: t quantiles (two-sided 95%) by degrees of freedom, for intervals over a handful of seeds
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


def _stage(out: Path, name: str, run: Any) -> Any:
    """Runs ``run()`` once (:func:`~sparring.benchmarks.results.run_once`); returns its result."""
    return run_once(out, name, run)["result"]


def seed_interval(values: list[float]) -> dict[str, Any]:
    """Mean over seeds with a two-sided 95% t-interval (None with fewer than two finite values)."""
    kept = [v for v in values if v is not None and math.isfinite(v)]
    if not kept:
        return {"mean": None, "ci95": [None, None], "n": 0, "values": values}
    mean = sum(kept) / len(kept)
    if len(kept) < 2:
        return {"mean": mean, "ci95": [None, None], "n": len(kept), "values": values}
    sd = math.sqrt(sum((v - mean) ** 2 for v in kept) / (len(kept) - 1))
    half = _T95.get(len(kept) - 1, 1.96) * sd / math.sqrt(len(kept))
    return {"mean": mean, "ci95": [mean - half, mean + half], "n": len(kept), "values": values}


def _agent_spec(label: str, model: str) -> str:
    options = ",".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in AGENT.items())
    return f"{label}=react,model={model},{options}"


def figures(board: dict[str, Any], label: str) -> dict[str, Any]:
    """One agent's success, macro PDR (held-out side) and family PDRs per split, with intervals."""
    out: dict[str, Any] = {}
    for split in SPLITS:
        row = next(r for r in board["splits"] if r["agent"] == label and r["split"] == split)
        macro = next((r for r in board["macro"] if r["agent"] == label and r["split"] == split
                      and r["attack_split"] == "held_out"), {})
        families = {r["family"]: {"pdr": r.get("pdr"), "pdr_ci95": r.get("pdr_ci95"), "sr": r.get("sr_attacked")}
                    for r in board["families"] if r["agent"] == label and r["split"] == split
                    and r.get("attack_split") == "held_out"}
        out[split] = {"success": row["success"], "success_ci95": row["success_ci95"],
                      "macro_pdr": macro.get("macro_pdr"), "macro_pdr_ci95": macro.get("macro_pdr_ci95"),
                      "families": families}
    return json_safe(out)  # NaN (an undefined figure) as None


def plot(summary: dict[str, Any], curves: dict[str, list[dict[str, Any]]], target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(20, 4.4))
    arms = [("SFT start", "sft", "grey"), ("clean training", "clean", "tab:blue"),
            ("adversarial training", "adversarial", "tab:red")]
    for a, (metric, title) in enumerate((("macro_pdr", "macro PDR, held-out attacks"),
                                         ("success", "clean success"))):
        ax = axes[a]
        for s, split in enumerate(SPLITS):
            for k, (label, key, colour) in enumerate(arms):
                x = s + (k - 1) * 0.25
                agg = summary["aggregate"][key][split][metric]
                if agg["mean"] is None:
                    continue
                ax.bar(x, agg["mean"], 0.22, color=colour, alpha=0.6, label=label if s == 0 else None)
                if agg["ci95"][0] is not None:
                    ax.errorbar(x, agg["mean"], yerr=[[agg["mean"] - agg["ci95"][0]], [agg["ci95"][1] - agg["mean"]]],
                                color="black", capsize=3, linewidth=1)
                values = [v for v in agg["values"] if v is not None]
                ax.scatter([x] * len(values), values, color="black", s=10, zorder=3)
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_xticks(range(len(SPLITS)), SPLITS)
        ax.set(title=f"{title} (mean over seeds, 95% t-CI; dots: seeds)")
        ax.legend(fontsize=8)
    ax = axes[2]
    families = sorted({f for key in ("clean", "adversarial") for f in summary["aggregate"][key]["test"]["families"]})
    for k, (label, key, colour) in enumerate(arms):
        means = [summary["aggregate"][key]["test"]["families"].get(f, {}).get("mean") for f in families]
        ax.bar([i + (k - 1) * 0.25 for i in range(len(families))], [m if m is not None else 0 for m in means], 0.22,
               color=colour, alpha=0.7, label=label)
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xticks(range(len(families)), [f.split("/")[0] for f in families])
    ax.set(title="PDR per held-out family (test, mean over seeds)")
    ax.legend(fontsize=8)
    ax = axes[3]
    for seed, log in curves.items():
        ax.plot([r["update"] for r in log], [r["reward"] for r in log], "-", label=f"reward, seed {seed}")
        ax.plot([r["update"] for r in log], [r["discriminator_accuracy"] for r in log], ":",
                label=f"discriminator accuracy, seed {seed}")
    ax.set(title="learned adversary during min-max training", xlabel="adversary update")
    ax.legend(fontsize=7)
    save_figure(fig, target)


def main(argv: list[str] | None = None) -> int:
    parser = results_parser(__doc__, "results/adversarial")
    parser.add_argument("--seeds", type=int, nargs="+", help="training seeds (default 0 1 2; quick: 0)")
    parser.add_argument("--expert-episodes", type=int, help="oracle episodes per env for the SFT start (default 100)")
    parser.add_argument("--sft-epochs", type=float, help="SFT passes for the start (default 4)")
    parser.add_argument("--rounds", type=int, help="min-max rounds per run (default 2; quick 1)")
    parser.add_argument("--attack-fraction", type=float, default=0.5,
                        help="share of training episodes under attack in the adversarial runs (default 0.5)")
    parser.add_argument("--round-expert-episodes", type=int,
                        help="expert episodes per env and round for SFT in both arms (default 24; quick 2)")
    parser.add_argument("--ppo-iterations", type=int, help="PPO iterations per round in both arms (default 1)")
    parser.add_argument("--adversary-updates", type=int, help="adversary updates per round (default 8; quick 2)")
    parser.add_argument("--episodes", type=int, help="evaluation tasks per env and split (default: the suite's 30; "
                                                     "quick 3)")
    parser.add_argument("--workers", type=int, default=2, help="leaderboard worker processes (default 2)")
    parser.add_argument("--num-envs", type=int, default=8, help="envs played side by side in training (default 8)")
    args = parser.parse_args(argv)
    quick = args.quick
    budget = {
        "seeds": args.seeds or ([0] if quick else [0, 1, 2]),
        "expert_episodes": args.expert_episodes or (4 if quick else 100),
        "sft_epochs": args.sft_epochs or (1.0 if quick else 4.0),
        "rounds": args.rounds or (1 if quick else 2),
        "round_expert_episodes": args.round_expert_episodes if args.round_expert_episodes is not None
        else (2 if quick else 24),
        "ppo_iterations": args.ppo_iterations if args.ppo_iterations is not None else 1,
        "adversary_updates": args.adversary_updates or (2 if quick else 8),
        "episodes": args.episodes or (3 if quick else None),
    }
    training = {
        "rounds": budget["rounds"], "sft_episodes": budget["round_expert_episodes"], "sft_epochs": 1.0,
        "sft_learning_rate": 5e-4, "ppo_iterations": budget["ppo_iterations"],
        "ppo_episodes_per_iteration": 4 if quick else 8, "ppo_learning_rate": 2e-4, "ppo_kl_coef": 0.05,
        "ppo_args": ["update_epochs=1", "minibatch_size=32", "micro_batch_size=8", "ent_coef=0.0",
                     "reward=[\"env\", \"progress=0.5\"]"],
        "adversary_updates": budget["adversary_updates"], "adversary_tasks": 4 if quick else 12,
        "population_every": 2, "adversary_learning_rate": 0.03, "discriminator_weight": 0.5, "max_steps": 12,
        "eval_episodes": 2 if quick else 8, "num_envs": args.num_envs, **AGENT,
    }
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    quiet_libraries()
    import torch

    torch.set_num_threads(2)

    from sparring.agents import OracleAgent
    from sparring.benchmarks.leaderboard import run_leaderboard
    from sparring.trainers.adversarial import AdversarialConfig, train_adversarial
    from sparring.trainers.collect import collect
    from sparring.trainers.metrics import JsonlLog
    from sparring.trainers.sft import SFTConfig, train_sft

    started = time.perf_counter()
    env_kwargs = {"difficulty": "easy"}

    def expert() -> dict[str, Any]:
        data = out / "sft" / "expert.jsonl"
        stats = collect(OracleAgent(), ENV_IDS, ["train"], data, episodes=budget["expert_episodes"],
                        env_kwargs=env_kwargs, num_envs=8, resume=True)
        return {"data": str(data), **stats.to_dict()}

    expert_data = _stage(out, "expert", expert)

    def sft() -> dict[str, Any]:
        return train_sft(SFTConfig(data=[expert_data["data"]], model="tiny", output_dir=str(out / "sft"),
                                   epochs=budget["sft_epochs"], lora=False, seed=0, resume=True))

    start = _stage(out, "sft", sft)

    runs: dict[str, dict[int, dict[str, Any]]] = {"clean": {}, "adversarial": {}}
    for seed in budget["seeds"]:
        for arm, fraction in (("clean", 0.0), ("adversarial", args.attack_fraction)):
            def train(arm: str = arm, fraction: float = fraction, seed: int = seed) -> dict[str, Any]:
                config = AdversarialConfig(model=start["final"], env_ids=ENV_IDS, difficulty="easy",
                                           output_dir=str(out / "runs" / f"{arm}-{seed}"), attack_fraction=fraction,
                                           seed=seed, resume=True, **training)
                return train_adversarial(config)

            runs[arm][seed] = _stage(out, f"train-{arm}-{seed}", train)

    agents = [_agent_spec("sft", start["final"])]
    for arm in ("clean", "adversarial"):
        agents += [_agent_spec(f"{arm}-{seed}", runs[arm][seed]["final"]) for seed in budget["seeds"]]

    def leaderboard() -> dict[str, Any]:
        board = run_leaderboard(SUITE, agents, out / "leaderboard", workers=args.workers, episodes=budget["episodes"],
                                command=" ".join([sys.executable, "-m", "sparring.benchmarks.results.adversarial",
                                                  *(argv if argv is not None else sys.argv[1:])]))
        return {"sft": figures(board, "sft"),
                **{f"{arm}-{seed}": figures(board, f"{arm}-{seed}") for arm in ("clean", "adversarial")
                   for seed in budget["seeds"]}}

    board = _stage(out, "leaderboard", leaderboard)

    # over seeds: each arm's mean and t-interval; adversarial minus clean, paired by seed
    def aggregate(labels: list[str]) -> dict[str, Any]:
        table: dict[str, Any] = {}
        for split in SPLITS:
            rows = [board[label][split] for label in labels]
            families = sorted({f for r in rows for f in r["families"]})
            table[split] = {"success": seed_interval([r["success"] for r in rows]),
                            "macro_pdr": seed_interval([r["macro_pdr"] for r in rows]),
                            "families": {f: seed_interval([r["families"].get(f, {}).get("pdr") for r in rows])
                                         for f in families}}
        return table

    seeds = budget["seeds"]
    summary_agg = {"sft": aggregate(["sft"]), "clean": aggregate([f"clean-{s}" for s in seeds]),
                   "adversarial": aggregate([f"adversarial-{s}" for s in seeds])}
    paired: dict[str, Any] = {}
    for split in SPLITS:
        def diff(metric: str, split: str = split) -> dict[str, Any]:
            values = []
            for s in seeds:
                a, c = board[f"adversarial-{s}"][split][metric], board[f"clean-{s}"][split][metric]
                values.append(None if a is None or c is None else a - c)
            return seed_interval(values)

        ratios = []
        for s in seeds:
            a, c = board[f"adversarial-{s}"][split]["macro_pdr"], board[f"clean-{s}"][split]["macro_pdr"]
            ratios.append(a / c if a is not None and c and c > 0 else None)
        paired[split] = {"macro_pdr_difference": diff("macro_pdr"), "success_difference": diff("success"),
                         "macro_pdr_ratio": seed_interval(ratios)}
    clean_pdr = summary_agg["clean"]["test"]["macro_pdr"]["mean"]
    adv_pdr = summary_agg["adversarial"]["test"]["macro_pdr"]["mean"]
    drop = paired["test_unseen"]["success_difference"]["mean"]
    target = {
        "halves_macro_pdr_held_out_test": (adv_pdr is not None and clean_pdr is not None and clean_pdr > 0
                                           and adv_pdr <= clean_pdr / 2),
        "clean_test_unseen_drop_at_most_2_points": drop is not None and drop >= -0.02,
        "clean_macro_pdr_test": clean_pdr, "adversarial_macro_pdr_test": adv_pdr,
        "test_unseen_success_difference": drop,
    }
    curves = {s: JsonlLog(Path(runs["adversarial"][s]["output_dir"]) / "adversary.jsonl").read() for s in seeds}
    summary = {
        **provenance(), "envs": list(ENV_IDS),
        "difficulty": "easy", "model": "tiny", "suite": SUITE, "budget": budget, "training": training, "agent": AGENT,
        "attack_fraction": args.attack_fraction, "sft": {k: start[k] for k in ("final", "examples", "train_loss")},
        "per_agent": board, "aggregate": summary_agg, "paired": paired, "target": target,
        "adversary_curves": {str(s): [{k: r.get(k) for k in ("update", "round", "reward", "failure_rate", "mean_drop",
                                                             "flip_rate", "detected", "discriminator_accuracy",
                                                             "entropy", "fields", "operators")} for r in log]
                             for s, log in curves.items()},
        "rounds": {f"{arm}-{s}": runs[arm][s]["history"] for arm in runs for s in seeds},
        "seconds_this_run": time.perf_counter() - started,
        "stage_seconds": {p.stem: json.loads(p.read_text()).get("cpu_seconds") for p in (out / "stages").glob("*.json")},
    }
    plot(summary, curves, out / "adversarial.png")
    write_json_atomic(out / "summary.json", summary)

    from sparring.agents.evaluate import format_table

    def cell(agg: dict[str, Any]) -> str:
        if agg["mean"] is None:
            return "n/a"
        low, high = agg["ci95"]
        return f"{agg['mean']:.3f}" + (f" [{low:.3f}, {high:.3f}]" if low is not None else "")

    rows = []
    for label, key in (("SFT start", "sft"), ("clean training", "clean"), ("adversarial training", "adversarial")):
        agg = summary_agg[key]
        rows.append({"policy": label, "pdr_test": cell(agg["test"]["macro_pdr"]),
                     "pdr_unseen": cell(agg["test_unseen"]["macro_pdr"]), "sr_test": cell(agg["test"]["success"]),
                     "sr_unseen": cell(agg["test_unseen"]["success"])})
    print(format_table(rows, [("policy", "policy"), ("pdr_test", "macro PDR held-out (test)"),
                              ("pdr_unseen", "macro PDR held-out (test_unseen)"), ("sr_test", "clean SR test"),
                              ("sr_unseen", "clean SR test_unseen")]))
    print(f"adversarial - clean, paired by seed: macro PDR (test) {cell(paired['test']['macro_pdr_difference'])}, "
          f"ratio {cell(paired['test']['macro_pdr_ratio'])}; clean test_unseen success "
          f"{cell(paired['test_unseen']['success_difference'])}")
    print(f"target met: halves held-out macro PDR {target['halves_macro_pdr_held_out_test']}, clean test_unseen drop "
          f"<= 2 points {target['clean_test_unseen_drop_at_most_2_points']}")
    print(f"wrote {out / 'summary.json'} and {out / 'adversarial.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
