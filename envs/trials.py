"""Several tries at one task in one episode: the protocol of Reflexion (Shinn et al., 2023).

:class:`TrialsWrapper` turns an env into one whose episode is up to ``trials`` *trials* of the same
task. When a trial ends without a win (lost, or out of steps) and trials are left, the wrapper
resets the same task (``reset(seed=..., options={"task": info["task"]})``) and hands the agent the
new first observation as the result of its last step: the outer episode goes on. The agent sees
``info["step"] == 0`` again (so any agent starts a fresh history), ``info["trial"]`` counting the
retries (0 for the first try, 1 for the second...) and ``info["last_trial"]``, the outcome of the
trial before. The outer episode ends when a trial is won or when the last trial ends; its
``info["won"]`` is then whether some trial was won.

``info`` gains, on every step:

* ``"trial"`` — the current trial, 0-based; ``"trials"`` — how many the episode may take;
* ``"total_steps"`` / ``"total_invalid"`` — steps and invalid actions of the whole outer episode
  (``"step"`` and ``"num_invalid"`` stay per trial); rewards add up across trials by themselves;
* ``"last_trial"`` (from the second trial on) — the previous trial: ``won``, ``lost``,
  ``truncated``, ``score``, ``max_score``, ``steps``, ``num_invalid``, ``return`` and
  ``final_observation`` (the feedback of its last step, which the agent would otherwise never see).

On the step that ends a trial and starts the next one, ``"invalid_action"`` and ``"reward_terms"``
still describe that step's action (the rest of ``info`` is the new trial's).

Success within K trials with the env's feedback between them is not the protocol of one try:
results say how many trials an agent was given. In vector envs pass ``TrialsWrapper.factory(K)``
through ``wrappers=``; under the adversary put it inside the
:class:`~sparring.adversary.wrapper.PerturbationWrapper` (trials inside, perturbation outside), so
every trial is attacked.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import gymnasium as gym

from sparring.errors import ConfigError


class TrialsWrapper(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Up to ``trials`` tries of one task per episode (see the module docstring)."""

    def __init__(self, env: gym.Env, trials: int = 3) -> None:
        if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
            raise ConfigError(f"trials must be a positive integer (tries per task), got {trials!r}")
        gym.utils.RecordConstructorArgs.__init__(self, trials=trials)  # the env spec can rebuild it
        gym.Wrapper.__init__(self, env)
        self.trials = trials
        #: called with the last info of a trial that is not won, before the task is reset for the next
        #: one: the only moment the env's state at the end of that trial can be read (the adversary
        #: judges its state hijacks there)
        self.trial_end_callbacks: list[Callable[[dict[str, Any]], None]] = []
        self._trial = 0
        self._seed: int | None = None
        self._total_steps = 0
        self._total_invalid = 0
        self._return = 0.0
        self._last: dict[str, Any] | None = None

    @classmethod
    def factory(cls, trials: int = 3) -> Callable[[gym.Env], TrialsWrapper]:
        """A picklable one-argument constructor, for ``make_vec(..., wrappers=[...])`` (async too)."""
        if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
            raise ConfigError(f"trials must be a positive integer (tries per task), got {trials!r}")
        return functools.partial(cls, trials=trials)

    @property
    def trial(self) -> int:
        """The current trial, 0-based."""
        return self._trial

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._trial, self._total_steps, self._total_invalid, self._return = 0, 0, 0, 0.0
        self._last = None
        found = info.get("seed", seed)
        self._seed = int(found) if isinstance(found, int) and not isinstance(found, bool) and found >= 0 else None
        return obs, self._annotate(info)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._total_steps += 1
        self._total_invalid += bool(info.get("invalid_action", False))
        self._return += float(reward)
        if not (terminated or truncated) or info.get("won") or self._trial + 1 >= self.trials:
            return obs, reward, terminated, truncated, self._annotate(info)
        if "task" not in info:
            raise ConfigError(f"TrialsWrapper needs an env that reports info['task'] (to replay the task), and "
                              f"{self.env} does not; wrap a sparring env")
        for callback in self.trial_end_callbacks:
            callback(info)
        self._last = {
            "won": bool(info.get("won", False)), "lost": bool(info.get("lost", False)), "truncated": bool(truncated),
            "score": float(info.get("score", 0.0)), "max_score": float(info.get("max_score", 0.0)),
            "steps": int(info.get("step", 0)), "num_invalid": int(info.get("num_invalid", 0)),
            "return": self._return, "final_observation": obs if isinstance(obs, str) else str(obs),
        }
        self._return = 0.0
        self._trial += 1
        # the same seed keeps info["seed"] (the task's identity in results); the task is pinned anyway
        obs, fresh = self.env.reset(seed=self._seed, options={"task": info["task"]})
        for key in ("invalid_action", "reward_terms"):  # they describe the action just taken
            if key in info:
                fresh[key] = info[key]
        return obs, reward, False, False, self._annotate(fresh)

    def _annotate(self, info: dict[str, Any]) -> dict[str, Any]:
        info["trial"], info["trials"] = self._trial, self.trials
        info["total_steps"], info["total_invalid"] = self._total_steps, self._total_invalid
        if self._last is not None:
            info["last_trial"] = dict(self._last)
        return info


def find_trials(env: Any) -> TrialsWrapper | None:
    """The :class:`TrialsWrapper` somewhere in ``env``'s chain of wrappers, or None."""
    while env is not None:
        if isinstance(env, TrialsWrapper):
            return env
        env = getattr(env, "env", None)
    return None


__all__ = ["TrialsWrapper", "find_trials"]
