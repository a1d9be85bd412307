"""ReAct prompts: the messages an LLM agent sees, and tolerant parsing of what it writes back.

:func:`build_messages` is the one place a turn's prompt is built: by the ReAct agent when it acts, by
trajectory collection for the stored prompts, by the adversary's black-box queries and by the
trainers that write new turns (oracle corrections, DPO pairs).

A prompt is a chat: a system message (the Thought / Action format and the env family's command
syntax, optionally a worked example or retrieved examples, and reflections on earlier failed
tries), then one user message per observation and one assistant message per earlier turn, for a
window of the last ``k`` turns. The task instruction opens the first user message. The last user
message can list the admissible actions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sparring.agents.step import AgentStep
from sparring.trajectory import completion_text

SYSTEM = (
    "You are an agent acting in a text environment ({family}). Each turn you read an observation and "
    "answer with one line \"Thought: <your reasoning>\" and one line \"Action: <one command>\". "
    "Commands look like: {syntax}."
)
SYSTEM_SCORED = (
    "You are an agent acting in a text environment ({family}). Each turn you read an observation and "
    "answer with one line \"Action: <one command>\". Commands look like: {syntax}."
)
REFLECTIONS_HEADER = "Lessons from your earlier tries at this task, which failed:"


#: an earlier turn of a prompt's history: the agent's own record of it (its observation, action, thought)
Turn = AgentStep


def assistant_text(action: str, thought: str = "", *, with_thought: bool = True) -> str:
    return completion_text(action, thought if with_thought else "")


def build_messages(
    *,
    family: str,
    instruction: str,
    history: Sequence[Any],
    observation: str,
    admissible: Sequence[str] | None,
    syntax: Sequence[str] | None = None,
    window: int = 4,
    with_thought: bool = True,
    example: Sequence[AgentStep] | str | None = None,
    reflections: Sequence[str] = (),
) -> list[dict[str, str]]:
    """The chat messages for the next action (ending with a user message).

    ``history`` holds the episode's earlier turns (:class:`~sparring.agents.step.AgentStep` records or
    stored :class:`~sparring.trajectory.Step` ones: only their observation, action and thought are
    read); the last ``window`` of them are shown. ``syntax`` (default: the family's command syntax)
    lists example commands. ``example`` is a worked example (turns, shown in full) or a block of text
    written already (the compact examples a memory agent retrieves); ``reflections`` are notes on
    earlier failed tries at the same task (Reflexion). Both go into the system message, which stays
    the same for a whole episode (a prefix the agent's KV cache keeps)."""
    if syntax is None:
        from sparring.envs.registration import family_class

        syntax = family_class(family).syntax
    system = (SYSTEM if with_thought else SYSTEM_SCORED).format(family=family, syntax="; ".join(syntax))
    if isinstance(example, str):
        if example.strip():
            system += "\n" + example.strip()
    elif example:
        lines = ["", "Example of a finished task:"]
        for turn in example:
            lines.append(f"Observation: {turn.observation}")
            lines.append(assistant_text(turn.action, turn.thought, with_thought=with_thought))
        system += "\n".join(lines)
    if reflections:
        system += "\n" + REFLECTIONS_HEADER + "".join(f"\n- {note}" for note in reflections)
    messages = [{"role": "system", "content": system}]
    shown = list(history)[-window:] if window > 0 else []
    skipped = len(history) - len(shown)
    for i, turn in enumerate(shown):
        content = turn.observation
        if i == 0:
            note = f"(… {skipped} earlier turns not shown)\n" if skipped else ""
            content = f"Task: {instruction}\n{note}\n{content}"
        messages.append({"role": "user", "content": content})
        messages.append({"role": "assistant", "content": assistant_text(turn.action, turn.thought,
                                                                         with_thought=with_thought)})
    content = observation if shown else f"Task: {instruction}\n\n{observation}"
    if admissible is not None:
        content += "\n\nAdmissible actions: " + " | ".join(admissible)
    messages.append({"role": "user", "content": content})
    return messages


def render_plain(messages: Sequence[dict[str, str]], add_generation_prompt: bool = True) -> str:
    """A plain-text rendering for tokenizers without a chat template."""
    parts = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    text = "\n\n".join(parts)
    return text + ("\n\nAssistant:" if add_generation_prompt else "")


_ACTION_LINE = re.compile(r"(?im)^\s*(?:\d+[.)]\s*)?\**\s*action(?:\s*\d+)?\s*\**\s*[:：]\s*\**(.*)$")
_THOUGHT_LINE = re.compile(r"(?is)thought(?:\s*\d+)?\s*\**\s*[:：]\s*\**\s*(.*?)(?=\n\s*\**\s*action|\Z)")


def parse_action(text: str) -> tuple[str | None, str]:
    """``(action, thought)`` from a model's reply; ``action`` is None when no command can be found.

    Tolerates markdown bold, numbering ("Action 2:"), full-width colons, quotes and backticks around
    the command, trailing explanations after the command on the same line, and a reply that is just a
    command on one line.
    """
    if not isinstance(text, str):
        return None, ""
    thought_match = _THOUGHT_LINE.search(text)
    thought = " ".join(thought_match.group(1).split()) if thought_match else ""
    matches = [m.group(1) for m in _ACTION_LINE.finditer(text)]
    candidates = [c for c in (_clean(m) for m in matches) if c]
    if candidates:
        return candidates[-1], thought
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if len(lines) == 1 and not re.match(r"(?i)\s*thought\s*[:：]", lines[0]):
        command = _clean(lines[0])
        if command and len(command) <= 200:
            return command, thought
    return None, thought


def _clean(command: str) -> str:
    command = command.strip().strip("*").strip()
    command = re.split(r"\s+(?:#|//)|<\|", command)[0]  # trailing comments, leaked special tokens
    if len(command) >= 2 and command[0] == command[-1] and command[0] in "\"'`":
        command = command[1:-1]
    command = command.strip("`").strip()
    if command.endswith(".") and "[" not in command:
        command = command[:-1].rstrip()
    return command


def prompt_vocabulary() -> list[str]:
    """The fixed words of the prompts, for building a tokenizer from the suite's own text."""
    example = build_messages(family="household", syntax=["look"], instruction="do it",
                             history=[AgentStep("x", "y", "z")], observation="o", admissible=["a", "b"])
    return [SYSTEM, SYSTEM_SCORED] + [m["content"] for m in example] + [
        "Thought:", "Action:", "Task:", "Admissible actions:", "Example of a finished task:",
        "Observation:", "earlier turns not shown",
    ]
