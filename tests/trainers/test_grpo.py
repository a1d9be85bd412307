"""GRPO / RLOO: the group advantages on hand-made groups, learning on PPO's one-step bandit, skipped
zero-variance groups, generate mode, resume after a kill, bad configs, and the command line. Runs use
PPO's micro Llama (2 layers, hidden 64, the tiny model's tokenizer) and bandit env."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from sparring.envs.rewards import CustomReward
from sparring.errors import ConfigError, SparringError
from sparring.trainers.grpo import GRPOConfig, group_advantages, returns_to_go, train_grpo
from tests.trainers import test_ppo
from tests.trainers.test_ppo import BANDIT, HOUSEHOLD, Prize, arm_probabilities

REPO = Path(__file__).parents[2]
#: PPO's fixtures: the bandit env registered for the module, and the micro Llama
bandit_registered = test_ppo.bandit_registered
micro = test_ppo.micro


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One PyTorch thread: the micro model gains nothing from two, and on a shared two-core machine two
    threads spin against the other jobs (several times slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def bandit_config(micro: str, out: Path, **overrides: Any) -> GRPOConfig:
    settings = dict(model=micro, env_ids=[BANDIT], difficulty="", output_dir=str(out), iterations=3,
                    tasks_per_iteration=4, group_size=4, num_envs=8, update_epochs=2, minibatch_size=16,
                    micro_batch_size=16, learning_rate=3e-3, kl_coef=0.0, kl_limit=0.0, window=0,
                    normalization="sum", tensorboard=False, progress=False)
    settings.update(overrides)
    return GRPOConfig(**settings)


def lora_snapshot(model: Any) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters() if "lora_" in k}


# --------------------------------------------------------------------------------------------------
# Group advantages
# --------------------------------------------------------------------------------------------------
def test_grpo_normalises_each_return_by_the_groups_mean_and_sample_std():
    returns = [1.0, 0.0, 0.0, 1.0, 3.0]
    mean = 1.0
    std = math.sqrt(sum((r - mean) ** 2 for r in returns) / 4)  # the sample std, as TRL
    advantages = group_advantages([[r] for r in returns], estimator="grpo")
    assert [a[0] for a in advantages] == pytest.approx([(r - mean) / (std + 1e-4) for r in returns])
    # Dr. GRPO: the mean only
    unscaled = group_advantages([[r] for r in returns], estimator="grpo", scale_rewards=False)
    assert [a[0] for a in unscaled] == pytest.approx([0.0, -1.0, -1.0, 0.0, 2.0])
    # every turn of an episode gets the episode's advantage, from the sum of its rewards
    per_turn = group_advantages([[0.0, 0.0, 1.0], [0.5]], estimator="grpo", scale_rewards=False)
    assert per_turn == [[0.25, 0.25, 0.25], [-0.25]]


def test_rloo_subtracts_the_mean_of_the_other_returns():
    returns = [1.0, 0.0, 0.0, 3.0]
    advantages = group_advantages([[r] for r in returns], estimator="rloo")
    expected = [1.0 - 1.0, 0.0 - 4 / 3, 0.0 - 4 / 3, 3.0 - 1 / 3]
    assert [a[0] for a in advantages] == pytest.approx(expected)
    # the leave-one-out baseline is G/(G-1) times the plain mean baseline's advantage
    plain = group_advantages([[r] for r in returns], estimator="grpo", scale_rewards=False)
    assert [a[0] for a in advantages] == pytest.approx([4 / 3 * p[0] for p in plain])
    assert sum(a[0] for a in advantages) == pytest.approx(0.0)


@pytest.mark.parametrize("estimator", ["grpo", "rloo"])
@pytest.mark.parametrize("turn_credit", ["episode", "return_to_go"])
def test_a_group_whose_returns_are_all_equal_gets_no_advantage(estimator, turn_credit):
    # equal returns from different turns: return-to-go would differ per turn, but the group says nothing
    rewards = [[1.0], [0.5, 0.5], [0.25, 0.25, 0.5]]
    advantages = group_advantages(rewards, estimator=estimator, turn_credit=turn_credit, gamma=1.0)
    assert advantages == [[0.0], [0.0, 0.0], [0.0, 0.0, 0.0]]
    assert group_advantages([[0.0], [0.0]], estimator=estimator) == [[0.0], [0.0]]


def test_return_to_go_credits_each_turn_with_what_came_after_it():
    assert returns_to_go([1.0, 0.0, 2.0], 0.5) == pytest.approx([1.5, 1.0, 2.0])
    rewards = [[0.0, 1.0, 0.0, 1.0], [0.0, 0.0]]  # episode returns (gamma 0.5): 0.625 and 0
    gamma = 0.5
    togo = [returns_to_go(r, gamma) for r in rewards]
    assert togo[0] == pytest.approx([0.625, 1.25, 0.5, 1.0])
    mean = 0.625 / 2
    advantages = group_advantages(rewards, estimator="grpo", scale_rewards=False, turn_credit="return_to_go",
                                  gamma=gamma)
    assert advantages[0] == pytest.approx([g - mean for g in togo[0]])
    assert advantages[1] == pytest.approx([-mean, -mean])
    rloo = group_advantages(rewards, estimator="rloo", turn_credit="return_to_go", gamma=gamma)
    assert rloo[0] == pytest.approx(togo[0]) and rloo[1] == pytest.approx([-0.625, -0.625])
    std = math.sqrt(2 * (0.625 - mean) ** 2)
    scaled = group_advantages(rewards, estimator="grpo", turn_credit="return_to_go", gamma=gamma)
    assert scaled[0] == pytest.approx([(g - mean) / (std + 1e-4) for g in togo[0]])
    # gamma 1 and a reward only at the end: the same as crediting whole episodes
    sparse = [[0.0, 0.0, 1.0], [0.0, 0.0], [0.0, 1.0]]
    assert group_advantages(sparse, turn_credit="return_to_go", gamma=1.0) == group_advantages(sparse)


def test_group_advantages_refuse_groups_that_cannot_have_a_baseline():
    with pytest.raises(ConfigError, match="at least 2 episodes"):
        group_advantages([[1.0]])
    with pytest.raises(ConfigError, match="estimator must be one of"):
        group_advantages([[1.0], [0.0]], estimator="ppo")
    nan = group_advantages([[math.nan], [0.0]])  # a broken reward source reaches the trainer's guard as nan
    assert math.isnan(nan[0][0])


# --------------------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("overrides, match", [
    ({"group_size": 1}, "group_size must be an integer >= 2 .* e.g. group_size=4"),
    ({"estimator": "ppo"}, "estimator must be one of"),
    ({"turn_credit": "turn"}, "turn_credit must be one of"),
    ({"gamma": 1.5}, "gamma must be a number >= 0.0 and <= 1.0"),
    ({"tasks_per_iteration": 0}, "tasks_per_iteration must be an integer >= 1"),
    ({"mode": "sample"}, "mode must be one of"),
    ({"env_ids": ["sparring/Househld-v0"]}, "did you mean"),
    ({"learning_rate": 0.0}, "learning_rate must be a number > 0"),
    ({"kl_coef": -0.1}, "kl_coef must be a number >= 0"),
    ({"micro_batch_size": 64, "minibatch_size": 32}, "micro_batch_size <= minibatch_size"),
    ({"reward": ["progress=lots"]}, "NAME=WEIGHT"),
    ({"scale_rewards": "no"}, "scale_rewards must be True or False"),
])
def test_config_rejects_bad_values_with_a_fix(overrides, match):
    with pytest.raises(SparringError, match=match):  # ConfigError, or UnknownNameError for an env id
        GRPOConfig(**overrides)


def test_a_ppo_checkpoint_is_not_resumed_as_grpo(tmp_path):
    folder = tmp_path / "run" / "checkpoints" / "iter-000001"
    folder.mkdir(parents=True)
    (folder / "trainer_state.json").write_text(json.dumps({"format": 1, "iteration": 1, "config": {}}))
    with pytest.raises(ConfigError, match="is a ppo checkpoint, expected a grpo one"):
        train_grpo(GRPOConfig(output_dir=str(tmp_path / "run"), resume=True, progress=False, tensorboard=False))
    with pytest.raises(ConfigError, match="already holds checkpoints"):
        train_grpo(GRPOConfig(output_dir=str(tmp_path / "run"), progress=False, tensorboard=False))


# --------------------------------------------------------------------------------------------------
# Learning
# --------------------------------------------------------------------------------------------------
def test_grpo_on_a_bandit_learns_to_open_the_rewarded_box(micro, tmp_path):
    from sparring.agents.zoo import load_agent_model

    start = load_agent_model(micro)
    before = arm_probabilities(start.model, start.tokenizer)
    report = train_grpo(bandit_config(micro, tmp_path / "run"))
    trained = load_agent_model(report.final)
    after = arm_probabilities(trained.model, trained.tokenizer)
    assert after[1] > 0.7 and after[1] > before[1] + 0.4, (before.tolist(), after.tolist())
    assert report.history[-1]["success"] > report.history[0]["success"] + 0.2
    assert trained.value_head is None and trained.has_adapter  # critic-free
    first = report.history[0]
    assert first["group_reward_std"] > 0 and 0 <= first["zero_std_groups"] < 1
    assert first["episodes"] == 16 and first["optimizer_steps"] == 2


def test_zero_variance_groups_are_logged_and_can_be_skipped(micro, tmp_path):
    nothing = [(CustomReward(lambda transition: 0.0, name="nothing"), 1.0)]
    seen: list[dict[str, torch.Tensor]] = []
    skipped = train_grpo(bandit_config(micro, tmp_path / "skip", iterations=1, tasks_per_iteration=2, group_size=2,
                                       reward=nothing, skip_zero_std_groups=True, kl_coef=0.1),
                         on_iteration=lambda record, policy: seen.append(lora_snapshot(policy.model)))
    record = skipped.history[0]
    assert record["zero_std_groups"] == 1.0 and record["group_reward_std"] == 0.0
    assert record["trained_turns"] == 0 and record["optimizer_steps"] == 0 and math.isnan(record["kl_ref"])
    lora_b = [k for k in seen[0] if "lora_B" in k]
    assert lora_b and all(torch.count_nonzero(seen[0][k]) == 0 for k in lora_b)  # LoRA B starts at 0: no step
    kept = train_grpo(bandit_config(micro, tmp_path / "keep", iterations=1, tasks_per_iteration=2, group_size=2,
                                    reward=nothing, kl_coef=0.1))
    assert kept.history[0]["zero_std_groups"] == 1.0 and kept.history[0]["trained_turns"] == 4
    assert kept.history[0]["optimizer_steps"] == 2 and kept.history[0]["kl_ref"] >= 0  # the KL term alone


def test_generate_mode_trains_on_token_log_probs(micro, tmp_path):
    # a random micro model writes no valid command, so the prize alone would give every try the same
    # return: a brevity term makes the tries of a task differ
    brevity = [("env", 1.0), (CustomReward(lambda transition: -0.01 * len(transition.action), name="brevity"), 1.0)]
    seen: list[dict[str, torch.Tensor]] = []
    report = train_grpo(bandit_config(micro, tmp_path / "run", mode="generate", iterations=1, tasks_per_iteration=2,
                                      group_size=2, max_new_tokens=6, invalid_penalty=0.5, kl_coef=0.05,
                                      kl_limit=1.0, update_epochs=1, reward=brevity),
                        on_iteration=lambda record, policy: seen.append(lora_snapshot(policy.model)))
    record = report.history[0]
    assert record["invalid_rate"] > 0.5
    assert record["trained_return"] == pytest.approx(record["return"] - 0.5 * record["invalid_rate"])
    assert record["approx_kl"] < 1e-6 and record["clip_frac"] == 0  # one step: the ratio starts (and stays) at 1
    assert record["kl_ref"] >= 0 and math.isfinite(record["entropy"])
    assert record["zero_std_groups"] < 1 and record["optimizer_steps"] == 1  # sampled replies differ per try
    assert any(torch.count_nonzero(v) for k, v in seen[0].items() if "lora_B" in k)


# --------------------------------------------------------------------------------------------------
# Resume
# --------------------------------------------------------------------------------------------------
def test_rloo_killed_mid_iteration_resumes_to_the_same_weights_as_an_uninterrupted_run(micro, tmp_path):
    from sparring.agents.zoo import load_agent_model

    def config(out: Path, prize: Prize, resume: bool = False) -> GRPOConfig:
        return bandit_config(micro, out, estimator="rloo", tasks_per_iteration=2, group_size=4, minibatch_size=8,
                             micro_batch_size=8, kl_coef=0.05, kl_limit=1.0,
                             reward=[(CustomReward(prize, name="prize"), 1.0)], resume=resume)

    start = load_agent_model(micro)
    before = arm_probabilities(start.model, start.tokenizer)
    whole = train_grpo(config(tmp_path / "whole", Prize()))
    out = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):  # 8 one-step episodes per iteration: call 19 is in iteration 3's rollout
        train_grpo(config(out, Prize(kill_at=19)))
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["iter-000001", "iter-000002"]
    resumed = train_grpo(config(out, Prize(), resume=True))
    assert resumed.resumed_from_iteration == 2 and resumed.iterations == 3
    a, b = load_agent_model(whole.final), load_agent_model(resumed.final)
    snap_a, snap_b = lora_snapshot(a.model), lora_snapshot(b.model)
    assert snap_a and snap_a.keys() == snap_b.keys()
    for key, tensor in snap_a.items():
        assert torch.allclose(tensor, snap_b[key], atol=1e-6), key
    for x, y in zip(whole.history, resumed.history, strict=True):
        assert (x["success"], x["zero_std_groups"]) == (y["success"], y["zero_std_groups"])
        assert x["policy_loss"] == pytest.approx(y["policy_loss"], abs=1e-6)
    log = [json.loads(line)["iteration"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert log == [1, 2, 3]
    # RLOO learned too
    after = arm_probabilities(a.model, a.tokenizer)
    assert after[1] > before[1] + 0.3, (before.tolist(), after.tolist())
    with pytest.raises(ConfigError, match="group_size was 4, now 2"):
        train_grpo(dataclasses.replace(config(out, Prize(), resume=True), group_size=2))


# --------------------------------------------------------------------------------------------------
# Command line, several processes
# --------------------------------------------------------------------------------------------------
def test_sparring_train_grpo_runs_end_to_end_and_sparring_eval_loads_the_result(tiny, tmp_path, capsys):
    out = tmp_path / "grpo"
    command = [sys.executable, "-m", "sparring.cli", "train", "grpo", "--model", "tiny", "--env-ids", HOUSEHOLD,
               "--env-args", "max_steps=2", "--reward", "env", "progress=0.5", "--iterations", "1",
               "--tasks-per-iteration", "1", "--group-size", "2", "--estimator", "rloo", "--turn-credit",
               "return_to_go", "--gamma", "0.9", "--num-envs", "2", "--minibatch-size", "4", "--micro-batch-size", "4",
               "--window", "0", "--eval-every", "1", "--eval-episodes", "1", "--output-dir", str(out), "--no-progress",
               "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    printed = json.loads(done.stdout)
    assert printed["iterations"] == 1 and printed["final"] == str(out / "final") and printed["env_steps"] == 4
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in log] == [0, 1]  # the evaluation before training, then the iteration
    record = log[-1]
    for key in ("success", "return", "group_reward_std", "zero_std_groups", "policy_loss", "kl_ref", "entropy",
                "clip_frac", "env_steps_per_second", "iteration_seconds", "Household-v0/success", "eval/success"):
        assert key in record, key
    assert list((out / "tensorboard").iterdir()) and (out / "checkpoints" / "iter-000001").is_dir()
    assert json.loads((out / "summary.json").read_text())["config"]["estimator"] == "rloo"
    from sparring.cli import main

    code = main(["eval", "--agent", "react", "--model", str(out / "final"), "--env", HOUSEHOLD, "--episodes", "1",
                 "--difficulty", "easy", "--env-arg", "max_steps=2", "--window", "0", "--no-progress"])
    assert code == 0 and "Household" in capsys.readouterr().out
    assert main(command[3:]) == 2 and "already holds checkpoints" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("torchrun", path=str(Path(sys.executable).parent)) is None,
                    reason="torchrun is not installed beside this Python")
def test_two_processes_under_torchrun_train_the_same_policy_as_one(micro, tmp_path):
    """Each process plays whole groups (the streams are keyed by task and try, not by process) and the
    gradients are summed: with one minibatch per iteration, two processes reach one process's weights."""
    argv = ["train", "grpo", "--model", micro, "--env-ids", HOUSEHOLD, "--env-args", "max_steps=3", "--iterations",
            "2", "--tasks-per-iteration", "2", "--group-size", "2", "--num-envs", "2", "--minibatch-size", "64",
            "--micro-batch-size", "4", "--window", "1", "--no-progress", "--no-tensorboard", "--device", "cpu",
            "--json"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    runs = {}
    for name, launcher in (("one", [sys.executable, "-m", "sparring.cli"]),
                           ("two", [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "sparring.cli"])):
        done = subprocess.run([*launcher, *argv, "--output-dir", str(tmp_path / name)], capture_output=True,
                              text=True, env=env, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        assert len([line for line in done.stdout.splitlines() if line.startswith("{")]) == 1  # one summary
        runs[name] = [json.loads(line) for line in (tmp_path / name / "log.jsonl").read_text().splitlines()]
    for one, two in zip(runs["one"], runs["two"], strict=True):
        assert (one["episodes"], one["env_steps"], one["success"]) == (two["episodes"], two["env_steps"],
                                                                       two["success"])
        assert one["policy_loss"] == pytest.approx(two["policy_loss"], abs=1e-5)
    from sparring.agents.zoo import load_agent_model

    a, b = (lora_snapshot(load_agent_model(tmp_path / name / "final").model) for name in ("one", "two"))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)
