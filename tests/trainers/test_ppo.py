"""PPO: advantages, the packed log-prob forward, learning on a one-step bandit, guards, resume, the
CLI and the SFT -> PPO recipe. Most runs use a micro Llama (2 layers, hidden 64, the tiny zoo model's
tokenizer) built in the session, so a PPO iteration costs a fraction of a second on two cores."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest
import torch

from sparring.envs import UnicodeText, registration
from sparring.envs.registration import EnvEntry
from sparring.envs.rewards import CustomReward, Transition, make_reward
from sparring.errors import ConfigError, SparringError, TrainingDivergedError
from sparring.trainers.ppo import Decision, PPOConfig, action_logprobs, gae, reward_spec, train_ppo

BANDIT = "sparring-test/Bandit-v0"
ARMS = ("open the red box", "open the blue box", "open the green box", "open the grey box")
HOUSEHOLD = "sparring/Household-v0"


class BanditEnv(gym.Env):
    """A one-step task with the sparring env contract: four boxes, one holds the prize.

    String observation and actions, ``info`` with the admissible actions, instruction, outcome and
    task identity; the reward goes through the env's reward sources (``reward=``) like any sparring
    env's. Any other string is an invalid action (no prize, episode over).
    """

    family = "bandit"
    syntax = ("open the <colour> box",)

    def __init__(self, split: str = "train", difficulty: str = "easy", reward: Any = "env", prize: int = 1) -> None:
        self.split, self.prize, self.reward_fn = split, prize, make_reward(reward)
        self.observation_space = UnicodeText(200)
        self.action_space = UnicodeText(200)
        self._seed = 0

    def _info(self, step: int, won: bool, invalid: bool = False) -> dict[str, Any]:
        return {"admissible_actions": [] if step else list(ARMS), "instruction": "find the prize", "won": won,
                "lost": step > 0 and not won, "score": float(won), "max_score": 1.0, "family": self.family,
                "split": self.split, "seed": self._seed, "task": json.dumps({"seed": self._seed}), "step": step,
                "invalid_action": invalid, "num_invalid": int(invalid), "reward_terms": {}}

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[str, dict]:
        super().reset(seed=seed)
        self._seed = 0 if seed is None else int(seed)
        return "Four boxes stand in a row: red, blue, green and grey.", self._info(0, False)

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        won, invalid = action == ARMS[self.prize], action not in ARMS
        info = self._info(1, won, invalid)
        transition = Transition(instruction="find the prize", observation="", action=action,
                                next_observation="", outcome=float(won), progress=float(won), terminated=True,
                                truncated=False, info=info)
        reward, info["reward_terms"] = self.reward_fn.evaluate(transition)
        return ("You found the prize!" if won else "The box is empty."), reward, True, False, info


@pytest.fixture(scope="module", autouse=True)
def bandit_registered():
    saved = dict(registration._REGISTRY)
    registration.register(EnvEntry(id=BANDIT, entry_point=f"{__name__}:BanditEnv", family="bandit",
                                   description="test bandit", splits=("train", "valid")))
    yield
    registration._REGISTRY.clear()
    registration._REGISTRY.update(saved)
    gym.registry.pop(BANDIT, None)


@pytest.fixture(scope="module")
def micro(tmp_path_factory, sparring_cache) -> str:
    """A micro Llama with the tiny model's tokenizer, saved as a model directory."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from sparring.agents.zoo import model_path

    tokenizer = AutoTokenizer.from_pretrained(model_path("tiny"))
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2048,
                         tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    path = tmp_path_factory.mktemp("micro") / "model"
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def bandit_config(micro: str, out: Path, **overrides: Any) -> PPOConfig:
    settings = dict(model=micro, env_ids=[BANDIT], difficulty="", output_dir=str(out), iterations=3,
                    episodes_per_iteration=16, num_envs=8, update_epochs=2, minibatch_size=16, micro_batch_size=16,
                    learning_rate=3e-3, value_learning_rate=3e-3, kl_coef=0.0, ent_coef=0.0, window=0, normalization="sum",
                    tensorboard=False, progress=False)
    settings.update(overrides)
    return PPOConfig(**settings)


