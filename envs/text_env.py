"""The base of every sparring text env: the contract of docs/DESIGN.md in one class.

A family subclasses :class:`TextEnv` and supplies the parts that differ — a task generator, the
state built from a task spec, the admissible actions computed from that state, their effects, a
verifier, a scripted expert — while this class owns what must be the same everywhere: spaces,
seeding and splits, task pinning, parsing fallbacks, bad-input handling, rewards and ``info``.

The flow of one ``step(action)``:

1. the action is looked up in the admissible actions computed on the previous step (the fast path:
   an agent that picks from the list costs one dict lookup);
2. otherwise the family's lexicon rewrites aliases to canonical words and the result is matched
   against the admissible actions again, then against them with instance numbers left out;
3. an action that still matches nothing is answered with feedback that says why and what commands
   look like, ``info["invalid_action"] = True``, and the state is untouched;
4. the verifier reads the state: score, won, lost; the reward sources turn the transition into
   the reward and ``info["reward_terms"]``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import re
import unicodedata
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

import gymnasium as gym
from gymnasium.envs.registration import EnvSpec

from sparring.envs.lexicon import Lexicon
from sparring.envs.rewards import Transition, make_reward
from sparring.envs.spaces import MAX_ACTION_LENGTH, MAX_OBSERVATION_LENGTH, UnicodeText
from sparring.envs.splits import SEEN_SPLITS, SPLITS, canonical_json, owner_split
from sparring.errors import ConfigError, EpisodeFinishedError, InvalidTaskError, UnknownNameError

logger = logging.getLogger(__name__)

_MULTI_COMMAND = re.compile(r"[;\n\r]|&&|\band then\b|\bthen\b")
_INSTANCE_NUMBER = re.compile(r"(?<=\w) \d+\b")


@dataclasses.dataclass(frozen=True)
class Rejected:
    """What ``_parse`` returns for a command it understood but refuses, with the reason to show."""

    reason: str


@dataclasses.dataclass(frozen=True)
class FamilyConfig:
    """Difficulty knobs shared by every family; each family subclasses it with its own."""

    max_steps: int = 50  #: steps before the episode is truncated

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"easy": {}, "medium": {}, "hard": {}}

    def __post_init__(self) -> None:
        if not isinstance(self.max_steps, int) or self.max_steps < 1:
            raise ConfigError(f"max_steps must be a positive integer, got {self.max_steps!r}")

    @classmethod
    def preset(cls, difficulty: str, **overrides: Any) -> FamilyConfig:
        """The config of a named difficulty, with any knob overridden."""
        if difficulty not in cls.PRESETS:
            raise UnknownNameError("difficulty", difficulty, cls.PRESETS)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise UnknownNameError(
                f"{cls.__name__} knob", unknown[0], names,
                hint="Pass difficulty knobs as keyword arguments to gym.make().",
            )
        return cls(**{**cls.PRESETS[difficulty], **overrides})

    def describe(self) -> str:
        return ", ".join(f"{f.name}={getattr(self, f.name)}" for f in dataclasses.fields(self))


#: why a command starting with this word is taken, for :func:`generic_thought`
_VERB_REASONS: dict[str, str] = {
    **dict.fromkeys(("go", "walk", "move", "enter"), "to get where the task leads"),
    **dict.fromkeys(("take", "get", "pick", "grab", "fetch"), "because the task needs it"),
    "open": "to get through it or at what it holds",
    "unlock": "so that I can open it",
    "close": "as the task asks",
    **dict.fromkeys(("put", "insert", "place"), "where the task wants it"),
    "drop": "to free my hands",
    **dict.fromkeys(("cook", "heat", "cool", "clean", "slice", "dice", "chop"), "as the task asks"),
    "prepare": "now that I have everything it needs",
    "eat": "to finish the task",
    **dict.fromkeys(("examine", "read", "look", "inventory", "check"), "to learn more"),
    "search": "to find what I need to know",
    "lookup": "to find the fact I need",
    "calculate": "to compute the result",
    **dict.fromkeys(("finish", "answer", "submit", "buy"), "to complete the task"),
    "click": "to get closer to what the task asks",
}
_FIRST_SENTENCE = re.compile(r"[^.!?]*[.!?]?")
_VERB_WORD = re.compile(r"[a-z]*")
#: verbs whose next word starts a noun phrase, and words after which one starts ("with", "from")
_OBJECT_VERBS = frozenset({"take", "get", "grab", "fetch", "open", "unlock", "lock", "close", "put", "insert",
                           "place", "drop", "cook", "heat", "cool", "clean", "slice", "dice", "chop", "prepare",
                           "eat", "drink", "examine", "read", "use", "buy"})
_PREPOSITIONS = frozenset({"from", "with", "on", "onto", "in", "into", "in/on", "to", "under", "at", "next"})
_DETERMINERS = frozenset({"the", "a", "an", "some", "my", "it", "them", "up", "to"})


def _readable(action: str) -> str:
    """A command with the articles a sentence needs: "take carrot from fridge" -> "take the carrot
    from the fridge" (commands of TextWorld and Household leave them out)."""
    words = action.split()
    out = [words[0][0].lower() + words[0][1:]]
    noun_next = _VERB_WORD.match(words[0].lower()).group(0) in _OBJECT_VERBS
    for word in words[1:]:
        lower = word.lower()
        if noun_next and lower not in _DETERMINERS and lower not in _PREPOSITIONS and not word.isdigit():
            out.append("the")
        out.append(word)
        noun_next = lower in _PREPOSITIONS or (lower == "up" and out[0] == "pick")
    return " ".join(out)


