"""Robustness metrics, checked against numbers worked out by hand."""

from __future__ import annotations

import math

import pytest

from sparring.adversary.metrics import (
    attack_success_rate,
    mean_with_interval,
    normalized_robust_performance,
    paired_bootstrap,
    performance_drop_rate,
    robust_success_rate_at_k,
    robustness_summary,
    success_rate,
    targeted_attack_success_rate,
    validity_rate,
)
from sparring.errors import ConfigError

# eight tasks: won clean on 1-6, under attack on 1, 2, 3 and 7 (so 4, 5, 6 were broken, 7 was helped)
CLEAN = [True, True, True, True, True, True, False, False]
ATTACKED = [True, True, True, False, False, False, True, False]


def test_rates_by_hand():
    assert success_rate(CLEAN) == 6 / 8
    assert success_rate(ATTACKED) == 4 / 8
    # PDR = 1 - (4/8) / (6/8) = 1/3
    assert performance_drop_rate(6 / 8, 4 / 8) == pytest.approx(1 / 3)
    # ASR: of the 6 clean successes, 3 fail under attack (task 7's gain does not count)
    assert attack_success_rate(CLEAN, ATTACKED) == 0.5
    # NRP = SR_clean * (1 - ASR) = 0.75 * 0.5: the 3 tasks of 8 won both ways
    assert normalized_robust_performance(0.75, 0.5) == 0.375
    assert targeted_attack_success_rate([True, False, False, False]) == 0.25
    assert validity_rate([True] * 9 + [False]) == 0.9
    # RSR@3: tasks solved under all three sampled perturbations: the first and the third
    assert robust_success_rate_at_k([[True, True, True], [True, False, True], [True, True, True],
                                     [False, False, False]]) == 0.5


def test_undefined_cases():
    assert math.isnan(performance_drop_rate(0.0, 0.0))
    assert math.isnan(attack_success_rate([False, False], [False, True]))
    assert normalized_robust_performance(0.0, math.nan) == 0.0
    assert math.isnan(success_rate([]))
    assert performance_drop_rate(0.5, 0.75) == pytest.approx(-0.5)  # an attack that helps
    with pytest.raises(ConfigError, match="same tasks"):
        attack_success_rate([True], [True, False])
    with pytest.raises(ConfigError, match="at least one"):
        robust_success_rate_at_k([[True], []])


def test_paired_bootstrap_keeps_pairs():
    # attacked == clean on every task: every resample has PDR 0 exactly (pairs kept); unpaired
    # resampling would spread it
    same = [True, False, True, True, False, True]
    low, high = paired_bootstrap(lambda c, a: performance_drop_rate(success_rate(c), success_rate(a)), same, same)
    assert (low, high) == (0.0, 0.0)
    low, high = paired_bootstrap(attack_success_rate, CLEAN, ATTACKED, resamples=500, seed=1)
    assert 0.0 <= low < 0.5 < high <= 1.0
    assert paired_bootstrap(attack_success_rate, CLEAN, ATTACKED, resamples=500, seed=1) == (low, high)  # fixed seed


def test_summary_by_hand():
    tasks = [f"t{i}" for i in range(8)]
    clean = dict(zip(tasks, CLEAN, strict=True))
    attacked = {"char": dict(zip(tasks, ATTACKED, strict=True)),
                "word": dict(zip(tasks, CLEAN, strict=True))}  # word breaks nothing
    hijacked = {"char": {"t0": True, "t1": False, "t2": False, "t3": False}}
    out = robustness_summary(clean, attacked, hijacked=hijacked, groups={"char": ["char"], "word": ["word"]},
                             resamples=300)
    assert out["tasks"] == 8 and out["sr_clean"] == 0.75
    char, word = out["attacks"]["char"], out["attacks"]["word"]
    assert char["pdr"] == pytest.approx(1 / 3) and char["asr"] == 0.5 and char["nrp"] == 0.375
    assert char["targeted_asr"] == 0.25 and "targeted_asr" not in word
    assert word["pdr"] == 0.0 and word["asr"] == 0.0 and word["pdr_ci95"] == [0.0, 0.0]
    assert out["macro_pdr"] == pytest.approx((1 / 3 + 0) / 2)
    low, high = out["macro_pdr_ci95"]
    assert low <= out["macro_pdr"] <= high
    assert out["groups"]["char"]["pdr"] == pytest.approx(1 / 3)
    with pytest.raises(ConfigError, match="not paired"):
        robustness_summary(clean, {"x": {"t0": True}})


def test_mean_with_interval():
    out = mean_with_interval([0.1, 0.2, 0.3])
    assert out["mean"] == pytest.approx(0.2) and out["n"] == 3 and out["ci95"][0] <= 0.2 <= out["ci95"][1]