def arm_probabilities(model: Any, tokenizer: Any, normalization: str = "sum") -> torch.Tensor:
    """The policy's probability of each arm (score mode, temperature 1)."""
    from sparring.agents.react import ReActAgent

    env = BanditEnv()
    obs, info = env.reset(seed=10_000)
    agent = ReActAgent(model, tokenizer, mode="score", window=0, normalization=normalization)
    (scored,) = agent.score([agent.prompt(0, obs, info)], [list(ARMS)])
    return torch.softmax(torch.tensor(scored.scores), dim=0)


# --------------------------------------------------------------------------------------------------
# Pure parts
# --------------------------------------------------------------------------------------------------
def test_gae_matches_a_hand_computed_batch():
    # two episodes back to back: three turns, then two; gamma 0.9, lambda 0.8
    rewards = [0.0, 0.0, 1.0, 0.5, -1.0]
    values = [0.2, 0.4, 0.6, 0.1, 0.3]
    dones = [False, False, True, False, True]
    advantages, returns = gae(rewards, values, dones, gamma=0.9, lam=0.8)
    d2 = 1.0 - 0.6                      # last turn of episode 1: nothing after it
    d1 = 0.0 + 0.9 * 0.6 - 0.4
    d0 = 0.0 + 0.9 * 0.4 - 0.2
    a2, a1 = d2, d1 + 0.72 * d2
    a0 = d0 + 0.72 * a1
    e1 = -1.0 - 0.3
    e0 = 0.5 + 0.9 * 0.3 - 0.1
    expected = [a0, a1, a2, e0 + 0.72 * e1, e1]
    assert advantages == pytest.approx(expected, abs=1e-12)
    assert returns == pytest.approx([a + v for a, v in zip(expected, values, strict=True)], abs=1e-12)
    # lambda = 1, gamma = 1 gives the Monte-Carlo return minus the value
    adv, ret = gae([1.0, 2.0, 3.0], [0.5, 0.5, 0.5], [False, False, True], gamma=1.0, lam=1.0)
    assert ret == pytest.approx([6.0, 5.0, 3.0]) and adv == pytest.approx([5.5, 4.5, 2.5])
    # an unfinished last turn is bootstrapped from last_value
    adv, _ = gae([0.0], [0.0], [False], gamma=0.5, lam=1.0, last_value=2.0)
    assert adv == pytest.approx([1.0])
    with pytest.raises(ConfigError, match="as many"):
        gae([0.0], [0.0, 1.0], [True], gamma=0.9, lam=0.9)


@pytest.mark.parametrize("overrides, match", [
    ({"mode": "sample"}, "mode must be one of"),
    ({"env_ids": ["sparring/Househld-v0"]}, "did you mean"),
    ({"env_ids": []}, "at least one env id"),
    ({"learning_rate": 0.0}, "learning_rate must be a number > 0"),
    ({"gamma": 1.5}, "gamma must be a number >= 0.0 and <= 1.0"),
    ({"temperature": 0.0}, "temperature must be a number > 0"),
    ({"micro_batch_size": 64, "minibatch_size": 32}, "micro_batch_size <= minibatch_size"),
    ({"iterations": 0}, "iterations must be an integer >= 1"),
    ({"reward": ["progress=lots"]}, "NAME=WEIGHT"),
    ({"env_args": ["max_steps"]}, "KEY=VALUE"),
    ({"lr_schedule": "step"}, "lr_schedule must be one of"),
])
def test_config_rejects_bad_values_with_a_fix(overrides, match):
    with pytest.raises(SparringError, match=match):  # ConfigError, or UnknownNameError for an env id
        PPOConfig(**overrides)


def test_reward_spec_passes_names_weights_and_sources_through(tmp_path):
    assert reward_spec(("env", "progress=0.25")) == [("env", 1.0), ("progress", 0.25)]
    custom = CustomReward(lambda t: 1.0, name="mine")
    assert reward_spec([("env", 1.0), (custom, 0.5)]) == [("env", 1.0), (custom, 0.5)]
    assert reward_spec({"env": 1.0, "progress": 0.1}) == {"env": 1.0, "progress": 0.1}
    with pytest.raises(ConfigError, match="trained reward model's directory"):
        reward_spec([str(tmp_path / "missing")])


