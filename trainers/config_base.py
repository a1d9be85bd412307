"""What the trainers' config dataclasses share: :func:`option` (a field with its help in the metadata,
from which the command line builds its ``--flag``, docs/STYLE.md item 4), the fields several configs
declare with the same meaning, and the checks their ``__post_init__`` run.

A shared field is a function returning a fresh :func:`dataclasses.field` (a field object belongs to one
class), so each config keeps its own field order, and with it its ``--help`` order::

    @dataclasses.dataclass
    class MyConfig:
        model: str = model_option("the starting policy")
        seed: int = seed_option("seeds the tasks and the adapter")

        def __post_init__(self) -> None:
            check_integers(self, 1, "epochs", "batch_size")
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sparring.errors import ConfigError
from sparring.trainers.metrics import REPORT_TO_HELP, check_report_to

__all__ = [
    "option", "model_option", "env_ids_option", "difficulty_option", "output_dir_option", "num_envs_option",
    "seed_option", "lora_r_option", "lora_alpha_option", "tensorboard_option", "report_to_option",
    "progress_option", "resume_option", "device_option", "as_tuple", "check_integers", "check_numbers",
    "check_optional_integer", "check_choice", "check_bools", "check_seed", "check_model", "check_output_dir",
    "check_files", "check_common", "config_dict", "is_number", "HF_TRAINER_OPTIONS", "hf_trainer_option",
    "check_hf_trainer_fields",
]

# ----------------------------------------------------------------------------------------------
# Fields


def option(default: Any = None, help: str = "", *, factory: Callable[[], Any] | None = None) -> Any:
    """A dataclass field with ``default`` (or ``factory``) and its help text in ``metadata["help"]``."""
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


def model_option(help: str = "the starting policy: a zoo name, a sparring checkpoint (e.g. SFT's final/), "
                              "a directory or hub id", default: str = "tiny") -> Any:
    return option(default, help)


def env_ids_option(help: str = "envs to train on", default: Sequence[str] = ("sparring/Household-v0",)) -> Any:
    return option(tuple(default), help)


def difficulty_option(help: str = 'difficulty preset of the envs ("" for the env\'s default)') -> Any:
    return option("easy", help)


def output_dir_option(default: str, help: str = "where checkpoints, logs and the final policy go") -> Any:
    return option(default, help)


def num_envs_option(help: str = "envs stepped side by side in each process", default: int = 8) -> Any:
    return option(default, help)


def seed_option(help: str) -> Any:
    return option(0, help)


def lora_r_option(help: str = "LoRA rank", default: int = 16) -> Any:
    return option(default, help)


def lora_alpha_option() -> Any:
    return option(32, "LoRA scaling numerator")


def tensorboard_option() -> Any:
    return option(True, "also write TensorBoard events (needs the tensorboard package; as does 'tensorboard' "
                        "in report_to)")


def report_to_option(more: str = "") -> Any:
    return option((), REPORT_TO_HELP + (f"; {more}" if more else ""))


def progress_option(help: str = "a progress bar (shown only on a terminal)") -> Any:
    return option(True, help)


def resume_option(help: str = "continue from the last checkpoint in output_dir") -> Any:
    return option(False, help)


def device_option(help: str = '"cpu", "cuda", ... (default: this process\'s GPU when there is one)') -> Any:
    return option(None, help)


# ----------------------------------------------------------------------------------------------
# Checks (each raises a ConfigError naming the field, the rule and the value it got)


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def as_tuple(config: Any, *names: str) -> None:
    """Turns each named field into a tuple (a lone string becomes a 1-tuple)."""
    for name in names:
        value = getattr(config, name)
        setattr(config, name, (value,) if isinstance(value, (str, os.PathLike)) else tuple(value))


def check_integers(config: Any, low: int, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")


def check_optional_integer(config: Any, name: str, low: int) -> None:
    if getattr(config, name) is not None:
        check_integers(config, low, name)


def check_numbers(config: Any, low: float, *names: str, high: float = math.inf, open_low: bool = False,
                  optional: bool = False) -> None:
    """Each named field is a finite number in ``[low, high]`` (``(low, high]`` with ``open_low``; None
    passes when ``optional``)."""
    for name in names:
        value = getattr(config, name)
        if optional and value is None:
            continue
        ok = is_number(value) and (value > low if open_low else value >= low) and value <= high
        if not ok:
            bound = f"> {low}" if open_low else f">= {low}"
            raise ConfigError(f"{name} must be a number {bound}" + (f" and <= {high}" if high < math.inf else "")
                              + (" or None" if optional else "") + f", got {value!r}")


def check_choice(config: Any, name: str, choices: Sequence[str]) -> None:
    if getattr(config, name) not in choices:
        raise ConfigError(f"{name} must be one of {tuple(choices)}, got {getattr(config, name)!r}")


def check_bools(config: Any, *names: str) -> None:
    for name in names:
        if not isinstance(getattr(config, name), bool):
            raise ConfigError(f"{name} must be True or False, got {getattr(config, name)!r}")


def check_seed(config: Any) -> None:
    if not isinstance(config.seed, int) or isinstance(config.seed, bool):
        raise ConfigError(f"seed must be an integer, got {config.seed!r}")


def check_model(config: Any, name: str = "model") -> None:
    value = getattr(config, name)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{name} must be a zoo name, checkpoint, directory or hub id, got {value!r}; e.g. 'tiny'")


def check_output_dir(config: Any) -> None:
    """``output_dir`` is a non-empty path; stored as a string."""
    if not isinstance(config.output_dir, (str, os.PathLike)) or not str(config.output_dir):
        raise ConfigError(f"output_dir must be a directory path, got {config.output_dir!r}")
    config.output_dir = str(config.output_dir)


def check_files(paths: Sequence[str], what: str, how: str) -> None:
    """Each path is an existing file, or a ConfigError saying ``how`` to make one."""
    for path in paths:
        if not Path(path).is_file():
            raise ConfigError(f"{what} {str(path)!r} does not exist; {how}")


def check_common(config: Any) -> None:
    """The checks of the fields every trainer has: report_to (normalised), seed, and, when the config
    has them, model and output_dir."""
    config.report_to = check_report_to(config.report_to)
    check_seed(config)
    if hasattr(config, "model"):
        check_model(config)
    if hasattr(config, "output_dir"):
        check_output_dir(config)


def config_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as plain JSON values (a reward function or model is shown, not restored)."""
    def plain(value: Any) -> Any:
        if isinstance(value, (str, int, float, bool)) or value is None:
            return value
        if isinstance(value, os.PathLike):
            return str(value)
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return repr(value)

    return {f.name: plain(getattr(config, f.name)) for f in dataclasses.fields(config)}


