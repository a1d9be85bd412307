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

import dataclasses
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sparring.errors import ConfigError
from sparring.trainers import distributed
from sparring.trainers.run_dir import StageRecords, refuse_existing

logger = logging.getLogger(__name__)

STAGES = ("oracle", "sft", "ppo", "eval")
#: fields the recipe sets itself; sft_args / ppo_args may not override them
_SFT_OWN = ("data", "model", "output_dir", "resume", "seed")
_PPO_OWN = ("model", "env_ids", "difficulty", "output_dir", "resume", "seed")


def _parse_args(items: Sequence[str], cls: type, own: Sequence[str], flag: str) -> dict[str, Any]:
    from sparring.config_cli import parse_key_values

    return parse_key_values(items, what=flag, example=f"{flag} learning_rate=1e-4", cls=cls, own=own,
                            owner="the recipe")


@dataclasses.dataclass
class SFTPPOConfig:
    """Oracle trajectories → SFT → PPO (see the module docstring)."""

    model: str = "tiny"  #: the model SFT starts from (a zoo name, checkpoint, directory or hub id)
    env_ids: Sequence[str] = ("sparring/Household-v0", "sparring/Navigation-v0")  #: envs of every stage
    difficulty: str = "easy"  #: difficulty preset of the envs
    output_dir: str = "runs/sft-ppo"  #: one subfolder per stage goes here
    expert_episodes: int = 100  #: oracle episodes per env id (train split, seeds 0..n-1)
    sft_epochs: float = 3.0  #: SFT passes over the expert steps
    sft_batch_size: int = 8  #: SFT examples per step
    sft_learning_rate: float | None = None  #: None: SFT's default for the model (1e-3 full fine-tuning of tiny)
    sft_lora: bool | None = None  #: SFT with a LoRA adapter (True) or all weights (False); None: SFT's default
    sft_args: Sequence[str] = ()  #: more SFTConfig fields as KEY=VALUE (JSON values), e.g. max_length=512
    ppo_iterations: int = 20  #: PPO iterations
    ppo_episodes_per_iteration: int = 16  #: PPO episodes per env id per iteration
    ppo_learning_rate: float = 1e-4  #: PPO learning rate of the adapter
    ppo_kl_coef: float = 0.05  #: PPO weight of KL(policy || SFT policy)
    ppo_mode: str = "score"  #: PPO action mode: "score" (admissible actions) or "generate"
    ppo_args: Sequence[str] = ()  #: more PPOConfig fields as KEY=VALUE (JSON values), e.g. update_epochs=2
    eval_episodes: int = 20  #: greedy episodes per env id and split comparing SFT with SFT -> PPO (0: no evaluation)
    eval_splits: Sequence[str] = ("valid",)  #: splits of that evaluation
    num_envs: int = 8  #: envs played side by side in collection, PPO and evaluation
    seed: int = 0  #: seed of every stage
    resume: bool = False  #: skip finished stages and continue an interrupted one

    def __post_init__(self) -> None:
        from sparring.envs.splits import SPLITS
        from sparring.trainers.ppo import PPOConfig
        from sparring.trainers.sft import SFTConfig

        if isinstance(self.env_ids, str):
            self.env_ids = (self.env_ids,)
        self.env_ids = tuple(self.env_ids)
        for name in ("sft_args", "ppo_args", "eval_splits"):
            if isinstance(getattr(self, name), str):
                setattr(self, name, (getattr(self, name),))
            setattr(self, name, tuple(getattr(self, name)))
        for name in ("expert_episodes", "sft_batch_size", "num_envs"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
        if not isinstance(self.eval_episodes, int) or self.eval_episodes < 0:
            raise ConfigError(f"eval_episodes must be an integer >= 0 (0: no evaluation), got {self.eval_episodes!r}")
        if not isinstance(self.sft_epochs, (int, float)) or not math.isfinite(self.sft_epochs) or self.sft_epochs <= 0:
            raise ConfigError(f"sft_epochs must be a number > 0, got {self.sft_epochs!r}")
        for split in self.eval_splits:
            if split not in SPLITS:
                raise ConfigError(f"eval_splits must be among {SPLITS}, got {split!r}")
        self._sft_extra = _parse_args(self.sft_args, SFTConfig, _SFT_OWN, "--sft-args")
        self._ppo_extra = _parse_args(self.ppo_args, PPOConfig, _PPO_OWN, "--ppo-args")
        self.ppo_config(self.model)  # PPO's own checks, now rather than after SFT

    def ppo_config(self, model: str) -> Any:
        from sparring.trainers.ppo import PPOConfig

        settings = dict(iterations=self.ppo_iterations, episodes_per_iteration=self.ppo_episodes_per_iteration,
                        learning_rate=self.ppo_learning_rate, kl_coef=self.ppo_kl_coef, mode=self.ppo_mode,
                        num_envs=self.num_envs)
        settings.update(self._ppo_extra)
        return PPOConfig(model=model, env_ids=self.env_ids, difficulty=self.difficulty,
                         output_dir=str(Path(self.output_dir) / "ppo"), seed=self.seed, resume=self.resume, **settings)

    def sft_config(self, data: str) -> Any:
        from sparring.trainers.sft import SFTConfig

        settings: dict[str, Any] = dict(epochs=self.sft_epochs, batch_size=self.sft_batch_size)
        if self.sft_learning_rate is not None:
            settings["learning_rate"] = self.sft_learning_rate
        if self.sft_lora is not None:
            settings["lora"] = self.sft_lora
        settings.update(self._sft_extra)
        return SFTConfig(data=[data], model=self.model, output_dir=str(Path(self.output_dir) / "sft"),
                         seed=self.seed, resume=self.resume, **settings)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
                for f in dataclasses.fields(self)}


def _evaluate(model: str, config: SFTPPOConfig, ppo: Any) -> dict[str, dict[str, float]]:
    """Greedy success per split and env id (and their mean), with PPO's agent settings."""
    from sparring.agents import make_agent
    from sparring.benchmarks.evaluate import evaluate

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
