"""Agents: the batched agent interface, baselines (random, oracle), the ReAct LLM agent, the model zoo,
and rollouts over vector envs.

Model-backed agents import PyTorch only when they are made, so ``import sparring.agents`` stays light.
"""

from __future__ import annotations

from typing import Any

from sparring.agents.base import Agent, unbatch_infos
from sparring.agents.baselines import OracleAgent, RandomAgent
from sparring.agents.rollout import EpisodeResult, StepRecord, run_episodes
from sparring.errors import UnknownNameError

#: agent names for ``make_agent`` and ``sparring eval --agent``
AGENTS = ("random", "oracle", "react", "react-fewshot")


def make_agent(name: str, *, model: str = "tiny", seed: int = 0, device: str | None = None, **kwargs: Any) -> Agent:
    """An agent by name. ``react`` and ``react-fewshot`` load ``model`` (a zoo name, a checkpoint or
    model directory, or a hub id) and take :class:`~sparring.agents.react.ReActAgent`'s options
    (``mode``, ``normalization``, ``temperature``, ``window``...)."""
    if name == "random":
        return RandomAgent(seed=seed)
    if name == "oracle":
        return OracleAgent()
    if name in ("react", "react-fewshot"):
        from sparring.agents.react import ReActAgent
        from sparring.agents.zoo import load_agent_model

        policy = load_agent_model(model, device=device, seed=0)
        return ReActAgent(policy.model, policy.tokenizer, value_head=policy.value_head, seed=seed,
                          few_shot=name == "react-fewshot", **kwargs)
    raise UnknownNameError("agent", name, AGENTS)


__all__ = ["AGENTS", "Agent", "EpisodeResult", "OracleAgent", "RandomAgent", "StepRecord", "make_agent",
           "run_episodes", "unbatch_infos"]
