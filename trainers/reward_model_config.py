"""The configuration of :func:`~sparring.trainers.reward_model.train_reward_model` (``sparring train
reward``): one field per option, each with its help in the field's metadata, from which the command line
builds its options (docs/STYLE.md, item 4)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sparring.errors import ConfigError
from sparring.trainers.metrics import REPORT_TO_HELP, check_report_to


@dataclasses.dataclass
class RewardModelConfig:
    """How to train a reward model (see :mod:`sparring.trainers.reward_model`)."""

    data: Sequence[str] = dataclasses.field(
        default=(),
        metadata={"help": "trajectory files (JSON Lines) of won and failed episodes to learn from"},
    )
    base_model: str = dataclasses.field(
        default="tiny",
        metadata={"help": "the backbone: a zoo name, a sparring checkpoint, a model directory or a hub id"},
    )
    output_dir: str = dataclasses.field(
        default="runs/reward_model",
        metadata={"help": "where checkpoints, logs and the final model go"},
    )
    learning_rate: float = dataclasses.field(
        default=5e-5,
        metadata={"help": "AdamW learning rate (a freshly initialised backbone like tiny wants ~1e-3)"},
    )
    weight_decay: float = dataclasses.field(default=0.0, metadata={"help": "AdamW weight decay"})
    epochs: int = dataclasses.field(
        default=3,
        metadata={"help": "passes over the training prefixes (a resumed run trains up to this many in all)"},
    )
    batch_size: int = dataclasses.field(default=16, metadata={"help": "prefixes per optimizer step"})
    max_length: int = dataclasses.field(
        default=512,
        metadata={"help": "tokens per prefix; longer renderings keep their end (the latest turns)"},
    )
    history_turns: int = dataclasses.field(
        default=2,
        metadata={"help": "earlier turns shown before the latest one"},
    )
    valid_fraction: float = dataclasses.field(
        default=0.2,
        metadata={"help": "share of the tasks held out for evaluation (0: no evaluation)"},
    )
    balance_classes: bool = dataclasses.field(
        default=True,
        metadata={"help": "weigh won prefixes by #lost / #won in the loss, so the rarer class counts"},
    )
    seed: int = dataclasses.field(
        default=0,
        metadata={"help": "seeds the split, the head's initialisation and the shuffles"},
    )
    lora_r: int = dataclasses.field(
        default=0,
        metadata={"help": "rank of a LoRA adapter to train instead of all the backbone's weights (0: all "
                          "weights)"},
    )
    head_size: int | None = dataclasses.field(
        default=None,
        metadata={"help": "inner width of the scalar head (default: the backbone's hidden size)"},
    )
    max_grad_norm: float = dataclasses.field(default=1.0, metadata={"help": "gradient clipping (0: none)"})
    logging_steps: int = dataclasses.field(
        default=10,
        metadata={"help": "optimizer steps between training-loss records"},
    )
    tensorboard: bool = dataclasses.field(
        default=True,
        metadata={"help": "also write TensorBoard events (needs the tensorboard package; as does 'tensorboard' in "
                          "report_to)"},
    )
    report_to: Sequence[str] = dataclasses.field(default=(), metadata={"help": REPORT_TO_HELP})
    progress: bool = dataclasses.field(
        default=True,
        metadata={"help": "a progress bar over the optimizer steps (shown only on a terminal)"},
    )
    keep_checkpoints: int = dataclasses.field(
        default=2,
        metadata={"help": "epoch checkpoints kept (older ones are deleted; at least 1)"},
    )
    device: str | None = dataclasses.field(
        default=None,
        metadata={"help": '"cpu", "cuda", ... (default: cuda when available)'},
    )
    resume: bool = dataclasses.field(
        default=False,
        metadata={"help": "continue from the last epoch checkpoint in output_dir (same data and config)"},
    )

    def __post_init__(self) -> None:
        self.report_to = check_report_to(self.report_to)
        def positive_int(name: str) -> None:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")

        if isinstance(self.data, (str, os.PathLike)):
            self.data = (str(self.data),)
        self.data = tuple(str(p) for p in self.data)
        for path in self.data:
            if not Path(path).is_file():
                raise ConfigError(f"trajectory file {path!r} does not exist; write one with `sparring collect`")
        for name in ("epochs", "batch_size", "max_length", "logging_steps", "keep_checkpoints"):
            positive_int(name)
        if not isinstance(self.base_model, str) or not self.base_model:
            raise ConfigError(f"base_model must be a zoo name, path or hub id, got {self.base_model!r}; e.g. 'tiny'")
        if not isinstance(self.output_dir, (str, os.PathLike)) or not str(self.output_dir):
            raise ConfigError(f"output_dir must be a directory path, got {self.output_dir!r}")
        if not isinstance(self.learning_rate, (int, float)) or not 0 < self.learning_rate < 1:
            raise ConfigError(f"learning_rate must be in (0, 1), got {self.learning_rate!r}; e.g. 5e-5")
        if not isinstance(self.weight_decay, (int, float)) or self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if not isinstance(self.history_turns, int) or self.history_turns < 0:
            raise ConfigError(f"history_turns must be an integer >= 0, got {self.history_turns!r}")
        if not isinstance(self.valid_fraction, (int, float)) or not 0 <= self.valid_fraction < 1:
            raise ConfigError(f"valid_fraction must be in [0, 1), got {self.valid_fraction!r}; e.g. 0.2")
        if not isinstance(self.seed, int):
            raise ConfigError(f"seed must be an integer, got {self.seed!r}")
        if not isinstance(self.lora_r, int) or self.lora_r < 0:
            raise ConfigError(f"lora_r must be an integer >= 0 (0 trains all weights), got {self.lora_r!r}")
        if self.head_size is not None and (not isinstance(self.head_size, int) or self.head_size < 1):
            raise ConfigError(f"head_size must be a positive integer or None, got {self.head_size!r}")
        if not isinstance(self.max_grad_norm, (int, float)) or self.max_grad_norm < 0:
            raise ConfigError(f"max_grad_norm must be >= 0 (0 disables clipping), got {self.max_grad_norm!r}")

    def to_dict(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, os.PathLike) else v for k, v in dataclasses.asdict(self).items()}
