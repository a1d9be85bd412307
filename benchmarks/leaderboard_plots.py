"""The leaderboard's plots: success by split per agent, and PDR by attack family per agent, with
95% intervals as error bars. Drawn on bare matplotlib ``Figure`` objects (no pyplot, no global
backend state), so they render in any process, headless included."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

SIDE_TITLES = {"held_out": "held-out attacks", "train": "train attacks", "mixed": "mixed attacks"}


def _errors(rows: Sequence[Mapping[str, Any] | None], key: str) -> tuple[list[float], list[list[float]]]:
    values, low, high = [], [], []
    for row in rows:
        value = None if row is None else row.get(key)
        ci = (None, None) if row is None else (row.get(f"{key}_ci95") or (None, None))
        if value is None or (isinstance(value, float) and math.isnan(value)):
            values.append(math.nan)
            low.append(0.0)
            high.append(0.0)
            continue
        values.append(float(value))
        lo, hi = ci
        defined = lo is not None and hi is not None and not (math.isnan(lo) or math.isnan(hi))
        low.append(max(0.0, value - lo) if defined else 0.0)
        high.append(max(0.0, hi - value) if defined else 0.0)
    return values, [low, high]


def _grouped_bars(ax: Any, groups: Sequence[str], agents: Sequence[str],
                  lookup: Mapping[tuple[str, str], Mapping[str, Any]], key: str) -> None:
    import numpy as np

    width = 0.8 / max(1, len(agents))
    x = np.arange(len(groups))
    for i, agent in enumerate(agents):
        values, errors = _errors([lookup.get((agent, g)) for g in groups], key)
        ax.bar(x + (i - (len(agents) - 1) / 2) * width, values, width, yerr=errors, capsize=3, label=agent)
    ax.set_xticks(x)
    ax.set_xticklabels(groups)
    ax.grid(axis="y", alpha=0.3)


def _figure(rows: int, cols: int, width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width * cols, height * rows), layout="constrained")
    return figure, figure.subplots(rows, cols, squeeze=False)


def success_by_split(data: Mapping[str, Any]) -> Any:
    """Bars of success per split, one per agent."""
    splits = data["suite"]["resolved"]["splits"]
    agents = [r["agent"] for r in data["leaderboard"]]
    lookup = {(r["agent"], r["split"]): r for r in data["splits"]}
    figure, axes = _figure(1, 1, max(5.0, 1.1 * len(splits) * max(1, len(agents)) ** 0.5 + 2), 3.6)
    ax = axes[0][0]
    _grouped_bars(ax, splits, agents, lookup, "success")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("success rate")
    ax.set_title(f"{data['suite']['name']}: success by split (95% bootstrap intervals)")
    ax.legend(fontsize="small", ncols=min(4, len(agents)), loc="upper center", bbox_to_anchor=(0.5, -0.1),
              frameon=False)
    return figure


def pdr_by_family(data: Mapping[str, Any]) -> Any:
    """Bars of PDR per attack family, one per agent; one panel per attacked split and side of the
    train / held-out split. None when the suite runs no attacks."""
    rows = data["families"]
    if not rows:
        return None
    agents = [r["agent"] for r in data["leaderboard"]]
    splits = [s for s in data["suite"]["resolved"]["attack_splits"] if any(r["split"] == s for r in rows)]
    sides = [s for s in ("held_out", "train", "mixed") if any(r["attack_split"] == s for r in rows)]
    figure, axes = _figure(len(splits), len(sides), 5.5, 3.4)
    for i, split in enumerate(splits):
        for j, side in enumerate(sides):
            ax = axes[i][j]
            mine = [r for r in rows if r["split"] == split and r["attack_split"] == side]
            families = list(dict.fromkeys(r["family"] for r in mine))
            _grouped_bars(ax, families, agents, {(r["agent"], r["family"]): r for r in mine}, "pdr")
            ax.axhline(0.0, color="black", linewidth=0.8)
            ax.set_ylabel("PDR (1 - SR attacked / SR clean)")
            ax.set_title(f"{SIDE_TITLES.get(side, side)} on {split}")
    axes[-1][0].legend(fontsize="small", ncols=min(4, len(agents)), loc="upper left", bbox_to_anchor=(0.0, -0.12),
                       frameon=False)
    figure.suptitle(f"{data['suite']['name']}: PDR by attack family (95% bootstrap intervals)")
    return figure


__all__ = ["pdr_by_family", "success_by_split"]
