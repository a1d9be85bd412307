"""Thought-annotated expert data: collection in the Thought / Action format, the CLI flag, SFT's loss
on the thought and the action, and a generate-mode agent that learns to reason and act from it."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from sparring.agents import OracleAgent, RandomAgent
from sparring.agents.prompting import SYSTEM, SYSTEM_SCORED, parse_action
from sparring.errors import ConfigError
from sparring.trainers.collect import collect, writes_thoughts
from sparring.trainers.sft import SFTConfig, build_dataset, train_sft
from sparring.trajectory import read_episodes

HOUSEHOLD = "sparring/Household-v0"
EASY = {"difficulty": "easy"}
NATIVE = ["sparring/Household-v0", "sparring/Navigation-v0", "sparring/ToolQA-v0", "sparring/Shop-v0"]


def system_format(family: str) -> str:
    """The first words of a system message, up to the format line it asks for."""
    return SYSTEM.split("Commands")[0].format(family=family)


@pytest.fixture(scope="module")
def thought_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("thoughts") / "oracle.jsonl"
    stats = collect(OracleAgent(thoughts=True), NATIVE, ["train"], path, episodes=3, env_kwargs=EASY, num_envs=2)
    assert stats.written == stats.won == 3 * len(NATIVE)
    return path


def test_collected_thoughts_fill_prompts_and_completions(thought_file):
    episodes = read_episodes(thought_file)
    assert {e.family for e in episodes} == {"household", "navigation", "toolqa", "shop"}
    for episode in episodes:
        for i, step in enumerate(episode.steps):
            assert step.thought and step.completion == f"Thought: {step.thought}\nAction: {step.action}"
            system = step.prompt[0]
            assert system["role"] == "system" and system["content"].startswith(system_format(episode.family))
            # earlier turns in the prompt show the expert's earlier thoughts, in the same format
            shown = [m["content"] for m in step.prompt if m["role"] == "assistant"]
            assert shown == [s.completion for s in episode.steps[max(0, i - len(shown)):i]]
            assert all(c.startswith("Thought: ") and "\nAction: " in c for c in shown)
            assert parse_action(step.completion) == (step.action, step.thought)


def test_thoughts_follow_the_agent_unless_told(tmp_path):
    plain = tmp_path / "plain.jsonl"
    collect(OracleAgent(), [HOUSEHOLD], ["train"], plain, episodes=2, env_kwargs=EASY)
    for step in (s for e in read_episodes(plain) for s in e.steps):
        assert step.thought == "" and step.completion.startswith("Action: ")
        assert step.prompt[0]["content"].startswith(SYSTEM_SCORED.split("Commands")[0].format(family="household"))
    dropped = tmp_path / "dropped.jsonl"
    collect(OracleAgent(thoughts=True), [HOUSEHOLD], ["train"], dropped, episodes=2, env_kwargs=EASY, thoughts=False)
    assert [s.completion for e in read_episodes(dropped) for s in e.steps] == \
        [s.completion for e in read_episodes(plain) for s in e.steps]
    assert writes_thoughts(OracleAgent(thoughts=True)) and not writes_thoughts(OracleAgent())
    assert not writes_thoughts(RandomAgent())

    class Generating(RandomAgent):  # a react agent in generate mode, as far as collection can tell
        mode = "generate"

        def thought(self, slot: int) -> str:
            return "I try something."

    assert writes_thoughts(Generating())
    mine = tmp_path / "generating.jsonl"
    collect(Generating(), [HOUSEHOLD], ["train"], mine, episodes=1, env_kwargs=EASY)
    step = read_episodes(mine)[0].steps[0]
    assert step.prompt[0]["content"].startswith(system_format("household"))
    assert step.completion == f"Thought: I try something.\nAction: {step.action}"
    for agent in (OracleAgent(), RandomAgent()):
        with pytest.raises(ConfigError, match="writes thoughts.*OracleAgent\\(thoughts=True\\)"):
            collect(agent, [HOUSEHOLD], ["train"], tmp_path / "no.jsonl", episodes=1, thoughts=True)
    assert not (tmp_path / "no.jsonl").exists()


def test_cli_collect_oracle_thoughts(tmp_path):
    out = tmp_path / "cli.jsonl"
    run = subprocess.run(
        [sys.executable, "-m", "sparring", "collect", "--agent", "oracle", "--thoughts", "--env", HOUSEHOLD,
         "--env", "sparring/Navigation-v0", "--episodes", "2", "--difficulty", "easy", "--out", str(out),
         "--no-progress"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "wrote 4 episodes" in run.stdout
    steps = [s for e in read_episodes(out) for s in e.steps]
    assert steps and all(s.completion.startswith("Thought: ") for s in steps)
    refused = subprocess.run(
        [sys.executable, "-m", "sparring", "collect", "--agent", "random", "--thoughts", "--env", HOUSEHOLD,
         "--episodes", "1", "--out", str(tmp_path / "random.jsonl"), "--no-progress"],
        capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "--thoughts" in refused.stderr and "Traceback" not in refused.stderr


def test_sft_puts_the_loss_on_the_thought_and_the_action(thought_file, tiny):
    from trl import SFTConfig as TRLConfig
    from trl import SFTTrainer

    model, tokenizer = tiny
    dataset = build_dataset(read_episodes(thought_file), SFTConfig(data=[str(thought_file)]))
    trainer = SFTTrainer(model=model, train_dataset=dataset, processing_class=tokenizer,
                         args=TRLConfig(output_dir="/tmp/unused", completion_only_loss=True, report_to=[],
                                        use_cpu=True, bf16=False, max_length=2048))
    for row, raw in zip(trainer.train_dataset, dataset, strict=True):
        mask = [label != -100 for label in row["labels"]] if "labels" in row else row["completion_mask"]
        learned = tokenizer.decode([t for t, m in zip(row["input_ids"], mask, strict=True) if m])
        completion = raw["completion"][0]["content"]
        assert completion.startswith("Thought: ") and "\nAction: " in completion
        assert learned.startswith(completion), learned
        hidden = tokenizer.decode([t for t, m in zip(row["input_ids"], mask, strict=True) if not m])
        assert "Thought" in hidden.split("<|im_start|>user")[0]  # the system message asks for it, unlearned


@pytest.fixture
def one_thread():
    """Training on one thread: the result is the same on every machine, and on a two-core machine that
    other jobs share it is many times faster (two threads wait on each other)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_generate_mode_sft_learns_to_think_and_act(tmp_path, one_thread):
    """SFT of tiny on thought-annotated oracle episodes: on held tasks (the valid split) the
    generate-mode agent's replies parse into a thought and an admissible action more often."""
    from sparring.agents.react import ReActAgent
    from sparring.agents.zoo import load_agent_model

    train, held = tmp_path / "train.jsonl", tmp_path / "held.jsonl"
    collect(OracleAgent(thoughts=True), [HOUSEHOLD], ["train"], train, episodes=16, env_kwargs=EASY, num_envs=4)
    collect(OracleAgent(thoughts=True), [HOUSEHOLD], ["valid"], held, episodes=8, env_kwargs=EASY, num_envs=4)
    steps = [s for e in read_episodes(held) for s in e.steps]

    def think_and_act(policy) -> tuple[float, float]:
        """(share of replies with a thought and an admissible action, share with a thought at all)."""
        agent = ReActAgent(policy.model, policy.tokenizer, mode="generate", max_new_tokens=40)
        replies = agent.generate([agent.render(s.prompt) for s in steps])
        parsed = [parse_action(r) for r in replies]
        valid = sum(bool(thought) and action in s.admissible for (action, thought), s in zip(parsed, steps, strict=True))
        return valid / len(steps), sum(bool(thought) for _, thought in parsed) / len(steps)

    before, before_format = think_and_act(load_agent_model("tiny"))
    # the last 128 tokens of each example hold the turn's observation, the admissible actions and the
    # completion: enough to learn from, and a fraction of the full prompt's cost on a CPU
    summary = train_sft(SFTConfig(data=[str(train)], output_dir=str(tmp_path / "sft"), epochs=6, batch_size=4,
                                  learning_rate=3e-3, max_length=128, logging_steps=5))
    assert summary["last_loss"] < 0.2 * summary["first_loss"]
    after, after_format = think_and_act(load_agent_model(summary["final"]))
    assert after_format > before_format + 0.5, (before_format, after_format)
    assert after > before, (before, after)
