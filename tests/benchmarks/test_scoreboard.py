"""The leaderboard's figures on fixed data, checked against values worked out by hand: point estimates
from their definitions, intervals from the exact bootstrap distribution (binomial counts), and the
resampling scheme (tasks, stratified by env, seeds kept with their task, clean and attacked paired)."""

from __future__ import annotations

import math
from math import comb

import numpy as np
import pytest

from sparring.agents.evaluate import format_table
from sparring.benchmarks.scoreboard import (
    attack_figures,
    bootstrap,
    clean_figures,
    compute_board,
    gap_figures,
)
from sparring.benchmarks.suite import parse_suite


def outcomes(wins: int, n: int, seeds: int = 1) -> dict[str, np.ndarray]:
    """A clean stratum of n tasks, the first ``wins`` won on every seed."""
    won = np.zeros((n, seeds))
    won[:wins] = 1.0
    return {"won": won, "return": won.copy(), "steps": np.full((n, seeds), 4.0), "invalid": np.zeros((n, seeds))}


def exact_quantile(atoms: dict[float, float], q: float) -> float:
    """The q-quantile of a discrete distribution {value: probability}."""
    total = 0.0
    for value in sorted(atoms):
        total += atoms[value]
        if total >= q:
            return value
    return max(atoms)


def mean_distribution(n: int, wins: int) -> dict[float, float]:
    """The bootstrap distribution of a success rate: n draws with replacement, each won with p = wins/n."""
    p = wins / n
    return {k / n: comb(n, k) * p ** k * (1 - p) ** (n - k) for k in range(n + 1)}


def difference_distribution(a: dict[float, float], b: dict[float, float]) -> dict[float, float]:
    out: dict[float, float] = {}
    for x, px in a.items():
        for y, py in b.items():
            key = round(x - y, 12)
            out[key] = out.get(key, 0.0) + px * py
    return out


def clear_of(atoms: dict[float, float], q: float) -> float:
    """How far the distribution's CDF stays from q (so a bootstrap's empirical quantile is unambiguous)."""
    total, gap = 0.0, 1.0
    for value in sorted(atoms):
        total += atoms[value]
        gap = min(gap, abs(total - q))
    return gap


RESAMPLES = 20_000  # the empirical CDF is then within ~0.001 of the exact one


def test_success_interval_is_the_exact_bootstrap_quantiles():
    figures = bootstrap([[outcomes(5, 10)]], clean_figures, resamples=RESAMPLES, seed=0, vectorized=True)
    exact = mean_distribution(10, 5)
    assert min(clear_of(exact, 0.025), clear_of(exact, 0.975)) > 0.01
    assert figures["success"]["value"] == 0.5
    assert figures["success"]["ci95"] == [exact_quantile(exact, 0.025), exact_quantile(exact, 0.975)] == [0.2, 0.8]
    assert figures["mean_steps"] == {"value": 4.0, "ci95": [4.0, 4.0]}


def test_gap_interval_is_the_bootstrap_of_the_difference():
    train, test = outcomes(8, 10), outcomes(4, 10)
    figures = bootstrap([[train], [test]], gap_figures, resamples=RESAMPLES, seed=0, vectorized=True)
    exact = difference_distribution(mean_distribution(10, 8), mean_distribution(10, 4))
    assert min(clear_of(exact, 0.025), clear_of(exact, 0.975)) > 0.005
    assert figures["gap"]["value"] == pytest.approx(0.4)
    low, high = figures["gap"]["ci95"]
    assert (low, high) == pytest.approx((exact_quantile(exact, 0.025), exact_quantile(exact, 0.975)))
    assert (low, high) == pytest.approx((0.0, 0.8))
    # a train split won throughout: the gap's interval is 1 minus the test split's
    figures = bootstrap([[outcomes(10, 10)], [outcomes(5, 10)]], gap_figures, resamples=RESAMPLES, seed=0,
                        vectorized=True)
    assert figures["gap"]["value"] == 0.5 and figures["gap"]["ci95"] == pytest.approx([0.2, 0.8])


