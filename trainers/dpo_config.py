"""The configuration of :func:`~sparring.trainers.dpo.train_dpo` (``sparring train dpo``): one field per
option, each with its help in the field's metadata, from which the command line builds its options
(docs/STYLE.md, item 4)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from sparring.trainers.config_base import (
    check_files,
    check_hf_trainer_fields,
    check_numbers,
    hf_trainer_option,
    lora_alpha_option,
    model_option,
    option,
    output_dir_option,
    report_to_option,
)


@dataclasses.dataclass
class DPOConfig:
    """Configuration of :func:`~sparring.trainers.dpo.train_dpo`."""

    pairs: Sequence[str] = option((), "JSON Lines files of preference pairs (`sparring filter --pairs`)")
    model: str = model_option("the policy to start from (usually an SFT checkpoint); also the reference")
    output_dir: str = output_dir_option("runs/dpo")
    beta: float = option(0.1, "strength of the pull toward the reference policy")
    learning_rate: float = option(5e-5, "adapter learning rate")
    epochs: float = option(2.0, "passes over the pairs")
    batch_size: int = option(4, "pairs per device per step")
    gradient_accumulation_steps: int = hf_trainer_option("gradient_accumulation_steps")
    max_length: int = option(1024, "longest prompt + answer in tokens")
    gradient_checkpointing: bool = hf_trainer_option("gradient_checkpointing")
    lora_r: int = option(16, "rank of the adapter trained by DPO")
    lora_alpha: int = lora_alpha_option()
    lora_dropout: float = option(0.0, "dropout on the LoRA path")
    seed: int = option(0, "seed of data order and initialisation")
    logging_steps: int = option(5, "steps between log records")
    save_total_limit: int = hf_trainer_option("save_total_limit")
    resume: bool = hf_trainer_option("resume")
    tensorboard: bool = hf_trainer_option("tensorboard")
    report_to: Sequence[str] = report_to_option()
    progress: bool = hf_trainer_option("progress")
    device: str | None = hf_trainer_option("device")
    bf16: bool | None = hf_trainer_option("bf16")

    def __post_init__(self) -> None:
        if isinstance(self.pairs, (str, os.PathLike)):
            self.pairs = [self.pairs]
        check_files(self.pairs, "pairs file", "make one with `sparring filter --pairs`")
        check_hf_trainer_fields(self)
        check_numbers(self, 0.0, "beta", "learning_rate", open_low=True)  # no None default here, unlike SFT
