"""The agent interface: ``act(observations, infos) -> actions``, batched over a vector of envs.

An agent sees one observation and one info dict per env and returns one command string per env.
Position ``i`` is always the same env, so an agent may keep per-env state (a history, an RNG) by
position. It learns where an episode starts from ``info["step"] == 0`` (every sparring env reports
it), so the same agent drives one env or a vector of them, synchronous or not.

An entry whose observation and info are both ``None`` is an idle env (an evaluation that has run
out of episodes for it while others finish): the agent returns any string for it and spends no
work on it.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Agent(Protocol):
    """Anything that maps a batch of observations and infos to a batch of commands."""

    name: str

    def act(
        self, observations: Sequence[str | None], infos: Sequence[Mapping[str, Any] | None]
    ) -> list[str]: ...


class EpisodeStreams:
    """One random stream per episode, keyed by a seed, the task and the try's number:
    ``info["sample"]`` when the caller numbers its tries (collection does), else how many times a
    stream was made for that task before. Repeated tries of one task differ, and an episode's draws
    depend neither on how many envs run beside it nor on what was played before it."""

    def __init__(self, seed: Any = 0) -> None:
        self.seed = seed
        self._starts: dict[tuple[str, int], int] = {}

    def new(self, info: Mapping[str, Any]) -> random.Random:
        """The stream of the episode that ``info`` (its first step's) starts."""
        from sparring.envs.splits import spec_hash

        key = (spec_hash(info["task"]), int(info["seed"]))
        started = self._starts.get(key, 0)
        self._starts[key] = started + 1
        repeat = int(info["sample"]) if "sample" in info else started
        return random.Random(f"{self.seed}/{key[0]}/{key[1]}/{repeat}")


def unbatch_infos(infos: Mapping[str, Any], num_envs: int) -> list[dict[str, Any]]:
    """Splits the info dict of a Gymnasium vector env (arrays plus ``_key`` masks) into one dict per env.

    Keys an env did not report on this call (mask False) are left out of its dict.
    """
    out: list[dict[str, Any]] = [{} for _ in range(num_envs)]
    for key, value in infos.items():
        if key.startswith("_"):
            continue
        mask = infos.get(f"_{key}")
        if isinstance(value, Mapping):
            nested = unbatch_infos(value, num_envs)
            for i in range(num_envs):
                if mask is None or mask[i]:
                    out[i][key] = nested[i]
            continue
        for i in range(num_envs):
            if mask is None or mask[i]:
                item = value[i]
                if isinstance(item, np.generic):
                    item = item.item()
                out[i][key] = item
    return out