def test_packed_forward_matches_the_agents_cached_scores_and_a_plain_forward(micro):
    from sparring.agents.react import ReActAgent
    from sparring.agents.zoo import load_agent_model

    policy = load_agent_model(micro)
    policy.add_value_head()
    torch.nn.init.normal_(policy.value_head.net[2].weight)
    agent = ReActAgent(policy.model, policy.tokenizer, mode="score", normalization="token", value_head=policy.value_head)
    env = gym.make(HOUSEHOLD, difficulty="easy").unwrapped
    prompts, candidates = [], []
    for seed in (0, 1, 2):
        obs, info = env.reset(seed=seed)
        prompts.append(agent.prompt(seed, obs, info))
        candidates.append(info["admissible_actions"])
    scored = agent.score(prompts, candidates)
    decisions = []
    for prompt, cands, s in zip(prompts, candidates, scored, strict=True):
        suffixes = [agent._suffix_ids(c) for c in cands]
        decisions.append(Decision(agent._encode(prompt), suffixes, s.chosen, [float(len(x)) for x in suffixes]))
    with torch.no_grad():
        out = action_logprobs(policy.model, policy.value_head, decisions, mode="score", temperature=0.7,
                              pad_id=policy.tokenizer.pad_token_id)
    for b, s in enumerate(scored):
        expected = torch.log_softmax(torch.tensor(s.scores) / 0.7, dim=0)
        assert out["policy"][b, : len(s.candidates)] == pytest.approx(expected.tolist(), abs=1e-4)
        assert float(out["values"][b]) == pytest.approx(s.value, abs=1e-4)
        assert math.isinf(float(out["policy"][b, -1])) or len(s.candidates) == out["policy"].shape[1]
    assert out["units"].tolist() == pytest.approx([out["policy"][b, d.chosen].item() for b, d in enumerate(decisions)])
    # generate mode: the reply's token log-probs equal those of a plain forward over prompt + reply
    reply = policy.tokenizer("Thought: go.\nAction: look<|im_end|>", add_special_tokens=False)["input_ids"]
    decision = Decision(decisions[0].prompt_ids, [reply], 0, [1.0])
    with torch.no_grad():
        out = action_logprobs(policy.model, policy.value_head, [decision, decisions[1]], mode="generate",
                              temperature=1.3, pad_id=policy.tokenizer.pad_token_id)
        ids = torch.tensor([decision.prompt_ids + reply])
        logp = torch.log_softmax(policy.model(input_ids=ids).logits[0].float() / 1.3, dim=-1)
    n = len(decision.prompt_ids)
    plain = [logp[n - 1 + j, t].item() for j, t in enumerate(reply)]
    assert out["units"][: len(reply)].tolist() == pytest.approx(plain, abs=1e-4)
    assert out["unit_turn"].tolist() == [0] * len(reply) + [1] * sum(len(c) for c in decisions[1].action_ids)


# --------------------------------------------------------------------------------------------------
# Learning
# --------------------------------------------------------------------------------------------------
def test_ppo_on_a_bandit_learns_to_open_the_rewarded_box(micro, tmp_path):
    from sparring.agents.zoo import load_agent_model

    start = load_agent_model(micro)
    before = arm_probabilities(start.model, start.tokenizer)
    report = train_ppo(bandit_config(micro, tmp_path / "run", iterations=4))
    trained = load_agent_model(report.final)
    after = arm_probabilities(trained.model, trained.tokenizer)
    assert after[1] > 0.8 and after[1] > before[1] + 0.4, (before.tolist(), after.tolist())
    assert report.history[-1]["success"] > report.history[0]["success"]
    assert trained.value_head is not None and trained.has_adapter


def test_env_wrappers_play_the_attack_fraction_of_each_iteration_under_them(micro, tmp_path):
    from sparring.adversary import PerturbationWrapper, RandomPolicy

    class Counting(RandomPolicy):
        tasks: set[str] = set()

        def choose(self, view, rng):
            Counting.tasks.add(view.task_hash)
            return super().choose(view, rng)

    asked: list[int] = []

    def wrappers(iteration: int) -> list[Any]:
        asked.append(iteration)
        return [PerturbationWrapper.factory("typo", budget=2, policy=Counting())]

    report = train_ppo(bandit_config(micro, tmp_path / "run", iterations=2, attack_fraction=0.25),
                       env_wrappers=wrappers)
    assert asked == [0, 1]
    assert [r["attacked_episodes"] for r in report.history] == [4, 4]  # a quarter of 16 episodes
    assert len(Counting.tasks) == 8  # the attacked episodes' tasks, and no others, met the adversary
    assert all(0 <= r["attacked_success"] <= 1 for r in report.history)
    clean = train_ppo(bandit_config(micro, tmp_path / "clean", iterations=1))
    assert clean.history[0]["attacked_episodes"] == 0 and "attacked_success" not in clean.history[0]
    with pytest.raises(ConfigError, match="attack_fraction must be a number >= 0.0 and <= 1.0"):
        bandit_config(micro, tmp_path / "bad", attack_fraction=1.5)