def generic_thought(action: str, instruction: str = "", *, max_goal_words: int = 12) -> str:
    """A one-sentence reason for ``action`` from its first word, for families without their own
    (TextWorld games, a user's env): "My task: find the key. I take the old key from the chest drawer
    because the task needs it." The task is named only when its first sentence is short (pass ``""`` for
    objectives that are a paragraph-long walkthrough)."""
    action = " ".join(action.split())
    verb = _VERB_WORD.match(action.lower()).group(0)
    purpose = _VERB_REASONS.get(verb, "to get closer to the goal")
    if not action:
        reason = "I look for something to do"
    elif "[" in action:  # tool syntax: search[Alba Venn], click[next >]
        reason = f"I use {action} {purpose}"
    else:
        reason = f"I {_readable(action)} {purpose}"
    reason = f"{reason}."
    goal = _FIRST_SENTENCE.match(" ".join(instruction.split())).group(0).rstrip(".!? ")
    if goal and len(goal.split()) <= max_goal_words:
        return f"My task: {goal[0].lower() + goal[1:]}. {reason}"
    return reason


def quote(text: str, limit: int = 60) -> str:
    """A short, printable echo of user input for feedback messages."""
    clipped = text[:limit]
    printable = "".join(
        ch if not unicodedata.category(ch).startswith("C") else "?" for ch in clipped
    )
    return repr(printable + ("…" if len(text) > limit else ""))


