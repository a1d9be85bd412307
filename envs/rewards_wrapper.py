"""A wrapper that gives any sparring env another reward, without rebuilding it."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from sparring.envs.rewards import make_reward


class RewardWrapper(gym.Wrapper):
    """Replaces the reward of a sparring env with ``reward`` (same forms as ``gym.make(..., reward=)``).

    It re-scores the transition the env recorded on this step, so ``info["reward_terms"]`` and the
    returned reward both describe the new sources.
    """

    def __init__(self, env: gym.Env, reward: Any) -> None:
        super().__init__(env)
        if not hasattr(env.unwrapped, "last_transition"):
            raise TypeError(
                f"RewardWrapper needs a sparring text env, got {type(env.unwrapped).__name__}; wrap an env "
                f"made with sparring.envs.make() or gymnasium.make('sparring/...')"
            )
        self.reward_fn = make_reward(reward)

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        obs, _, terminated, truncated, info = self.env.step(action)
        reward, terms = self.reward_fn.evaluate(self.env.unwrapped.last_transition)
        info = {**info, "reward_terms": terms}
        return obs, reward, terminated, truncated, info
