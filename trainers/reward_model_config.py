"""The configuration of :func:`~sparring.trainers.reward_model.train_reward_model` (``sparring train
reward``): one field per option, each with its help in the field's metadata, from which the command line
builds its options (docs/STYLE.md, item 4)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from sparring.errors import ConfigError
from sparring.trainers.config_base import (
    as_tuple,
    check_common,
    check_files,
    check_integers,
    check_model,
    check_numbers,
    check_optional_integer,
    config_dict,
    option,
    report_to_option,
    tensorboard_option,
)


@dataclasses.dataclass
class RewardModelConfig:
    """How to train a reward model (see :mod:`sparring.trainers.reward_model`)."""

    data: Sequence[str] = option((), "trajectory files (JSON Lines) of won and failed episodes to learn from")
    base_model: str = option("tiny", "the backbone: a zoo name, a sparring checkpoint, a model directory or "
                                     "a hub id")
    output_dir: str = option("runs/reward_model", "where checkpoints, logs and the final model go")
    learning_rate: float = option(5e-5, "AdamW learning rate (a freshly initialised backbone like tiny wants"
                                        " ~1e-3)")
    weight_decay: float = option(0.0, "AdamW weight decay")
    epochs: int = option(3, "passes over the training prefixes (a resumed run trains up to this many in all)")
    batch_size: int = option(16, "prefixes per optimizer step")
    max_length: int = option(512, "tokens per prefix; longer renderings keep their end (the latest turns)")
    history_turns: int = option(2, "earlier turns shown before the latest one")
    valid_fraction: float = option(0.2, "share of the tasks held out for evaluation (0: no evaluation)")
    balance_classes: bool = option(True, "weigh won prefixes by #lost / #won in the loss, so the rarer class"
                                         " counts")
    seed: int = option(0, "seeds the split, the head's initialisation and the shuffles")
    lora_r: int = option(0, "rank of a LoRA adapter to train instead of all the backbone's weights (0: all "
                            "weights)")
    head_size: int | None = option(None, "inner width of the scalar head (default: the backbone's hidden "
                                         "size)")
    max_grad_norm: float = option(1.0, "gradient clipping (0: none)")
    logging_steps: int = option(10, "optimizer steps between training-loss records")
    tensorboard: bool = tensorboard_option()
    report_to: Sequence[str] = report_to_option()
    progress: bool = option(True, "a progress bar over the optimizer steps (shown only on a terminal)")
    keep_checkpoints: int = option(2, "epoch checkpoints kept (older ones are deleted; at least 1)")
    device: str | None = option(None, '"cpu", "cuda", ... (default: cuda when available)')
    resume: bool = option(False, "continue from the last epoch checkpoint in output_dir (same data and "
                                 "config)")

    def __post_init__(self) -> None:
        check_common(self)
        as_tuple(self, "data")
        self.data = tuple(str(p) for p in self.data)
        check_files(self.data, "trajectory file", "write one with `sparring collect`")
        check_model(self, "base_model")
        check_integers(self, 1, "epochs", "batch_size", "max_length", "logging_steps", "keep_checkpoints")
        check_integers(self, 0, "history_turns", "lora_r")  # lora_r 0: all weights
        check_optional_integer(self, "head_size", 1)
        check_numbers(self, 0.0, "learning_rate", high=1.0, open_low=True)
        check_numbers(self, 0.0, "weight_decay", "max_grad_norm")  # max_grad_norm 0: no clipping
        check_numbers(self, 0.0, "valid_fraction", high=1.0)
        if self.valid_fraction == 1.0:
            raise ConfigError("valid_fraction must be below 1 (some tasks must be left to train on), got 1.0; e.g. 0.2")

    def to_dict(self) -> dict[str, Any]:
        return config_dict(self)
