"""One turn of an agent, as a record that goes from the agent's choice through the rollout loop to every
trainer: :class:`AgentStep`.

An agent makes one when it acts: what it saw, the prompt it was given (the chat messages, and their
token ids where the agent has them), the candidates it weighed with their scores (score mode), the
command it chose, its thought, its value estimate and the log-probability of its choice. The
rollout loop (:func:`~sparring.agents.rollout.run_episodes`) fills in what the env answered (the
reward, the next observation, the done flags) and hands the record to its callbacks: trajectory
collection stores it as a :class:`~sparring.trajectory.Step`, PPO and GRPO train on it, the
adversary's transcripts read it. A prompt's history is a list of earlier records
(:func:`~sparring.agents.prompting.build_messages` reads their observation, action and thought).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any


@dataclasses.dataclass
class AgentStep:
    """One turn: the agent's side (set when it acts), then the env's (set by the rollout loop)."""

    observation: str  #: what the agent saw before acting
    action: str = ""  #: the command sent to the env
    thought: str = ""  #: the reasoning written before the command (empty when there is none)
    #: the chat messages of the turn's prompt (None: the agent builds no prompt, e.g. a baseline)
    messages: list[dict[str, str]] | None = None
    prompt_ids: list[int] | None = None  #: the rendered prompt's token ids, where the agent has them
    candidates: list[str] | None = None  #: score mode: the actions weighed
    scores: list[float] | None = None  #: score mode: each candidate's normalised score (the choice's basis)
    logprobs: list[float] | None = None  #: score mode: each candidate's total log-probability
    #: score mode: what each candidate's total log-probability is divided by (the normalisation)
    divisors: list[float] | None = None
    chosen: int | None = None  #: score mode: which candidate was taken
    #: the action's token ids: score mode, every candidate's (each ends with the end-of-turn token);
    #: generate mode, the sampled reply's (one entry)
    action_ids: list[list[int]] | None = None
    value: float | None = None  #: the critic's estimate on the prompt (with a value head)
    logprob: float | None = None  #: log-probability of the choice under the sampling distribution (score mode)
    # what the rollout loop adds
    episode: int = -1  #: index of the episode in the run's list
    slot: int = -1  #: which env of the vector played it (the agent's position index)
    info: Mapping[str, Any] = dataclasses.field(default_factory=dict)  #: the info the agent saw before acting
    reward: float = 0.0
    next_observation: str = ""
    terminated: bool = False
    truncated: bool = False
    next_info: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated

    @property
    def invalid(self) -> bool:
        """Whether the env rejected the action (known once the loop has stepped it)."""
        return bool(self.next_info.get("invalid_action", False))


def agent_steps(agent: Any, observations: Sequence[str | None],
                infos: Sequence[Mapping[str, Any] | None]) -> list[AgentStep | None]:
    """Lets ``agent`` act on a batch and returns its record of each turn (None for idle entries).

    An agent that records its turns leaves them in ``agent.last_steps`` after ``act`` (the ReAct agent
    and the baselines do); for any other agent a minimal record is made here: the observation and the
    action. A record without a thought takes the agent's ``thought(slot)`` when it has that method."""
    actions = list(agent.act(observations, infos))
    recorded = getattr(agent, "last_steps", None)
    explain = getattr(agent, "thought", None)
    steps: list[AgentStep | None] = []
    for i, action in enumerate(actions):
        if i >= len(infos) or infos[i] is None:
            steps.append(None)
            continue
        step = recorded[i] if isinstance(recorded, list) and len(recorded) == len(actions) else None
        if step is None or step.action != action:
            step = AgentStep(observations[i], action)
        if not step.thought and callable(explain):  # e.g. a subclass that explains what its base records
            step.thought = explain(i)
        steps.append(step)
    return steps


__all__ = ["AgentStep", "agent_steps"]
