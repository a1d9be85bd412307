"""The configuration of :func:`~sparring.trainers.grpo.train_grpo` (``sparring train grpo``): one field per
option, each with its help in the field's metadata, from which the command line builds its options
(docs/STYLE.md, item 4)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from sparring.errors import ConfigError
from sparring.trainers.metrics import REPORT_TO_HELP, check_report_to
from sparring.trainers.ppo_config import check_integer, check_number, check_policy_fields, config_dict

ESTIMATORS = ("grpo", "rloo")
TURN_CREDITS = ("episode", "return_to_go")


@dataclasses.dataclass
class GRPOConfig:
    """How to train a policy with GRPO or RLOO (see :mod:`sparring.trainers.grpo`)."""

    model: str = dataclasses.field(
        default="tiny",
        metadata={"help": "the starting policy: a zoo name, a sparring checkpoint (e.g. SFT's final/), a "
                          "directory or hub id"},
    )
    env_ids: Sequence[str] = dataclasses.field(
        default=("sparring/Household-v0",),
        metadata={"help": "envs to train on (each plays tasks_per_iteration groups per iteration)"},
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
        default="runs/grpo",
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
    tasks_per_iteration: int = dataclasses.field(
        default=8,
        metadata={"help": "tasks per env id per iteration (shared among processes), each played group_size "
                          "times"},
    )
    group_size: int = dataclasses.field(
        default=4,
        metadata={"help": "G, tries of each task (>= 2): every episode's baseline comes from its group"},
    )
    estimator: str = dataclasses.field(
        default="grpo",
        metadata={"help": '"grpo": (R - group mean) / group std; "rloo": R - mean of the other G-1 returns'},
    )
    scale_rewards: bool = dataclasses.field(
        default=True,
        metadata={"help": "grpo: divide by the group's std (False: only subtract the mean, as Dr. GRPO)"},
    )
    turn_credit: str = dataclasses.field(
        default="episode",
        metadata={"help": "\"episode\": every turn gets its episode's advantage; \"return_to_go\": each turn's "
                          "discounted return-to-go against the group baseline"},
    )
    gamma: float = dataclasses.field(
        default=1.0,
        metadata={"help": 'discount per turn of turn_credit="return_to_go"'},
    )
    skip_zero_std_groups: bool = dataclasses.field(
        default=False,
        metadata={"help": "leave groups whose returns are all equal (advantage 0) out of the update"},
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
    learning_rate: float = dataclasses.field(
        default=1e-4,
        metadata={"help": "learning rate of the policy (the adapter, or all weights)"},
    )
    update_epochs: int = dataclasses.field(default=1, metadata={"help": "passes over each iteration's turns"})
    minibatch_size: int = dataclasses.field(
        default=64,
        metadata={"help": "turns per optimizer step (all processes together)"},
    )
    micro_batch_size: int = dataclasses.field(
        default=8,
        metadata={"help": "turns per forward/backward; the rest of a minibatch accumulates gradients"},
    )
    clip_coef: float = dataclasses.field(
        default=0.2,
        metadata={"help": "ratio clipping of the surrogate (matters once update_epochs or minibatches > 1)"},
    )
    ent_coef: float = dataclasses.field(default=0.0, metadata={"help": "weight of the entropy bonus"})
    kl_coef: float = dataclasses.field(
        default=0.04,
        metadata={"help": "weight of KL(policy || reference) in the loss"},
    )
    kl_limit: float = dataclasses.field(
        default=1.0,
        metadata={"help": "report an iteration whose KL to the reference passes this, in nats per action (0: "
                          "never)"},
    )
    max_grad_norm: float = dataclasses.field(default=1.0, metadata={"help": "gradient clipping (0: none)"})
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
        metadata={"help": "seeds the adapter, the env seeds and every sampling stream"},
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

    def __post_init__(self) -> None:
        self.report_to = check_report_to(self.report_to)
        check_policy_fields(self)
        if self.estimator not in ESTIMATORS:
            raise ConfigError(f"estimator must be one of {ESTIMATORS}, got {self.estimator!r}")
        if self.turn_credit not in TURN_CREDITS:
            raise ConfigError(f"turn_credit must be one of {TURN_CREDITS}, got {self.turn_credit!r}")
        if not isinstance(self.group_size, int) or isinstance(self.group_size, bool) or self.group_size < 2:
            raise ConfigError(f"group_size must be an integer >= 2 (a group baseline needs several tries of a task), "
                              f"got {self.group_size!r}; e.g. group_size=4")
        for name in ("iterations", "tasks_per_iteration", "num_envs", "lora_r", "lora_alpha",
                     "update_epochs", "minibatch_size", "micro_batch_size", "max_new_tokens", "eval_episodes",
                     "save_every", "keep_checkpoints"):
            check_integer(self, name, 1)
        for name in ("window", "eval_every"):
            check_integer(self, name, 0)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ConfigError(f"seed must be an integer, got {self.seed!r}")
        check_number(self, "temperature", 0.0, open_low=True)
        check_number(self, "learning_rate", 0.0, 1.0, open_low=True)
        check_number(self, "gamma", 0.0, 1.0)
        check_number(self, "clip_coef", 0.0, open_low=True)
        for name in ("ent_coef", "kl_coef", "kl_limit", "max_grad_norm", "invalid_penalty", "max_minutes",
                     "max_cpu_minutes"):
            check_number(self, name, 0.0)
        for name in ("scale_rewards", "skip_zero_std_groups", "lora", "show_admissible"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.minibatch_size < self.micro_batch_size:
            raise ConfigError(f"expected micro_batch_size <= minibatch_size, got {self.micro_batch_size} > "
                              f"{self.minibatch_size}; lower micro_batch_size (it only splits a minibatch)")

    def to_dict(self) -> dict[str, Any]:
        return config_dict(self)