class TextEnv(gym.Env[str, str]):
    """Base class of sparring's text envs (see the module docstring for the step flow).

    Subclasses set ``family``, ``config_class``, ``lexicon``, ``verbs`` and ``syntax`` and implement
    the ``_generate`` ... ``expert_action`` hooks.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "human"], "render_fps": 4}

    family: ClassVar[str] = ""
    config_class: ClassVar[type[FamilyConfig]] = FamilyConfig
    lexicon: ClassVar[Lexicon] = Lexicon({})
    #: canonical verbs; an unmatched command starting with one is "not possible now", not "unknown"
    verbs: ClassVar[tuple[str, ...]] = ()
    #: one-line examples of the command syntax, shown in feedback and by `sparring play`
    syntax: ClassVar[tuple[str, ...]] = ()
    #: whether "take apple from countertop" may match "take apple 1 from countertop 1"
    match_unnumbered: ClassVar[bool] = True

    def __init__(
        self,
        split: str = "train",
        difficulty: str = "medium",
        *,
        reward: Any = "env",
        render_mode: str | None = None,
        **knobs: Any,
    ) -> None:
        if split not in SPLITS:
            raise UnknownNameError("split", split, SPLITS)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ConfigError(
                f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}"
            )
        self.split = split
        self.difficulty = difficulty
        self.config = self.config_class.preset(difficulty, **knobs)
        self.reward_fn = make_reward(reward)
        self.render_mode = render_mode
        self.observation_space = UnicodeText(MAX_OBSERVATION_LENGTH)
        self.action_space = UnicodeText(MAX_ACTION_LENGTH)

        self.task: dict[str, Any] | None = None
        self.task_seed = -1
        self.last_transition: Transition | None = None
        self._actions: dict[str, Any] = {}
        self._normalized_actions: dict[str, Any] | None = None
        self._observation = ""
        self._done = True
        self._started = False

    @property
    def spec(self) -> EnvSpec | None:
        """Gymnasium's spec of this env, with ``max_episode_steps`` set to the horizon the env truncates
        at (``config.max_steps``, which the difficulty and ``max_steps=`` decide), so code written for
        any Gymnasium env (``env.spec.max_episode_steps``) sees it. sparring registers no TimeLimit: the
        env truncates itself; a ``max_episode_steps=`` given to ``gymnasium.make`` adds one as usual."""
        spec = self.__dict__.get("_spec")
        if spec is None or spec.max_episode_steps is not None:
            return spec
        return dataclasses.replace(spec, max_episode_steps=self.config.max_steps)

    @spec.setter
    def spec(self, value: EnvSpec | None) -> None:
        self.__dict__["_spec"] = value

    # ------------------------------------------------------------------------------------------
    # Hooks a family implements
    # ------------------------------------------------------------------------------------------
    def _generate(self, rng: random.Random, unseen: bool) -> dict[str, Any]:
        """A task spec drawn with ``rng``: only held-out compositions if ``unseen``, none otherwise."""
        raise NotImplementedError

    @classmethod
    def held_out(cls, spec: Mapping[str, Any]) -> list[str]:
        """The held-out compositions a task contains (empty for a seen-composition task)."""
        raise NotImplementedError

    def _load(self, spec: Mapping[str, Any]) -> None:
        """Builds the state from a spec; raises :class:`InvalidTaskError` on a bad spec."""
        raise NotImplementedError

    def _intro(self) -> str:
        """The first observation of an episode."""
        raise NotImplementedError

    def _instruction(self) -> str:
        raise NotImplementedError

    def _admissible(self) -> dict[str, Any]:
        """``{command text: operation}`` for every action that makes sense in the current state."""
        raise NotImplementedError

    def _execute(self, op: Any) -> str:
        """Applies an admissible operation to the state and returns the feedback text."""
        raise NotImplementedError

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_evaluate" in cls.__dict__ and "_verify" not in cls.__dict__:
            # the hook's name before sparring 0.2: a family written for it keeps working
            warnings.warn(f"{cls.__name__} implements _evaluate, which is now called _verify; rename it",
                          DeprecationWarning, stacklevel=2)
            cls._verify = cls.__dict__["_evaluate"]

    def _verify(self) -> tuple[float, float, bool, bool]:
        """The verifier: ``(score, max_score, won, lost)`` read from the state.

        Called exactly once after ``reset`` and once after every *valid* step (never after an invalid
        one, which changes nothing), so a family may record monotone milestones in it."""
        raise NotImplementedError

    def expert_action(self) -> str:
        """The scripted expert's next command in the current state (an admissible action)."""
        raise NotImplementedError

    def expert_thought(self) -> str:
        """Why the expert takes its next command, in one short sentence: the ``Thought:`` line of a
        ReAct demonstration, so that SFT on expert trajectories teaches reasoning and not only actions.

        Rule-written from the state, like :meth:`expert_action`, and computed only when asked (never
        in ``step``). It must not tell what the agent could not know yet: a place the agent has not
        looked at is named as a place to check ("I will check the cabinet 1"), never as where the
        thing is. This default, for any family, explains the command by its verb and the task;
        families override it with reasons that follow their expert's sub-goals.
        """
        return generic_thought(self.expert_action(), self._instruction_text)

    def _parse(self, text: str) -> Any | None:
        """Family-specific parsing for commands the generic matching missed: an operation, a
        :class:`Rejected` with the reason to show (ambiguous, impossible...), or None (no idea)."""
        return None

    def _outcome(self, won: bool, newly_won: bool) -> float:
        """The env's outcome reward for a step; 1 on the winning step by default."""
        return 1.0 if newly_won else 0.0

    # ------------------------------------------------------------------------------------------
    # Gymnasium API
    # ------------------------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        options = dict(options or {})
        pinned = options.pop("task", None)
        if options:
            raise ConfigError(
                f"unknown reset option(s) {sorted(options)}; the only option is 'task' (a task spec "
                f"from info['task'])"
            )
        if pinned is not None:
            self.task_seed = -1 if seed is None else int(seed)
            task = self._pinned(pinned)
            text = canonical_json(task)
        else:
            self.task_seed = int(seed) if seed is not None else int(self.np_random.integers(2**31))
            task, text = self.sample_task(self.task_seed)
        try:
            self._load(task)
        except InvalidTaskError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise InvalidTaskError(
                f"task spec is not a valid {self.family} task ({type(exc).__name__}: {exc}); pass a "
                f"spec taken from info['task'] of a {self.family} env"
            ) from exc
        self.task = task
        self._task_json = text
        self._instruction_text = self._instruction()
        self._steps = 0
        self._num_invalid = 0
        self._done = False
        self._started = True
        self._score, self._max_score, self._won, self._lost = self._verify()
        self._actions = self._admissible()
        self._normalized_actions = None
        self._observation = self._clip(self._intro())
        self.last_transition = None
        return self._observation, self._info(False, {})

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if not isinstance(action, str):
            example = f", e.g. {self.syntax[0]!r}" if self.syntax else ""
            raise TypeError(
                f"a {self.family} env takes actions as str, got {type(action).__name__} "
                f"({action!r:.80}); pass the command text{example}"
            )
        if self._done:
            if not self._started:
                raise EpisodeFinishedError("no episode is running; call env.reset() before env.step()")
            raise EpisodeFinishedError(
                f"the episode has ended (won={self._won}, lost={self._lost}, steps={self._steps}); "
                f"call env.reset() to start a new one"
            )
        before = self._observation
        self._steps += 1
        op = self._actions.get(action)
        reason = ""
        if op is None:
            op, reason = self._match(action)
        outcome = progress = 0.0
        if op is None:
            invalid = True
            self._num_invalid += 1
            feedback = reason
        else:
            invalid = False
            feedback = self._execute(op)
            score, self._max_score, won, lost = self._verify()
            outcome = self._outcome(won, won and not self._won)
            if self._max_score:
                progress = (score - self._score) / self._max_score
            self._score, self._won, self._lost = score, won, lost
            self._actions = self._admissible()
            self._normalized_actions = None
        terminated = self._won or self._lost
        truncated = not terminated and self._steps >= self.config.max_steps
        self._done = terminated or truncated
        self._observation = self._clip(feedback)

        info = self._info(invalid, {})
        transition = Transition(
            instruction=self._instruction_text,
            observation=before,
            action=action,
            next_observation=self._observation,
            outcome=outcome,
            progress=progress,
            terminated=terminated,
            truncated=truncated,
            info=info,
        )
        reward, info["reward_terms"] = self.reward_fn.evaluate(transition)
        self.last_transition = transition
        if self.render_mode == "human":
            self.render()
        return self._observation, reward, terminated, truncated, info

    def render(self) -> str | None:
        text = self._observation
        if self.render_mode == "ansi":
            return text
        if self.render_mode == "human":
            print(text)  # noqa: T201 - rendering to a person is this mode's purpose
        return None

    # ------------------------------------------------------------------------------------------
    # Tasks and splits
    # ------------------------------------------------------------------------------------------
    def sample_task(self, seed: int) -> tuple[dict[str, Any], str]:
        """The task of ``seed`` in this env's split, and its canonical JSON text (see
        :mod:`sparring.envs.splits`)."""
        unseen = self.split == "test_unseen"
        for attempt in range(1000):
            rng = random.Random(f"{self.family}/{self.split}/{seed}/{attempt}")
            spec = self._generate(rng, unseen)
            text = canonical_json(spec)
            if unseen or owner_split(text) == self.split:
                return spec, text
        raise RuntimeError(f"{self.family}: no {self.split} task found for seed {seed} in 1000 draws")

    def _pinned(self, task: Any) -> dict[str, Any]:
        if isinstance(task, str):
            try:
                task = json.loads(task)
            except json.JSONDecodeError as exc:
                raise InvalidTaskError(f"options['task'] is not valid JSON ({exc}); pass info['task']") from exc
        if not isinstance(task, Mapping):
            raise InvalidTaskError(
                f"options['task'] must be a task spec (info['task'], a JSON text, or its dict), got "
                f"{type(task).__name__}"
            )
        return json.loads(canonical_json(task))  # a private copy: the caller may keep mutating theirs

    # ------------------------------------------------------------------------------------------
    # Internals
    # ------------------------------------------------------------------------------------------
    def _match(self, action: str) -> tuple[Any | None, str]:
        """Slow path: aliases, missing instance numbers, family parsing; else the reason it failed."""
        text = action.strip()
        if not text:
            return None, self._invalid("the command is empty.")
        if len(text) > 500:
            return None, self._invalid(f"the command is {len(text):,} characters long; commands are short.")
        normalized = self.lexicon.normalize(text)
        table = self._normalized_table()
        op = table.get(normalized)
        if op is None and self.match_unnumbered:
            candidates = table.get(("unnumbered", _INSTANCE_NUMBER.sub("", normalized)), [])
            if len(candidates) == 1:
                op = candidates[0]
            elif candidates:
                options = [c for c, o in self._actions.items() if o in candidates][:4]
                return None, self._invalid(
                    f"{quote(text)} could mean several things: {', '.join(repr(c) for c in options)}."
                )
        if op is None:
            op = self._parse(text)
        if isinstance(op, Rejected):
            return None, self._invalid(op.reason)
        if op is not None:
            return op, ""
        if _MULTI_COMMAND.search(text):
            return None, self._invalid(f"{quote(text)} looks like several commands; send one command per step.")
        if any(normalized == v or normalized.startswith((v + " ", v + "[")) for v in self.verbs):
            return None, self._invalid(f"{quote(text)} is not possible right now. Nothing happens.")
        return None, self._invalid(f"{quote(text)} is not a command I understand.")

    def _normalized_table(self) -> dict[Any, Any]:
        if self._normalized_actions is None:
            table: dict[Any, Any] = {}
            for command, op in self._actions.items():
                normalized = self.lexicon.normalize(command)
                table.setdefault(normalized, op)
                if self.match_unnumbered:
                    bucket = table.setdefault(("unnumbered", _INSTANCE_NUMBER.sub("", normalized)), [])
                    if op not in bucket:
                        bucket.append(op)
            self._normalized_actions = table
        return self._normalized_actions

    def _invalid(self, reason: str) -> str:
        examples = list(self._actions)[:3] or list(self.syntax[:3])
        shown = ", ".join(repr(e) for e in examples)
        return f"Invalid action: {reason} Valid commands look like: {shown}."

    @staticmethod
    def _clip(text: str) -> str:
        if len(text) > MAX_OBSERVATION_LENGTH:
            logger.warning("observation of %d characters clipped", len(text))
            return text[: MAX_OBSERVATION_LENGTH - 1] + "…"
        return text

    def _info(self, invalid: bool, terms: dict[str, float]) -> dict[str, Any]:
        return {
            "admissible_actions": list(self._actions),
            "instruction": self._instruction_text,
            "won": self._won,
            "lost": self._lost,
            "score": float(self._score),
            "max_score": float(self._max_score),
            "family": self.family,
            "split": self.split,
            "seed": self.task_seed,
            "task": self._task_json,
            "step": self._steps,
            "invalid_action": invalid,
            "num_invalid": self._num_invalid,
            "reward_terms": terms,
        }


__all__ = ["FamilyConfig", "Rejected", "TextEnv", "generic_thought", "quote", "SPLITS", "SEEN_SPLITS"]
