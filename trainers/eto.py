"""Iterated DPO on exploration failures (ETO: Exploration-based Trajectory Optimisation).

Each round: the current policy explores the training tasks (sampling, several tries per task); its
failures are paired with the expert's trajectories on the same tasks; DPO trains the next policy on
those pairs, with the current policy as reference; the next policy is evaluated on the valid split.
Every round's exploration, pairs, checkpoint and evaluation stay in ``output_dir/round-<r>/``, and
``output_dir/rounds.jsonl`` logs one line per round (``curves.png`` draws it). ``resume=True`` skips
finished rounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sparring.errors import ConfigError
from sparring.trainers.eto_config import ETOConfig


def evaluate_policy(model: str, env_ids: Sequence[str], *, split: str, episodes: int, difficulty: str,
                    num_envs: int, seed: int) -> dict[str, float]:
    """Greedy success of a policy (score mode) per env id, and their mean."""
    from sparring.agents import make_agent
    from sparring.agents.evaluate import evaluate

    agent = make_agent("react", model=model, seed=seed)
    success = {}
    for env_id in env_ids:
        row, _ = evaluate(agent, env_id, split=split, episodes=episodes, num_envs=num_envs,
                          env_kwargs={"difficulty": difficulty})
        success[env_id] = row["success"]
    success["mean"] = sum(success[e] for e in env_ids) / len(env_ids)
    return success


def run_eto(config: ETOConfig) -> dict[str, Any]:
    """Runs the rounds; returns the per-round log."""
    from sparring.agents import OracleAgent, make_agent
    from sparring.trainers.collect import collect
    from sparring.trainers.dpo import DPOConfig, train_dpo
    from sparring.trainers.filters import preference_pairs
    from sparring.trainers.metrics import JsonlLog, write_curves
    from sparring.trajectory import read_episodes, write_rows

    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    env_kwargs = {"difficulty": config.difficulty}
    expert_path = Path(config.expert) if config.expert else out / "expert.jsonl"
    if not config.expert:
        collect(OracleAgent(), config.env_ids, ["train"], expert_path, episodes=config.tasks, env_kwargs=env_kwargs,
                num_envs=config.num_envs, resume=True)
    expert = read_episodes(expert_path)
    log = JsonlLog(out / "rounds.jsonl")
    done = {r["round"]: r for r in log.read()} if config.resume else {}
    if not config.resume and log.path.exists():
        raise ConfigError(f"{log.path} exists; pass resume=True (--resume) or another output_dir")
    if 0 not in done:
        start = evaluate_policy(config.model, config.env_ids, split="valid", episodes=config.valid_episodes,
                                difficulty=config.difficulty, num_envs=config.num_envs, seed=config.seed)
        done[0] = {"round": 0, "policy": config.model, "valid_success": start, "pairs": 0}
        log.write(done[0])
    policy = done[max(done)]["policy"]
    for r in range(1, config.rounds + 1):
        if r in done:
            policy = done[r]["policy"]
            continue
        folder = out / f"round-{r}"
        explorer = make_agent("react", model=policy, temperature=config.temperature, seed=config.seed + r)
        explore_path = folder / "explore.jsonl"
        collect(explorer, config.env_ids, ["train"], explore_path, episodes=config.tasks,
                samples_per_task=config.samples_per_task, env_kwargs=env_kwargs, num_envs=config.num_envs,
                resume=True)
        explored = read_episodes(explore_path)
        rows = preference_pairs(expert, explored, kind=config.pair_kind)
        write_rows(folder / "pairs.jsonl", rows)
        record: dict[str, Any] = {"round": r, "explored": len(explored),
                                  "explore_success": sum(e.won for e in explored) / max(len(explored), 1),
                                  "pairs": len(rows)}
        if rows:
            summary = train_dpo(DPOConfig(model=policy, output_dir=str(folder / "dpo"), beta=config.beta,
                                          learning_rate=config.learning_rate, epochs=config.epochs,
                                          batch_size=config.batch_size, seed=config.seed + r,
                                          report_to=config.report_to, progress=config.progress),
                                rows=[{k: row[k] for k in ("prompt", "chosen", "rejected")} for row in rows])
            policy = summary["final"]
            record.update(dpo_first_margin=summary["first_margin"], dpo_last_margin=summary["last_margin"])
        record["policy"] = policy
        record["valid_success"] = evaluate_policy(policy, config.env_ids, split="valid",
                                                  episodes=config.valid_episodes, difficulty=config.difficulty,
                                                  num_envs=config.num_envs, seed=config.seed)
        log.write(record)
        done[r] = record
    write_curves(out)
    return {"rounds": [done[r] for r in sorted(done)], "final": policy}
