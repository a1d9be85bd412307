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
    if state_path.exists() and not config.resume:
        raise ConfigError(f"{out} holds a recipe run ({state_path.name}); pass resume=True (--resume) to continue "
                          f"it, or choose another output_dir")
    stages: dict[str, Any] = json.loads(state_path.read_text()) if state_path.exists() else {}
    skipped = [name for name in STAGES if name in stages]
    main = distributed.is_main_process()

    def finish(name: str, record: dict[str, Any]) -> None:
        stages[name] = record
        if main:
            write_json_atomic(state_path, stages)
        distributed.barrier()

    env_kwargs = {"difficulty": config.difficulty} if config.difficulty else {}
    if "oracle" not in stages:
        data = out / "oracle" / "trajectories.jsonl"
        if main:  # one process writes the expert episodes; the others wait for them
            stats = collect(OracleAgent(), config.env_ids, ["train"], data, episodes=config.expert_episodes,
                            env_kwargs=env_kwargs, num_envs=config.num_envs, resume=True)
            logger.info("oracle: %d episodes written (%d already there)", stats.written, stats.skipped)
        distributed.barrier()
        finish("oracle", {"data": str(data), "episodes": config.expert_episodes * len(config.env_ids)})
    if "sft" not in stages:
        summary = train_sft(config.sft_config(stages["oracle"]["data"]))
        finish("sft", {"final": summary["final"], "train_loss": summary["train_loss"], "steps": summary["steps"],
                       "examples": summary["examples"]})
    ppo_config = config.ppo_config(stages["sft"]["final"])
    if "ppo" not in stages:
        report = train_ppo(ppo_config)
        finish("ppo", {"final": report.final, "iterations": report.iterations, "env_steps": report.env_steps,
                       "first_success": report.first.get("success"), "last_success": report.last.get("success")})
    if config.eval_episodes and "eval" not in stages:
        record: dict[str, Any] = {}
        if main:
            record = {"sft": _evaluate(stages["sft"]["final"], config, ppo_config),
                      "sft_ppo": _evaluate(stages["ppo"]["final"], config, ppo_config),
                      "episodes": config.eval_episodes}
        finish("eval", record)
    summary = {"stages": stages, "skipped": skipped, "sft": stages["sft"]["final"], "final": stages["ppo"]["final"],
               "config": config.to_dict()}
    if main:
        write_json_atomic(out / "summary.json", summary)
    return summary


__all__ = ["SFTPPOConfig", "run_sft_ppo"]
