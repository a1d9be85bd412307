"""The configuration of the main job, :func:`~sparring.benchmarks.main_job.run_main_job` (``sparring
main``): one field per option, each with its help in the field's metadata, from which the command line
builds its options (docs/STYLE.md, item 4)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from sparring.errors import ConfigError


@dataclasses.dataclass
class MainJobConfig:
    """The main job's settings; the defaults fit about 15 minutes on two CPU cores."""

    model: str = dataclasses.field(
        default="tiny",
        metadata={"help": "the policy to train: a zoo name, a model directory or a hub id"},
    )
    env_ids: Sequence[str] = dataclasses.field(
        default=("sparring/Household-v0", "sparring/Navigation-v0", "sparring/ToolQA-v0", "sparring/Shop-v0"),
        metadata={"help": "envs trained on (train split)"},
    )
    difficulty: str = dataclasses.field(
        default="easy",
        metadata={"help": "difficulty preset of the training envs"},
    )
    expert_episodes: int = dataclasses.field(default=40, metadata={"help": "oracle episodes per env for SFT"})
    sft_epochs: float = dataclasses.field(default=2.0, metadata={"help": "SFT passes over the expert steps"})
    sft_learning_rate: float | None = dataclasses.field(
        default=None,
        metadata={"help": "SFT learning rate (None: SFT's default for the model)"},
    )
    rounds: int = dataclasses.field(
        default=2,
        metadata={"help": "min-max rounds; both PPO runs train rounds * ppo_iterations iterations"},
    )
    ppo_iterations: int = dataclasses.field(default=1, metadata={"help": "PPO iterations per round"})
    ppo_episodes: int = dataclasses.field(default=4, metadata={"help": "PPO episodes per env per iteration"})
    ppo_learning_rate: float = dataclasses.field(
        default=2e-4,
        metadata={"help": "PPO learning rate of the LoRA adapter"},
    )
    attack_fraction: float = dataclasses.field(
        default=0.5,
        metadata={"help": "share of the adversarial run's PPO episodes played under the adversary"},
    )
    adversary_updates: int = dataclasses.field(
        default=3,
        metadata={"help": "learned-adversary updates per round"},
    )
    adversary_tasks: int = dataclasses.field(default=8, metadata={"help": "episodes per adversary update"})
    suite: str = dataclasses.field(
        default="quick",
        metadata={"help": "the leaderboard suite: a name (sparring leaderboard --list-suites) or a .toml "
                          "file"},
    )
    episodes: int | None = dataclasses.field(
        default=None,
        metadata={"help": "leaderboard tasks per env and split (None: the suite's)"},
    )
    workers: int = dataclasses.field(default=2, metadata={"help": "leaderboard worker processes"})
    num_envs: int = dataclasses.field(default=8, metadata={"help": "envs played side by side in training"})
    device: str | None = dataclasses.field(
        default=None,
        metadata={"help": "torch device for training and the model agents (None: cpu / the trainer's choice)"},
    )
    bf16: bool | None = dataclasses.field(
        default=None,
        metadata={"help": "bf16 SFT and model agents (None: where native, for every model but tiny)"},
    )
    seed: int = dataclasses.field(default=0, metadata={"help": "seeds every stage"})
    out: str = dataclasses.field(default="results/main", metadata={"help": "the results directory"})
    progress: bool = dataclasses.field(default=True, metadata={"help": "progress bars of the leaderboard"})

    def __post_init__(self) -> None:
        from sparring.benchmarks.suite import load_suite
        from sparring.envs.registration import entry

        self.env_ids = (self.env_ids,) if isinstance(self.env_ids, str) else tuple(self.env_ids)
        if not self.env_ids:
            raise ConfigError("expected at least one env id to train on, e.g. env_ids=['sparring/Household-v0']")
        for env_id in self.env_ids:
            entry(env_id)  # an unknown id gets a "did you mean" now, not after training
        for name in ("expert_episodes", "rounds", "ppo_iterations", "ppo_episodes", "adversary_updates",
                     "adversary_tasks", "workers", "num_envs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
        if self.episodes is not None and (isinstance(self.episodes, bool) or not isinstance(self.episodes, int)
                                          or self.episodes < 1):
            raise ConfigError(f"episodes must be an integer >= 1 or None (the suite's), got {self.episodes!r}")
        for name in ("sft_epochs", "ppo_learning_rate"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"{name} must be a number > 0, got {value!r}")
        if not isinstance(self.attack_fraction, (int, float)) or not 0 < self.attack_fraction <= 1:
            raise ConfigError(f"attack_fraction must be a number in (0, 1], got {self.attack_fraction!r}: the "
                              f"adversarial run plays that share of its PPO episodes under attack")
        if not isinstance(self.model, str) or not self.model:
            raise ConfigError(f"model must be a zoo name, a model directory or a hub id, got {self.model!r}")
        self._suite = load_suite(self.suite)  # a bad suite file fails here, before any training

    def use_bf16(self) -> bool:
        """bf16 for SFT and the model agents: as set, or (None) where native for a model other than tiny
        (tiny's figures stay fp32, as the tests and earlier results have them)."""
        if self.bf16 is not None:
            return bool(self.bf16)
        from sparring.agents.zoo import fast_bf16

        return self.model != "tiny" and fast_bf16(self.device)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
                for f in dataclasses.fields(self)}
