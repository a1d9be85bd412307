"""The leaderboard's figures, each with a 95% bootstrap confidence interval.

Per agent and split (and per agent, env and split): success rate, mean return, mean steps and the
invalid-action rate (invalid actions / steps). Generalisation gaps: success on ``train`` minus
success on ``valid``, ``test`` and ``test_unseen``, over the envs that have both splits. Robustness,
per agent, attacked split and attack: clean and attacked success, PDR, ASR, targeted ASR (attacks
that plant injections), NRP and RSR@K as defined in :mod:`sparring.adversary.metrics` (whose
functions compute them here), plus the mean edit fraction, the validity of perturbed admissible
actions and the adversary's queries per perturbed turn; then per attack family and side of the
train / held-out split (the mean over its attacks) and the macro PDR of each side (the mean over
its families).

Figures pool the tasks of every env in a row: each task weighs the same, and a task's evaluation
seeds (and attack samples) are averaged first.

Intervals are percentile bootstraps with a fixed seed. The unit resampled is the *task*: all the
evaluation seeds and attack samples of a task stay together, and a task's clean and attacked runs
stay paired. Resampling is stratified by env (each env keeps its number of tasks). A gap's
interval is the bootstrap of the difference: the two splits' tasks (different tasks) are
resampled independently and the difference is taken in each resample. Resamples in which a figure
is undefined (a PDR whose resampled clean success is 0) are left out of its interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from sparring.adversary import metrics as R

NAN = math.nan
#: splits whose gap to train is reported
GAP_SPLITS = ("valid", "test", "test_unseen")

Stratum = Mapping[str, np.ndarray]
#: the columns of an attacked cell, per task, evaluation seed and perturbation sample
ATTACK_COLUMNS = ("won", "hijacked", "edit_fraction", "valid_actions", "perturbed_actions", "queries",
                  "perturbed_turns")


# --------------------------------------------------------------------------------------------------
# The bootstrap
# --------------------------------------------------------------------------------------------------
def bootstrap(samples: Sequence[Sequence[Stratum]], statistic: Callable[..., Mapping[str, Any]], *,
              resamples: int = 2000, seed: int = 0, confidence: float = 0.95,
              vectorized: bool = False) -> dict[str, dict[str, Any]]:
    """Point estimates and percentile intervals of every figure ``statistic`` returns.

    ``samples`` are independent samples (one per argument of ``statistic``), each a list of strata;
    a stratum maps column names to arrays whose first axis is the task. Each resample draws, within
    every stratum, as many tasks as it has, with replacement, and passes ``statistic`` one dict per
    sample of the drawn rows (strata concatenated). With ``vectorized``, ``statistic`` is called
    once with every resample stacked on a new first axis and returns arrays of one value per
    resample. Returns ``{figure: {"value": float, "ci95": [low, high]}}``.
    """
    rng = np.random.default_rng(seed)
    pooled: list[dict[str, np.ndarray]] = []
    index: list[np.ndarray] = []
    for strata in samples:
        strata = [s for s in strata if _rows(s)]
        keys = list(strata[0]) if strata else []
        pooled.append({k: np.concatenate([np.asarray(s[k]) for s in strata]) for k in keys} if strata else {})
        offset, parts = 0, []
        for stratum in strata:
            n = _rows(stratum)
            parts.append(offset + rng.integers(0, n, size=(resamples, n)))
            offset += n
        index.append(np.concatenate(parts, axis=1) if parts else np.zeros((resamples, 0), dtype=np.int64))
    point = {k: float(v) for k, v in statistic(*pooled).items()}
    if vectorized:
        drawn = statistic(*[{k: v[idx] for k, v in data.items()} for data, idx in zip(pooled, index, strict=True)])
        values = {k: np.asarray(v, dtype=np.float64) for k, v in drawn.items()}
    else:
        rows = [statistic(*[{k: v[idx[r]] for k, v in data.items()} for data, idx in zip(pooled, index, strict=True)])
                for r in range(resamples)]
        values = {k: np.array([row[k] for row in rows], dtype=np.float64) for k in point}
    alpha = (1 - confidence) / 2
    out: dict[str, dict[str, Any]] = {}
    for name, value in point.items():
        drawn_values = values[name][~np.isnan(values[name])]
        if math.isnan(value) or drawn_values.size == 0:
            ci = [NAN, NAN]
        else:
            ci = [float(np.quantile(drawn_values, alpha)), float(np.quantile(drawn_values, 1 - alpha))]
        out[name] = {"value": value, "ci95": ci}
    return out


def _rows(stratum: Stratum) -> int:
    return len(next(iter(stratum.values()))) if stratum else 0


# --------------------------------------------------------------------------------------------------
# Arranging episodes by task
# --------------------------------------------------------------------------------------------------
def clean_stratum(episodes: Sequence[Mapping[str, Any]], task_seeds: Sequence[int],
                  eval_seeds: Sequence[int]) -> dict[str, np.ndarray]:
    """Columns ``won``, ``return``, ``steps``, ``invalid`` of shape (tasks, evaluation seeds)."""
    cols = {k: np.full((len(task_seeds), len(eval_seeds)), np.nan) for k in ("won", "return", "steps", "invalid")}
    rows, seats = {t: i for i, t in enumerate(task_seeds)}, {s: j for j, s in enumerate(eval_seeds)}
    for e in episodes:
        i, j = rows[e["task_seed"]], seats[e["eval_seed"]]
        cols["won"][i, j], cols["return"][i, j] = float(e["won"]), float(e["return"])
        cols["steps"][i, j], cols["invalid"][i, j] = float(e["steps"]), float(e["invalid"])
    _complete(cols, "clean")
    return cols


def attacked_stratum(episodes: Sequence[Mapping[str, Any]], task_seeds: Sequence[int], eval_seeds: Sequence[int],
                     samples: int) -> dict[str, np.ndarray]:
    """Columns of shape (tasks, evaluation seeds, samples): ``won``, ``hijacked`` (nan where no
    injection was planted), ``edit_fraction`` (nan where nothing was edited), ``valid_actions``,
    ``perturbed_actions``, ``queries``, ``perturbed_turns``."""
    shape = (len(task_seeds), len(eval_seeds), samples)
    names = ATTACK_COLUMNS
    cols = {k: np.full(shape, np.nan) for k in names}
    seen = np.zeros(shape, dtype=bool)
    rows, seats = {t: i for i, t in enumerate(task_seeds)}, {s: j for j, s in enumerate(eval_seeds)}
    for e in episodes:
        at = (rows[e["task_seed"]], seats[e["eval_seed"]], int(e["sample"]))
        seen[at] = True
        for k in names:
            value = e.get(k)
            cols[k][at] = NAN if value is None else float(value)
    if not seen.all():
        raise ValueError(f"attacked cell results miss {int((~seen).sum())} episodes; evaluate the cell again")
    return cols


def _complete(cols: Mapping[str, np.ndarray], what: str) -> None:
    missing = int(np.isnan(cols["won"]).sum())
    if missing:
        raise ValueError(f"{what} cell results miss {missing} episodes; evaluate the cell again")


# --------------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------------
def clean_figures(data: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Success, mean return, mean steps and invalid-action rate; works on (tasks, seeds) arrays and
    on stacks of resamples (resamples, tasks, seeds)."""
    axes = (-2, -1)
    steps = data["steps"].sum(axis=axes)
    with np.errstate(invalid="ignore", divide="ignore"):
        invalid = np.where(steps > 0, data["invalid"].sum(axis=axes) / np.where(steps > 0, steps, 1), 0.0)
    return {"success": data["won"].mean(axis=axes), "mean_return": data["return"].mean(axis=axes),
            "mean_steps": data["steps"].mean(axis=axes), "invalid_rate": invalid}


