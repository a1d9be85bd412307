"""Every exception sparring raises on purpose, in one place.

Messages follow one form: what was expected, what was given, and what to do about it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SparringError(Exception):
    """Base class of sparring's own errors."""


class UnknownNameError(SparringError, KeyError):
    """A name (env id, agent, operator, split...) that is not known; carries a "did you mean"."""

    def __init__(self, kind: str, name: object, known: Iterable[str], hint: str = "") -> None:
        known = sorted(known)
        close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.6)
        message = f"unknown {kind} {name!r}"
        if close:
            message += f"; did you mean {' or '.join(repr(c) for c in close)}?"
        message += f" Known: {', '.join(known)}."
        if hint:
            message += f" {hint}"
        super().__init__(message)
        self.name = name
        self.suggestions = close

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0])


class ConfigError(SparringError, ValueError):
    """A configuration value that cannot be used; the message says which and how to fix it."""


class InvalidTaskError(SparringError, ValueError):
    """A task spec given to ``reset(options={"task": ...})`` that does not describe a valid task."""


class TrajectoryFormatError(SparringError, ValueError):
    """A file given as trajectories (JSON Lines of episodes) that holds something else."""


class EpisodeFinishedError(SparringError, RuntimeError):
    """``step`` was called on an episode that has ended (or never started)."""


class EnvCreationError(SparringError, RuntimeError):
    """An env constructor failed; the message names the env id and the kwargs."""


class TrainingDivergedError(SparringError, RuntimeError):
    """A training run met a non-finite loss, advantage or gradient and stopped before saving any of it."""
