"""The configuration of :func:`~sparring.trainers.ppo.train_ppo` (``sparring train ppo``), and
:class:`OnPolicyConfig`, the fields PPO shares with GRPO (:mod:`sparring.trainers.grpo_config`): one
field per option, each with its help in the field's metadata, from which the command line builds its
options (docs/STYLE.md, item 4)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from sparring.errors import ConfigError
from sparring.trainers.config_base import (
    check_bools,
    check_choice,
    check_common,
    check_integers,
    check_numbers,
    check_optional_integer,
    config_dict,
    device_option,
    difficulty_option,
    env_ids_option,
    lora_alpha_option,
    lora_r_option,
    model_option,
    num_envs_option,
    option,
    output_dir_option,
    progress_option,
    report_to_option,
    resume_option,
    seed_option,
    tensorboard_option,
)

MODES = ("score", "generate")
NORMALIZATIONS = ("sum", "token", "word")
LR_SCHEDULES = ("constant", "linear", "cosine")

__all__ = ["OnPolicyConfig", "PPOConfig", "check_policy_fields", "config_dict", "MODES", "NORMALIZATIONS",
           "LR_SCHEDULES"]


@dataclasses.dataclass
class OnPolicyConfig:
    """The fields of an on-policy trainer (PPO, GRPO): the policy, the envs it plays, the rollouts, the
    update, evaluation and the run directory. A subclass adds its algorithm's own fields after these and
    may redeclare one to change its default or help (it keeps its place)."""

    model: str = model_option()
    env_ids: Sequence[str] = env_ids_option("envs to train on (each plays its share of every iteration)")
    difficulty: str = difficulty_option()
    env_args: Sequence[str] = option((), "more env kwargs as KEY=VALUE (JSON values), e.g. max_steps=20")
    reward: Sequence[Any] | Mapping[str, float] = option(
        ("env",), "reward sources: env, progress or a trained reward model's directory, each NAME[=WEIGHT] "
                  "(Python: anything gym.make(reward=...) takes)")
    invalid_penalty: float = option(0.0, "subtracted from the reward of every action the env rejects as invalid")
    output_dir: str = output_dir_option("runs/on-policy")
    mode: str = option("score", '"score": a softmax over the admissible actions; "generate": free text, '
                                "token log-probs")
    normalization: str = option("token", 'score mode: candidate log-probs per "token", per "word", or "sum"')
    temperature: float = option(1.0, "sampling temperature of the policy (the trained distribution)")
    window: int = option(4, "earlier turns shown in the prompt")
    show_admissible: bool = option(True, "list the admissible actions in the prompt")
    max_new_tokens: int = option(48, "generate mode: longest reply")
    iterations: int = option(20, "rollout + update iterations in all (a resumed run trains up to this many)")
    max_minutes: float = option(0.0, "also stop after an iteration ending past this many wall-clock minutes "
                                     "of training, evaluations excluded (0: no limit)")
    max_cpu_minutes: float = option(0.0, "the same in CPU time of this process, all threads (fair on a shared "
                                         "machine; 0: no limit)")
    num_envs: int = num_envs_option()
    vectorization_mode: str = option("sync", '"sync" or "async" vector envs (async needs a picklable reward)')
    lora: bool = option(True, "train a LoRA adapter (reference = adapter disabled) or, False, all weights")
    lora_r: int = lora_r_option()
    lora_alpha: int = lora_alpha_option()
    learning_rate: float = option(1e-4, "learning rate of the policy (the adapter, or all weights)")
    update_epochs: int = option(4, "passes over each iteration's turns")
    minibatch_size: int = option(32, "turns per optimizer step (all processes together)")
    micro_batch_size: int = option(8, "turns per forward/backward; the rest of a minibatch accumulates "
                                      "gradients")
    clip_coef: float = option(0.2, "ratio clipping of the surrogate")
    ent_coef: float = option(0.01, "weight of the entropy bonus")
    kl_coef: float = option(0.05, "weight of KL(policy || reference) in the loss")
    kl_limit: float = option(1.0, "report an iteration whose KL to the reference passes this, in nats per "
                                  "action (0: never)")
    max_grad_norm: float = option(1.0, "gradient clipping (0: none)")
    eval_every: int = option(0, "greedy evaluation every this many iterations, and before the first (0: none)")
    eval_episodes: int = option(20, "episodes per env id of an evaluation (seeds 0..n-1)")
    eval_split: str = option("valid", "split of the evaluations")
    save_every: int = option(1, "iterations between checkpoints")
    keep_checkpoints: int = option(2, "checkpoints kept (older ones are deleted; at least 1)")
    seed: int = seed_option("seeds the adapter, the env seeds and every sampling stream")
    device: str | None = device_option()
    dtype: str | None = option(None, 'weights\' dtype, e.g. "bfloat16" (default: the checkpoint\'s; float32 '
                                     "for tiny)")
    tensorboard: bool = tensorboard_option()
    report_to: Sequence[str] = report_to_option()
    progress: bool = progress_option("a progress bar over the iterations (shown only on a terminal)")
    resume: bool = resume_option()

    def __post_init__(self) -> None:
        check_common(self)
        check_policy_fields(self)
        check_integers(self, 1, "iterations", "num_envs", "lora_r", "lora_alpha", "update_epochs",
                       "minibatch_size", "micro_batch_size", "max_new_tokens", "eval_episodes", "save_every",
                       "keep_checkpoints")
        check_integers(self, 0, "window", "eval_every")
        check_numbers(self, 0.0, "temperature", "clip_coef", open_low=True)
        check_numbers(self, 0.0, "learning_rate", high=1.0, open_low=True)
        check_numbers(self, 0.0, "ent_coef", "kl_coef", "kl_limit", "max_grad_norm", "invalid_penalty",
                      "max_minutes", "max_cpu_minutes")
        check_bools(self, "lora", "show_admissible")
        if self.minibatch_size < self.micro_batch_size:
            raise ConfigError(f"expected micro_batch_size <= minibatch_size, got {self.micro_batch_size} > "
                              f"{self.minibatch_size}; lower micro_batch_size (it only splits a minibatch)")

    def to_dict(self) -> dict[str, Any]:
        return config_dict(self)


@dataclasses.dataclass
class PPOConfig(OnPolicyConfig):
    """How to train a policy with PPO (see :mod:`sparring.trainers.ppo`)."""

    env_ids: Sequence[str] = env_ids_option("envs to train on (each plays episodes_per_iteration per iteration)")
    output_dir: str = output_dir_option("runs/ppo")
    learning_rate: float = option(1e-4, "peak learning rate of the policy (the adapter, or all weights)")
    clip_coef: float = option(0.2, "PPO ratio clipping")
    kl_coef: float = option(0.05, "weight of KL(policy || reference) in the loss (the start value when "
                                  "adaptive)")
    seed: int = seed_option("seeds the adapter, the value head, the env seeds and every sampling stream")
    # PPO's own
    episodes_per_iteration: int = option(16, "episodes per env id per iteration (shared among processes)")
    value_head_size: int | None = option(None, "inner width of the value head (default: the hidden size)")
    value_learning_rate: float = option(1e-3, "peak learning rate of the value head")
    lr_schedule: str = option("constant", '"constant", "linear" (to 0) or "cosine" (to 0) over the iterations')
    warmup_iterations: int = option(0, "iterations with a linearly rising learning rate first")
    gamma: float = option(0.99, "discount per turn")
    gae_lambda: float = option(0.95, "GAE lambda")
    value_clip: float = option(0.2, "value clipping around the rollout's value (0: unclipped value loss)")
    vf_coef: float = option(0.5, "weight of the value loss")
    kl_target: float = option(0.0, "adapt kl_coef toward this KL per action after each iteration (0: fixed "
                                   "coefficient)")
    early_stop_kl: float = option(0.0, "stop an update when the approx KL to the rollout policy passes this "
                                       "(0: never)")
    normalize_advantages: bool = option(True, "normalise advantages over the batch")
    attack_fraction: float = option(0.5, "share of each env id's episodes per iteration played under "
                                         "train_ppo's env_wrappers (min-max training; no effect without them)")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice(self, "lr_schedule", LR_SCHEDULES)
        check_integers(self, 1, "episodes_per_iteration")
        check_integers(self, 0, "warmup_iterations")
        check_optional_integer(self, "value_head_size", 1)
        check_numbers(self, 0.0, "attack_fraction", "gamma", "gae_lambda", high=1.0)
        check_numbers(self, 0.0, "value_learning_rate", high=1.0, open_low=True)
        check_numbers(self, 0.0, "value_clip", "vf_coef", "kl_target", "early_stop_kl")
        check_bools(self, "normalize_advantages")


def check_policy_fields(config: Any) -> None:
    """Validates (and normalises to tuples and strings) the fields that say what is trained, on
    what and where: env_ids, env_args, reward, mode, normalization, vectorization_mode, eval_split and
    dtype."""
    from sparring.envs.registration import entry
    from sparring.envs.splits import SPLITS
    from sparring.trainers.ppo import (  # the trainer's own parsers, at call time
        _parse_reward_item,
        parse_env_args,
    )

    if isinstance(config.env_ids, str):
        config.env_ids = (config.env_ids,)
    config.env_ids = tuple(config.env_ids)
    if not config.env_ids:
        raise ConfigError("expected at least one env id to train on, got none; e.g. env_ids=['sparring/Household-v0']")
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
    check_choice(config, "mode", MODES)
    check_choice(config, "normalization", NORMALIZATIONS)
    check_choice(config, "vectorization_mode", ("sync", "async"))
    check_choice(config, "eval_split", SPLITS)
    if config.dtype is not None and config.dtype not in ("float32", "float16", "bfloat16"):
        raise ConfigError(f"dtype must be float32, float16, bfloat16 or None, got {config.dtype!r}")
