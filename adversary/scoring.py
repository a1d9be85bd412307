"""Black-box queries of an agent: how it scores each admissible action for a given text.

The greedy adversary and the vulnerability report ask an agent "with this history and this
(perturbed) observation, how much do you like each action?" without making it act: no history
advances, no random draw is spent. :class:`ReActScorer` answers for the ReAct agent in score mode
from the log-probabilities of the candidates after ``Action:`` (its own prompt and normalisation,
through :func:`~sparring.agents.react.score_candidates`), batched over requests. Any object with the
same ``scores`` method plugs in.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable


@dataclasses.dataclass
class ScoreRequest:
    """One query: what the agent would see on one turn."""

    family: str
    instruction: str
    history: Sequence[tuple[str, str]]  #: earlier turns: (observation shown, action sent)
    observation: str
    actions: Sequence[str]


@runtime_checkable
class ActionScorer(Protocol):
    """Anything that scores the actions of a batch of requests (higher: more likely chosen)."""

    temperature: float

    def scores(self, requests: Sequence[ScoreRequest]) -> list[list[float]]: ...


class ReActScorer:
    """The ReAct agent's action scores (``mode="score"``), with its prompt, window and normalisation."""

    def __init__(self, agent: Any, batch_size: int = 8) -> None:
        if getattr(agent, "mode", None) != "score":
            raise TypeError(f"ReActScorer needs a ReActAgent in score mode, got {agent!r}")
        self.agent = agent
        self.batch_size = batch_size
        self.temperature = float(agent.temperature) or 1.0
        self.queries = 0

    def scores(self, requests: Sequence[ScoreRequest]) -> list[list[float]]:
        from sparring.agents.react import score_candidates
        from sparring.agents.step import AgentStep

        agent = self.agent
        out: list[list[float]] = []
        for at in range(0, len(requests), self.batch_size):
            batch = requests[at:at + self.batch_size]
            prompts, candidates = [], []
            for r in batch:
                history = [AgentStep(obs, action) for obs, action in r.history]
                actions = list(r.actions) or ["look"]
                messages = agent.messages(r.family, r.instruction, history, r.observation,
                                          actions if agent.show_admissible else None)
                prompts.append(agent.render(messages))
                candidates.append(actions)
            # the agent's own scoring, without its choice step (which may draw from its stream)
            out += [scored.scores for scored in score_candidates(agent, prompts, candidates)]
            self.queries += len(batch)
        return out


def choice_probabilities(scores: Sequence[float], temperature: float = 1.0) -> list[float]:
    """The softmax of ``scores`` at ``temperature``: how likely the agent is to pick each action."""
    if not scores:
        return []
    top = max(scores)
    weights = [math.exp((s - top) / temperature) for s in scores]
    total = sum(weights)
    return [w / total for w in weights]


def argmax(values: Sequence[float]) -> int:
    """The first index of the largest value (the ReAct agent's greedy choice)."""
    return max(range(len(values)), key=lambda k: values[k])


__all__ = ["ActionScorer", "ReActScorer", "ScoreRequest", "argmax", "choice_probabilities"]
