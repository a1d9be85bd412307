"""The configuration of :func:`~sparring.trainers.sft.train_sft` (``sparring train sft``): one field per
option, each with its help in the field's metadata, from which the command line builds its options
(docs/STYLE.md, item 4)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from sparring.errors import ConfigError
from sparring.trainers.config_base import (
    check_files,
    check_hf_trainer_fields,
    hf_trainer_option,
    lora_alpha_option,
    lora_r_option,
    model_option,
    option,
    output_dir_option,
    report_to_option,
)


@dataclasses.dataclass
class SFTConfig:
    """Configuration of :func:`~sparring.trainers.sft.train_sft`."""

    data: Sequence[str] = option((), "trajectory files (JSON Lines) to learn from")
    model: str = model_option("zoo name, model directory, sparring checkpoint or hub id to start from")
    output_dir: str = output_dir_option("runs/sft")
    lora: bool | None = option(None, "LoRA adapter (True) or full fine-tuning (False); None: full for tiny, "
                                     "else LoRA")
    lora_r: int = lora_r_option()
    lora_alpha: int = lora_alpha_option()
    lora_dropout: float = option(0.0, "dropout on the LoRA path (its masks cost ~15% of a CPU step)")
    learning_rate: float | None = option(None, "None: 2e-4 with LoRA, 1e-3 full fine-tuning of tiny, else "
                                               "2e-5")
    epochs: float = option(3.0, "passes over the data")
    batch_size: int = option(8, "examples per device per step")
    gradient_accumulation_steps: int = hf_trainer_option("gradient_accumulation_steps")
    max_length: int = option(1024, "longest example in tokens (longer prompts are cut from the left)")
    gradient_checkpointing: bool = hf_trainer_option("gradient_checkpointing")
    warmup_ratio: float = option(0.03, "share of steps with a rising learning rate")
    general_data: str | None = option(None, "JSON Lines of {\"messages\": [...]} general instruction data to "
                                            "mix in")
    general_ratio: float = option(0.0, "general examples per trajectory example (0.2 = one in six of the "
                                       "mix)")
    seed: int = option(0, "seed of data order, initialisation and dropout")
    logging_steps: int = option(10, "steps between log records")
    save_total_limit: int = hf_trainer_option("save_total_limit")
    resume: bool = hf_trainer_option("resume")
    tensorboard: bool = hf_trainer_option("tensorboard")
    report_to: Sequence[str] = report_to_option()
    progress: bool = hf_trainer_option("progress")
    device: str | None = hf_trainer_option("device")
    bf16: bool | None = hf_trainer_option("bf16")

    def __post_init__(self) -> None:
        if isinstance(self.data, (str, os.PathLike)):
            self.data = [self.data]
        if not self.data:
            raise ConfigError("SFT needs trajectory files; pass data=['trajectories.jsonl'] (from `sparring collect`)")
        check_files(self.data, "trajectory file", "create it with `sparring collect`")
        check_hf_trainer_fields(self)
        if not 0.0 <= self.general_ratio <= 10.0:
            raise ConfigError(f"general_ratio must be between 0 and 10, got {self.general_ratio}")
        if self.general_ratio > 0 and not self.general_data:
            raise ConfigError("general_ratio > 0 needs general_data=PATH (JSON Lines of {'messages': [...]})")
        if self.lora is None:
            self.lora = self.model != "tiny"
        if self.learning_rate is None:
            self.learning_rate = 2e-4 if self.lora else (1e-3 if self.model == "tiny" else 2e-5)
