"""The configuration of :func:`~sparring.trainers.eto.run_eto` (``sparring train eto``): one field per
option, each with its help in the field's metadata, from which the command line builds its options
(docs/STYLE.md, item 4)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from sparring.errors import ConfigError
from sparring.trainers.metrics import REPORT_TO_HELP, check_report_to


@dataclasses.dataclass
class ETOConfig:
    """Configuration of :func:`~sparring.trainers.eto.run_eto`."""

    model: str = dataclasses.field(
        default="tiny",
        metadata={"help": "the starting policy (usually an SFT checkpoint)"},
    )
    expert: str = dataclasses.field(
        default="",
        metadata={"help": "oracle trajectories on the training tasks (JSON Lines); collected when empty"},
    )
    env_ids: Sequence[str] = dataclasses.field(
        default=("sparring/Household-v0",),
        metadata={"help": "envs to explore and evaluate on"},
    )
    difficulty: str = dataclasses.field(default="easy", metadata={"help": "difficulty of those envs"})
    output_dir: str = dataclasses.field(
        default="runs/eto",
        metadata={"help": "where every round's data, checkpoints and logs go"},
    )
    rounds: int = dataclasses.field(default=2, metadata={"help": "explore -> pair -> DPO -> evaluate rounds"})
    tasks: int = dataclasses.field(
        default=40,
        metadata={"help": "training tasks (seeds 0..tasks-1) explored per round"},
    )
    samples_per_task: int = dataclasses.field(default=2, metadata={"help": "exploration tries per task"})
    temperature: float = dataclasses.field(
        default=1.0,
        metadata={"help": "sampling temperature while exploring"},
    )
    pair_kind: str = dataclasses.field(
        default="step",
        metadata={"help": '"step" (first divergence) or "trajectory" (whole continuations) pairs'},
    )
    beta: float = dataclasses.field(
        default=0.1,
        metadata={"help": "DPO strength of the pull toward the reference policy"},
    )
    learning_rate: float = dataclasses.field(default=5e-5, metadata={"help": "DPO adapter learning rate"})
    epochs: float = dataclasses.field(default=2.0, metadata={"help": "DPO passes over each round's pairs"})
    batch_size: int = dataclasses.field(default=4, metadata={"help": "DPO pairs per step"})
    valid_episodes: int = dataclasses.field(
        default=30,
        metadata={"help": "valid-split episodes per env to evaluate each round"},
    )
    num_envs: int = dataclasses.field(
        default=4,
        metadata={"help": "envs played side by side while exploring and evaluating"},
    )
    seed: int = dataclasses.field(default=0, metadata={"help": "seed of exploration, DPO and evaluation"})
    report_to: Sequence[str] = dataclasses.field(
        default=(),
        metadata={"help": REPORT_TO_HELP + "; each round's DPO is its own tracker run (round-R/dpo)"},
    )
    progress: bool = dataclasses.field(
        default=True,
        metadata={"help": "Hugging Face's progress bar over each round's DPO steps"},
    )
    resume: bool = dataclasses.field(default=False, metadata={"help": "keep finished rounds and continue"})

    def __post_init__(self) -> None:
        self.report_to = check_report_to(self.report_to)
        if isinstance(self.env_ids, str):
            self.env_ids = [self.env_ids]
        if self.rounds < 1 or self.tasks < 1 or self.samples_per_task < 1:
            raise ConfigError(
                f"expected rounds, tasks and samples_per_task >= 1; got {self.rounds}, {self.tasks}, "
                f"{self.samples_per_task}"
            )
        if self.pair_kind not in ("step", "trajectory"):
            raise ConfigError(f"pair_kind must be 'step' or 'trajectory', got {self.pair_kind!r}")
        if self.temperature <= 0:
            raise ConfigError(f"exploration needs temperature > 0 to sample, got {self.temperature}")
        if self.expert and not Path(self.expert).is_file():
            raise ConfigError(f"expert trajectories {self.expert!r} not found; leave it empty to collect them")
