"""The configuration of :func:`~sparring.trainers.recipes.run_sft_ppo` (``sparring train recipe sft-ppo``):
one field per option, each with its help in the field's metadata, from which the command line builds its
options (docs/STYLE.md, item 4)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sparring.errors import ConfigError
from sparring.trainers.config_base import (
    as_tuple,
    check_common,
    check_integers,
    check_numbers,
    config_dict,
    option,
    report_to_option,
)

#: fields the recipe sets itself; sft_args / ppo_args may not override them
_SFT_OWN = ("data", "model", "output_dir", "resume", "seed")
_PPO_OWN = ("model", "env_ids", "difficulty", "output_dir", "resume", "seed")


def _parse_args(items: Sequence[str], cls: type, own: Sequence[str], flag: str) -> dict[str, Any]:
    from sparring.keyvalues import parse_key_values

    return parse_key_values(items, what=flag, example=f"{flag} learning_rate=1e-4", cls=cls, own=own,
                            owner="the recipe")


@dataclasses.dataclass
class SFTPPOConfig:
    """Oracle trajectories → SFT → PPO (see :mod:`sparring.trainers.recipes`)."""

    model: str = option("tiny", "the model SFT starts from (a zoo name, checkpoint, directory or hub id)")
    env_ids: Sequence[str] = option(
        ("sparring/Household-v0", "sparring/Navigation-v0"),
        "envs of every stage")
    difficulty: str = option("easy", "difficulty preset of the envs")
    output_dir: str = option("runs/sft-ppo", "one subfolder per stage goes here")
    expert_episodes: int = option(100, "oracle episodes per env id (train split, seeds 0..n-1)")
    sft_epochs: float = option(3.0, "SFT passes over the expert steps")
    sft_batch_size: int = option(8, "SFT examples per step")
    sft_learning_rate: float | None = option(None, "None: SFT's default for the model (1e-3 full fine-tuning"
                                                   " of tiny)")
    sft_lora: bool | None = option(None, "SFT with a LoRA adapter (True) or all weights (False); None: SFT's"
                                         " default")
    sft_args: Sequence[str] = option((), "more SFTConfig fields as KEY=VALUE (JSON values), e.g. "
                                         "max_length=512")
    ppo_iterations: int = option(20, "PPO iterations")
    ppo_episodes_per_iteration: int = option(16, "PPO episodes per env id per iteration")
    ppo_learning_rate: float = option(1e-4, "PPO learning rate of the adapter")
    ppo_kl_coef: float = option(0.05, "PPO weight of KL(policy || SFT policy)")
    ppo_mode: str = option("score", 'PPO action mode: "score" (admissible actions) or "generate"')
    ppo_args: Sequence[str] = option((), "more PPOConfig fields as KEY=VALUE (JSON values), e.g. "
                                         "update_epochs=2")
    eval_episodes: int = option(20, "greedy episodes per env id and split comparing SFT with SFT -> PPO (0: "
                                    "no evaluation)")
    eval_splits: Sequence[str] = option(("valid",), "splits of that evaluation")
    num_envs: int = option(8, "envs played side by side in collection, PPO and evaluation")
    seed: int = option(0, "seed of every stage")
    report_to: Sequence[str] = report_to_option("passed to both stages, each its own tracker run (sft/, ppo/)")
    resume: bool = option(False, "skip finished stages and continue an interrupted one")

    def __post_init__(self) -> None:
        check_common(self)
        from sparring.envs.splits import SPLITS
        from sparring.trainers.ppo import PPOConfig
        from sparring.trainers.sft import SFTConfig

        as_tuple(self, "env_ids", "sft_args", "ppo_args", "eval_splits")
        check_integers(self, 1, "expert_episodes", "sft_batch_size", "num_envs")
        check_integers(self, 0, "eval_episodes")  # 0: no evaluation
        check_numbers(self, 0.0, "sft_epochs", open_low=True)
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
                        num_envs=self.num_envs, report_to=self.report_to)
        settings.update(self._ppo_extra)
        return PPOConfig(model=model, env_ids=self.env_ids, difficulty=self.difficulty,
                         output_dir=str(Path(self.output_dir) / "ppo"), seed=self.seed, resume=self.resume, **settings)

    def sft_config(self, data: str) -> Any:
        from sparring.trainers.sft import SFTConfig

        settings: dict[str, Any] = dict(epochs=self.sft_epochs, batch_size=self.sft_batch_size, report_to=self.report_to)
        if self.sft_learning_rate is not None:
            settings["learning_rate"] = self.sft_learning_rate
        if self.sft_lora is not None:
            settings["lora"] = self.sft_lora
        settings.update(self._sft_extra)
        return SFTConfig(data=[data], model=self.model, output_dir=str(Path(self.output_dir) / "sft"),
                         seed=self.seed, resume=self.resume, **settings)

    def to_dict(self) -> dict[str, Any]:
        return config_dict(self)