def _snapshot(model: Any, value_head: Any) -> dict[str, torch.Tensor]:
    tensors = {f"model.{k}": v.detach().clone() for k, v in model.named_parameters() if "lora_" in k}
    tensors.update({f"head.{k}": v.detach().clone() for k, v in value_head.named_parameters()})
    return tensors


def test_a_short_run_on_household_changes_adapter_and_value_head_and_logs_every_metric(micro, tmp_path):
    from sparring.agents import make_agent, run_episodes
    from sparring.agents.zoo import load_agent_model

    seen: list[dict[str, torch.Tensor]] = []
    def brevity(transition: Transition) -> float:  # a custom source in the mix: every step pays something
        return -0.01 * len(transition.action)

    config = PPOConfig(model=micro, env_ids=[HOUSEHOLD], env_args=["max_steps=4"],
                       reward=[("env", 1.0), ("progress", 0.5), (brevity, 1.0)],
                       output_dir=str(tmp_path / "run"), iterations=2, episodes_per_iteration=4, num_envs=4,
                       update_epochs=1, minibatch_size=8, micro_batch_size=8, window=1, learning_rate=1e-3,
                       eval_every=2, eval_episodes=2, progress=False)
    report = train_ppo(config, on_iteration=lambda record, policy: seen.append(_snapshot(policy.model,
                                                                                          policy.value_head)))
    first, second = seen
    lora_b = [k for k in first if "lora_B" in k]
    assert lora_b and all(torch.count_nonzero(first[k]) for k in lora_b), "LoRA B starts at zero and moves"
    assert any(not torch.equal(first[k], second[k]) for k in lora_b)
    assert all(not torch.equal(first[k], second[k]) for k in first if k.startswith("head."))
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in log] == [0, 1, 2]  # the evaluation before training, then each iteration
    for key in ("return", "success", "episode_length", "invalid_rate", "policy_loss", "value_loss", "kl_ref",
                "entropy", "clip_frac", "explained_variance", "env_steps_per_second", "approx_kl", "grad_norm",
                "Household-v0/success", "eval/success"):
        assert key in log[-1], key
    assert log[-1]["env_steps"] == sum(r["episode_length"] * 4 for r in log[1:])
    assert all(r["return"] < 0 for r in log[1:])  # the custom term reached the rewards PPO trained on
    assert math.isfinite(log[-1]["kl_ref"]) and log[-1]["kl_ref"] >= 0
    assert list((tmp_path / "run" / "tensorboard").iterdir())
    assert [p.name for p in sorted((tmp_path / "run" / "checkpoints").iterdir())] == ["iter-000001", "iter-000002"]
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["iterations"] == 2
    # the final policy is a sparring checkpoint that the eval path loads, value head included
    assert load_agent_model(report.final).value_head is not None
    agent = make_agent("react", model=report.final, window=1)
    assert len(run_episodes(agent, HOUSEHOLD, split="valid", episodes=1,
                            env_kwargs={"difficulty": "easy", "max_steps": 2})) == 1


