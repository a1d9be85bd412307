"""Agents: the batched agent interface, baselines (random, oracle), the ReAct LLM agent, the model zoo,
and rollouts over vector envs.

Model-backed agents import PyTorch only when they are made, so ``import sparring.agents`` stays light.
"""

from __future__ import annotations

from typing import Any

from sparring.agents.base import Agent, unbatch_infos
from sparring.agents.baselines import OracleAgent, RandomAgent
from sparring.agents.plugins import is_plugin, make_plugin_agent
from sparring.agents.rollout import EpisodeResult, StepRecord, play_slots, run_episodes
from sparring.agents.step import AgentStep
from sparring.errors import ConfigError, UnknownNameError

#: agent names for ``make_agent`` and ``sparring eval --agent``
AGENTS = ("random", "oracle", "react", "react-fewshot", "react-memory", "react-reflexion", "openai")


def make_agent(name: str, *, model: str = "tiny", seed: int = 0, device: str | None = None, **kwargs: Any) -> Agent:
    """An agent by name. ``react`` and ``react-fewshot`` load ``model`` (a zoo name, a checkpoint or
    model directory, or a hub id) and take :class:`~sparring.agents.react.ReActAgent`'s options
    (``mode``, ``normalization``, ``temperature``, ``window``...) and ``dtype`` (a name in
    :data:`~sparring.agents.zoo.DTYPES`; ``auto``: bf16 where native); ``oracle`` takes ``thoughts=True`` to
    explain each command (see :class:`~sparring.agents.baselines.OracleAgent`). ``react-memory`` also
    takes ``memory`` (trajectory files; required), ``retriever`` and ``k``
    (:class:`~sparring.agents.memory.MemoryAgent`); ``react-reflexion`` takes ``trials``,
    ``reflection`` and ``max_reflections`` (:class:`~sparring.agents.reflexion.ReflexionAgent`).
    ``openai`` talks to an OpenAI-compatible server (vLLM, SGLang): ``model`` is the served name, plus
    ``base_url`` and :class:`~sparring.agents.openai_backend.OpenAIChatAgent`'s options.
    An import path ``module:factory`` calls that factory with ``seed`` and the other keyword options
    (an agent of your own, :mod:`sparring.agents.plugins`)."""
    if is_plugin(name):
        return make_plugin_agent(name, seed=seed, **kwargs)
    if name == "openai":
        from sparring.agents.openai_backend import OpenAIChatAgent

        kwargs.pop("dtype", None)  # the server's business
        if device is not None:
            raise ConfigError("the openai agent runs on its server; drop device")
        return OpenAIChatAgent(model, seed=seed, **kwargs)
    if name == "random":
        return RandomAgent(seed=seed)
    if name == "oracle":
        return OracleAgent(thoughts=bool(kwargs.get("thoughts", False)))
    if name in ("react", "react-fewshot"):
        from sparring.agents.react import ReActAgent
        from sparring.agents.zoo import load_agent_model, resolve_dtype

        dtype = resolve_dtype(kwargs.pop("dtype", None), device)
        policy = load_agent_model(model, device=device, seed=0, dtype=dtype)
        return ReActAgent(policy.model, policy.tokenizer, value_head=policy.value_head, seed=seed,
                          few_shot=name == "react-fewshot", **kwargs)
    if name in ("react-memory", "react-reflexion"):
        from sparring.agents.zoo import load_agent_model, resolve_dtype

        if name == "react-memory":
            from sparring.agents.memory import MemoryAgent as agent_class
            from sparring.agents.memory import as_memories

            if kwargs.get("memory") is None:
                raise ConfigError("agent react-memory needs memory: trajectory files whose won episodes it retrieves "
                                  "as examples (e.g. `sparring collect --agent oracle --env ENV --out expert.jsonl`, "
                                  "then --memory expert.jsonl)")
            kwargs["memory"] = as_memories(kwargs["memory"])  # a bad file fails before the model loads
        else:
            from sparring.agents.reflexion import ReflexionAgent as agent_class
        dtype = resolve_dtype(kwargs.pop("dtype", None), device)
        policy = load_agent_model(model, device=device, seed=0, dtype=dtype)
        return agent_class(policy.model, policy.tokenizer, value_head=policy.value_head, seed=seed, **kwargs)
    raise UnknownNameError("agent", name, AGENTS, hint="An agent of your own is an import path 'module:factory'.")


def __getattr__(name: str) -> Any:
    if name == "score_candidates":  # needs PyTorch: imported on first use
        from sparring.agents.react import score_candidates

        return score_candidates
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["AGENTS", "Agent", "AgentStep", "EpisodeResult", "OracleAgent", "RandomAgent", "StepRecord", "make_agent",
           "play_slots", "run_episodes", "score_candidates", "unbatch_infos"]
