"""PPO, measured: SFT → PPO against SFT alone, and PPO from scratch against random, with ``tiny`` on CPU.

    python -m sparring.benchmarks.results.ppo                 # the full run (CPU, a few hours)
    python -m sparring.benchmarks.results.ppo --quick         # minutes, small budgets

On Household and Navigation (``--difficulty easy``), one policy for both envs:

1. the random agent on the valid and test_unseen splits: the floor;
2. the ``sft-ppo`` recipe (:mod:`sparring.trainers.recipes`): oracle trajectories on the train
   split → SFT of ``tiny`` (all weights) → PPO from the SFT checkpoint (a fresh LoRA adapter, the
   SFT policy as reference) for ``--cpu-minutes`` of training, with greedy valid evaluations along
   the way (the first one is the SFT policy itself);
3. PPO from scratch: ``tiny`` as initialised + a LoRA adapter, for ``--scratch-cpu-minutes``;
4. greedy success of SFT, SFT → PPO and PPO from scratch on valid and test_unseen (95% Wilson
   intervals; the same seeds for every policy), and of PPO from scratch sampling at temperature 1
   (the policy it trained; the random agent samples too).

Both PPO runs add the dense ``progress`` reward to the env's outcome reward. The training budget is
CPU time of the process (evaluations excluded), 40 minutes by default: 20 minutes of two dedicated
cores, and the same amount of work on a shared machine, where wall-clock time runs longer.

Every stage is kept under ``--out`` (default ``results/ppo``) and skipped once finished, so an
interrupted run resumes. It writes ``summary.json`` (every figure, the settings, versions, seeds and
times) and ``curves.png`` (training success per iteration, valid success along training, final
success per split). The figures are whatever this run measures; nothing here is a target.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from sparring.benchmarks.results import provenance, quiet_libraries, results_parser, run_once, save_figure
from sparring.fileio import write_json_atomic

ENV_IDS = ("sparring/Household-v0", "sparring/Navigation-v0")
SPLITS = ("valid", "test_unseen")


_stage = run_once  # each stage's record ({"result", "seconds", "cpu_seconds"}), kept under out/stages


def evaluate_policy(agent_name: str, *, model: str, agent_kwargs: dict[str, Any], episodes: int, difficulty: str,
                    num_envs: int, seed: int) -> dict[str, Any]:
    """Greedy success (95% Wilson interval) per split and env, and pooled over the envs."""
    from sparring.agents import make_agent
    from sparring.agents.evaluate import evaluate, wilson_interval

    if agent_name == "random":
        agent = make_agent("random", seed=seed)
    else:
        agent = make_agent("react", model=model, seed=seed, **agent_kwargs)
    table: dict[str, Any] = {}
    for split in SPLITS:
        rows, wins, total = {}, 0, 0
        for env_id in ENV_IDS:
            row, _ = evaluate(agent, env_id, split=split, episodes=episodes, num_envs=num_envs,
                              env_kwargs={"difficulty": difficulty})
            rows[env_id] = {k: row[k] for k in ("episodes", "success", "success_ci95", "mean_steps", "mean_return")}
            wins += round(row["success"] * row["episodes"])
            total += row["episodes"]
        rows["pooled"] = {"episodes": total, "success": wins / total, "success_ci95": list(wilson_interval(wins, total))}
        table[split] = rows
    return table


def plot(summary: dict[str, Any], logs: dict[str, list[dict[str, Any]]], target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.4))
    colours = {"SFT → PPO": "tab:blue", "PPO from scratch": "tab:orange"}
    for label, log in logs.items():
        iterations = [r for r in log if "success" in r]
        for env_id, style in zip(ENV_IDS, ("-", "--"), strict=True):
            key = f"{env_id.split('/')[-1]}/success"
            axes[0].plot([r["env_steps"] for r in iterations], [r[key] for r in iterations], style, marker=".",
                         color=colours[label], label=f"{label}, {env_id.split('/')[-1]}")
        evals = [r for r in log if "eval/success" in r]
        axes[1].plot([r["env_steps"] for r in evals], [r["eval/success"] for r in evals], "o-",
                     color=colours[label], label=label)
    random_valid = summary["random"]["valid"]["pooled"]["success"]
    axes[0].set(title="training rollouts (train split, sampling)", xlabel="env steps", ylabel="success rate",
                ylim=(0, 1.02))
    axes[0].legend(fontsize=7)
    axes[1].axhline(random_valid, color="grey", linestyle=":", label="random agent")
    axes[1].set(title="valid split, greedy, mean of both envs", xlabel="env steps", ylabel="success rate",
                ylim=(0, 1.02))
    axes[1].legend(fontsize=8)

    policies = [("random", summary["random"]), ("SFT", summary["sft"]), ("SFT → PPO", summary["sft_ppo"]),
                ("PPO scratch", summary["scratch"]), ("PPO scratch, sampled", summary["scratch_sampled"])]
    width = 0.16
    for s, split in enumerate(SPLITS):
        for p, (label, table) in enumerate(policies):
            row = table[split]["pooled"]
            low, high = row["success_ci95"]
            x = s + (p - (len(policies) - 1) / 2) * width
            axes[2].bar(x, row["success"], width, color=f"C{p}", label=label if s == 0 else None)
            axes[2].errorbar(x, row["success"], yerr=[[row["success"] - low], [high - row["success"]]],
                             color="black", capsize=3, linewidth=1)
    axes[2].set_xticks(range(len(SPLITS)), SPLITS)
    axes[2].set(title="greedy success, both envs pooled (95% CI)", ylim=(0, 1.02), ylabel="success rate")
    axes[2].legend(fontsize=8)
    save_figure(fig, target)


def main(argv: list[str] | None = None) -> int:
    parser = results_parser(__doc__, "results/ppo")
    parser.add_argument("--difficulty", default="easy", help="difficulty of both envs (default easy)")
    parser.add_argument("--expert-episodes", type=int, help="oracle episodes per env for SFT (default 100; quick 8)")
    parser.add_argument("--sft-epochs", type=float, help="SFT passes over the expert steps (default 2; quick 1)")
    parser.add_argument("--cpu-minutes", type=float,
                        help="PPO training budget from SFT, in CPU minutes of this process (default 40: 20 minutes of "
                             "two dedicated cores; quick 1)")
    parser.add_argument("--scratch-cpu-minutes", type=float,
                        help="the same for PPO from scratch (default 40; quick 1)")
    parser.add_argument("--episodes", type=int, help="evaluation episodes per env and split (default 40; quick 4)")
    parser.add_argument("--eval-every", type=int, help="PPO iterations between valid evaluations (default 3)")
    parser.add_argument("--num-envs", type=int, default=8, help="envs played side by side in training (default 8)")
    parser.add_argument("--eval-num-envs", type=int, default=16, help="envs played side by side in evaluations "
                                                                        "(default 16)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every stage (default 0)")
    args = parser.parse_args(argv)
    quick = args.quick
    budget = {
        "expert_episodes": args.expert_episodes or (8 if quick else 100),
        "sft_epochs": args.sft_epochs or (1.0 if quick else 2.0),
        "cpu_minutes": args.cpu_minutes if args.cpu_minutes is not None else (1.0 if quick else 40.0),
        "scratch_cpu_minutes": (args.scratch_cpu_minutes if args.scratch_cpu_minutes is not None
                                else (1.0 if quick else 40.0)),
        "episodes": args.episodes or (4 if quick else 40),
        "eval_every": args.eval_every or 3,
        "eval_episodes_during_training": 4 if quick else 20,
    }
    # the agent settings PPO trains with and every evaluation of that policy uses: SFT learnt on prompts
    # with 4 earlier turns and the admissible actions listed; from scratch, shorter prompts train faster
    agent = {"mode": "score", "normalization": "token", "window": 4, "show_admissible": True}
    scratch_agent = {**agent, "window": 0, "show_admissible": False}
    # PPO from the SFT policy: small steps near the reference (the SFT policy is already decent). Training
    # episodes stop at 15 steps (the oracle needs about 4; evaluations keep the env's 30).
    sft_ppo = {"episodes_per_iteration": 8, "update_epochs": 2, "minibatch_size": 32, "micro_batch_size": 8,
               "learning_rate": 2e-4, "kl_coef": 0.05, "ent_coef": 0.0, "temperature": 1.0,
               "reward": ["env", "progress=0.5"], "env_args": ["max_steps=15"],
               "eval_episodes": budget["eval_episodes_during_training"], "eval_every": budget["eval_every"],
               "max_cpu_minutes": budget["cpu_minutes"], "iterations": 1000, **agent}
    # PPO from scratch: a random model, no reference worth staying near (no KL, no reference pass)
    scratch_ppo = {**sft_ppo, "learning_rate": 1e-3, "kl_coef": 0.0, "kl_limit": 0.0, "ent_coef": 0.01,
                   "max_cpu_minutes": budget["scratch_cpu_minutes"], **scratch_agent}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    quiet_libraries()

    from sparring.trainers.metrics import JsonlLog
    from sparring.trainers.ppo import PPOConfig, train_ppo
    from sparring.trainers.recipes import SFTPPOConfig, run_sft_ppo

    started = time.perf_counter()
    common = {"episodes": budget["episodes"], "difficulty": args.difficulty, "num_envs": args.eval_num_envs,
              "seed": args.seed}
    random_ = _stage(out, "random", lambda: evaluate_policy("random", model="", agent_kwargs={}, **common))

    def recipe() -> dict[str, Any]:
        config = SFTPPOConfig(
            model="tiny", env_ids=ENV_IDS, difficulty=args.difficulty, output_dir=str(out / "sft-ppo"),
            expert_episodes=budget["expert_episodes"], sft_epochs=budget["sft_epochs"], sft_lora=False,
            ppo_iterations=sft_ppo["iterations"], ppo_episodes_per_iteration=sft_ppo["episodes_per_iteration"],
            ppo_learning_rate=sft_ppo["learning_rate"], ppo_kl_coef=sft_ppo["kl_coef"], ppo_mode=agent["mode"],
            ppo_args=[f"{k}={json.dumps(v)}" for k, v in sft_ppo.items() if k not in
                      ("iterations", "episodes_per_iteration", "learning_rate", "kl_coef", "mode")]
            + ["progress=false", "tensorboard=true"],
            eval_episodes=0, num_envs=args.num_envs, seed=args.seed, resume=True)
        return run_sft_ppo(config)

    chain = _stage(out, "sft_ppo_training", recipe)["result"]
    sft = _stage(out, "sft", lambda: evaluate_policy("react", model=chain["sft"], agent_kwargs=agent, **common))
    tuned = _stage(out, "sft_ppo", lambda: evaluate_policy("react", model=chain["final"], agent_kwargs=agent,
                                                           **common))

    def scratch() -> dict[str, Any]:
        config = PPOConfig(model="tiny", env_ids=ENV_IDS, difficulty=args.difficulty, output_dir=str(out / "scratch"),
                           num_envs=args.num_envs, seed=args.seed, resume=True, progress=False, **scratch_ppo)
        return train_ppo(config).to_dict()

    scratch_run = _stage(out, "scratch_training", scratch)["result"]
    scratch_eval = _stage(out, "scratch", lambda: evaluate_policy("react", model=scratch_run["final"],
                                                                  agent_kwargs=scratch_agent, **common))
    # the policy PPO trained is the sampling one: from scratch, its argmax may be much weaker than it
    scratch_sampled = _stage(out, "scratch_sampled", lambda: evaluate_policy(
        "react", model=scratch_run["final"], agent_kwargs={**scratch_agent, "temperature": 1.0}, **common))
    ppo_log = JsonlLog(out / "sft-ppo" / "ppo" / "log.jsonl").read()
    scratch_log = JsonlLog(out / "scratch" / "log.jsonl").read()
    sft_ppo_summary = json.loads((out / "sft-ppo" / "ppo" / "summary.json").read_text())

    summary = {
        **provenance(), "envs": list(ENV_IDS),
        "difficulty": args.difficulty, "seed": args.seed, "model": "tiny", "budget": budget, "agent": agent,
        "scratch_agent": scratch_agent,
        "ppo_from_sft": sft_ppo, "ppo_from_scratch": scratch_ppo,
        "evaluation_seeds": f"0..{budget['episodes'] - 1} per env and split, greedy",
        "random": random_["result"], "sft": sft["result"], "sft_ppo": tuned["result"],
        "scratch": scratch_eval["result"], "scratch_sampled": scratch_sampled["result"],
        "training": {
            "sft": chain["stages"]["sft"],
            "sft_ppo": {"iterations": sft_ppo_summary["iterations"], "env_steps": sft_ppo_summary["env_steps"],
                        "training_seconds": sft_ppo_summary["last"]["training_seconds"],
                        "training_cpu_seconds": sft_ppo_summary["last"]["training_cpu_seconds"],
                        "evaluations": sft_ppo_summary["evaluations"]},
            "scratch": {"iterations": scratch_run["iterations"], "env_steps": scratch_run["env_steps"],
                        "training_seconds": scratch_run["last"]["training_seconds"],
                        "training_cpu_seconds": scratch_run["last"]["training_cpu_seconds"],
                        "evaluations": scratch_run["evaluations"],
                        "first_rollout_success": scratch_run["first"].get("success"),
                        "last_rollout_success": scratch_run["last"].get("success")},
        },
        "seconds_this_run": time.perf_counter() - started,
    }
    plot(summary, {"SFT → PPO": ppo_log, "PPO from scratch": scratch_log}, out / "curves.png")
    write_json_atomic(out / "summary.json", summary)

    from sparring.agents.evaluate import format_table

    rows = []
    for label, table in (("random", random_["result"]), ("SFT", sft["result"]), ("SFT -> PPO", tuned["result"]),
                         ("PPO from scratch", scratch_eval["result"]),
                         ("PPO from scratch, sampled", scratch_sampled["result"])):
        row: dict[str, Any] = {"policy": label}
        for split in SPLITS:
            for env_id in ENV_IDS:
                row[f"{split}/{env_id}"] = table[split][env_id]["success"]
            row[f"{split}/ci"] = table[split]["pooled"]["success_ci95"]
            row[f"{split}/pooled"] = table[split]["pooled"]["success"]
        rows.append(row)
    columns = [("policy", "policy")]
    for split in SPLITS:
        columns += [(f"{split}/{e}", f"{split} {e.split('/')[-1][:-3]}") for e in ENV_IDS]
        columns += [(f"{split}/pooled", f"{split} pooled"), (f"{split}/ci", "95% CI")]
    print(format_table(rows, columns))
    for name, label in (("sft_ppo", "SFT -> PPO"), ("scratch", "PPO from scratch")):
        t = summary["training"][name]
        print(f"{label}: {t['iterations']} iterations, {t['env_steps']} env steps, "
              f"{t['training_cpu_seconds'] / 60:.1f} CPU min ({t['training_seconds'] / 60:.1f} min wall)")
    print(f"wrote {out / 'summary.json'} and {out / 'curves.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