def test_from_a_checkpoint_the_reference_is_that_checkpoint(micro, tmp_path):
    """A full-weights checkpoint (what SFT writes for tiny) becomes the frozen base of a fresh adapter:
    the adapter disabled is exactly the starting policy, and the final checkpoint carries that base."""
    from sparring.agents.zoo import load_agent_model

    start = load_agent_model(micro)
    with torch.no_grad():
        for parameter in start.model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))  # not the micro model any more
    start.save(tmp_path / "sft")
    # with a negligible step the policy stays at its start, so KL(policy || reference) ~ 0 says reference = start
    report = train_ppo(bandit_config(micro, tmp_path / "run", model=str(tmp_path / "sft"), iterations=1,
                                     kl_coef=0.1, learning_rate=1e-9))
    assert 0 <= report.first["kl_ref"] < 1e-6
    trained = load_agent_model(report.final)
    ids = torch.tensor([trained.tokenizer("Four boxes stand in a row", add_special_tokens=False)["input_ids"]])
    with torch.no_grad(), trained.model.disable_adapter():
        reference = trained.model(input_ids=ids).logits
        policy_start = start.model(input_ids=ids).logits
    assert torch.allclose(reference, policy_start, atol=1e-5)


def test_full_fine_tuning_keeps_an_explicit_frozen_reference(micro, tmp_path):
    from sparring.agents.zoo import load_agent_model

    report = train_ppo(bandit_config(micro, tmp_path / "run", lora=False, iterations=2, learning_rate=1e-3,
                                     kl_coef=0.1, save_every=1))
    assert all(r["kl_ref"] > 0 for r in report.history)  # measured against the frozen starting weights
    trained, start = load_agent_model(report.final), load_agent_model(micro)
    assert not trained.has_adapter and (Path(report.final) / "model.safetensors").is_file()
    changed = [k for k, v in start.model.state_dict().items() if not torch.equal(v, trained.model.state_dict()[k])]
    assert len(changed) > 0.9 * len(start.model.state_dict())
    # resuming rebuilds the reference from the starting model (not from the checkpoint): the resumed third
    # iteration measures the same KL as an uninterrupted run's
    resumed = train_ppo(bandit_config(micro, tmp_path / "run", lora=False, iterations=3, learning_rate=1e-3,
                                      kl_coef=0.1, resume=True))
    whole = train_ppo(bandit_config(micro, tmp_path / "whole", lora=False, iterations=3, learning_rate=1e-3,
                                    kl_coef=0.1))
    assert resumed.resumed_from_iteration == 2
    assert resumed.history[-1]["kl_ref"] == pytest.approx(whole.history[-1]["kl_ref"], rel=1e-4)


def test_generate_mode_trains_on_token_log_probs_and_charges_invalid_actions(micro, tmp_path):
    seen: list[dict[str, torch.Tensor]] = []
    report = train_ppo(bandit_config(micro, tmp_path / "run", mode="generate", iterations=2, max_new_tokens=6,
                                     episodes_per_iteration=8, invalid_penalty=0.5, kl_coef=0.05, ent_coef=0.01),
                       on_iteration=lambda record, policy: seen.append(_snapshot(policy.model, policy.value_head)))
    for record in report.history:
        # a random micro model writes no valid command: nearly every reply is an invalid action
        assert record["invalid_rate"] > 0.5
        assert record["return"] == pytest.approx(record["success"])  # the env's own return
        assert record["trained_return"] == pytest.approx(record["success"] - 0.5 * record["invalid_rate"])
        assert record["kl_ref"] >= 0 and math.isfinite(record["entropy"])
    assert report.history[0]["approx_kl"] < 1e-6 or report.history[0]["optimizer_steps"] > 1
    assert any(not torch.equal(seen[0][k], seen[1][k]) for k in seen[0] if "lora_B" in k)


# --------------------------------------------------------------------------------------------------
# Guards, checkpoints, resume
# --------------------------------------------------------------------------------------------------
def test_a_nan_stops_the_update_and_keeps_the_last_good_checkpoint(micro, tmp_path):
    out = tmp_path / "run"

    def poison(record: dict, policy: Any) -> None:
        if record["iteration"] == 1:
            with torch.no_grad():
                policy.value_head.net[2].bias.fill_(math.nan)

    with pytest.raises(TrainingDivergedError, match=r"expected finite advantages.*iteration 2.*iter-000001"):
        train_ppo(bandit_config(micro, out, iterations=3), on_iteration=poison)
    assert [p.name for p in (out / "checkpoints").iterdir() if not p.name.startswith(".")] == ["iter-000001"]
    assert not (out / "final").exists()
    # the kept checkpoint is good: resuming from it finishes the run
    report = train_ppo(bandit_config(micro, out, iterations=2, resume=True))
    assert report.resumed_from_iteration == 1 and report.iterations == 2
    assert all(math.isfinite(r["value_loss"]) for r in report.history)


