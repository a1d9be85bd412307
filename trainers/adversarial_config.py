"""The configuration of :func:`~sparring.trainers.adversarial.train_adversarial` (``sparring train
adversarial``): one field per option, each with its help in the field's metadata, from which the command
line builds its options (docs/STYLE.md, item 4)."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from typing import Any

from sparring.adversary.edits import FIELDS
from sparring.errors import ConfigError
from sparring.trainers.metrics import REPORT_TO_HELP, check_report_to

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

    model: str = dataclasses.field(
        default="tiny",
        metadata={"help": "the starting policy, usually an SFT checkpoint (sparring train sft's final/)"},
    )
    env_ids: Sequence[str] = dataclasses.field(
        default=("sparring/Household-v0", "sparring/Navigation-v0"),
        metadata={"help": "envs of every phase (their train split)"},
    )
    difficulty: str = dataclasses.field(
        default="easy",
        metadata={"help": "difficulty preset of the envs (\"\" for the env's default)"},
    )
    output_dir: str = dataclasses.field(
        default="runs/adversarial",
        metadata={"help": "where the adversary, every round's policies, logs and the final policy go"},
    )
    rounds: int = dataclasses.field(
        default=3,
        metadata={"help": "adversary phase + agent phase, this many times"},
    )
    attack_fraction: float = dataclasses.field(
        default=0.5,
        metadata={"help": "share of the agent's training episodes played under the adversary (0: clean "
                          "training, no adversary)"},
    )
    mode: str = dataclasses.field(
        default="score",
        metadata={"help": "the agent's action mode; \"score\" (the adversary queries the agent's action "
                          "scores)"},
    )
    normalization: str = dataclasses.field(
        default="token",
        metadata={"help": 'candidate log-probs per "token", per "word", or "sum"'},
    )
    window: int = dataclasses.field(default=4, metadata={"help": "earlier turns in the agent's prompt"})
    show_admissible: bool = dataclasses.field(
        default=True,
        metadata={"help": "list the admissible actions in the prompt"},
    )
    max_steps: int = dataclasses.field(
        default=15,
        metadata={"help": "step limit of training episodes (adversary, PPO, DPO exploration; 0: the env's "
                          "own)"},
    )
    adversary_updates: int = dataclasses.field(default=10, metadata={"help": "adversary updates per round"})
    adversary_tasks: int = dataclasses.field(
        default=16,
        metadata={"help": "tasks (episodes) per adversary update"},
    )
    adversary_operators: Sequence[str] = dataclasses.field(
        default=("train",),
        metadata={"help": "operators the adversary may use: train attacks only"},
    )
    adversary_targets: Sequence[str] = dataclasses.field(
        default=FIELDS,
        metadata={"help": "fields the adversary may perturb"},
    )
    adversary_budget: int = dataclasses.field(
        default=2,
        metadata={"help": "most edit units of one adversary move"},
    )
    adversary_learning_rate: float = dataclasses.field(
        default=0.01,
        metadata={"help": "Adam step size of the adversary's policy network"},
    )
    discriminator_weight: float = dataclasses.field(
        default=0.5,
        metadata={"help": "penalty on the adversary per unit of the discriminator's P(perturbed)"},
    )
    population_every: int = dataclasses.field(
        default=5,
        metadata={"help": "adversary updates between snapshots joining its population"},
    )
    adversary_args: Sequence[str] = dataclasses.field(
        default=(),
        metadata={"help": "more LearnedAdversaryConfig fields as KEY=VALUE (JSON values), e.g. ent_coef=0.02"},
    )
    sft_episodes: int = dataclasses.field(
        default=0,
        metadata={"help": "expert episodes per env id per round for SFT, attack_fraction of them under "
                          "attack (0: no SFT step)"},
    )
    sft_epochs: float = dataclasses.field(
        default=1.0,
        metadata={"help": "SFT passes over a round's expert steps"},
    )
    sft_learning_rate: float | None = dataclasses.field(
        default=None,
        metadata={"help": "SFT learning rate (None: SFT's default for the model)"},
    )
    sft_args: Sequence[str] = dataclasses.field(
        default=(),
        metadata={"help": "more SFTConfig fields as KEY=VALUE (JSON values), e.g. batch_size=16"},
    )
    dpo_episodes: int = dataclasses.field(
        default=0,
        metadata={"help": "agent episodes per env id per round whose failures are paired with the expert for "
                          "DPO (0: no DPO step)"},
    )
    dpo_args: Sequence[str] = dataclasses.field(
        default=(),
        metadata={"help": "more DPOConfig fields as KEY=VALUE (JSON values), e.g. beta=0.2"},
    )
    ppo_iterations: int = dataclasses.field(
        default=2,
        metadata={"help": "PPO iterations per round (0: no PPO step)"},
    )
    ppo_episodes_per_iteration: int = dataclasses.field(
        default=8,
        metadata={"help": "PPO episodes per env id per iteration"},
    )
    ppo_learning_rate: float = dataclasses.field(
        default=1e-4,
        metadata={"help": "PPO learning rate of the adapter"},
    )
    ppo_kl_coef: float = dataclasses.field(
        default=0.05,
        metadata={"help": "PPO weight of KL(policy || the round's starting policy)"},
    )
    ppo_args: Sequence[str] = dataclasses.field(
        default=(),
        metadata={"help": "more PPOConfig fields as KEY=VALUE (JSON values), e.g. update_epochs=2"},
    )
    eval_episodes: int = dataclasses.field(
        default=16,
        metadata={"help": "greedy episodes per env id after each round, clean and attacked (0: no "
                          "evaluation)"},
    )
    num_envs: int = dataclasses.field(default=8, metadata={"help": "envs played side by side in every phase"})
    seed: int = dataclasses.field(
        default=0,
        metadata={"help": "seeds every phase (tasks, adversary, SFT, DPO, PPO)"},
    )
    tensorboard: bool = dataclasses.field(
        default=True,
        metadata={"help": "also write TensorBoard events (needs the tensorboard package; as does 'tensorboard' in "
                          "report_to)"},
    )
    report_to: Sequence[str] = dataclasses.field(default=(), metadata={"help": REPORT_TO_HELP})
    progress: bool = dataclasses.field(
        default=True,
        metadata={"help": "a progress bar over the rounds, naming the stage running (shown only on a terminal)"},
    )
    resume: bool = dataclasses.field(
        default=False,
        metadata={"help": "skip finished stages and continue an interrupted one"},
    )

    def __post_init__(self) -> None:
        self.report_to = check_report_to(self.report_to)
        from sparring.envs.registration import entry

        for name in ("env_ids", "adversary_operators", "adversary_targets", "adversary_args", "sft_args", "dpo_args",
                     "ppo_args"):
            value = getattr(self, name)
            setattr(self, name, (value,) if isinstance(value, str) else tuple(value))
        if not self.env_ids:
            raise ConfigError("expected at least one env id, got none; e.g. env_ids=['sparring/Household-v0']")
        for env_id in self.env_ids:
            entry(env_id)
        if not isinstance(self.model, str) or not self.model:
            raise ConfigError(f"model must be a zoo name, checkpoint, directory or hub id, got {self.model!r}")
        if not isinstance(self.output_dir, (str, os.PathLike)) or not str(self.output_dir):
            raise ConfigError(f"output_dir must be a directory path, got {self.output_dir!r}")
        self.output_dir = str(self.output_dir)
        for name in ("rounds", "adversary_updates", "adversary_tasks", "adversary_budget", "population_every",
                     "ppo_episodes_per_iteration", "num_envs"):
            _integer(self, name, 1)
        for name in ("window", "max_steps", "sft_episodes", "dpo_episodes", "ppo_iterations", "eval_episodes"):
            _integer(self, name, 0)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"seed must be an integer, got {self.seed!r}")
        if not _number(self.attack_fraction) or not 0.0 <= self.attack_fraction <= 1.0:
            raise ConfigError(f"attack_fraction must be a number in [0, 1], got {self.attack_fraction!r}; 0 trains "
                              f"clean (no adversary), 1 only under attack")
        if self.mode != "score":
            raise ConfigError(f"mode must be 'score', got {self.mode!r}: the learned adversary queries the agent's "
                              f"scores of the admissible actions (generate mode has none)")
        for name in ("sft_epochs", "adversary_learning_rate", "ppo_learning_rate"):
            if not _number(getattr(self, name)) or getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be a number > 0, got {getattr(self, name)!r}")
        for name in ("discriminator_weight", "ppo_kl_coef"):
            if not _number(getattr(self, name)) or getattr(self, name) < 0:
                raise ConfigError(f"{name} must be a number >= 0, got {getattr(self, name)!r}")
        if self.sft_learning_rate is not None and (not _number(self.sft_learning_rate) or self.sft_learning_rate <= 0):
            raise ConfigError(f"sft_learning_rate must be a number > 0 or None, got {self.sft_learning_rate!r}")
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
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
                for f in dataclasses.fields(self)}


def _integer(config: Any, name: str, low: int) -> None:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _parse_args(items: Sequence[str], cls: type, own: Sequence[str], flag: str) -> dict[str, Any]:
    from sparring.keyvalues import parse_key_values

    return parse_key_values(items, what=flag, example=f"{flag}=['learning_rate=1e-4']", cls=cls, own=own,
                            owner="the min-max trainer")


def _round_seed(seed: int, *parts: Any) -> int:
    from sparring.adversary.learned import hash_seed

    return hash_seed("min-max", seed, *parts) % 2**31
