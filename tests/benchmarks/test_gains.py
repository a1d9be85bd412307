"""The gains study's reading of its leaderboards (targets, tables, throughput) and the ``dtype``
option it runs its model agents with."""

from __future__ import annotations

import pytest
import torch

from sparring.agents import make_agent
from sparring.agents.zoo import fast_bf16, resolve_dtype
from sparring.benchmarks.agent_specs import build_agent, spec_from_table, with_fingerprint
from sparring.benchmarks.results import gains
from sparring.errors import ConfigError


def _row(success, low, high, **envs):
    return {"success": success, "ci95": [low, high], "envs": envs}


def test_targets_need_an_interval_wholly_above_random_and_sft():
    success = {"random": _row(0.2, 0.1, 0.3), "sft": _row(0.5, 0.35, 0.62), "memory": _row(0.4, 0.32, 0.5),
               "sft-grpo": _row(0.8, 0.7, 0.9), "zero-shot": _row(0.25, 0.15, 0.35)}
    robust = {"sft": {"macro_pdr": 0.4, "ci95": [0.3, 0.5], "families": {}},
              "sft-adversarial": {"macro_pdr": 0.1, "ci95": [0.05, 0.2], "families": {}}}
    t = gains.targets(success, robust)
    assert t["above_random"] == ["memory", "sft-grpo", "sft"]  # zero-shot's interval overlaps random's
    assert t["above_random_and_sft"] == ["sft-grpo"]  # memory's overlaps SFT's
    assert t["gain_target_met"] and t["adversarial_cuts_macro_pdr"] and t["adversarial_cut_intervals_disjoint"]
    robust["sft-adversarial"]["ci95"] = [0.05, 0.35]
    success["sft-grpo"] = _row(0.6, 0.5, 0.7)
    t = gains.targets(success, robust)
    assert t["adversarial_cuts_macro_pdr"] and not t["adversarial_cut_intervals_disjoint"]
    assert not t["gain_target_met"]


def test_undefined_figures_meet_no_target():
    success = {"random": _row(0.0, None, None), "sft": _row(None, None, None)}
    t = gains.targets(success, {"sft": {"macro_pdr": None, "ci95": [None, None], "families": {}}})
    assert t == {**t, "above_random": [], "gain_target_met": False, "adversarial_cuts_macro_pdr": False}


def test_rows_tables_and_throughput_from_a_board():
    board = {
        "splits": [{"agent": "random", "split": "test_unseen", "success": 0.25, "success_ci95": [0.1, 0.4]},
                   {"agent": "sft", "split": "test_unseen", "success": 0.75, "success_ci95": [0.6, 0.9]},
                   {"agent": "sft", "split": "test", "success": 0.9, "success_ci95": [0.8, 1.0]}],
        "envs": [{"agent": "sft", "split": "test_unseen", "env_id": "sparring/Household-v0", "success": 0.5}],
        "macro": [{"agent": "sft", "split": "test_unseen", "attack_split": "held_out", "macro_pdr": 0.2,
                   "macro_pdr_ci95": [0.1, 0.3]}],
        "families": [{"agent": "sft", "split": "test_unseen", "attack_split": "held_out", "family": "char",
                      "pdr": 0.3, "sr_attacked": 0.5}],
        "cells": [{"agent": "sft", "attack": None, "cached": False, "seconds": 10.0,
                   "agent_stats": {"actions": 50, "forward_tokens": 4000, "prompt_tokens": 9000}},
                  {"agent": "sft", "attack": "char/held_out", "cached": False, "seconds": 99.0,
                   "agent_stats": {"actions": 1}},
                  {"agent": "random", "attack": None, "cached": False, "seconds": 1.0, "agent_stats": None}],
    }
    success = gains.success_rows(board)
    assert success["sft"] == {"success": 0.75, "ci95": [0.6, 0.9], "envs": {"sparring/Household-v0": 0.5}}
    robust = gains.robustness_rows(board)
    assert robust["sft"]["macro_pdr"] == 0.2 and robust["sft"]["families"]["char"]["pdr"] == 0.3
    assert robust["sft"]["clean_success"] == 0.75
    speed = gains.throughput(board)
    assert set(speed) == {"sft"}  # attacked cells and agents without stats are left out
    assert speed["sft"]["steps_per_second"] == pytest.approx(5.0)
    assert speed["sft"]["forward_tokens_per_second"] == pytest.approx(400.0)
    table = gains.markdown({"success": success, "robustness": robust, "throughput": speed,
                            "envs": ["sparring/Household-v0", "sparring/Navigation-v0"]})
    assert "| SFT | 0.75 [0.60, 0.90] | 0.50 | n/a | 5.00 |" in table
    assert "| random | 0.25 [0.10, 0.40] | n/a | n/a | - |" in table
    assert "| SFT | 0.75 | 0.20 [0.10, 0.30] | 0.30 |" in table


def test_dtype_names_resolve_and_bad_ones_say_what_to_give():
    assert resolve_dtype(None) is None
    assert resolve_dtype("float32") is torch.float32 and resolve_dtype("bfloat16") is torch.bfloat16
    assert resolve_dtype("auto", "cpu") is (torch.bfloat16 if fast_bf16("cpu") else torch.float32)
    with pytest.raises(ConfigError, match="dtype must be one of auto, float32"):
        resolve_dtype("int8")
    with pytest.raises(ConfigError, match="dtype must be 'auto'"):
        spec_from_table("a", {"kind": "react", "model": "tiny", "dtype": "int8"})


def test_a_bf16_agent_loads_its_model_in_bf16_and_plays():
    import gymnasium as gym

    agent = make_agent("react", model="tiny", mode="score", dtype="bfloat16")
    assert agent.model.dtype == torch.bfloat16
    env = gym.make("sparring/Navigation-v0", difficulty="easy")
    obs, info = env.reset(seed=0)
    action = agent.act([obs], [info])[0]
    assert action in info["admissible_actions"]
    spec = with_fingerprint(spec_from_table("b", {"kind": "react", "model": "tiny", "dtype": "bfloat16"}))
    assert build_agent(spec, 0).model.dtype == torch.bfloat16
    assert build_agent(with_fingerprint(spec_from_table("f", {"kind": "react", "model": "tiny"})), 0).model.dtype \
        == torch.float32  # one process keeps both: the dtype is part of the loaded model's key


def test_one_half_of_the_study_gives_its_own_table_alone():
    robust = {"sft": {"macro_pdr": 0.2, "ci95": [0.1, 0.3], "clean_success": 0.5,
                      "families": {"char": {"pdr": 0.3, "sr_attacked": 0.4}}}}
    t = gains.targets({}, robust)  # no success table: no gain is claimed, the robustness figures still read
    assert t["above_random"] == [] and not t["gain_target_met"] and t["clean_macro_pdr"] == 0.2
    table = gains.markdown({"success": {}, "robustness": robust, "throughput": {},
                            "envs": ["sparring/Household-v0"]})
    assert table.splitlines()[0].startswith("| policy | clean success | held-out macro PDR")
    assert "test_unseen success" not in table
    with pytest.raises(SystemExit):
        gains.main(["--tables", "speed"])