#: the options SFT and DPO (both on Hugging Face's Trainer) share, by field name: (default, help)
HF_TRAINER_OPTIONS: dict[str, tuple[Any, str]] = {
    "gradient_accumulation_steps": (1, "steps whose gradients are summed before an update"),
    "gradient_checkpointing": (False, "recompute activations in the backward pass: less memory for a large "
                                      "model, slower (off for tiny on CPU)"),
    "save_total_limit": (2, "Hugging Face checkpoints kept for resuming"),
    "resume": (False, "continue from the last checkpoint in output_dir/checkpoints"),
    "tensorboard": (True, "also write TensorBoard events into output_dir/tensorboard (as does 'tensorboard' "
                          "in report_to)"),
    "progress": (True, "Hugging Face's progress bar over the steps, with each log record as a line"),
    "device": (None, "torch device; None lets the Trainer choose"),
    "bf16": (None, "bf16 mixed precision (None: on a GPU that supports it; True also on a CPU with native "
                   "bf16)"),
}


def hf_trainer_option(name: str) -> Any:
    """The field ``name`` of :data:`HF_TRAINER_OPTIONS`."""
    default, help = HF_TRAINER_OPTIONS[name]
    return option(default, help)


def check_hf_trainer_fields(config: Any) -> None:
    """The checks of a Hugging Face Trainer config (SFT, DPO): the common ones, the step sizes, LoRA."""
    check_common(config)
    check_numbers(config, 0.0, "epochs", open_low=True)
    check_integers(config, 1, "batch_size", "gradient_accumulation_steps", "max_length", "logging_steps",
                   "save_total_limit", "lora_r", "lora_alpha")
    check_numbers(config, 0.0, "lora_dropout", high=1.0)
    check_numbers(config, 0.0, "learning_rate", open_low=True, optional=True)
    check_bools(config, "gradient_checkpointing", "resume", "tensorboard", "progress")
