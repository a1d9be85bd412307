"""The configuration of the main job, :func:`~sparring.benchmarks.main_job.run_main_job` (``sparring
main``): one field per option, each with its help in the field's metadata, from which the command line
builds its options (docs/STYLE.md, item 4)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from sparring.errors import ConfigError
from sparring.trainers.config_base import (
    as_tuple,
    check_integers,
    check_model,
    check_numbers,
    check_optional_integer,
    check_seed,
    option,
)


@dataclasses.dataclass
class MainJobConfig:
    """The main job's settings; the defaults fit about 15 minutes on two CPU cores."""

    model: str = option("tiny", "the policy to train: a zoo name, a model directory or a hub id")
    env_ids: Sequence[str] = option(
        ("sparring/Household-v0", "sparring/Navigation-v0", "sparring/ToolQA-v0", "sparring/Shop-v0"),
        "envs trained on (train split)")
    difficulty: str = option("easy", "difficulty preset of the training envs")
    expert_episodes: int = option(40, "oracle episodes per env for SFT")
    sft_epochs: float = option(2.0, "SFT passes over the expert steps")
    sft_learning_rate: float | None = option(None, "SFT learning rate (None: SFT's default for the model)")
    rounds: int = option(2, "min-max rounds; both PPO runs train rounds * ppo_iterations iterations")
    ppo_iterations: int = option(1, "PPO iterations per round")
    ppo_episodes: int = option(4, "PPO episodes per env per iteration")
    ppo_learning_rate: float = option(2e-4, "PPO learning rate of the LoRA adapter")
    attack_fraction: float = option(0.5, "share of the adversarial run's PPO episodes played under the "
                                         "adversary")
    adversary_updates: int = option(3, "learned-adversary updates per round")
    adversary_tasks: int = option(8, "episodes per adversary update")
    suite: str = option("quick", "the leaderboard suite: a name (sparring leaderboard --list-suites) or a "
                                 ".toml file")
    episodes: int | None = option(None, "leaderboard tasks per env and split (None: the suite's)")
    workers: int = option(2, "leaderboard worker processes")
    num_envs: int = option(8, "envs played side by side in training")
    device: str | None = option(None, "torch device for training and the model agents (None: cpu / the "
                                      "trainer's choice)")
    bf16: bool | None = option(None, "bf16 SFT and model agents (None: where native, for every model but "
                                     "tiny)")
    seed: int = option(0, "seeds every stage")
    out: str = option("results/main", "the results directory")
    progress: bool = option(True, "progress bars of the leaderboard")

    def __post_init__(self) -> None:
        from sparring.benchmarks.suite import load_suite
        from sparring.envs.registration import entry

        as_tuple(self, "env_ids")
        if not self.env_ids:
            raise ConfigError("expected at least one env id to train on, e.g. env_ids=['sparring/Household-v0']")
        for env_id in self.env_ids:
            entry(env_id)  # an unknown id gets a "did you mean" now, not after training
        check_integers(self, 1, "expert_episodes", "rounds", "ppo_iterations", "ppo_episodes", "adversary_updates",
                       "adversary_tasks", "workers", "num_envs")
        check_optional_integer(self, "episodes", 1)  # None: the suite's
        check_numbers(self, 0.0, "sft_epochs", "ppo_learning_rate", open_low=True)
        check_numbers(self, 0.0, "sft_learning_rate", open_low=True, optional=True)
        if not (isinstance(self.attack_fraction, (int, float)) and 0 < self.attack_fraction <= 1):
            raise ConfigError(f"attack_fraction must be a number in (0, 1], got {self.attack_fraction!r}: the "
                              f"adversarial run plays that share of its PPO episodes under attack")
        check_model(self)
        check_seed(self)
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
