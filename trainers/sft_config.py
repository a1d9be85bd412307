"""The configuration of :func:`~sparring.trainers.sft.train_sft` (``sparring train sft``): one field per
option, each with its help in the field's metadata, from which the command line builds its options
(docs/STYLE.md, item 4)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from sparring.errors import ConfigError
from sparring.trainers.metrics import REPORT_TO_HELP, check_report_to


@dataclasses.dataclass
class SFTConfig:
    """Configuration of :func:`~sparring.trainers.sft.train_sft`."""

    data: Sequence[str] = dataclasses.field(
        default=(),
        metadata={"help": "trajectory files (JSON Lines) to learn from"},
    )
    model: str = dataclasses.field(
        default="tiny",
        metadata={"help": "zoo name, model directory, sparring checkpoint or hub id to start from"},
    )
    output_dir: str = dataclasses.field(
        default="runs/sft",
        metadata={"help": "where checkpoints, logs and the final policy go"},
    )
    lora: bool | None = dataclasses.field(
        default=None,
        metadata={"help": "LoRA adapter (True) or full fine-tuning (False); None: full for tiny, else LoRA"},
    )
    lora_r: int = dataclasses.field(default=16, metadata={"help": "LoRA rank"})
    lora_alpha: int = dataclasses.field(default=32, metadata={"help": "LoRA scaling numerator"})
    lora_dropout: float = dataclasses.field(
        default=0.0,
        metadata={"help": "dropout on the LoRA path (its masks cost ~15% of a CPU step)"},
    )
    learning_rate: float | None = dataclasses.field(
        default=None,
        metadata={"help": "None: 2e-4 with LoRA, 1e-3 full fine-tuning of tiny, else 2e-5"},
    )
    epochs: float = dataclasses.field(default=3.0, metadata={"help": "passes over the data"})
    batch_size: int = dataclasses.field(default=8, metadata={"help": "examples per device per step"})
    gradient_accumulation_steps: int = dataclasses.field(
        default=1,
        metadata={"help": "steps whose gradients are summed before an update"},
    )
    max_length: int = dataclasses.field(
        default=1024,
        metadata={"help": "longest example in tokens (longer prompts are cut from the left)"},
    )
    gradient_checkpointing: bool = dataclasses.field(
        default=False,
        metadata={"help": "recompute activations in the backward pass: less memory for a large model, slower "
                          "(off for tiny on CPU)"},
    )
    warmup_ratio: float = dataclasses.field(
        default=0.03,
        metadata={"help": "share of steps with a rising learning rate"},
    )
    general_data: str | None = dataclasses.field(
        default=None,
        metadata={"help": 'JSON Lines of {"messages": [...]} general instruction data to mix in'},
    )
    general_ratio: float = dataclasses.field(
        default=0.0,
        metadata={"help": "general examples per trajectory example (0.2 = one in six of the mix)"},
    )
    seed: int = dataclasses.field(
        default=0,
        metadata={"help": "seed of data order, initialisation and dropout"},
    )
    logging_steps: int = dataclasses.field(default=10, metadata={"help": "steps between log records"})
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
        if isinstance(self.data, str):
            self.data = [self.data]
        if not self.data:
            raise ConfigError("SFT needs trajectory files; pass data=['trajectories.jsonl'] (from `sparring collect`)")
        for path in self.data:
            if not Path(path).is_file():
                raise ConfigError(f"trajectory file {path!r} does not exist; create it with `sparring collect`")
        if self.epochs <= 0 or self.batch_size < 1 or self.gradient_accumulation_steps < 1:
            raise ConfigError(
                f"expected epochs > 0, batch_size >= 1, gradient_accumulation_steps >= 1; got {self.epochs}, "
                f"{self.batch_size}, {self.gradient_accumulation_steps}"
            )
        if not 0.0 <= self.general_ratio <= 10.0:
            raise ConfigError(f"general_ratio must be between 0 and 10, got {self.general_ratio}")
        if self.general_ratio > 0 and not self.general_data:
            raise ConfigError("general_ratio > 0 needs general_data=PATH (JSON Lines of {'messages': [...]})")
        if self.lora is None:
            self.lora = self.model != "tiny"
        if self.learning_rate is None:
            self.learning_rate = 2e-4 if self.lora else (1e-3 if self.model == "tiny" else 2e-5)
        if not self.learning_rate > 0:
            raise ConfigError(f"learning_rate must be > 0, got {self.learning_rate}")
