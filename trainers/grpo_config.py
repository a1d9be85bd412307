"""The configuration of :func:`~sparring.trainers.grpo.train_grpo` (``sparring train grpo``): PPO's
:class:`~sparring.trainers.ppo_config.OnPolicyConfig` fields plus the group baseline's, one field per
option, each with its help in the field's metadata, from which the command line builds its options
(docs/STYLE.md, item 4)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from sparring.errors import ConfigError
from sparring.trainers.config_base import (
    check_bools,
    check_choice,
    check_integers,
    check_numbers,
    env_ids_option,
    option,
    output_dir_option,
)
from sparring.trainers.ppo_config import OnPolicyConfig

ESTIMATORS = ("grpo", "rloo")
TURN_CREDITS = ("episode", "return_to_go")


@dataclasses.dataclass
class GRPOConfig(OnPolicyConfig):
    """How to train a policy with GRPO or RLOO (see :mod:`sparring.trainers.grpo`)."""

    env_ids: Sequence[str] = env_ids_option("envs to train on (each plays tasks_per_iteration groups per "
                                            "iteration)")
    output_dir: str = output_dir_option("runs/grpo")
    update_epochs: int = option(1, "passes over each iteration's turns")
    minibatch_size: int = option(64, "turns per optimizer step (all processes together)")
    clip_coef: float = option(0.2, "ratio clipping of the surrogate (matters once update_epochs or "
                                   "minibatches > 1)")
    ent_coef: float = option(0.0, "weight of the entropy bonus")
    kl_coef: float = option(0.04, "weight of KL(policy || reference) in the loss")
    # the group baseline's own
    tasks_per_iteration: int = option(8, "tasks per env id per iteration (shared among processes), each played "
                                         "group_size times")
    group_size: int = option(4, "G, tries of each task (>= 2): every episode's baseline comes from its group")
    estimator: str = option("grpo", '"grpo": (R - group mean) / group std; "rloo": R - mean of the other G-1 '
                                    "returns")
    scale_rewards: bool = option(True, "grpo: divide by the group's std (False: only subtract the mean, as "
                                       "Dr. GRPO)")
    turn_credit: str = option("episode", '"episode": every turn gets its episode\'s advantage; "return_to_go": '
                                         "each turn's discounted return-to-go against the group baseline")
    gamma: float = option(1.0, 'discount per turn of turn_credit="return_to_go"')
    skip_zero_std_groups: bool = option(False, "leave groups whose returns are all equal (advantage 0) out of "
                                               "the update")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice(self, "estimator", ESTIMATORS)
        check_choice(self, "turn_credit", TURN_CREDITS)
        if not isinstance(self.group_size, int) or isinstance(self.group_size, bool) or self.group_size < 2:
            raise ConfigError(f"group_size must be an integer >= 2 (a group baseline needs several tries of a task), "
                              f"got {self.group_size!r}; e.g. group_size=4")
        check_integers(self, 1, "tasks_per_iteration")
        check_numbers(self, 0.0, "gamma", high=1.0)
        check_bools(self, "scale_rewards", "skip_zero_std_groups")
