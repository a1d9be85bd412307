"""SFT and DPO on trajectories with the tiny model: masks, learning, checkpoints, margins."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from sparring.agents import OracleAgent, RandomAgent, make_agent, run_episodes
from sparring.agents.zoo import load_agent_model
from sparring.errors import ConfigError
from sparring.trainers.collect import collect
from sparring.trainers.dpo import DPOConfig, train_dpo
from sparring.trainers.sft import SFTConfig, build_dataset, train_sft
from sparring.trajectory import read_episodes
from tests.trainers.test_tracking import png_panels

ENVS = ["sparring/Household-v0", "sparring/Navigation-v0"]


@pytest.fixture(scope="module")
def expert_file(tmp_path_factory, sparring_cache):
    path = tmp_path_factory.mktemp("data") / "expert.jsonl"
    collect(OracleAgent(), ENVS, ["train"], path, episodes=12, env_kwargs={"difficulty": "easy"}, num_envs=4)
    return path


@pytest.fixture(scope="module")
def sft_run(expert_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("sft")
    config = SFTConfig(data=[str(expert_file)], output_dir=str(out), epochs=2, batch_size=8, logging_steps=1)
    before = {k: v.clone() for k, v in load_agent_model("tiny").model.state_dict().items()}
    return train_sft(config), out, before


def test_sft_masks_cover_the_agents_completion_only(expert_file, tiny):
    from trl import SFTConfig as TRLConfig
    from trl import SFTTrainer

    model, tokenizer = tiny
    episodes = read_episodes(expert_file)
    dataset = build_dataset(episodes, SFTConfig(data=[str(expert_file)]))
    trainer = SFTTrainer(model=model, train_dataset=dataset, processing_class=tokenizer,
                         args=TRLConfig(output_dir="/tmp/unused", completion_only_loss=True, report_to=[],
                                        use_cpu=True, bf16=False, max_length=2048))
    checked = 0
    for row, raw in zip(trainer.train_dataset, dataset, strict=True):
        ids = row["input_ids"]
        # TRL marks what gets loss either as labels (-100 elsewhere) or as a completion mask
        mask = [label != -100 for label in row["labels"]] if "labels" in row else row["completion_mask"]
        learned = tokenizer.decode([t for t, m in zip(ids, mask, strict=True) if m])
        completion = raw["completion"][0]["content"]
        assert learned.startswith(completion) and learned.strip().endswith("<|im_end|>"), learned
        assert completion.startswith("Action: ")
        hidden = tokenizer.decode([t for t, m in zip(ids, mask, strict=True) if not m])
        assert raw["prompt"][-1]["content"].split("\n")[0] in hidden  # the observation is context, not loss
        checked += 1
    assert checked == len(dataset) > 20


def test_sft_lowers_the_loss_changes_the_weights_and_saves_an_eval_checkpoint(sft_run):
    summary, out, before = sft_run
    assert summary["last_loss"] < 0.5 * summary["first_loss"]
    after = load_agent_model(summary["final"]).model.state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert len(changed) > 0.9 * len(before), "full fine-tuning of tiny updates (nearly) every tensor"
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any("loss" in r for r in logged) and list((out / "tensorboard").iterdir())
    assert {"loss", "learning_rate", "grad_norm"} <= set(png_panels(out / "curves.png"))
    agent = make_agent("react", model=summary["final"])
    results = run_episodes(agent, ENVS[0], split="valid", episodes=2, env_kwargs={"difficulty": "easy"})
    assert len(results) == 2


def test_sft_policy_prefers_expert_actions_more_than_the_untrained_model(sft_run, expert_file, tiny):
    summary, _, _ = sft_run
    episodes = read_episodes(expert_file)
    from sparring.agents.react import ReActAgent

    def agreement(agent: ReActAgent) -> float:
        hits = total = 0
        for episode in episodes[:6]:
            for step in episode.steps:
                prompt = agent.render(step.prompt)
                choice = agent.score([prompt], [step.admissible])[0]
                hits += choice.candidates[choice.chosen] == step.action
                total += 1
        return hits / total

    trained = load_agent_model(summary["final"])
    assert agreement(ReActAgent(trained.model, trained.tokenizer)) > agreement(ReActAgent(*tiny)) + 0.3


def test_sft_config_errors_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="sparring collect"):
        SFTConfig(data=[str(tmp_path / "missing.jsonl")])
    with pytest.raises(ConfigError, match="general_data"):
        SFTConfig(data=[__file__], general_ratio=0.5)


def _sequence_logprob(model, tokenizer, prompt, completion) -> float:
    text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    full = text + completion[0]["content"] + tokenizer.eos_token
    p_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([tokenizer(full, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits[0].float(), -1)
    targets = ids[0, len(p_ids):]
    return logp[torch.arange(len(p_ids) - 1, ids.shape[1] - 1), targets].sum().item()


def test_dpo_raises_the_chosen_vs_rejected_margin(sft_run, expert_file, tmp_path):
    summary, _, _ = sft_run
    explored = tmp_path / "random.jsonl"
    collect(RandomAgent(), ENVS[:1], ["train"], explored, episodes=12, env_kwargs={"difficulty": "easy"})
    expert = {e.task: e for e in read_episodes(expert_file)}
    rows = []
    for failed in read_episodes(explored):
        good = expert.get(failed.task)
        if good is None or failed.won:
            continue
        for a, b in zip(good.steps, failed.steps, strict=False):
            if a.action != b.action:
                rows.append({"prompt": a.prompt, "chosen": [{"role": "assistant", "content": a.completion}],
                             "rejected": [{"role": "assistant", "content": b.completion}]})
                break
    assert len(rows) >= 5
    start = load_agent_model(summary["final"])

    def margin(model) -> float:
        return sum(_sequence_logprob(model, start.tokenizer, r["prompt"], r["chosen"])
                   - _sequence_logprob(model, start.tokenizer, r["prompt"], r["rejected"]) for r in rows) / len(rows)

    before = margin(start.model)
    result = train_dpo(DPOConfig(model=summary["final"], output_dir=str(tmp_path / "dpo"), epochs=3, batch_size=4,
                                 learning_rate=5e-4, logging_steps=1), rows=rows)
    trained = load_agent_model(result["final"])
    assert trained.has_adapter
    assert margin(trained.model) > before + 0.5
    assert result["last_margin"] > result["first_margin"]
    assert {"loss", "rewards/margins"} <= set(png_panels(tmp_path / "dpo" / "curves.png"))
    # the reference (adapter disabled) is the SFT policy DPO started from
    ids = torch.randint(0, len(start.tokenizer), (1, 16))
    with torch.no_grad(), trained.model.disable_adapter():
        assert torch.allclose(trained.model(ids).logits, start.model(ids).logits, atol=1e-4)


def test_lora_sft_trains_only_the_adapter(expert_file, tmp_path):
    config = SFTConfig(data=[str(expert_file)], output_dir=str(tmp_path / "lora"), lora=True, lora_r=8,
                       learning_rate=2e-3, epochs=1, batch_size=8, logging_steps=1)
    summary = train_sft(config)
    assert summary["lora"] and summary["last_loss"] < summary["first_loss"]
    trained = load_agent_model(summary["final"])
    assert trained.has_adapter
    lora_b = {k: v for k, v in trained.model.state_dict().items() if "lora_B" in k}
    assert lora_b and all(v.abs().sum() > 0 for v in lora_b.values()), "peft starts lora_B at zero; SFT moved it"
    # with the adapter disabled the model is the untouched base
    base = load_agent_model("tiny")
    ids = torch.randint(0, len(base.tokenizer), (1, 16))
    with torch.no_grad(), trained.model.disable_adapter():
        assert torch.allclose(trained.model(ids).logits, base.model(ids).logits, atol=1e-5)
    with torch.no_grad():
        assert not torch.allclose(trained.model(ids).logits, base.model(ids).logits, atol=1e-4)


def test_eto_round_explores_pairs_trains_evaluates_and_resumes(expert_file, tmp_path):
    from sparring.errors import ConfigError as Error
    from sparring.trainers.eto import ETOConfig, run_eto
    from sparring.trainers.metrics import JsonlLog

    config = ETOConfig(model="tiny", expert=str(expert_file), env_ids=ENVS[:1], output_dir=str(tmp_path / "eto"),
                       rounds=1, tasks=3, samples_per_task=2, valid_episodes=2, num_envs=2, epochs=1.0,
                       learning_rate=5e-4)
    result = run_eto(config)
    rounds = JsonlLog(tmp_path / "eto" / "rounds.jsonl").read()
    assert [r["round"] for r in rounds] == [0, 1] and result["rounds"] == rounds
    first = rounds[1]
    assert first["explored"] == 6 and first["pairs"] > 0  # the untrained model fails and gets paired
    assert first["policy"] != "tiny" and load_agent_model(first["policy"]).has_adapter
    assert set(first["valid_success"]) == {ENVS[0], "mean"}
    assert len((tmp_path / "eto" / "round-1" / "pairs.jsonl").read_text().splitlines()) == first["pairs"]
    # a finished round is kept on resume, and a second run without resume refuses to mix logs
    again = run_eto(dataclasses.replace(config, resume=True))
    assert again["final"] == first["policy"] and len(JsonlLog(tmp_path / "eto" / "rounds.jsonl").read()) == 2
    with pytest.raises(Error, match="resume"):
        run_eto(config)