def test_resampling_is_stratified_by_env_and_keeps_a_tasks_seeds_together():
    # env A all won, env B all lost: every stratified resample has 5 of each, so success is exactly 0.5
    figures = bootstrap([[outcomes(5, 5), outcomes(0, 5)]], clean_figures, resamples=2000, seed=0, vectorized=True)
    assert figures["success"] == {"value": 0.5, "ci95": [0.5, 0.5]}
    # each task won on one seed of two: resampling tasks (not episodes) keeps success at exactly 0.5
    split = outcomes(0, 8, seeds=2)
    split["won"][:, 0] = 1.0
    figures = bootstrap([[split]], clean_figures, resamples=2000, seed=0, vectorized=True)
    assert figures["success"] == {"value": 0.5, "ci95": [0.5, 0.5]}


def test_invalid_rate_is_invalid_actions_over_steps():
    data = outcomes(1, 2)
    data["steps"] = np.array([[10.0], [30.0]])
    data["invalid"] = np.array([[5.0], [1.0]])
    figures = clean_figures(data)
    assert figures["invalid_rate"] == pytest.approx(6 / 40)  # not the mean of 0.5 and 1/30
    assert figures["mean_steps"] == 20.0


# one attack, six tasks, two perturbation samples each (worked out by hand below)
CLEAN = np.array([[1], [1], [1], [1], [0], [0]], dtype=float)
ATTACKED = np.array([[[1, 1]], [[1, 0]], [[0, 0]], [[1, 1]], [[0, 1]], [[0, 0]]], dtype=float)
HIJACKED = np.array([[[1, 0]], [[np.nan, np.nan]], [[1, 1]], [[0, 0]], [[0, np.nan]], [[np.nan, np.nan]]])


def attacked_columns(won=ATTACKED, hijacked=HIJACKED) -> dict[str, np.ndarray]:
    shape = won.shape
    return {"won": won, "hijacked": hijacked, "edit_fraction": np.full(shape, 0.1),
            "valid_actions": np.full(shape, 3.0), "perturbed_actions": np.full(shape, 4.0),
            "queries": np.zeros(shape), "perturbed_turns": np.full(shape, 2.0)}


def test_robustness_figures_by_hand():
    figures = attack_figures(CLEAN, attacked_columns())
    assert figures["sr_clean"] == pytest.approx(4 / 6)
    assert figures["sr_attacked"] == pytest.approx(6 / 12)
    assert figures["pdr"] == pytest.approx(1 - (6 / 12) / (4 / 6))  # 0.25
    # clean successes are 4 tasks x 2 samples = 8 pairs; 3 of them lost under attack
    assert figures["asr"] == pytest.approx(3 / 8)
    assert figures["nrp"] == pytest.approx((4 / 6) * (1 - 3 / 8))
    assert figures["rsr"] == pytest.approx(2 / 6)  # tasks 0 and 3 won under both samples
    assert figures["targeted_asr"] == pytest.approx(3 / 7)  # seven episodes planted an injection
    assert figures["validity"] == pytest.approx(0.75) and figures["edit_fraction"] == pytest.approx(0.1)
    assert figures["queries_per_turn"] == 0.0
    nothing_won = attack_figures(np.zeros((3, 1)), attacked_columns(np.zeros((3, 1, 2)), np.full((3, 1, 2), np.nan)))
    assert math.isnan(nothing_won["pdr"]) and math.isnan(nothing_won["asr"]) and math.isnan(nothing_won["targeted_asr"])
    # a terminal table says n/a for an undefined figure, not "nan"
    table = format_table([{"agent": "a", "pdr": nothing_won["pdr"], "ci": [float("nan"), float("nan")]},
                          {"agent": "b", "pdr": figures["pdr"], "ci": [0.1, 0.4]}, {"agent": "c", "pdr": None}],
                         [("agent", "agent"), ("pdr", "PDR"), ("ci", "95% CI")])
    lines = table.splitlines()
    assert "nan" not in table and lines[2].split() == ["a", "n/a", "n/a"]
    assert lines[3].split() == ["b", "0.250", "[0.10,", "0.40]"] and lines[4].split() == ["c", "n/a"]


