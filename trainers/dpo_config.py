"""The configuration of :func:`~sparring.trainers.dpo.train_dpo` (``sparring train dpo``): one field per
option, each with its help in the field's metadata, from which the command line builds its options
(docs/STYLE.md, item 4)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from sparring.errors import ConfigError
from sparring.trainers.metrics import REPORT_TO_HELP, check_report_to


@dataclasses.dataclass
class DPOConfig:
    """Configuration of :func:`~sparring.trainers.dpo.train_dpo`."""

    pairs: Sequence[str] = dataclasses.field(
        default=(),
        metadata={"help": "JSON Lines files of preference pairs (`sparring filter --pairs`)"},
    )
    model: str = dataclasses.field(
        default="tiny",
        metadata={"help": "the policy to start from (usually an SFT checkpoint); also the reference"},
    )
    output_dir: str = dataclasses.field(
        default="runs/dpo",
        metadata={"help": "where checkpoints, logs and the final policy go"},
    )
    beta: float = dataclasses.field(
        default=0.1,
        metadata={"help": "strength of the pull toward the reference policy"},
    )
    learning_rate: float = dataclasses.field(default=5e-5, metadata={"help": "adapter learning rate"})
    epochs: float = dataclasses.field(default=2.0, metadata={"help": "passes over the pairs"})
    batch_size: int = dataclasses.field(default=4, metadata={"help": "pairs per device per step"})
    gradient_accumulation_steps: int = dataclasses.field(
        default=1,
        metadata={"help": "steps whose gradients are summed before an update"},
    )
    max_length: int = dataclasses.field(default=1024, metadata={"help": "longest prompt + answer in tokens"})
    gradient_checkpointing: bool = dataclasses.field(
        default=False,
        metadata={"help": "recompute activations in the backward pass: less memory for a large model, slower "
                          "(off for tiny on CPU)"},
    )
    lora_r: int = dataclasses.field(default=16, metadata={"help": "rank of the adapter trained by DPO"})
    lora_alpha: int = dataclasses.field(default=32, metadata={"help": "LoRA scaling numerator"})
    lora_dropout: float = dataclasses.field(default=0.0, metadata={"help": "dropout on the LoRA path"})
    seed: int = dataclasses.field(default=0, metadata={"help": "seed of data order and initialisation"})
    logging_steps: int = dataclasses.field(default=5, metadata={"help": "steps between log records"})
    save_total_limit: int = dataclasses.field(
        default=2,
        metadata={"help": "Hugging Face checkpoints kept for resuming"},
    )
    resume: bool = dataclasses.field(
        default=False,
        metadata={"help": "continue from the last checkpoint in output_dir/checkpoints"},
    )
    tensorboard: bool = dataclasses.field(
        default=True,
        metadata={"help": "also write TensorBoard events into output_dir/tensorboard (as does 'tensorboard' in "
                          "report_to)"},
    )
    report_to: Sequence[str] = dataclasses.field(default=(), metadata={"help": REPORT_TO_HELP})
    progress: bool = dataclasses.field(
        default=True,
        metadata={"help": "Hugging Face's progress bar over the steps, with each log record as a line"},
    )
    device: str | None = dataclasses.field(
        default=None,
        metadata={"help": "torch device; None lets the Trainer choose"},
    )
    bf16: bool | None = dataclasses.field(
        default=None,
        metadata={"help": "bf16 mixed precision (None: on a GPU that supports it; True also on a CPU with "
                          "native bf16)"},
    )

    def __post_init__(self) -> None:
        self.report_to = check_report_to(self.report_to)
        if isinstance(self.pairs, str):
            self.pairs = [self.pairs]
        for path in self.pairs:
            if not Path(path).is_file():
                raise ConfigError(f"pairs file {path!r} does not exist; make one with `sparring filter --pairs`")
        if not self.beta > 0:
            raise ConfigError(f"beta must be > 0, got {self.beta}")
        if not self.learning_rate > 0 or self.epochs <= 0 or self.batch_size < 1:
            raise ConfigError(
                f"expected learning_rate > 0, epochs > 0, batch_size >= 1; got {self.learning_rate}, {self.epochs}, "
                f"{self.batch_size}"
            )
