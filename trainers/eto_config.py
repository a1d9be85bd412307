"""The configuration of :func:`~sparring.trainers.eto.run_eto` (``sparring train eto``): one field per
option, each with its help in the field's metadata, from which the command line builds its options
(docs/STYLE.md, item 4)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from sparring.errors import ConfigError
from sparring.trainers.config_base import (
    check_choice,
    check_common,
    check_integers,
    check_numbers,
    option,
    report_to_option,
)


@dataclasses.dataclass
class ETOConfig:
    """Configuration of :func:`~sparring.trainers.eto.run_eto`."""

    model: str = option("tiny", "the starting policy (usually an SFT checkpoint)")
    expert: str = option("", "oracle trajectories on the training tasks (JSON Lines); collected when empty")
    env_ids: Sequence[str] = option(("sparring/Household-v0",), "envs to explore and evaluate on")
    difficulty: str = option("easy", "difficulty of those envs")
    output_dir: str = option("runs/eto", "where every round's data, checkpoints and logs go")
    rounds: int = option(2, "explore -> pair -> DPO -> evaluate rounds")
    tasks: int = option(40, "training tasks (seeds 0..tasks-1) explored per round")
    samples_per_task: int = option(2, "exploration tries per task")
    temperature: float = option(1.0, "sampling temperature while exploring")
    pair_kind: str = option("step", '"step" (first divergence) or "trajectory" (whole continuations) pairs')
    beta: float = option(0.1, "DPO strength of the pull toward the reference policy")
    learning_rate: float = option(5e-5, "DPO adapter learning rate")
    epochs: float = option(2.0, "DPO passes over each round's pairs")
    batch_size: int = option(4, "DPO pairs per step")
    valid_episodes: int = option(30, "valid-split episodes per env to evaluate each round")
    num_envs: int = option(4, "envs played side by side while exploring and evaluating")
    seed: int = option(0, "seed of exploration, DPO and evaluation")
    report_to: Sequence[str] = report_to_option("each round's DPO is its own tracker run (round-R/dpo)")
    progress: bool = option(True, "Hugging Face's progress bar over each round's DPO steps")
    resume: bool = option(False, "keep finished rounds and continue")

    def __post_init__(self) -> None:
        check_common(self)
        if isinstance(self.env_ids, str):
            self.env_ids = [self.env_ids]
        check_integers(self, 1, "rounds", "tasks", "samples_per_task", "batch_size", "num_envs")
        check_integers(self, 0, "valid_episodes")
        check_choice(self, "pair_kind", ("step", "trajectory"))
        check_numbers(self, 0.0, "temperature", "beta", "learning_rate", "epochs", open_low=True)
        if self.expert and not Path(self.expert).is_file():
            raise ConfigError(f"expert trajectories {self.expert!r} not found; leave it empty to collect them")