class Prize:
    """The bandit's prize as a custom reward source that can kill the run on its n-th call."""

    def __init__(self, kill_at: int | None = None) -> None:
        self.calls, self.kill_at = 0, kill_at

    def __call__(self, transition: Transition) -> float:
        self.calls += 1
        if self.calls == self.kill_at:
            raise KeyboardInterrupt("killed mid-iteration")
        return transition.outcome


def test_a_run_killed_mid_iteration_resumes_to_the_same_weights_as_an_uninterrupted_run(micro, tmp_path):
    from sparring.agents.zoo import load_agent_model

    def config(out: Path, prize: Prize, resume: bool = False) -> PPOConfig:
        return bandit_config(micro, out, iterations=3, reward=[(CustomReward(prize, name="prize"), 1.0)],
                             episodes_per_iteration=8, minibatch_size=8, micro_batch_size=8, kl_coef=0.05, kl_target=0.01,
                             resume=resume)

    whole = train_ppo(config(tmp_path / "whole", Prize()))
    out = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):  # 8 one-step episodes per iteration: call 19 is in iteration 3's rollout
        train_ppo(config(out, Prize(kill_at=19)))
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["iter-000001", "iter-000002"]
    resumed = train_ppo(config(out, Prize(), resume=True))
    assert resumed.resumed_from_iteration == 2 and resumed.iterations == 3
    a, b = load_agent_model(whole.final), load_agent_model(resumed.final)
    assert _snapshot(a.model, a.value_head).keys() == _snapshot(b.model, b.value_head).keys()
    for key, tensor in _snapshot(a.model, a.value_head).items():
        assert torch.allclose(tensor, _snapshot(b.model, b.value_head)[key], atol=1e-6), key
    for x, y in zip(whole.history, resumed.history, strict=True):
        assert (x["success"], x["kl_coef"]) == (y["success"], y["kl_coef"])
        assert x["policy_loss"] == pytest.approx(y["policy_loss"], abs=1e-6)
    log = [json.loads(line)["iteration"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert log == [1, 2, 3]
    with pytest.raises(ConfigError, match="already holds checkpoints"):
        train_ppo(config(out, Prize()))
    with pytest.raises(ConfigError, match="seed was 0, now 1"):
        train_ppo(dataclasses_replace(config(out, Prize(), resume=True), seed=1))


def dataclasses_replace(config: PPOConfig, **changes: Any) -> PPOConfig:
    import dataclasses

    return dataclasses.replace(config, **changes)


@pytest.mark.slow
def test_a_hard_kill_mid_iteration_loses_at_most_that_iteration(micro, tmp_path):
    """SIGKILL from inside the rollout of iteration 3 (no finally blocks, no flushing): the run resumes
    from iteration 2's checkpoint and finishes."""
    out = tmp_path / "run"
    script = f"""
import os, signal, sys
sys.path.insert(0, {str(Path(__file__).parents[2])!r})
from tests.trainers.test_ppo import BANDIT, BanditEnv, bandit_config
from sparring.envs import registration
from sparring.envs.registration import EnvEntry
from sparring.envs.rewards import CustomReward
from sparring.trainers.ppo import train_ppo
registration.register(EnvEntry(id=BANDIT, entry_point="tests.trainers.test_ppo:BanditEnv", family="bandit",
                               description="test bandit", splits=("train", "valid")))
calls = [0]
def prize(t):
    calls[0] += 1
    if calls[0] == 40:
        os.kill(os.getpid(), signal.SIGKILL)
    return t.outcome
train_ppo(bandit_config({micro!r}, {str(out)!r}, iterations=4, reward=[(CustomReward(prize, name="prize"), 1.0)]))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    assert done.returncode == -9, done.stderr[-2000:]
    assert sorted(p.name for p in (out / "checkpoints").iterdir() if not p.name.startswith(".")) == \
        ["iter-000001", "iter-000002"]
    report = train_ppo(bandit_config(micro, out, iterations=4, resume=True,
                                     reward=[(CustomReward(Prize(), name="prize"), 1.0)]))
    assert report.resumed_from_iteration == 2 and report.iterations == 4
    assert [json.loads(line)["iteration"] for line in (out / "log.jsonl").read_text().splitlines()] == [1, 2, 3, 4]


# --------------------------------------------------------------------------------------------------
# Command line, recipe, several processes
# --------------------------------------------------------------------------------------------------
def test_sparring_train_ppo_runs_end_to_end_on_tiny(tmp_path, capsys):
    from sparring.cli import main

    out = tmp_path / "ppo"
    code = main(["train", "ppo", "--model", "tiny", "--env-ids", HOUSEHOLD, "--env-args", "max_steps=2",
                 "--reward", "env", "progress=0.5", "--iterations", "1", "--episodes-per-iteration", "2",
                 "--num-envs", "2", "--update-epochs", "1", "--minibatch-size", "4", "--micro-batch-size", "4",
                 "--window", "0", "--output-dir", str(out), "--no-progress", "--no-tensorboard", "--json"])
    printed = json.loads(capsys.readouterr().out)
    assert code == 0 and printed["iterations"] == 1 and printed["final"] == str(out / "final")
    assert printed["env_steps"] == 4 and (out / "final" / "adapter_config.json").is_file()
    code = main(["train", "ppo", "--env-ids", HOUSEHOLD, "--output-dir", str(out), "--iterations", "1"])
    assert code == 2 and "already holds checkpoints" in capsys.readouterr().err


@pytest.mark.slow
def test_the_sft_ppo_recipe_runs_every_stage_and_skips_finished_ones_on_resume(micro, tmp_path, capsys):
    from sparring.cli import main

    out = tmp_path / "recipe"
    argv = ["train", "recipe", "sft-ppo", "--model", micro, "--env-ids", HOUSEHOLD, "--output-dir", str(out),
            "--expert-episodes", "3", "--sft-epochs", "1", "--sft-lora", "--ppo-iterations", "1",
            "--ppo-episodes-per-iteration", "2", "--num-envs", "2", "--eval-episodes", "1",
            "--ppo-args", "update_epochs=1", "window=1", "env_args=[\"max_steps=3\"]", "tensorboard=false",
            "progress=false", "--json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["skipped"] == [] and set(summary["stages"]) == {"oracle", "sft", "ppo", "eval"}
    assert (out / "oracle" / "trajectories.jsonl").is_file() and (out / "sft" / "final").is_dir()
    assert summary["final"] == str(out / "ppo" / "final") and (out / "ppo" / "log.jsonl").is_file()
    assert set(summary["stages"]["eval"]["sft_ppo"]["valid"]) == {HOUSEHOLD, "mean"}
    ppo_state = json.loads((out / "ppo" / "summary.json").read_text())
    assert ppo_state["config"]["model"] == str(out / "sft" / "final")  # PPO started from the SFT policy
    assert main(argv) == 2 and "--resume" in capsys.readouterr().err
    assert main(argv + ["--resume"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["skipped"] == ["oracle", "sft", "ppo", "eval"] and again["stages"] == summary["stages"]


def test_recipe_rejects_unknown_and_owned_stage_options():
    from sparring.trainers.recipes import SFTPPOConfig

    with pytest.raises(ConfigError, match="did you mean 'update_epochs'"):
        SFTPPOConfig(ppo_args=["update_epoch=2"])
    with pytest.raises(ConfigError, match="set by the recipe"):
        SFTPPOConfig(sft_args=["model=tiny"])
    with pytest.raises(ConfigError, match="mode must be one of"):
        SFTPPOConfig(ppo_mode="sample")


@pytest.mark.slow
def test_two_processes_under_torchrun_train_one_policy(micro, tmp_path):
    out = tmp_path / "ddp"
    torchrun = Path(sys.executable).with_name("torchrun")
    command = [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "sparring.cli", "train", "ppo",
               "--model", micro, "--env-ids", HOUSEHOLD, "--env-args", "max_steps=3", "--iterations", "2",
               "--episodes-per-iteration", "4", "--num-envs", "2", "--update-epochs", "1", "--minibatch-size", "8",
               "--micro-batch-size", "4", "--window", "1", "--output-dir", str(out), "--no-progress", "--device", "cpu",
               "--json"]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    summaries = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(summaries) == 1  # the main process prints; the other one does not
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in log] == [1, 2]
    assert log[-1]["episodes"] == 8  # both processes' shares counted once
    assert (out / "final" / "adapter_config.json").is_file()
