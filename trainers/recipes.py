"""Recipes: trainers chained into one resumable command.

``sft-ppo`` (``sparring train recipe sft-ppo``): the oracle plays the training tasks (expert
trajectories) → SFT on them → PPO from the SFT policy (a fresh LoRA adapter on top, so PPO's
reference is the SFT policy) → optionally a greedy evaluation of both policies on held-out splits.
Every stage keeps its own output in a subfolder::

    oracle/trajectories.jsonl     the expert episodes (sparring.trainers.collect)
    sft/                          train_sft's output: final/, metrics.jsonl, tensorboard/, checkpoints/
    ppo/                          train_ppo's output: final/, log.jsonl, tensorboard/, checkpoints/
    stages.json                   what each finished stage produced (written after each stage)
    summary.json                  the recipe's result

With ``resume=True`` a finished stage (listed in ``stages.json``) is skipped, and an interrupted
one continues from its own checkpoints (collection skips the episodes already written, SFT resumes
from its last Hugging Face checkpoint, PPO from its last iteration).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from sparring.errors import ConfigError
from sparring.trainers import distributed
from sparring.trainers.recipes_config import SFTPPOConfig
from sparring.trainers.run_dir import StageRecords, refuse_existing

logger = logging.getLogger(__name__)

STAGES = ("oracle", "sft", "ppo", "eval")


def _evaluate(model: str, config: SFTPPOConfig, ppo: Any) -> dict[str, dict[str, float]]:
    """Greedy success per split and env id (and their mean), with PPO's agent settings."""
    from sparring.agents import make_agent
    from sparring.agents.evaluate import evaluate

    agent = make_agent("react", model=model, mode=ppo.mode, normalization=ppo.normalization, window=ppo.window,
                       show_admissible=ppo.show_admissible, max_new_tokens=ppo.max_new_tokens, seed=config.seed)
    out: dict[str, dict[str, float]] = {}
    for split in config.eval_splits:
        row: dict[str, float] = {}
        for env_id in config.env_ids:
            result, _ = evaluate(agent, env_id, split=split, episodes=config.eval_episodes, num_envs=config.num_envs,
                                 env_kwargs={"difficulty": config.difficulty} if config.difficulty else {})
            row[env_id] = result["success"]
        row["mean"] = sum(row[e] for e in config.env_ids) / len(config.env_ids)
        out[split] = row
    return out


def run_sft_ppo(config: SFTPPOConfig) -> dict[str, Any]:
    """Runs the recipe (see the module docstring); returns what every stage produced."""
    from sparring.agents import OracleAgent
    from sparring.fileio import write_json_atomic
    from sparring.trainers.collect import collect
    from sparring.trainers.ppo import train_ppo
    from sparring.trainers.sft import train_sft

    if not isinstance(config, SFTPPOConfig):
        raise ConfigError(f"expected an SFTPPOConfig, got {type(config).__name__}")
    out = Path(config.output_dir)
    state_path = out / "stages.json"
    refuse_existing(out, state_path.name if state_path.exists() else None, config.resume, "a recipe run")
    main = distributed.is_main_process()

    def save() -> None:
        if main:
            write_json_atomic(state_path, stages.records)
        distributed.barrier()

    stages = StageRecords(json.loads(state_path.read_text()) if state_path.exists() else {}, save)
    skipped = [name for name in STAGES if name in stages]
    env_kwargs = {"difficulty": config.difficulty} if config.difficulty else {}

    def oracle() -> dict[str, Any]:
        data = out / "oracle" / "trajectories.jsonl"
        if main:  # one process writes the expert episodes; the others wait for them
            stats = collect(OracleAgent(), config.env_ids, ["train"], data, episodes=config.expert_episodes,
                            env_kwargs=env_kwargs, num_envs=config.num_envs, resume=True)
            logger.info("oracle: %d episodes written (%d already there)", stats.written, stats.skipped)
        distributed.barrier()
        return {"data": str(data), "episodes": config.expert_episodes * len(config.env_ids)}

    def sft() -> dict[str, Any]:
        summary = train_sft(config.sft_config(stages.get("oracle")["data"]))
        return {"final": summary["final"], "train_loss": summary["train_loss"], "steps": summary["steps"],
                "examples": summary["examples"]}

    def ppo() -> dict[str, Any]:
        report = train_ppo(ppo_config)
        return {"final": report.final, "iterations": report.iterations, "env_steps": report.env_steps,
                "first_success": report.first.get("success"), "last_success": report.last.get("success")}

    def evaluation() -> dict[str, Any]:
        if not main:
            return {}
        return {"sft": _evaluate(stages.get("sft")["final"], config, ppo_config),
                "sft_ppo": _evaluate(stages.get("ppo")["final"], config, ppo_config), "episodes": config.eval_episodes}

    stages.run("oracle", oracle)
    ppo_config = config.ppo_config(stages.run("sft", sft)["final"])
    stages.run("ppo", ppo)
    if config.eval_episodes:
        stages.run("eval", evaluation)
    summary = {"stages": stages.records, "skipped": skipped, "sft": stages.get("sft")["final"],
               "final": stages.get("ppo")["final"], "config": config.to_dict()}
    if main:
        write_json_atomic(out / "summary.json", summary)
    return summary


__all__ = ["SFTPPOConfig", "run_sft_ppo"]
