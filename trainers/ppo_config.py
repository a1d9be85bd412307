"""The configuration of :func:`~sparring.trainers.ppo.train_ppo` (``sparring train ppo``): one field per
option, each with its help in the field's metadata, from which the command line builds its options
(docs/STYLE.md, item 4)."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from sparring.errors import ConfigError
from sparring.trainers.metrics import REPORT_TO_HELP, check_report_to

MODES = ("score", "generate")
NORMALIZATIONS = ("sum", "token", "word")
LR_SCHEDULES = ("constant", "linear", "cosine")


@dataclasses.dataclass
class PPOConfig:
    """How to train a policy with PPO (see :mod:`sparring.trainers.ppo`)."""

    model: str = dataclasses.field(
        default="tiny",
        metadata={"help": "the starting policy: a zoo name, a sparring checkpoint (e.g. SFT's final/), a "
                          "directory or hub id"},
    )
    env_ids: Sequence[str] = dataclasses.field(
        default=("sparring/Household-v0",),
        metadata={"help": "envs to train on (each plays episodes_per_iteration per iteration)"},
    )
    difficulty: str = dataclasses.field(
        default="easy",
        metadata={"help": "difficulty preset of the envs (\"\" for the env's default)"},
    )
    env_args: Sequence[str] = dataclasses.field(
        default=(),
        metadata={"help": "more env kwargs as KEY=VALUE (JSON values), e.g. max_steps=20"},
    )
    reward: Sequence[Any] | Mapping[str, float] = dataclasses.field(
        default=("env",),
        metadata={"help": "reward sources: env, progress or a trained reward model's directory, each "
                          "NAME[=WEIGHT] (Python: anything gym.make(reward=...) takes)"},
    )
    invalid_penalty: float = dataclasses.field(
        default=0.0,
        metadata={"help": "subtracted from the reward of every action the env rejects as invalid"},
    )
    output_dir: str = dataclasses.field(
        default="runs/ppo",
        metadata={"help": "where checkpoints, logs and the final policy go"},
    )
    mode: str = dataclasses.field(
        default="score",
        metadata={"help": '"score": a softmax over the admissible actions; "generate": free text, token '
                          'log-probs'},
    )
    normalization: str = dataclasses.field(
        default="token",
        metadata={"help": 'score mode: candidate log-probs per "token", per "word", or "sum"'},
    )
    temperature: float = dataclasses.field(
        default=1.0,
        metadata={"help": "sampling temperature of the policy (the trained distribution)"},
    )
    window: int = dataclasses.field(default=4, metadata={"help": "earlier turns shown in the prompt"})
    show_admissible: bool = dataclasses.field(
        default=True,
        metadata={"help": "list the admissible actions in the prompt"},
    )
    max_new_tokens: int = dataclasses.field(default=48, metadata={"help": "generate mode: longest reply"})
    iterations: int = dataclasses.field(
        default=20,
        metadata={"help": "rollout + update iterations in all (a resumed run trains up to this many)"},
    )
    max_minutes: float = dataclasses.field(
        default=0.0,
        metadata={"help": "also stop after an iteration ending past this many wall-clock minutes of "
                          "training, evaluations excluded (0: no limit)"},
    )
    max_cpu_minutes: float = dataclasses.field(
        default=0.0,
        metadata={"help": "the same in CPU time of this process, all threads (fair on a shared machine; 0: "
                          "no limit)"},
    )
    episodes_per_iteration: int = dataclasses.field(
        default=16,
        metadata={"help": "episodes per env id per iteration (shared among processes)"},
    )
    num_envs: int = dataclasses.field(
        default=8,
        metadata={"help": "envs stepped side by side in each process"},
    )
    vectorization_mode: str = dataclasses.field(
        default="sync",
        metadata={"help": '"sync" or "async" vector envs (async needs a picklable reward)'},
    )
    lora: bool = dataclasses.field(
        default=True,
        metadata={"help": "train a LoRA adapter (reference = adapter disabled) or, False, all weights"},
    )
    lora_r: int = dataclasses.field(default=16, metadata={"help": "LoRA rank"})
    lora_alpha: int = dataclasses.field(default=32, metadata={"help": "LoRA scaling numerator"})
    value_head_size: int | None = dataclasses.field(
        default=None,
        metadata={"help": "inner width of the value head (default: the hidden size)"},
    )
    learning_rate: float = dataclasses.field(
        default=1e-4,
        metadata={"help": "peak learning rate of the policy (the adapter, or all weights)"},
    )
    value_learning_rate: float = dataclasses.field(
        default=1e-3,
        metadata={"help": "peak learning rate of the value head"},
    )
    lr_schedule: str = dataclasses.field(
        default="constant",
        metadata={"help": '"constant", "linear" (to 0) or "cosine" (to 0) over the iterations'},
    )
    warmup_iterations: int = dataclasses.field(
        default=0,
        metadata={"help": "iterations with a linearly rising learning rate first"},
    )
    update_epochs: int = dataclasses.field(default=4, metadata={"help": "passes over each iteration's turns"})
    minibatch_size: int = dataclasses.field(
        default=32,
        metadata={"help": "turns per optimizer step (all processes together)"},
    )
    micro_batch_size: int = dataclasses.field(
        default=8,
        metadata={"help": "turns per forward/backward; the rest of a minibatch accumulates gradients"},
    )
    gamma: float = dataclasses.field(default=0.99, metadata={"help": "discount per turn"})
    gae_lambda: float = dataclasses.field(default=0.95, metadata={"help": "GAE lambda"})
    clip_coef: float = dataclasses.field(default=0.2, metadata={"help": "PPO ratio clipping"})
    value_clip: float = dataclasses.field(
        default=0.2,
        metadata={"help": "value clipping around the rollout's value (0: unclipped value loss)"},
    )
    vf_coef: float = dataclasses.field(default=0.5, metadata={"help": "weight of the value loss"})
    ent_coef: float = dataclasses.field(default=0.01, metadata={"help": "weight of the entropy bonus"})
    kl_coef: float = dataclasses.field(
        default=0.05,
        metadata={"help": "weight of KL(policy || reference) in the loss (the start value when adaptive)"},
    )
    kl_target: float = dataclasses.field(
        default=0.0,
        metadata={"help": "adapt kl_coef toward this KL per action after each iteration (0: fixed "
                          "coefficient)"},
    )
    early_stop_kl: float = dataclasses.field(
        default=0.0,
        metadata={"help": "stop an update when the approx KL to the rollout policy passes this (0: never)"},
    )
    kl_limit: float = dataclasses.field(
        default=1.0,
        metadata={"help": "report an iteration whose KL to the reference passes this, in nats per action (0: "
                          "never)"},
    )
    max_grad_norm: float = dataclasses.field(default=1.0, metadata={"help": "gradient clipping (0: none)"})
    normalize_advantages: bool = dataclasses.field(
        default=True,
        metadata={"help": "normalise advantages over the batch"},
    )
    eval_every: int = dataclasses.field(
        default=0,
        metadata={"help": "greedy evaluation every this many iterations, and before the first (0: none)"},
    )
    eval_episodes: int = dataclasses.field(
        default=20,
        metadata={"help": "episodes per env id of an evaluation (seeds 0..n-1)"},
    )
    eval_split: str = dataclasses.field(default="valid", metadata={"help": "split of the evaluations"})
    save_every: int = dataclasses.field(default=1, metadata={"help": "iterations between checkpoints"})
    keep_checkpoints: int = dataclasses.field(
        default=2,
        metadata={"help": "checkpoints kept (older ones are deleted; at least 1)"},
    )
    seed: int = dataclasses.field(
        default=0,
        metadata={"help": "seeds the adapter, the value head, the env seeds and every sampling stream"},
    )
    device: str | None = dataclasses.field(
        default=None,
        metadata={"help": "\"cpu\", \"cuda\", ... (default: this process's GPU when there is one)"},
    )
    dtype: str | None = dataclasses.field(
        default=None,
        metadata={"help": "weights' dtype, e.g. \"bfloat16\" (default: the checkpoint's; float32 for tiny)"},
    )
    tensorboard: bool = dataclasses.field(
        default=True,
        metadata={"help": "also write TensorBoard events (needs the tensorboard package; as does 'tensorboard' in "
                          "report_to)"},
    )
    report_to: Sequence[str] = dataclasses.field(default=(), metadata={"help": REPORT_TO_HELP})
    progress: bool = dataclasses.field(
        default=True,
        metadata={"help": "a progress bar over the iterations (shown only on a terminal)"},
    )
    resume: bool = dataclasses.field(
        default=False,
        metadata={"help": "continue from the last checkpoint in output_dir"},
    )
    attack_fraction: float = dataclasses.field(
        default=0.5,
        metadata={"help": "share of each env id's episodes per iteration played under train_ppo's "
                          "env_wrappers (min-max training; no effect without them)"},
    )

    def __post_init__(self) -> None:
        self.report_to = check_report_to(self.report_to)
        def integer(name: str, low: int) -> None:
            check_integer(self, name, low)

        def number(name: str, low: float, high: float = math.inf, *, open_low: bool = False) -> None:
            check_number(self, name, low, high, open_low=open_low)

        check_policy_fields(self)
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        for name in ("iterations", "episodes_per_iteration", "num_envs", "lora_r", "lora_alpha", "update_epochs",
                     "minibatch_size", "micro_batch_size", "max_new_tokens", "eval_episodes", "save_every",
                     "keep_checkpoints"):
            integer(name, 1)
        for name in ("window", "warmup_iterations", "eval_every"):
            integer(name, 0)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ConfigError(f"seed must be an integer, got {self.seed!r}")
        if self.value_head_size is not None:
            integer("value_head_size", 1)
        number("temperature", 0.0, open_low=True)
        number("attack_fraction", 0.0, 1.0)
        number("learning_rate", 0.0, 1.0, open_low=True)
        number("value_learning_rate", 0.0, 1.0, open_low=True)
        number("gamma", 0.0, 1.0)
        number("gae_lambda", 0.0, 1.0)
        number("clip_coef", 0.0, open_low=True)
        for name in ("value_clip", "vf_coef", "ent_coef", "kl_coef", "kl_target", "early_stop_kl", "kl_limit",
                     "max_grad_norm", "invalid_penalty", "max_minutes", "max_cpu_minutes"):
            number(name, 0.0)
        if self.minibatch_size < self.micro_batch_size:
            raise ConfigError(f"expected micro_batch_size <= minibatch_size, got {self.micro_batch_size} > "
                              f"{self.minibatch_size}; lower micro_batch_size (it only splits a minibatch)")

    def to_dict(self) -> dict[str, Any]:
        return config_dict(self)


# The checks and the plain-JSON form that the on-policy trainers' configs (PPO, GRPO) share
def check_integer(config: Any, name: str, low: int) -> None:
    value = getattr(config, name)
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")


def check_number(config: Any, name: str, low: float, high: float = math.inf, *, open_low: bool = False) -> None:
    value = getattr(config, name)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if open_low else value >= low) and value <= high
    if not ok:
        bound = f"> {low}" if open_low else f">= {low}"
        raise ConfigError(f"{name} must be a number {bound}" + (f" and <= {high}" if high < math.inf else "")
                          + f", got {value!r}")


def check_policy_fields(config: Any) -> None:
    """Validates (and normalises to tuples and strings) the fields that say what is trained, on
    what and where: env_ids, env_args, reward, mode, normalization, vectorization_mode, model,
    output_dir, eval_split and dtype."""
    from sparring.trainers.ppo import (  # the trainer's own parsers, at call time
        _parse_reward_item,
        parse_env_args,
    )

    if isinstance(config.env_ids, str):
        config.env_ids = (config.env_ids,)
    config.env_ids = tuple(config.env_ids)
    if not config.env_ids:
        raise ConfigError("expected at least one env id to train on, got none; e.g. env_ids=['sparring/Household-v0']")
    from sparring.envs.registration import entry

    for env_id in config.env_ids:
        entry(env_id)  # an unknown id gets a "did you mean"
    if isinstance(config.env_args, str):
        config.env_args = (config.env_args,)
    config.env_args = tuple(config.env_args)
    parse_env_args(config.env_args)
    if isinstance(config.reward, str):
        config.reward = (config.reward,)
    if not isinstance(config.reward, Mapping):
        config.reward = tuple(config.reward)
    if not config.reward:
        raise ConfigError("expected at least one reward source, got none; e.g. reward=['env'] or ['env', 'progress=0.2']")
    for item in (config.reward if not isinstance(config.reward, Mapping) else ()):
        if isinstance(item, str):
            _parse_reward_item(item)
    if config.mode not in MODES:
        raise ConfigError(f"mode must be one of {MODES}, got {config.mode!r}")
    if config.normalization not in NORMALIZATIONS:
        raise ConfigError(f"normalization must be one of {NORMALIZATIONS}, got {config.normalization!r}")
    if config.vectorization_mode not in ("sync", "async"):
        raise ConfigError(f"vectorization_mode must be 'sync' or 'async', got {config.vectorization_mode!r}")
    if not isinstance(config.model, str) or not config.model:
        raise ConfigError(f"model must be a zoo name, checkpoint, directory or hub id, got {config.model!r}; e.g. 'tiny'")
    if not isinstance(config.output_dir, (str, os.PathLike)) or not str(config.output_dir):
        raise ConfigError(f"output_dir must be a directory path, got {config.output_dir!r}")
    config.output_dir = str(config.output_dir)
    from sparring.envs.splits import SPLITS

    if config.eval_split not in SPLITS:
        raise ConfigError(f"eval_split must be one of {SPLITS}, got {config.eval_split!r}")
    if config.dtype is not None and config.dtype not in ("float32", "float16", "bfloat16"):
        raise ConfigError(f"dtype must be float32, float16, bfloat16 or None, got {config.dtype!r}")


def config_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as plain JSON values (a reward function or model is shown, not restored)."""
    def plain(value: Any) -> Any:
        if isinstance(value, (str, int, float, bool)) or value is None:
            return value
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return repr(value)

    return {f.name: plain(getattr(config, f.name)) for f in dataclasses.fields(config)}