def gap_figures(train: Mapping[str, np.ndarray], other: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Success on train minus success on the other split."""
    return {"gap": train["won"].mean(axis=(-2, -1)) - other["won"].mean(axis=(-2, -1))}


def attack_figures(clean: np.ndarray, attacked: Mapping[str, np.ndarray]) -> dict[str, float]:
    """One attack's figures from clean outcomes (tasks, seeds) and its columns (tasks, seeds, samples)."""
    won = attacked["won"].astype(bool)
    k = won.shape[-1]
    c = clean.astype(bool)
    sr_clean, sr_attacked = R.success_rate(c.ravel()), R.success_rate(won.ravel())
    asr = R.attack_success_rate(np.repeat(c[..., None], k, axis=-1).ravel(), won.ravel())
    hijacked = attacked["hijacked"].ravel()
    hijacked = hijacked[~np.isnan(hijacked)].astype(bool)
    edits = attacked["edit_fraction"].ravel()
    edits = edits[~np.isnan(edits)]
    perturbed_actions = float(attacked["perturbed_actions"].sum())
    perturbed_turns = float(attacked["perturbed_turns"].sum())
    return {
        "sr_clean": sr_clean, "sr_attacked": sr_attacked,
        "pdr": R.performance_drop_rate(sr_clean, sr_attacked),
        "asr": asr,
        "targeted_asr": R.targeted_attack_success_rate(hijacked) if hijacked.size else NAN,
        "nrp": R.normalized_robust_performance(sr_clean, asr),
        "rsr": R.robust_success_rate_at_k(won.reshape(-1, k)),
        "edit_fraction": R.mean(edits),
        "validity": float(attacked["valid_actions"].sum()) / perturbed_actions if perturbed_actions else NAN,
        "queries_per_turn": float(attacked["queries"].sum()) / perturbed_turns if perturbed_turns else NAN,
    }


#: attack figures averaged over a family's attacks
GROUP_FIGURES = ("sr_attacked", "pdr", "asr", "targeted_asr", "nrp", "rsr")


def _mean_all(values: Sequence[float]) -> float:
    """The mean, undefined when any value is (as the adversary's group statistics)."""
    return NAN if not values or any(math.isnan(v) for v in values) else math.fsum(values) / len(values)


def _mean_defined(values: Sequence[float]) -> float:
    """The mean of the defined values (targeted ASR exists only for attacks that plant injections)."""
    defined = [v for v in values if not math.isnan(v)]
    return math.fsum(defined) / len(defined) if defined else NAN


def robustness_statistic(attacks: Sequence[Any]) -> Callable[[Mapping[str, np.ndarray]], dict[str, float]]:
    """The statistic of one agent and split: every attack's figures (``ATTACK.figure``), every
    family-and-side group's (``group:FAMILY/SIDE.figure``) and each side's macro PDR
    (``macro:SIDE.pdr``), from columns ``clean`` and ``ATTACK:column``."""
    groups: dict[tuple[str, str], list[str]] = {}
    for attack in attacks:
        groups.setdefault((attack.family, attack.split), []).append(attack.name)
    sides: dict[str, list[tuple[str, str]]] = {}
    for group in groups:
        sides.setdefault(group[1], []).append(group)

    def statistic(data: Mapping[str, np.ndarray]) -> dict[str, float]:
        out: dict[str, float] = {}
        for attack in attacks:
            columns = {column: data[f"{attack.name}:{column}"] for column in ATTACK_COLUMNS}
            for figure, value in attack_figures(data["clean"], columns).items():
                out[f"{attack.name}.{figure}"] = value
        for (family, side), names in groups.items():
            for figure in GROUP_FIGURES:
                values = [out[f"{n}.{figure}"] for n in names]
                out[f"group:{family}/{side}.{figure}"] = (_mean_defined if figure == "targeted_asr" else _mean_all)(values)
        for side, members in sides.items():
            out[f"macro:{side}.pdr"] = _mean_all([out[f"group:{f}/{s}.pdr"] for f, s in members])
        return out

    return statistic


# --------------------------------------------------------------------------------------------------
# The whole board
# --------------------------------------------------------------------------------------------------
def _figure_row(figures: Mapping[str, Mapping[str, Any]], prefix: str = "", names: Sequence[str] | None = None,
                rename: Mapping[str, str] | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for name in names or [k[len(prefix):] for k in figures if k.startswith(prefix)]:
        figure = figures[prefix + name]
        key = (rename or {}).get(name, name)
        row[key], row[f"{key}_ci95"] = figure["value"], figure["ci95"]
    return row


def compute_board(suite: Any, agents: Sequence[Any], clean: Mapping[tuple[str, str, str], Sequence[Mapping]],
                  attacked: Mapping[tuple[str, str, str, str], Sequence[Mapping]]) -> dict[str, Any]:
    """Every table of the leaderboard from the cells' episodes: ``clean[(agent, env, split)]`` and
    ``attacked[(agent, env, split, attack)]`` (lists of episode records)."""
    boot = {"resamples": suite.resamples, "seed": suite.bootstrap_seed}
    seeds = suite.seeds
    strata: dict[tuple[str, str, str], dict[str, np.ndarray]] = {}
    for env in suite.envs:
        for split in env.splits:
            for agent in agents:
                strata[(agent.name, env.id, split)] = clean_stratum(clean[(agent.name, env.id, split)],
                                                                    suite.task_seeds(env), seeds)
    env_rows, split_rows, gap_rows, attack_rows, group_rows, macro_rows = [], [], [], [], [], []
    for agent in agents:
        for env in suite.envs:
            for split in env.splits:
                data = strata[(agent.name, env.id, split)]
                figures = bootstrap([[data]], clean_figures, vectorized=True, **boot)
                env_rows.append({"agent": agent.name, "env_id": env.id, "split": split, "tasks": len(data["won"]),
                                 "episodes": int(data["won"].size), **_figure_row(figures)})
        for split in suite.splits:
            members = [e for e in suite.envs if split in e.splits]
            if not members:
                continue
            data = [strata[(agent.name, e.id, split)] for e in members]
            figures = bootstrap([data], clean_figures, vectorized=True, **boot)
            split_rows.append({"agent": agent.name, "split": split, "envs": [e.id for e in members],
                               "tasks": sum(len(d["won"]) for d in data), "episodes": sum(d["won"].size for d in data),
                               **_figure_row(figures)})
        if "train" in suite.splits:
            for split in GAP_SPLITS:
                members = [e for e in suite.envs if split in e.splits and "train" in e.splits]
                if split not in suite.splits or not members:
                    continue
                figures = bootstrap([[strata[(agent.name, e.id, "train")] for e in members],
                                     [strata[(agent.name, e.id, split)] for e in members]],
                                    gap_figures, vectorized=True, **boot)
                gap_rows.append({"agent": agent.name, "split": split, "gap_of": f"train - {split}",
                                 "envs": [e.id for e in members], **_figure_row(figures)})
        for split in suite.attack_splits:
            members = [e for e in suite.envs if split in suite.attack_splits_of(e)]
            if not members or not suite.attacks:
                continue
            data = []
            for env in members:
                columns: dict[str, np.ndarray] = {"clean": strata[(agent.name, env.id, split)]["won"]}
                for attack in suite.attacks:
                    cols = attacked_stratum(attacked[(agent.name, env.id, split, attack.name)], suite.task_seeds(env),
                                            seeds, attack.samples)
                    columns.update({f"{attack.name}:{k}": v for k, v in cols.items()})
                data.append(columns)
            figures = bootstrap([data], robustness_statistic(suite.attacks), **boot)
            envs = [e.id for e in members]
            for attack in suite.attacks:
                attack_rows.append({"agent": agent.name, "split": split, "attack": attack.name, "family": attack.family,
                                    "attack_split": attack.split, "operators": list(attack.operators),
                                    "samples": attack.samples, "envs": envs,
                                    **_figure_row(figures, f"{attack.name}."), "rsr_k": attack.samples})
            for key in figures:
                if key.startswith("group:") and key.endswith(".pdr"):
                    group = key[len("group:"):-len(".pdr")]
                    family, side = group.rsplit("/", 1)
                    group_rows.append({
                        "agent": agent.name, "split": split, "family": family, "attack_split": side,
                        "attacks": [a.name for a in suite.attacks if (a.family, a.split) == (family, side)],
                        **_figure_row(figures, f"group:{group}.", GROUP_FIGURES)})
                if key.startswith("macro:"):
                    side = key[len("macro:"):-len(".pdr")]
                    macro_rows.append({"agent": agent.name, "split": split, "attack_split": side,
                                       "families": sorted({a.family for a in suite.attacks if a.split == side}),
                                       **_figure_row(figures, f"macro:{side}.", ["pdr"], {"pdr": "macro_pdr"})})
    return {"leaderboard": _leaderboard(suite, agents, split_rows, gap_rows, macro_rows), "splits": split_rows,
            "gaps": gap_rows, "robustness": attack_rows, "families": group_rows, "macro": macro_rows, "envs": env_rows}


def headline_split(splits: Sequence[str]) -> str:
    """The split the leaderboard is ranked by: the most held-out one the suite has."""
    for split in ("test_unseen", "test", "valid", "train"):
        if split in splits:
            return split
    raise ValueError("a suite has at least one split")


def _leaderboard(suite: Any, agents: Sequence[Any], split_rows: Sequence[Mapping], gap_rows: Sequence[Mapping],
                 macro_rows: Sequence[Mapping]) -> list[dict[str, Any]]:
    """One row per agent: success per split, the gaps, the macro PDR of each side per attacked split;
    ranked by success on the headline split (best first)."""
    rows = []
    for agent in agents:
        row: dict[str, Any] = {"agent": agent.name, "kind": agent.kind, "model": agent.model,
                               "trials": getattr(agent, "trials", 1)}  # tries at each task (Reflexion: several)
        for r in split_rows:
            if r["agent"] == agent.name:
                row[f"success_{r['split']}"], row[f"success_{r['split']}_ci95"] = r["success"], r["success_ci95"]
        for r in gap_rows:
            if r["agent"] == agent.name:
                row[f"gap_{r['split']}"], row[f"gap_{r['split']}_ci95"] = r["gap"], r["gap_ci95"]
        for r in macro_rows:
            if r["agent"] == agent.name:
                key = f"macro_pdr_{r['attack_split']}_{r['split']}"
                row[key], row[f"{key}_ci95"] = r["macro_pdr"], r["macro_pdr_ci95"]
        rows.append(row)
    rank_by = f"success_{headline_split(suite.splits)}"
    rows.sort(key=lambda r: -r[rank_by] if not math.isnan(r.get(rank_by, NAN)) else math.inf)
    for i, row in enumerate(rows, 1):
        row["rank"] = i
    return rows


__all__ = ["GAP_SPLITS", "attack_figures", "attacked_stratum", "bootstrap", "clean_figures", "clean_stratum",
           "compute_board", "gap_figures", "headline_split", "robustness_statistic"]
