"""Evaluation: play agents on envs and splits with fixed seeds, and summarise with confidence intervals."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from sparring.agents.base import Agent
from sparring.agents.rollout import EpisodeResult, StepRecord, run_episodes


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of a success rate (95% by default); (0, 1) when n is 0."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_interval(values: Sequence[float], *, confidence: float = 0.95, resamples: int = 2000,
                       seed: int = 0) -> tuple[float, float]:
    """A percentile bootstrap interval of the mean (fixed seed, so reports are reproducible)."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return math.nan, math.nan
    if data.size == 1:
        return float(data[0]), float(data[0])
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    alpha = (1 - confidence) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def summarize(results: Sequence[EpisodeResult]) -> dict[str, Any]:
    """Success rate (with a 95% Wilson interval), mean return (with a bootstrap interval), mean
    steps, invalid-action rate and mean share of the score."""
    n = len(results)
    wins = sum(r.won for r in results)
    steps = sum(r.steps for r in results)
    returns = [r.episode_return for r in results]
    low, high = wilson_interval(wins, n)
    ret_low, ret_high = bootstrap_interval(returns)
    return {
        "episodes": n,
        "success": wins / n if n else math.nan,
        "success_ci95": [low, high],
        "mean_return": float(np.mean(returns)) if n else math.nan,
        "mean_return_ci95": [ret_low, ret_high],
        "mean_steps": steps / n if n else math.nan,
        "invalid_rate": sum(r.invalid_actions for r in results) / steps if steps else 0.0,
        "mean_score_share": float(np.mean([r.score / r.max_score if r.max_score else 0.0 for r in results]))
        if n else math.nan,
    }


def evaluate(
    agent: Agent,
    env_id: str,
    *,
    split: str = "test",
    episodes: int = 20,
    seed_offset: int = 0,
    num_envs: int = 1,
    vectorization_mode: str = "sync",
    env_kwargs: Mapping[str, Any] | None = None,
    progress: bool | str = False,
    on_step: Callable[[StepRecord], None] | None = None,
) -> tuple[dict[str, Any], list[EpisodeResult]]:
    """Plays ``agent`` on seeds ``seed_offset .. seed_offset + episodes - 1`` of ``split``; returns the
    summary row and the per-episode results."""
    results = run_episodes(
        agent, env_id, split=split, seeds=range(seed_offset, seed_offset + episodes), num_envs=num_envs,
        vectorization_mode=vectorization_mode, env_kwargs=env_kwargs, progress=progress, on_step=on_step,
    )
    row = {"agent": agent.name, "env_id": env_id, "split": split, **summarize(results)}
    return row, results


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """A plain-text table: ``columns`` is ``[(key, header), ...]``; floats print with 3 decimals,
    a ``[low, high]`` pair as an interval, an undefined figure (None or NaN, e.g. a PDR where the
    clean success rate is 0) as ``n/a``."""

    def undefined(value: Any) -> bool:
        return value is None or (isinstance(value, float) and math.isnan(value))

    def cell(value: Any) -> str:
        if undefined(value):
            return "n/a"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, float):
            return f"{value:.3f}"
        if (isinstance(value, (list, tuple)) and len(value) == 2
                and all(isinstance(v, float) or v is None for v in value)):
            return "n/a" if any(undefined(v) for v in value) else f"[{value[0]:.2f}, {value[1]:.2f}]"
        if isinstance(value, (list, tuple)):
            return ", ".join(str(v) for v in value)
        return str(value)

    table = [[header for _, header in columns]] + [[cell(row.get(key, "")) for key, _ in columns] for row in rows]
    widths = [max(len(line[c]) for line in table) for c in range(len(columns))]
    lines = ["  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip() for line in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
