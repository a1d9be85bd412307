"""The configuration of :func:`~sparring.trainers.adversarial.train_adversarial` (``sparring train
adversarial``): one field per option, each with its help in the field's metadata, from which the command
line builds its options (docs/STYLE.md, item 4)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from sparring.adversary.edits import FIELDS
from sparring.errors import ConfigError
from sparring.trainers.config_base import (
    as_tuple,
    check_common,
    check_integers,
    check_numbers,
    config_dict,
    difficulty_option,
    is_number,
    option,
    report_to_option,
    tensorboard_option,
)

#: fields the trainer sets itself in the configs it builds; *_args may not override them
_ADVERSARY_OWN = ("env_ids", "difficulty", "max_steps", "operators", "targets", "budget", "seed", "tasks_per_update",
                  "num_envs", "learning_rate", "discriminator_weight", "population_every")
_SFT_OWN = ("data", "model", "output_dir", "resume", "seed", "lora", "epochs", "learning_rate")
_DPO_OWN = ("pairs", "model", "output_dir", "resume", "seed")
_PPO_OWN = ("model", "env_ids", "difficulty", "output_dir", "resume", "seed", "iterations", "episodes_per_iteration",
            "learning_rate", "kl_coef", "mode", "normalization", "window", "show_admissible", "attack_fraction",
            "num_envs")


@dataclasses.dataclass
class AdversarialConfig:
    """Min-max training against a learned adversary (see :mod:`sparring.trainers.adversarial`)."""

    model: str = option("tiny", "the starting policy, usually an SFT checkpoint (sparring train sft's "
                                "final/)")
    env_ids: Sequence[str] = option(
        ("sparring/Household-v0", "sparring/Navigation-v0"),
        "envs of every phase (their train split)")
    difficulty: str = difficulty_option()
    output_dir: str = option("runs/adversarial", "where the adversary, every round's policies, logs and the "
                                                 "final policy go")
    rounds: int = option(3, "adversary phase + agent phase, this many times")
    attack_fraction: float = option(0.5, "share of the agent's training episodes played under the adversary "
                                         "(0: clean training, no adversary)")
    mode: str = option("score", "the agent's action mode; \"score\" (the adversary queries the agent's action "
                                "scores)")
    normalization: str = option("token", 'candidate log-probs per "token", per "word", or "sum"')
    window: int = option(4, "earlier turns in the agent's prompt")
    show_admissible: bool = option(True, "list the admissible actions in the prompt")
    max_steps: int = option(15, "step limit of training episodes (adversary, PPO, DPO exploration; 0: the "
                                "env's own)")
    adversary_updates: int = option(10, "adversary updates per round")
    adversary_tasks: int = option(16, "tasks (episodes) per adversary update")
    adversary_operators: Sequence[str] = option(("train",), "operators the adversary may use: train attacks "
                                                            "only")
    adversary_targets: Sequence[str] = option(FIELDS, "fields the adversary may perturb")
    adversary_budget: int = option(2, "most edit units of one adversary move")
    adversary_learning_rate: float = option(0.01, "Adam step size of the adversary's policy network")
    discriminator_weight: float = option(0.5, "penalty on the adversary per unit of the discriminator's "
                                              "P(perturbed)")
    population_every: int = option(5, "adversary updates between snapshots joining its population")
    adversary_args: Sequence[str] = option((), "more LearnedAdversaryConfig fields as KEY=VALUE (JSON "
                                               "values), e.g. ent_coef=0.02")
    sft_episodes: int = option(0, "expert episodes per env id per round for SFT, attack_fraction of them "
                                  "under attack (0: no SFT step)")
    sft_epochs: float = option(1.0, "SFT passes over a round's expert steps")
    sft_learning_rate: float | None = option(None, "SFT learning rate (None: SFT's default for the model)")
    sft_args: Sequence[str] = option((), "more SFTConfig fields as KEY=VALUE (JSON values), e.g. "
                                         "batch_size=16")
    dpo_episodes: int = option(0, "agent episodes per env id per round whose failures are paired with the "
                                  "expert for DPO (0: no DPO step)")
    dpo_args: Sequence[str] = option((), "more DPOConfig fields as KEY=VALUE (JSON values), e.g. beta=0.2")
    ppo_iterations: int = option(2, "PPO iterations per round (0: no PPO step)")
    ppo_episodes_per_iteration: int = option(8, "PPO episodes per env id per iteration")
    ppo_learning_rate: float = option(1e-4, "PPO learning rate of the adapter")
    ppo_kl_coef: float = option(0.05, "PPO weight of KL(policy || the round's starting policy)")
    ppo_args: Sequence[str] = option((), "more PPOConfig fields as KEY=VALUE (JSON values), e.g. "
                                         "update_epochs=2")
    eval_episodes: int = option(16, "greedy episodes per env id after each round, clean and attacked (0: no "
                                    "evaluation)")
    num_envs: int = option(8, "envs played side by side in every phase")
    seed: int = option(0, "seeds every phase (tasks, adversary, SFT, DPO, PPO)")
    tensorboard: bool = tensorboard_option()
    report_to: Sequence[str] = report_to_option()
    progress: bool = option(True, "a progress bar over the rounds, naming the stage running (shown only on a"
                                  " terminal)")
    resume: bool = option(False, "skip finished stages and continue an interrupted one")

    def __post_init__(self) -> None:
        check_common(self)
        from sparring.envs.registration import entry

        as_tuple(self, "env_ids", "adversary_operators", "adversary_targets", "adversary_args", "sft_args",
                 "dpo_args", "ppo_args")
        if not self.env_ids:
            raise ConfigError("expected at least one env id, got none; e.g. env_ids=['sparring/Household-v0']")
        for env_id in self.env_ids:
            entry(env_id)
        check_integers(self, 1, "rounds", "adversary_updates", "adversary_tasks", "adversary_budget",
                       "population_every", "ppo_episodes_per_iteration", "num_envs")
        check_integers(self, 0, "window", "max_steps", "sft_episodes", "dpo_episodes", "ppo_iterations",
                       "eval_episodes")
        if not (is_number(self.attack_fraction) and 0.0 <= self.attack_fraction <= 1.0):
            raise ConfigError(f"attack_fraction must be a number in [0, 1], got {self.attack_fraction!r}; 0 trains "
                              f"clean (no adversary), 1 only under attack")
        if self.mode != "score":
            raise ConfigError(f"mode must be 'score', got {self.mode!r}: the learned adversary queries the agent's "
                              f"scores of the admissible actions (generate mode has none)")
        check_numbers(self, 0.0, "sft_epochs", "adversary_learning_rate", "ppo_learning_rate", open_low=True)
        check_numbers(self, 0.0, "sft_learning_rate", open_low=True, optional=True)
        check_numbers(self, 0.0, "discriminator_weight", "ppo_kl_coef")
        if not (self.sft_episodes or self.dpo_episodes or self.ppo_iterations):
            raise ConfigError("no agent step: set at least one of sft_episodes, dpo_episodes, ppo_iterations > 0")
        # the configs every stage builds, checked now rather than after hours of training
        self.adversary_config()
        self.ppo_config(self.model, 0, ".")
        from sparring.trainers.dpo import DPOConfig
        from sparring.trainers.sft import SFTConfig

        self._sft_extra = _parse_args(self.sft_args, SFTConfig, _SFT_OWN, "sft_args")
        self._dpo_extra = _parse_args(self.dpo_args, DPOConfig, _DPO_OWN, "dpo_args")

    # ----------------------------------------------------------------------------------------------
    @property
    def adversarial(self) -> bool:
        """Whether there is an adversary at all (attack_fraction > 0)."""
        return self.attack_fraction > 0

    @property
    def env_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.difficulty:
            kwargs["difficulty"] = self.difficulty
        return kwargs

    @property
    def stage_logging(self) -> dict[str, Any]:
        """How the SFT / DPO / PPO stages log: TensorBoard as this run does, no bar of their own (this
        run's bar names the stage), and wandb / trackio left to this run (one tracker run per min-max
        run, its rounds carrying the stages' figures)."""
        from sparring.trainers.metrics import writes_tensorboard

        return {"progress": False, "tensorboard": writes_tensorboard(self)}

    @property
    def training_env_kwargs(self) -> dict[str, Any]:
        return {**self.env_kwargs, **({"max_steps": self.max_steps} if self.max_steps else {})}

    def adversary_config(self) -> Any:
        from sparring.adversary.learned import LearnedAdversaryConfig

        extra = _parse_args(self.adversary_args, LearnedAdversaryConfig, _ADVERSARY_OWN, "adversary_args")
        return LearnedAdversaryConfig(
            env_ids=self.env_ids, difficulty=self.difficulty, max_steps=self.max_steps,
            operators=self.adversary_operators, targets=self.adversary_targets, budget=self.adversary_budget,
            tasks_per_update=self.adversary_tasks, num_envs=self.num_envs, learning_rate=self.adversary_learning_rate,
            discriminator_weight=self.discriminator_weight, population_every=self.population_every, seed=self.seed,
            **extra)

    def ppo_config(self, model: str, round_: int, output_dir: str) -> Any:
        from sparring.trainers.ppo import PPOConfig

        extra = _parse_args(self.ppo_args, PPOConfig, _PPO_OWN, "ppo_args")
        settings: dict[str, Any] = dict(self.stage_logging)
        if self.max_steps:
            settings["env_args"] = (f"max_steps={self.max_steps}",)
        settings.update(extra)
        return PPOConfig(model=model, env_ids=self.env_ids, difficulty=self.difficulty, output_dir=output_dir,
                         iterations=max(self.ppo_iterations, 1), episodes_per_iteration=self.ppo_episodes_per_iteration,
                         learning_rate=self.ppo_learning_rate, kl_coef=self.ppo_kl_coef, mode=self.mode,
                         normalization=self.normalization, window=self.window, show_admissible=self.show_admissible,
                         attack_fraction=self.attack_fraction, num_envs=self.num_envs,
                         seed=_round_seed(self.seed, "ppo", round_), resume=True, **settings)

    def to_dict(self) -> dict[str, Any]:
        return config_dict(self)


def _parse_args(items: Sequence[str], cls: type, own: Sequence[str], flag: str) -> dict[str, Any]:
    from sparring.keyvalues import parse_key_values

    return parse_key_values(items, what=flag, example=f"{flag}=['learning_rate=1e-4']", cls=cls, own=own,
                            owner="the min-max trainer")


def _round_seed(seed: int, *parts: Any) -> int:
    from sparring.adversary.learned import hash_seed

    return hash_seed("min-max", seed, *parts) % 2**31
