"""Min-max training: every stage end to end on a micro model, resume after a crash, the CLI, bad
configs. The micro Llama (2 layers, hidden 64, the tiny zoo model's tokenizer) keeps a round to a few
seconds on two cores; the learned adversary's learning itself is tested in tests/adversary/test_learned.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest
import torch

from sparring.adversary import TRAIN_OPERATORS, PerturbationWrapper
from sparring.errors import ConfigError, UnknownNameError
from sparring.trainers import adversarial
from sparring.trainers.adversarial import AdversarialConfig, ShownExpert, train_adversarial
from tests.trainers.test_tracking import png_panels

ENVS = ("sparring/Household-v0", "sparring/Navigation-v0")


@pytest.fixture(scope="module")
def micro(tmp_path_factory, sparring_cache) -> str:
    """A micro Llama with the tiny model's tokenizer, saved as a sparring checkpoint (the SFT start)."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from sparring.agents.policy import AgentModel
    from sparring.agents.zoo import _prepare_tokenizer, model_path

    tokenizer = AutoTokenizer.from_pretrained(model_path("tiny"))
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2048,
                         tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    _prepare_tokenizer(tokenizer, model)
    path = tmp_path_factory.mktemp("micro") / "sft"
    AgentModel(model, tokenizer, base_model="micro").save(path)
    return str(path)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def settings(micro: str, out: Path, **overrides: Any) -> AdversarialConfig:
    values = dict(model=micro, env_ids=ENVS, output_dir=str(out), rounds=1, attack_fraction=0.5, window=1,
                  max_steps=4, adversary_updates=2, adversary_tasks=4, population_every=1, num_envs=4,
                  adversary_learning_rate=0.05, sft_episodes=0, dpo_episodes=0, ppo_iterations=1,
                  ppo_episodes_per_iteration=4, ppo_learning_rate=1e-3,
                  ppo_args=["update_epochs=1", "minibatch_size=16", "micro_batch_size=8"], eval_episodes=2,
                  tensorboard=False, seed=0)
    values.update(overrides)
    return AdversarialConfig(**values)


def weights(path: str) -> dict[str, torch.Tensor]:
    from sparring.agents.zoo import load_agent_model

    model = load_agent_model(path).model
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_every_stage_runs_against_the_population_and_changes_the_policy(micro, tmp_path):
    out = tmp_path / "run"
    summary = train_adversarial(settings(micro, out, sft_episodes=4, dpo_episodes=4,
                                         dpo_args=["epochs=1", "batch_size=2", "learning_rate=1e-3"],
                                         sft_args=["batch_size=8"]))
    assert summary["rounds"] == 1 and summary["adversarial"]
    stages = json.loads((out / "state.json").read_text())["rounds"][0]["stages"]
    assert set(stages) == {"adversary", "sft", "dpo", "ppo", "eval"}
    # the adversary: two updates logged and saved, a population of two snapshots, train operators only
    log = [json.loads(line) for line in (out / "adversary.jsonl").read_text().splitlines()]
    assert [r["update"] for r in log] == [1, 2] and all(r["round"] == 1 for r in log)
    assert all(0 <= r["discriminator_accuracy"] <= 1 for r in log if r["discriminator_accuracy"] is not None)
    assert summary["adversary"]["population"] == [1, 2]
    assert all(set(r["operators"]) <= TRAIN_OPERATORS for r in log)
    # SFT: half the expert episodes under attack, every expert answer one of the actions it was shown
    from sparring.trajectory import read_episodes

    episodes = read_episodes(out / "rounds" / "round-001" / "sft" / "trajectories.jsonl")
    assert len(episodes) == 8 and sum(bool(e.perturbations) for e in episodes) == 4
    assert all(step.action in step.admissible for e in episodes for step in e.steps)
    assert stages["sft"]["attacked_episodes"] == 4
    # DPO: the micro model loses; each lost episode with a divergence gave a pair
    pairs = [json.loads(line) for line in (out / "rounds" / "round-001" / "dpo" / "pairs.jsonl").read_text().splitlines()]
    assert pairs and stages["dpo"]["pairs"] == len(pairs) <= stages["dpo"]["lost"]
    assert any(p["meta"]["attacked"] for p in pairs) and any(not p["meta"]["attacked"] for p in pairs)
    assert all(p["chosen"] != p["rejected"] for p in pairs)
    # PPO played half its episodes under the population
    ppo_log = [json.loads(line) for line in (out / "rounds" / "round-001" / "ppo" / "log.jsonl").read_text().splitlines()]
    assert ppo_log[-1]["attacked_episodes"] == 4 and "attacked_success" in ppo_log[-1]
    # evaluation: clean, population and random attack; the round record carries every phase's figures
    record = json.loads((out / "rounds.jsonl").read_text().splitlines()[0])
    for key in ("clean_success", "population_attack_success", "random_attack_success", "adversary/reward",
                "adversary/discriminator_accuracy", "sft/train_loss", "dpo/pairs", "ppo/iterations"):
        assert key in record, key
    # the learning curves of both logs
    panels = png_panels(out / "curves.png")
    assert {"adversary/reward", "rounds/clean_success", "rounds/ppo/iterations"} <= set(panels)
    # the final policy moved away from the start, and loads as a plain checkpoint
    start, final = weights(micro), weights(summary["final"])
    assert start.keys() == final.keys()
    assert any(not torch.equal(start[k], final[k]) for k in start)
    from sparring.agents import make_agent

    assert make_agent("react", model=summary["final"]).mode == "score"


