"""Leaderboard cells: one agent on one env and split, clean or under one attack, over the suite's
tasks and evaluation seeds — the unit of work, of parallelism and of caching.

A cell's *definition* holds everything its numbers depend on: the agent's kind, options and
model fingerprint, the env id and kwargs, the split, the task seeds, the evaluation seeds, the
envs played side by side, the attack's operators and knobs and samples, the sparring version and
this module's format. Its cache key is a hash of that definition; its result is one JSON file,
written atomically, so an interrupted leaderboard resumes from the cells it finished and a
re-run of a finished one evaluates nothing. A cached file is used only when the definition
stored in it equals the cell's (a hand-edited or truncated file is recomputed).

A clean cell plays :func:`~sparring.agents.rollout.run_episodes` (success, return, steps, invalid
actions); an attacked cell plays the adversary's :func:`~sparring.adversary.play.play` once per
perturbation sample (success, hijacks, edit fractions, validity, queries). Every pass gets a fresh
agent seeded by the evaluation seed.

An agent given several tries at each task (``react-reflexion``: its spec's ``trials``) plays every
episode of its cells, clean and attacked, through a
:class:`~sparring.envs.trials.TrialsWrapper` (under the attack); the cell's result records
``trials`` and each episode the trials it took.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sparring.benchmarks.agent_specs import AgentSpec, build_agent, loaded_models
from sparring.benchmarks.attack_specs import AttackSpec, play_attack
from sparring.fileio import write_json_atomic

logger = logging.getLogger(__name__)

#: bump when what a cell records or how it plays changes, so old cache files are not reused
CELL_FORMAT = 1


@dataclasses.dataclass(frozen=True)
class Cell:
    """One agent × env × split × attack (None: clean) of a leaderboard."""

    agent: AgentSpec
    env_id: str
    split: str
    env_kwargs: tuple[tuple[str, Any], ...]
    task_seeds: tuple[int, ...]
    eval_seeds: tuple[int, ...]
    num_envs: int
    attack: AttackSpec | None = None

    @property
    def label(self) -> str:
        return f"{self.agent.name} / {self.env_id} / {self.split} / {self.attack.name if self.attack else 'clean'}"

    def definition(self) -> dict[str, Any]:
        import sparring

        return {
            "format": CELL_FORMAT, "sparring": sparring.__version__, "agent": self.agent.identity(),
            "env_id": self.env_id, "env_kwargs": dict(self.env_kwargs), "split": self.split,
            "task_seeds": list(self.task_seeds), "eval_seeds": list(self.eval_seeds), "num_envs": self.num_envs,
            "attack": self.attack.identity() if self.attack else None,
        }

    @property
    def key(self) -> str:
        text = json.dumps(self.definition(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    @property
    def cost(self) -> float:
        """A rough relative cost, to start the longest cells first."""
        passes = len(self.eval_seeds) * (self.attack.samples if self.attack else 1)
        return len(self.task_seeds) * passes * (25.0 if self.agent.uses_model else 1.0)


# --------------------------------------------------------------------------------------------------
# Playing a cell
# --------------------------------------------------------------------------------------------------
def run_cell(cell: Cell) -> dict[str, Any]:
    """Plays the cell; returns its result (definition, one record per episode, seconds)."""
    start = time.perf_counter()
    kwargs = dict(cell.env_kwargs)
    episodes: list[dict[str, Any]] = []
    agent_stats: dict[str, int] = {}
    for eval_seed in cell.eval_seeds:
        if cell.attack is None:
            episodes += _clean_pass(cell, eval_seed, kwargs, agent_stats)
            continue
        for sample in range(cell.attack.samples):
            logs = play_attack(lambda s=eval_seed: build_agent(cell.agent, s), cell.attack, cell.env_id,
                               cell.task_seeds, split=cell.split, env_kwargs=kwargs, num_envs=cell.num_envs,
                               sample=sample)
            episodes += [_attacked_record(log, eval_seed, sample, cell.agent.trials > 1) for log in logs]
    return {"key": cell.key, "definition": cell.definition(), "label": cell.label, "episodes": episodes,
            "trials": cell.agent.trials, "agent_stats": agent_stats, "seconds": time.perf_counter() - start,
            "process": {"pid": os.getpid(), "models_loaded": loaded_models()}}


def _clean_pass(cell: Cell, eval_seed: int, kwargs: Mapping[str, Any], stats: dict[str, int]) -> list[dict[str, Any]]:
    from sparring.agents.rollout import run_episodes

    agent = build_agent(cell.agent, eval_seed)
    results = run_episodes(agent, cell.env_id, split=cell.split, seeds=cell.task_seeds, num_envs=cell.num_envs,
                           env_kwargs=kwargs, trials=cell.agent.trials)
    for name, value in getattr(agent, "stats", {}).items():
        stats[name] = stats.get(name, 0) + int(value)
    return [{"task_seed": r.seed, "eval_seed": eval_seed, "won": r.won, "return": r.episode_return,
             "steps": r.steps, "invalid": r.invalid_actions, "truncated": r.truncated,
             "score_share": r.score / r.max_score if r.max_score else 0.0,
             **({"trials": r.trials} if cell.agent.trials > 1 else {})} for r in results]


def _attacked_record(log: Any, eval_seed: int, sample: int, trials: bool = False) -> dict[str, Any]:
    return {
        **({"trials": log.trials} if trials else {}),
        "task_seed": log.seed, "eval_seed": eval_seed, "sample": sample, "won": log.won, "steps": log.steps,
        "hijacked": log.hijacked if log.hijacks else None, "perturbed_turns": log.perturbed_turns,
        "edit_fraction": sum(log.edit_fractions) / len(log.edit_fractions) if log.edit_fractions else None,
        "valid_actions": log.valid_actions, "perturbed_actions": log.perturbed_actions, "queries": log.queries,
    }


# --------------------------------------------------------------------------------------------------
# The cache
# --------------------------------------------------------------------------------------------------
class CellCache:
    """One JSON file per finished cell, named by its key, in ``directory``."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def path(self, cell: Cell) -> Path:
        return self.directory / f"{cell.key}.json"

    def load(self, cell: Cell) -> dict[str, Any] | None:
        """The cached result of ``cell``, or None (missing, unreadable, or for another definition)."""
        path = self.path(cell)
        if not path.is_file():
            return None
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            logger.warning("cached cell %s is unreadable (%s); evaluating it again", path, exc)
            return None
        if not isinstance(result, dict) or result.get("definition") != json.loads(json.dumps(cell.definition())) \
                or not isinstance(result.get("episodes"), list):
            logger.warning("cached cell %s does not match the cell's definition; evaluating it again", path)
            return None
        return result

    def store(self, result: Mapping[str, Any]) -> Path:
        return write_json_atomic(self.directory / f"{result['key']}.json", result)


def evaluate_and_store(cell: Cell, directory: str) -> dict[str, Any]:
    """Worker entry point: plays a cell and caches its result. Errors come back as a message (some
    exception classes do not survive pickling between processes)."""
    import traceback

    try:
        result = run_cell(cell)
    except Exception as exc:  # reported by the parent with the cell's name
        return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(), "label": cell.label}
    CellCache(directory).store(result)
    return result


__all__ = ["CELL_FORMAT", "Cell", "CellCache", "evaluate_and_store", "run_cell"]