BOARD_SUITE = """
envs = ["sparring/ToolQA-v0"]
[evaluation]
splits = ["train", "test"]
episodes = 6
resamples = 500
[attacks]
splits = ["test"]
samples = 2
run = ["sentence/train", "word/train", "char/held_out"]
[agents.random]
"""


def test_compute_board_on_fixed_episodes():
    suite = parse_suite(BOARD_SUITE, "board.toml")
    (agent,) = suite.agents
    env = "sparring/ToolQA-v0"
    train = [{"task_seed": t, "eval_seed": 0, "won": True, "return": 1.0, "steps": 3, "invalid": 0} for t in range(6)]
    test = [{"task_seed": t, "eval_seed": 0, "won": bool(CLEAN[t, 0]), "return": float(CLEAN[t, 0]), "steps": 5,
             "invalid": 1} for t in range(6)]

    def episodes(won: np.ndarray) -> list[dict]:
        return [{"task_seed": t, "eval_seed": 0, "sample": k, "won": bool(won[t, 0, k]),
                 "hijacked": None, "edit_fraction": 0.2, "valid_actions": 1, "perturbed_actions": 1, "queries": 0,
                 "perturbed_turns": 1, "steps": 5} for t in range(6) for k in range(2)]

    attacked = {(agent.name, env, "test", "sentence/train"): episodes(ATTACKED),
                (agent.name, env, "test", "word/train"): episodes(np.repeat(CLEAN[:, :, None], 2, axis=2)),
                (agent.name, env, "test", "char/held_out"): episodes(np.zeros((6, 1, 2)))}
    board = compute_board(suite, [agent], {(agent.name, env, "train"): train, (agent.name, env, "test"): test}, attacked)

    (gap,) = board["gaps"]
    assert gap["split"] == "test" and gap["gap"] == pytest.approx(1 - 4 / 6)
    low, high = gap["gap_ci95"]
    assert 0 <= low <= gap["gap"] <= high <= 1
    test_row = next(r for r in board["splits"] if r["split"] == "test")
    assert test_row["invalid_rate"] == pytest.approx(1 / 5) and test_row["tasks"] == 6
    rows = {r["attack"]: r for r in board["robustness"]}
    assert rows["sentence/train"]["pdr"] == pytest.approx(0.25) and rows["sentence/train"]["rsr_k"] == 2
    assert rows["word/train"]["pdr"] == 0.0 and rows["word/train"]["pdr_ci95"] == [0.0, 0.0]  # no change, no doubt
    assert rows["char/held_out"]["pdr"] == 1.0 and rows["char/held_out"]["asr"] == 1.0
    assert math.isnan(rows["char/held_out"]["targeted_asr"])
    families = {(r["family"], r["attack_split"]): r for r in board["families"]}
    assert families[("sentence", "train")]["pdr"] == pytest.approx(0.25)
    macro = {r["attack_split"]: r for r in board["macro"]}
    assert macro["train"]["macro_pdr"] == pytest.approx((0.25 + 0.0) / 2)  # mean over the train families
    assert macro["held_out"]["macro_pdr"] == 1.0 and macro["held_out"]["families"] == ["char"]
    (row,) = board["leaderboard"]
    assert row["success_train"] == 1.0 and row["gap_test"] == pytest.approx(gap["gap"])
    assert row["macro_pdr_train_test"] == pytest.approx(0.125) and row["macro_pdr_held_out_test"] == 1.0
    lo, hi = row["macro_pdr_train_test_ci95"]
    assert lo <= 0.125 <= hi


def test_missing_episodes_are_an_error_not_a_silent_hole():
    suite = parse_suite(BOARD_SUITE.replace('run = ["sentence/train", "word/train", "char/held_out"]', "run = []"),
                        "board.toml")
    (agent,) = suite.agents
    env = "sparring/ToolQA-v0"
    episodes = [{"task_seed": t, "eval_seed": 0, "won": True, "return": 1.0, "steps": 3, "invalid": 0} for t in range(5)]
    with pytest.raises(ValueError, match="miss 1 episodes"):
        compute_board(suite, [agent], {(agent.name, env, "train"): episodes, (agent.name, env, "test"): episodes}, {})
