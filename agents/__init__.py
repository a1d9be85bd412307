"""Agents: the batched agent interface, baselines (random, oracle), and rollouts over vector envs."""

from __future__ import annotations

from typing import Any

from sparring.agents.base import Agent, unbatch_infos
from sparring.agents.baselines import OracleAgent, RandomAgent
from sparring.agents.rollout import EpisodeResult, run_episodes
from sparring.errors import UnknownNameError

AGENTS: dict[str, type] = {"random": RandomAgent, "oracle": OracleAgent}


def make_agent(name: str, **kwargs: Any) -> Agent:
    """An agent by name (``random``, ``oracle``)."""
    if name not in AGENTS:
        raise UnknownNameError("agent", name, AGENTS)
    return AGENTS[name](**kwargs)


__all__ = ["AGENTS", "Agent", "EpisodeResult", "OracleAgent", "RandomAgent", "make_agent", "run_episodes",
           "unbatch_infos"]
