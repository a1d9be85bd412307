"""Trajectories: the one format every trainer reads and every collector writes.

An :class:`Episode` holds the task's identity (env id, split, seed, the task spec as canonical JSON),
who played it, the perturbations the adversary applied (empty without one), the outcome, and one
:class:`Step` per turn. A step keeps what the agent saw (observation, admissible actions), the chat
``prompt`` a ReAct policy is given for it, the ``completion`` the policy writes (``"Action: ..."``,
with a thought first when there is one) — the completion's tokens are the agent's, and the only
ones that get loss — the reward and its terms, and the done flags.

Episodes are stored as JSON Lines, one episode per line, appended with a single write and flushed;
a run killed mid-write leaves at most a partial last line, which :func:`read_episodes` drops (and
:func:`repair` truncates). Never pickle. :func:`to_dataset` gives a Hugging Face ``datasets.Dataset``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sparring.errors import TrajectoryFormatError

logger = logging.getLogger(__name__)

FORMAT = 1
#: what opens the command in an agent's reply (``Action: <command>``); score-mode prompts end with it
ACTION_PREFIX = "Action:"


def completion_text(action: str, thought: str = "") -> str:
    """The assistant text of a step: an optional thought line, then ``Action: <command>``."""
    return f"Thought: {thought}\n{ACTION_PREFIX} {action}" if thought else f"{ACTION_PREFIX} {action}"


@dataclasses.dataclass
class Step:
    """One turn of an episode."""

    observation: str  #: what the agent saw before acting
    admissible: list[str]  #: the admissible actions it was offered
    prompt: list[dict[str, str]]  #: the chat messages a ReAct policy is given for this turn
    action: str  #: the command sent to the env
    thought: str = ""
    reward: float = 0.0
    reward_terms: dict[str, float] = dataclasses.field(default_factory=dict)
    next_observation: str = ""
    terminated: bool = False
    truncated: bool = False
    invalid: bool = False  #: whether the env rejected the action

    @property
    def completion(self) -> str:
        """The agent's text for this turn (its tokens are the loss mask)."""
        return completion_text(self.action, self.thought)

    @property
    def action_span(self) -> tuple[int, int]:
        """Character span of the action inside :attr:`completion`."""
        start = len(self.completion) - len(self.action)
        return start, len(self.completion)


@dataclasses.dataclass
class Episode:
    """One episode with everything needed to replay and to learn from it."""

    env_id: str
    family: str
    split: str
    seed: int
    task: str  #: the task spec, canonical JSON (``reset(options={"task": task})`` replays it)
    instruction: str
    agent: str
    sample: int = 0  #: which of several samples on the same task
    perturbations: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    won: bool = False
    lost: bool = False
    score: float = 0.0
    max_score: float = 0.0
    episode_return: float = 0.0
    truncated: bool = False
    steps: list[Step] = dataclasses.field(default_factory=list)
    #: provenance: e.g. {"corrected_from": [...key], "prefix_steps": 3} for an oracle-corrected episode
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    format: int = FORMAT

    @property
    def key(self) -> tuple[str, str, int, str, int]:
        """Identifies an episode within a collection (used by ``--resume``)."""
        return self.env_id, self.split, self.seed, self.agent, self.sample

    @property
    def num_invalid(self) -> int:
        return sum(s.invalid for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Episode:
        data = dict(data)
        if data.get("format", FORMAT) != FORMAT:
            raise ValueError(f"trajectory format {data.get('format')} is not {FORMAT}")
        data["steps"] = [Step(**s) for s in data.get("steps", [])]
        return cls(**data)


# --------------------------------------------------------------------------------------------------
# JSON Lines
# --------------------------------------------------------------------------------------------------
def append_episodes(path: str | os.PathLike, episodes: Iterable[Episode]) -> int:
    """Appends episodes, one line each, each with a single write followed by a flush to disk."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    repair(target)
    count = 0
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for episode in episodes:
            line = (json.dumps(episode.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\n").encode()
            written = 0
            while written < len(line):  # os.write may write less than asked (signals, pipes)
                written += os.write(fd, line[written:])
            os.fsync(fd)
            count += 1
    finally:
        os.close(fd)
    return count


def write_episodes(path: str | os.PathLike, episodes: Iterable[Episode]) -> int:
    """Writes a whole file atomically (a temporary file renamed into place)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.unlink(missing_ok=True)
    count = append_episodes(tmp, episodes)
    os.replace(tmp, target)
    return count


def write_rows(path: str | os.PathLike, rows: Iterable[dict[str, Any]]) -> int:
    """Writes JSON objects (e.g. preference pairs), one per line, atomically (temporary file + rename)."""
    from sparring.fileio import write_text_atomic

    lines = [json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n" for row in rows]
    write_text_atomic(path, "".join(lines))
    return len(lines)


def iter_episodes(path: str | os.PathLike) -> Iterator[Episode]:
    """The episodes of a JSON Lines file; a partial last line (a killed write) is skipped."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.endswith("\n"):
                logger.warning("%s: ignoring a partial last line (%d characters)", path, len(line))
                return
            if line.strip():
                try:
                    yield Episode.from_dict(json.loads(line))
                except (ValueError, TypeError) as exc:
                    raise TrajectoryFormatError(
                        f"{path}:{number}: not a sparring episode ({exc}); pass trajectory files written by "
                        f"`sparring collect` or `sparring filter --out`"
                    ) from exc


def read_episodes(path: str | os.PathLike) -> list[Episode]:
    return list(iter_episodes(path))


def repair(path: str | os.PathLike) -> int:
    """Truncates a partial last line left by a killed writer; returns the bytes removed."""
    target = Path(path)
    if not target.exists() or target.stat().st_size == 0:
        return 0
    with open(target, "rb+") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 1))
        if handle.read(1) == b"\n":
            return 0
        # find the last newline, scanning back in blocks
        end, block = size, 1 << 16
        while end > 0:
            start = max(0, end - block)
            handle.seek(start)
            chunk = handle.read(end - start)
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                keep = start + cut + 1
                break
            end = start
        else:
            keep = 0
        handle.truncate(keep)
    logger.warning("%s: removed a partial last line (%d bytes)", target, size - keep)
    return size - keep


# --------------------------------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------------------------------
def sft_rows(episodes: Iterable[Episode]) -> list[dict[str, Any]]:
    """Conversational prompt / completion rows, one per step: the completion is the agent's text."""
    return [
        {"prompt": step.prompt, "completion": [{"role": "assistant", "content": step.completion}]}
        for episode in episodes for step in episode.steps
    ]


def to_dataset(episodes: Iterable[Episode], kind: str = "sft") -> Any:
    """A Hugging Face ``datasets.Dataset``: ``"sft"`` rows (prompt / completion per step) or
    ``"episodes"`` (one row per episode, steps nested)."""
    from datasets import Dataset

    if kind == "sft":
        return Dataset.from_list(sft_rows(episodes))
    if kind == "episodes":
        rows = []
        for episode in episodes:
            row = episode.to_dict()
            row["perturbations"] = json.dumps(row["perturbations"])
            row["meta"] = json.dumps(row["meta"])
            for step in row["steps"]:
                step["reward_terms"] = json.dumps(step["reward_terms"])
            rows.append(row)
        return Dataset.from_list(rows)
    raise ValueError(f"kind must be 'sft' or 'episodes', got {kind!r}")
