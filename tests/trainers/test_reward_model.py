"""The learned reward model: trains on oracle + random episodes, predicts success on held-out tasks,
resumes from checkpoints, and scores transitions as a filter or as an env's reward source."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from sparring.agents import OracleAgent, RandomAgent
from sparring.envs import Transition, make
from sparring.errors import ConfigError, SparringError
from sparring.trainers import filters as F
from sparring.trainers.collect import collect
from sparring.trainers.reward_model import (
    LearnedRewardModel,
    RewardModelConfig,
    prefix_texts,
    render,
    roc_auc,
    train_reward_model,
)
from sparring.trajectory import Episode, read_episodes
from tests.trainers.test_tracking import png_panels

ENVS = ["sparring/Household-v0", "sparring/Navigation-v0"]
EASY = {"difficulty": "easy"}
TASKS = 20  #: tasks per env; oracle and random episodes of each
#: ~700 training prefixes of 64 tokens, one epoch: ~20-40 s on 2 CPU cores. tiny starts from random weights, so it
#: wants a large learning rate. Held-out AUC over seeds 0-6: 0.68, 0.76, 0.79, 0.67, 0.66, 0.70, 0.65 (30% of the
#: tasks held out; with 20% held out, or 12 tasks an env, it swung between 0.40 and 0.96 from seed to seed)
FAST = {"learning_rate": 2e-3, "epochs": 1, "batch_size": 16, "max_length": 64, "history_turns": 0,
        "valid_fraction": 0.3, "tensorboard": False, "device": "cpu"}


@pytest.fixture(scope="module")
def episodes(tmp_path_factory, sparring_cache) -> list[Episode]:
    root = tmp_path_factory.mktemp("reward-data")
    collect(OracleAgent(), ENVS, ["train"], root / "oracle.jsonl", episodes=TASKS, env_kwargs=EASY, num_envs=4)
    collect(RandomAgent(), ENVS, ["train"], root / "random.jsonl", episodes=TASKS, env_kwargs=EASY, num_envs=4)
    return read_episodes(root / "oracle.jsonl") + read_episodes(root / "random.jsonl")


@pytest.fixture(scope="module")
def trained(episodes, tmp_path_factory):
    out = tmp_path_factory.mktemp("reward") / "run"
    config = RewardModelConfig(output_dir=str(out), seed=0, **{**FAST, "tensorboard": True})
    return train_reward_model(config, episodes), out, config


@pytest.fixture(scope="module")
def model(trained) -> LearnedRewardModel:
    _, out, _ = trained
    return LearnedRewardModel.load(out, device="cpu")


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------
def test_predicts_success_on_held_out_tasks(trained):
    report, _, _ = trained
    assert report.valid_auc > 0.6, report  # see FAST
    assert report.history[-1]["valid_auc"] == report.valid_auc
    assert 0.0 <= report.valid_accuracy <= 1.0 and math.isfinite(report.valid_loss)
    assert math.isfinite(report.train_loss)


def test_writes_its_learning_curves(trained):
    _, out, _ = trained
    assert {"loss", "train_loss", "valid_loss", "valid_auc", "valid_accuracy"} <= set(png_panels(out / "curves.png"))


def test_report_counts_every_prefix_and_task(trained, episodes):
    report, out, config = trained
    assert report.epochs == 1 and report.resumed_from_epoch is None
    assert report.steps == math.ceil(report.train_examples / config.batch_size)
    # one example per step of every episode (every prefix)
    assert report.train_examples + report.valid_examples == sum(len(e.steps) for e in episodes)
    by_task: dict = {}
    for episode in episodes:
        by_task.setdefault(F.task_key(episode), []).append(episode)
    assert report.train_tasks + report.valid_tasks == len(by_task) == 2 * TASKS
    assert report.valid_tasks == round(0.3 * len(by_task))
    # what was written
    saved = json.loads((out / "reward_model" / "report.json").read_text())
    assert saved["valid_auc"] == pytest.approx(report.valid_auc)
    assert saved["train_examples"] == report.train_examples
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log if "valid_auc" in r] == [1]
    assert list((out / "tensorboard").iterdir())
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["epoch-0001"]


def test_training_needs_both_outcomes_and_refuses_to_overwrite(trained, episodes, tmp_path):
    _, out, config = trained
    with pytest.raises(ConfigError, match="already holds checkpoints"):
        train_reward_model(config, episodes)
    only_won = [e for e in episodes if e.won]
    with pytest.raises(ConfigError, match="both won and failed"):
        train_reward_model(RewardModelConfig(output_dir=str(tmp_path / "won"), **FAST), only_won)
    with pytest.raises(ConfigError, match="no episodes to learn from"):
        train_reward_model(RewardModelConfig(output_dir=str(tmp_path / "none"), **FAST))
    with pytest.raises(ConfigError, match="learning_rate"):
        RewardModelConfig(learning_rate=0)
    with pytest.raises(ConfigError, match="valid_fraction"):
        RewardModelConfig(valid_fraction=1.0)


# --------------------------------------------------------------------------------------------------
# Metrics and rendering
# --------------------------------------------------------------------------------------------------
def test_roc_auc_by_hand():
    # positives 0.9, 0.4, 0.8 against negatives 0.1, 0.4: 5 pairs ordered right, one tie (counts half)
    assert roc_auc([1, 0, 1, 0, 1], [0.9, 0.1, 0.4, 0.4, 0.8]) == pytest.approx(5.5 / 6)
    assert roc_auc([True, False], [0.7, 0.2]) == 1.0
    assert roc_auc([1, 0, 0], [0.1, 0.5, 0.9]) == 0.0
    assert roc_auc([1, 0, 1, 0], [0.3, 0.3, 0.3, 0.3]) == 0.5
    assert math.isnan(roc_auc([1, 1, 1], [0.1, 0.5, 0.9]))
    assert math.isnan(roc_auc([0, 0], [0.1, 0.5]))
    with pytest.raises(ConfigError, match="as many labels as scores"):
        roc_auc([1, 0], [0.5])


def _transition(i: int, *, step: int | None = None) -> Transition:
    info = {} if step is None else {"step": step}
    return Transition(instruction="put a mug in the fridge", observation=f"obs {i}", action=f"act {i}",
                      next_observation=f"obs {i + 1}", outcome=0.0, progress=0.0, terminated=False,
                      truncated=False, info=info)


def test_render_puts_the_instruction_and_turn_last():
    prefix = [_transition(i, step=i + 1) for i in range(5)]
    lines = render(prefix, history_turns=2).splitlines()
    assert lines == [
        "(2 earlier turns not shown)",
        "Observation: obs 2", "Action: act 2",
        "Observation: obs 3", "Action: act 3",
        "Observation: obs 4", "Action: act 4",
        "Result: obs 5",
        "Task: put a mug in the fridge",
        "Turn: 5",
        "Success:",
    ]
    # a prefix already cut to the window still counts the turns from the env's step number
    lines = render(prefix[-2:], history_turns=1).splitlines()
    assert lines[0] == "(3 earlier turns not shown)" and lines[-2] == "Turn: 5"
    assert "Observation: obs 2" not in lines and "Observation: obs 3" in lines
    # without a step number, the prefix's length is the turn; nothing is hidden at the start
    lines = render([_transition(0), _transition(1)], history_turns=3).splitlines()
    assert lines[0] == "Observation: obs 0" and lines[-2] == "Turn: 2"
    assert not any("earlier turns" in line for line in lines)
    with pytest.raises(ConfigError, match="at least one transition"):
        render([], history_turns=1)


def test_prefix_texts_one_per_step(episodes):
    episode = next(e for e in episodes if len(e.steps) >= 5)
    texts = prefix_texts(episode, history_turns=1)
    assert len(texts) == len(episode.steps)
    for i, text in enumerate(texts):
        assert text.endswith(f"Task: {episode.instruction}\nTurn: {i + 1}\nSuccess:")
        assert f"Action: {episode.steps[i].action}\nResult: {episode.steps[i].next_observation}" in text
        assert ("earlier turns not shown" in text) == (i >= 2)


# --------------------------------------------------------------------------------------------------
# Checkpoints and resume
# --------------------------------------------------------------------------------------------------
#: (oracle turns, random turns) kept of the first five Household tasks: 2, 4, 8, 16 and 32 prefixes a task, so
#: the number of held-out examples names the held-out tasks
SMALL = [(1, 1), (2, 2), (3, 5), (4, 12), (4, 28)]


@pytest.fixture(scope="module")
def small(episodes) -> list[Episode]:
    """Five tasks, oracle and random episodes cut short (a prefix of a won episode is still labelled won):
    62 examples, a few seconds an epoch."""
    out = []
    for seed, (n_oracle, n_random) in enumerate(SMALL):
        oracle, random_ = (next(e for e in episodes if e.env_id == ENVS[0] and e.seed == seed and e.agent == agent)
                           for agent in ("oracle", "random"))
        assert oracle.won and not random_.won and len(oracle.steps) >= n_oracle and len(random_.steps) >= n_random
        out += [dataclasses.replace(oracle, steps=oracle.steps[:n_oracle]),
                dataclasses.replace(random_, steps=random_.steps[:n_random])]
    return out


@pytest.fixture(scope="module")
def first_epoch(small, tmp_path_factory):
    """One epoch on the small data, shown one turn of history, in a directory a resumed run continues."""
    base = {**FAST, "max_length": 64, "batch_size": 8, "history_turns": 1, "seed": 3, "keep_checkpoints": 5}
    out = tmp_path_factory.mktemp("resume") / "run"
    report = train_reward_model(RewardModelConfig(output_dir=str(out), resume=True, **base), small)
    return report, out, base


def test_the_split_holds_out_whole_tasks(first_epoch):
    report, _, base = first_epoch
    totals = [a + b for a, b in SMALL]
    held = [i for i, total in enumerate(totals) if report.valid_examples & total]
    assert sum(totals[i] for i in held) == report.valid_examples  # whole tasks only
    assert len(held) == report.valid_tasks == round(base["valid_fraction"] * len(SMALL))
    assert report.train_tasks == len(SMALL) - len(held)
    train = [i for i in range(len(SMALL)) if i not in held]
    assert report.train_examples == sum(totals[i] for i in train)
    assert report.train_positive_share == pytest.approx(sum(SMALL[i][0] for i in train) / report.train_examples)


def test_resume_continues_from_the_last_epoch(small, first_epoch, tmp_path):
    first, resumed_dir, base = first_epoch
    assert first.resumed_from_epoch is None and first.epochs == 1  # nothing to resume: a new run
    # a resumed run must keep the config and the data of the run it continues
    with pytest.raises(ConfigError, match="history_turns was 1, now 2"):
        train_reward_model(RewardModelConfig(output_dir=str(resumed_dir), resume=True,
                                             **{**base, "epochs": 2, "history_turns": 2}), small)
    with pytest.raises(ConfigError, match="other episodes"):
        train_reward_model(RewardModelConfig(output_dir=str(resumed_dir), resume=True, **{**base, "epochs": 2}),
                           small[:-1])
    with pytest.raises(ConfigError, match="already holds checkpoints"):
        train_reward_model(RewardModelConfig(output_dir=str(resumed_dir), **{**base, "epochs": 2}), small)
    second = train_reward_model(RewardModelConfig(output_dir=str(resumed_dir), resume=True,
                                                  **{**base, "epochs": 2}), small)
    assert second.resumed_from_epoch == 1 and second.epochs == 2
    assert second.steps == 2 * first.steps
    assert second.history[0] == first.history[0]
    assert sorted(p.name for p in (resumed_dir / "checkpoints").iterdir()) == ["epoch-0001", "epoch-0002"]
    log = [json.loads(line) for line in (resumed_dir / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log if "valid_auc" in r] == [1, 2]
    # the same as a run that was never interrupted
    straight = train_reward_model(RewardModelConfig(output_dir=str(tmp_path / "straight"), **{**base, "epochs": 2}),
                                  small)
    assert straight.history[1]["train_loss"] == pytest.approx(second.history[1]["train_loss"], rel=1e-4)
    assert straight.history[1]["valid_loss"] == pytest.approx(second.history[1]["valid_loss"], rel=1e-4)


# --------------------------------------------------------------------------------------------------
# The trained model as a reward source
# --------------------------------------------------------------------------------------------------
def test_loaded_model_scores_one_probability_per_transition(model, trained, episodes):
    _, out, config = trained
    model.reset()
    for episode in episodes[:2] + episodes[-2:]:
        scores = model.score(F.episode_transitions(episode))
        assert len(scores) == len(episode.steps)
        assert all(0.0 <= s <= 1.0 for s in scores)
        # following the episode transition by transition shows the model the prefixes it was trained on
        assert scores == pytest.approx(model.predict(prefix_texts(episode, config.history_turns)), abs=1e-5)
    # the final model, its directory and the last checkpoint are one model
    episode = episodes[-1]
    expected = model.score(F.episode_transitions(episode))
    for path in (out / "reward_model", out / "checkpoints" / "epoch-0001"):
        assert LearnedRewardModel.load(path, device="cpu").score(F.episode_transitions(episode)) == \
            pytest.approx(expected, abs=1e-5)


@pytest.fixture(scope="module")
def history_model(first_epoch) -> LearnedRewardModel:
    _, out, base = first_epoch
    model = LearnedRewardModel.load(out / "checkpoints" / "epoch-0001", device="cpu")
    assert model.history_turns == base["history_turns"] == 1
    return model


def test_a_model_with_history_follows_each_episode(history_model, episodes):
    model = history_model
    # transition by transition, it sees the prefixes it was trained on (its previous turn included)
    for episode in episodes[:2] + episodes[-2:]:
        texts = prefix_texts(episode, history_turns=1)
        assert model.score(F.episode_transitions(episode)) == pytest.approx(model.predict(texts), abs=1e-5)
        # a turn judged alone (without its history) is judged differently
        alone = [render([t], history_turns=1) for t in F.episode_transitions(episode)]
        assert alone[1:] != texts[1:]
    # the oracle and the random agent on one task: same identity, and here the same first action
    a, b = (next(e for e in episodes if e.env_id == ENVS[0] and e.seed == 0 and e.agent == agent)
            for agent in ("oracle", "random"))
    ta, tb = F.episode_transitions(a)[:4], F.episode_transitions(b)[:4]
    assert ta[0].action == tb[0].action and ta[1].action != tb[1].action
    model.reset()
    alone = model.score(ta) + model.score(tb)
    model.reset()
    mixed = model.score([t for pair in zip(ta, tb, strict=True) for t in pair])
    assert mixed[0::2] + mixed[1::2] == pytest.approx(alone, abs=1e-5)


def test_loading_something_else_is_a_clear_error(tmp_path):
    with pytest.raises(SparringError, match="not a sparring reward model"):
        LearnedRewardModel.load(tmp_path)


def test_model_filters_episodes(model, episodes):
    some = episodes[::6]  # oracle and random, both envs
    kept, report = F.apply([F.min_reward_model_score(model, 0.5)], some)
    means = [sum(v) / len(v) for v in (model.score(F.episode_transitions(e)) for e in some)]
    assert [id(e) for e in kept] == [id(e) for e, m in zip(some, means, strict=True) if m >= 0.5]
    assert report.total == len(some) and report.kept == len(kept)


@pytest.mark.parametrize("which", ["model", "history_model"])
def test_model_is_a_reward_source_in_the_env(which, request, episodes):
    model = request.getfixturevalue(which)
    model.reset()
    env = make(ENVS[0], reward=[("env", 1.0), (model, 0.5)], **EASY)
    observation, info = env.reset(seed=2)
    recorded = next(e for e in episodes if e.env_id == ENVS[0] and e.seed == 2 and e.agent == "oracle")
    live = []
    for step in recorded.steps:
        assert observation == step.observation
        observation, reward, terminated, truncated, info = env.step(step.action)
        terms = info["reward_terms"]
        assert set(terms) == {"env", "model"} and 0.0 <= terms["model"] <= 1.0
        assert reward == pytest.approx(terms["env"] + 0.5 * terms["model"])
        live.append(terms["model"])
    assert terminated and info["won"] and terms["env"] == 1.0 and len(live) >= 3
    env.close()
    # the env shows the model the same stream as the stored episode
    assert live == pytest.approx(model.score(F.episode_transitions(recorded)), abs=1e-5)