def test_clean_training_has_no_adversary_and_the_same_budget(micro, tmp_path):
    summary = train_adversarial(settings(micro, tmp_path / "clean", attack_fraction=0.0))
    out = tmp_path / "clean"
    assert not summary["adversarial"] and summary["adversary"] is None
    assert not (out / "adversary").exists() and not (out / "adversary.jsonl").exists()
    ppo_log = [json.loads(line) for line in (out / "rounds" / "round-001" / "ppo" / "log.jsonl").read_text().splitlines()]
    assert ppo_log[-1].get("attacked_episodes", 0) == 0 and ppo_log[-1]["episodes"] == 8
    assert "random_attack_success" in summary["last"] and "population_attack_success" not in summary["last"]


def test_a_crashed_run_resumes_without_redoing_finished_stages(micro, tmp_path, monkeypatch):
    out = tmp_path / "run"
    config = settings(micro, out, rounds=2)
    calls = {"eval": 0}
    real = adversarial.evaluate_round

    def crash_once(*args: Any, **kwargs: Any) -> Any:
        calls["eval"] += 1
        if calls["eval"] == 2:
            raise RuntimeError("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(adversarial, "evaluate_round", crash_once)
    with pytest.raises(RuntimeError, match="killed"):
        train_adversarial(config)  # round 1 finishes, round 2 dies in its evaluation
    state = json.loads((out / "state.json").read_text())
    assert state["rounds"][0]["done"] and set(state["rounds"][1]["stages"]) == {"adversary", "ppo"}
    ppo_dir = out / "rounds" / "round-002" / "ppo"
    stamp = (ppo_dir / "summary.json").stat().st_mtime_ns
    with pytest.raises(ConfigError, match="pass resume=True"):
        train_adversarial(config)
    with pytest.raises(ConfigError, match="attack_fraction was 0.5, now 0.25"):
        train_adversarial(settings(micro, out, rounds=2, attack_fraction=0.25, resume=True))
    summary = train_adversarial(settings(micro, out, rounds=2, resume=True))
    assert summary["rounds"] == 2 and summary["resumed_from_round"] == 1
    assert (ppo_dir / "summary.json").stat().st_mtime_ns == stamp  # PPO of round 2 was not run again
    log = [json.loads(line)["update"] for line in (out / "adversary.jsonl").read_text().splitlines()]
    assert log == [1, 2, 3, 4]  # no update twice
    assert [json.loads(line)["round"] for line in (out / "rounds.jsonl").read_text().splitlines()] == [1, 2]
    # a finished run resumed again evaluates nothing and keeps its result
    again = train_adversarial(settings(micro, out, rounds=2, resume=True))
    assert again["history"] == summary["history"]


def test_sparring_train_adversarial_runs_end_to_end(micro, tmp_path, capsys):
    from sparring.cli import main

    out = tmp_path / "cli"
    code = main(["train", "adversarial", "--model", micro, "--env-ids", *ENVS, "--output-dir", str(out),
                 "--rounds", "1", "--window", "1", "--max-steps", "3", "--adversary-updates", "1",
                 "--adversary-tasks", "2", "--num-envs", "2", "--ppo-iterations", "1",
                 "--ppo-episodes-per-iteration", "2", "--ppo-args", "update_epochs=1", "minibatch_size=8",
                 "micro_batch_size=8", "--eval-episodes", "1", "--no-tensorboard", "--json"])
    printed = json.loads(capsys.readouterr().out)
    assert code == 0 and printed["rounds"] == 1 and printed["final"] == str(out.resolve() / "final")
    assert (out / "final" / "sparring_agent.json").is_file()
    code = main(["train", "adversarial", "--model", micro, "--output-dir", str(out), "--ppo-iterations", "1"])
    assert code == 2 and "pass resume=True" in capsys.readouterr().err


def test_the_expert_answers_with_the_shown_text_and_still_wins():
    expert = ShownExpert()
    for env_id in ENVS:
        env = PerturbationWrapper(gym.make(env_id, split="train", difficulty="easy"), ["typo", "word_insert"],
                                  budget=2, targets=["admissible_actions"], seed=1)
        for seed in range(5):
            obs, info = env.reset(seed=seed)
            done = False
            while not done:
                (action,) = expert.act([obs], [info])
                assert action in info["admissible_actions"]
                obs, _, terminated, truncated, info = env.step(action)
                done = terminated or truncated
            assert info["won"] and info["perturbations"]


@pytest.mark.parametrize(("overrides", "match"), [
    ({"adversary_operators": ["typo", "ocr"]}, "held-out operators"),
    ({"mode": "generate"}, "mode must be 'score'"),
    ({"attack_fraction": 1.5}, r"attack_fraction must be a number in \[0, 1\]"),
    ({"ppo_iterations": 0}, "no agent step"),
    ({"ppo_args": ["kl_coef=0.1"]}, "set by the min-max trainer itself"),
    ({"ppo_args": ["update_epoch=2"]}, "did you mean 'update_epochs'"),
    ({"adversary_args": ["ent_coef"]}, "KEY=VALUE"),
    ({"rounds": 0}, "rounds must be an integer >= 1"),
])
def test_bad_configs_say_how_to_fix_them(micro, tmp_path, overrides, match):
    with pytest.raises(ConfigError, match=match):
        settings(micro, tmp_path, **overrides)


def test_an_unknown_env_id_gets_a_did_you_mean(micro, tmp_path):
    with pytest.raises(UnknownNameError, match="did you mean"):
        settings(micro, tmp_path, env_ids=["sparring/Houshold-v0"])
