"""Reflexion (Shinn et al., 2023): a ReAct agent that, when a try at a task fails, writes itself a
short lesson and tries the same task again with its lessons in the prompt.

The retries come from the env: the agent plays through a
:class:`~sparring.envs.trials.TrialsWrapper`, which resets the same task when a trial fails and
tells the agent (``info["trial"]``, ``info["last_trial"]``). The agent declares ``trials``, and
:func:`~sparring.agents.rollout.run_episodes`, the adversary's :func:`~sparring.adversary.play.play`
and the leaderboard's cells wrap their envs with that many trials for it.

At the start of each retry the agent reflects on the trial that failed:

* ``reflection="summary"`` — a rule-written summary of the trial: how it ended, the commands it
  repeated (loops), the commands the env refused, its last observation, and what to try instead;
* ``reflection="model"`` (default) — the language model writes the lesson (greedy, at most
  ``reflection_tokens`` new tokens) from a compact transcript of the trial (the commands, how it
  ended, the summary's facts); the summary's facts are kept beside what it writes, so that a small
  model still passes on a useful signal.

The last ``max_reflections`` lessons go into the system message of every turn of the next trial.
Lessons are kept per env slot and task: a new episode (a new task on that slot) clears them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from sparring.agents.prompting import render_plain
from sparring.agents.react import ReActAgent
from sparring.agents.step import AgentStep
from sparring.errors import ConfigError

REFLECTIONS = ("model", "summary")
REFLECT_SYSTEM = (
    "You tried a task in a text environment ({family}) and failed. Write one or two short sentences: what "
    "went wrong, and what you will do differently on the next try."
)
#: commands shown in the transcript a model reflects on (the last ones; the start is summarised)
TRANSCRIPT_COMMANDS = 12


def _quote(text: str, limit: int = 60) -> str:
    text = " ".join(str(text).split())
    return "'" + (text if len(text) <= limit else text[: limit - 1] + "…") + "'"


def summarize_trial(turns: Sequence[AgentStep], invalid: Sequence[bool], outcome: Mapping[str, Any],
                    trial: int) -> str:
    """The rule-written lesson of a failed trial: how it ended, loops, refused commands, the last
    observation, and what to try instead (one or a few short sentences)."""
    actions = [t.action for t in turns]
    steps = int(outcome.get("steps", len(actions)))
    if outcome.get("lost"):
        ending = f"lost after {steps} steps"
    elif outcome.get("truncated"):
        ending = f"ran out of steps after {steps} steps"
    else:
        ending = f"ended without success after {steps} steps"
    score, top = float(outcome.get("score", 0.0)), float(outcome.get("max_score", 0.0))
    parts = [f"Trial {trial} {ending}" + (f" (score {score:g} of {top:g})." if top else ".")]
    counts = Counter(actions)
    looped = [a for a, n in counts.most_common() if n >= 3 or any(
        actions[i] == actions[i + 1] == a for i in range(len(actions) - 1))][:2]
    if looped:
        parts.append("It repeated " + " and ".join(f"{_quote(a)} {counts[a]} times" for a in looped) + ".")
    refused = list(dict.fromkeys(a for a, bad in zip(actions, invalid, strict=False) if bad))[:3]
    if refused:
        parts.append("Invalid commands: " + ", ".join(_quote(a) for a in refused) + ".")
    final = outcome.get("final_observation")
    if final:
        parts.append(f"It ended with: {_quote(final, 100)}.")
    avoid = list(dict.fromkeys([*looped, *refused])) or actions[:2]
    if avoid:
        parts.append("Next time, try something different from " + ", ".join(_quote(a) for a in avoid) + ".")
    return " ".join(parts)


class ReflexionAgent(ReActAgent):
    """A ReAct agent with Reflexion's self-reflection between trials (see the module docstring).

    ``trials`` is how many tries it gets at each task (the env wrapper's); ``reflection`` is
    ``"model"`` or ``"summary"``; ``max_reflections`` lessons are shown; ``reflection_tokens``
    bounds a model-written lesson. The other options are
    :class:`~sparring.agents.react.ReActAgent`'s."""

    def __init__(self, model: Any, tokenizer: Any, *, trials: int = 3, reflection: str = "model",
                 max_reflections: int = 3, reflection_tokens: int = 48, name: str | None = None,
                 **kwargs: Any) -> None:
        for key, value in (("trials", trials), ("max_reflections", max_reflections),
                           ("reflection_tokens", reflection_tokens)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{key} must be a positive integer, got {value!r}")
        if reflection not in REFLECTIONS:
            raise ConfigError(f"reflection must be one of {REFLECTIONS}, got {reflection!r}")
        super().__init__(model, tokenizer, name=name or f"react-reflexion ({trials} trials)", **kwargs)
        #: tries at each task: rollouts wrap the envs of this agent in a TrialsWrapper of this many
        self.trials = trials
        self.reflection, self.max_reflections, self.reflection_tokens = reflection, max_reflections, reflection_tokens
        #: env slot -> (task, its lessons so far)
        self.reflections: dict[int, tuple[str, list[str]]] = {}
        self._invalid: dict[int, list[bool]] = {}
        self.stats["reflections"] = 0

    def act(self, observations: Sequence[str | None], infos: Sequence[Mapping[str, Any] | None]) -> list[str]:
        failed: list[tuple[int, Mapping[str, Any]]] = []
        for slot, info in enumerate(infos):
            if info is None:
                continue
            if info["step"] > 0:
                self._invalid.setdefault(slot, []).append(bool(info.get("invalid_action", False)))
                continue
            trial = int(info.get("trial", 0))
            kept = self.reflections.get(slot)
            if trial == 0 or kept is None or kept[0] != info["task"]:
                self.reflections[slot] = (info["task"], [])  # a new task on this slot: forget the old lessons
            if trial > 0 and slot in self._slots and "last_trial" in info:
                self._invalid.setdefault(slot, []).append(bool(info.get("invalid_action", False)))
                failed.append((slot, info))
        if failed:
            self._reflect(failed)
        for slot, info in enumerate(infos):
            if info is not None and info["step"] == 0:
                self._invalid[slot] = []
        return super().act(observations, infos)

    def episode_reflections(self, slot: int, info: Mapping[str, Any]) -> Sequence[str]:
        kept = self.reflections.get(slot)
        if kept is None or kept[0] != info["task"]:
            return ()
        return kept[1][-self.max_reflections:]

    def _trial_turns(self, slot: int) -> list[AgentStep]:
        state = self._slots[slot]
        return [*state["history"], *([state["pending"]] if state["pending"] is not None else [])]

    def _reflect(self, failed: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
        """Writes the lesson of each slot's failed trial (one batched generation in model mode)."""
        summaries, turns_of = [], []
        for slot, info in failed:
            turns = self._trial_turns(slot)
            turns_of.append(turns)
            summaries.append(summarize_trial(turns, self._invalid.get(slot, []), info["last_trial"], int(info["trial"])))
        lessons = summaries
        if self.reflection == "model":
            prompts = [self._reflection_prompt(info, turns, summary)
                       for (_, info), turns, summary in zip(failed, turns_of, summaries, strict=True)]
            replies = self.generate(prompts, max_new_tokens=self.reflection_tokens, greedy=True)
            lessons = [f"{summary} Reflection: {_clean_reply(reply)}" if _clean_reply(reply) else summary
                       for summary, reply in zip(summaries, replies, strict=True)]
        for (slot, info), lesson in zip(failed, lessons, strict=True):
            self.reflections.setdefault(slot, (info["task"], []))[1].append(lesson)
            self.stats["reflections"] += 1

    def _reflection_prompt(self, info: Mapping[str, Any], turns: Sequence[AgentStep], summary: str) -> str:
        actions = [t.action for t in turns]
        shown = actions[-TRANSCRIPT_COMMANDS:]
        skipped = len(actions) - len(shown)
        transcript = ("(… " + str(skipped) + " earlier commands) " if skipped else "") + "; ".join(shown)
        messages = [
            {"role": "system", "content": REFLECT_SYSTEM.format(family=info["family"])},
            {"role": "user", "content": f"Task: {info['instruction']}\nYour commands: {transcript}\nFacts: {summary}"},
        ]
        if self.tokenizer.chat_template:
            text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:
            text = render_plain(messages)
        return text + "Reflection:"


def _clean_reply(reply: str) -> str:
    """A generated lesson on one line, without a leading label or a trailing unfinished sentence."""
    text = " ".join(reply.split())
    text = re.sub(r"^(?:reflection|lesson)\s*[:：]\s*", "", text, flags=re.IGNORECASE)
    if len(text) > 40 and "." in text[20:]:  # cut after the last full sentence
        text = text[: text.rfind(".") + 1]
    return text[:300]


__all__ = ["REFLECTIONS", "ReflexionAgent", "summarize_trial"]
