"""The learned adversary, its population and the discriminator.

The tests attack a *lexical agent*: a deterministic black-box scorer that prefers the admissible
action sharing the most words with the instruction (a cheap stand-in for an LM that reads the
text; thousands of queries per second, so a policy-gradient run takes a second or two). The min-max
trainer's tests (tests/trainers/test_adversarial.py) train it against the ``tiny`` ReAct agent.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections import Counter
from collections.abc import Sequence

import gymnasium as gym
import pytest
import torch

from sparring.adversary import (
    HELD_OUT_OPERATORS,
    OPERATORS,
    TRAIN_OPERATORS,
    PerturbationWrapper,
    RandomPolicy,
    ScoreRequest,
)
from sparring.adversary.discriminator import Discriminator, DiscriminatorConfig, ngram_features
from sparring.adversary.learned import (
    LearnedAdversary,
    LearnedAdversaryConfig,
    LearnedPolicy,
    PopulationPolicy,
    load_population,
    play_under,
)
from sparring.errors import ConfigError, UnknownNameError

ENVS = ("sparring/Household-v0", "sparring/Navigation-v0")
_WORD = re.compile(r"[a-z]+")
_COMMON = frozenset({"go", "to", "the", "a", "in", "on", "some", "your", "look", "inventory"})


class LexicalAgent:
    """Scores an action by the words it shares with the instruction (ties: the shorter action); with
    ``observation_weight``, also by how often its words occur in the observation (an agent that
    follows whatever the page keeps mentioning: planted orders and sentences move it)."""

    temperature = 1.0

    def __init__(self, observation_weight: float = 0.0) -> None:
        self.observation_weight = observation_weight
        self.queries = 0

    def scores(self, requests: Sequence[ScoreRequest]) -> list[list[float]]:
        self.queries += len(requests)
        out = []
        for r in requests:
            goal = set(_WORD.findall(r.instruction.lower())) - _COMMON
            seen = Counter(_WORD.findall(r.observation.lower())) if self.observation_weight else Counter()
            row = []
            for a in r.actions:
                words = set(_WORD.findall(a.lower())) - _COMMON
                row.append(2.0 * len(goal & words) + self.observation_weight * sum(seen[w] for w in words)
                           - 0.01 * len(a))
            out.append(row)
        return out


def config(**overrides) -> LearnedAdversaryConfig:
    settings = dict(env_ids=ENVS, max_steps=8, tasks_per_update=16, num_envs=8, learning_rate=0.05,
                    discriminator_weight=0.0, population_every=4, seed=0)
    settings.update(overrides)
    return LearnedAdversaryConfig(**settings)


#: held-in tasks: the training distribution (train split of both families), seeds no update drew
HELD_IN = [(ENVS[k % 2], 500_000 + k) for k in range(32)]


@pytest.fixture(scope="module")
def trained() -> tuple[LearnedAdversary, dict, dict, dict]:
    agent = LexicalAgent()
    adversary = LearnedAdversary(config())
    untrained = adversary.evaluate(agent, HELD_IN)
    random_policy = adversary.evaluate(agent, HELD_IN, RandomPolicy())
    adversary.train(agent, 24)
    return adversary, untrained, random_policy, adversary.evaluate(agent, HELD_IN)


# --------------------------------------------------------------------------------------------------
# The policy learns
# --------------------------------------------------------------------------------------------------
def test_training_raises_the_agents_failure_and_lowers_its_clean_action_probability(trained):
    adversary, untrained, random_policy, after = trained
    # the agent under the trained policy loses more of its clean choice than under its untrained self or random
    assert after["mean_drop"] > untrained["mean_drop"] + 0.05, (untrained, after)
    assert after["mean_drop"] > random_policy["mean_drop"] + 0.05, (random_policy, after)
    assert after["flip_rate"] > max(untrained["flip_rate"], random_policy["flip_rate"]) + 0.1
    assert after["failure_rate"] >= untrained["failure_rate"]
    assert after["reward"] > untrained["reward"]
    rewards = [r["reward"] for r in adversary.history]
    assert sum(rewards[-6:]) / 6 > sum(rewards[:6]) / 6  # the training curve rises
    assert adversary.history[-1]["entropy"] < adversary.history[0]["entropy"]  # it became more decided


def test_it_only_ever_uses_train_operators_even_when_the_attack_allows_all(trained):
    adversary = trained[0]
    assert set(adversary.vocab.operators) <= TRAIN_OPERATORS
    used: Counter = Counter()
    for env_id in ENVS:
        env = PerturbationWrapper(gym.make(env_id, split="train", difficulty="easy", max_steps=10), "all", budget=2,
                                  targets=["observation", "instruction", "admissible_actions"],
                                  policy=adversary.population_policy())
        for seed in range(6):
            obs, info = env.reset(seed=seed)
            done = False
            while not done:
                obs, _, terminated, truncated, info = env.step(random.Random(seed).choice(info["admissible_actions"]))
                done = terminated or truncated
            used.update(r["operator"] for r in info["perturbations"] if r["operator"] != "clip")
    assert used and set(used) <= TRAIN_OPERATORS, used
    assert not set(used) & HELD_OUT_OPERATORS


def test_a_held_out_operator_in_the_config_is_refused():
    with pytest.raises(ConfigError, match="held-out operators.*homoglyph"):
        LearnedAdversaryConfig(operators=["typo", "homoglyph"])
    with pytest.raises(ConfigError, match="held-out"):
        LearnedAdversaryConfig(operators="char")  # the char family includes held-out operators
    with pytest.raises(UnknownNameError, match="did you mean 'typo'"):
        LearnedAdversaryConfig(operators=["tpyo"])
    with pytest.raises(ConfigError, match="failure_weight and drop_weight are both 0"):
        LearnedAdversaryConfig(failure_weight=0.0, drop_weight=0.0)
    with pytest.raises(ConfigError, match="tasks_per_update must be an integer >= 1"):
        LearnedAdversaryConfig(tasks_per_update=0)
    with pytest.raises(UnknownNameError, match="sparring/Household-v0"):
        LearnedAdversaryConfig(env_ids=["sparring/Housework-v0"])


def test_the_policy_plugs_into_the_wrapper_and_its_episodes_replay_exactly(trained):
    adversary = trained[0]

    def run() -> list[dict]:
        env = PerturbationWrapper(gym.make(ENVS[0], split="train", difficulty="easy"), "train", budget=2,
                                  targets=["observation", "admissible_actions"], policy=adversary.policy(), seed=3)
        obs, info = env.reset(seed=11)
        for _ in range(4):
            obs, *_, info = env.step(info["admissible_actions"][0])
        return info["perturbations"]

    first = run()
    assert first and first == run()
    assert {r["field"] for r in first} <= {"observation", "admissible_actions"}


# --------------------------------------------------------------------------------------------------
# The population
# --------------------------------------------------------------------------------------------------
def _member(adversary: LearnedAdversary, operator: str, label: str) -> LearnedPolicy:
    """A member that always picks ``operator`` on the observation (its heads set by hand)."""
    net = LearnedAdversary(adversary.config).network
    vocab = adversary.vocab
    with torch.no_grad():
        net.field_head.bias.fill_(-50.0)
        net.field_head.bias[vocab.fields.index("observation")] = 50.0
        net.operator_head.bias.fill_(-50.0)
        net.operator_head.bias[vocab.operators.index(operator)] = 50.0
    return LearnedPolicy(net, vocab, label=label)


def test_the_population_samples_one_member_per_episode_uniformly_and_reproducibly():
    adversary = LearnedAdversary(config())
    operators = ("typo", "tautology", "word_delete")
    population = PopulationPolicy([_member(adversary, op, op) for op in operators])

    def episodes(seed: int) -> list[str]:
        env = PerturbationWrapper(gym.make(ENVS[1], split="train", difficulty="easy", max_steps=6), "train",
                                  targets=["observation"], policy=population, seed=seed)
        used = []
        for task in range(60):
            obs, info = env.reset(seed=task)
            ops = {r["operator"] for r in info["perturbations"]}
            for _ in range(3):
                obs, _, terminated, truncated, info = env.step(info["admissible_actions"][0])
                ops |= {r["operator"] for r in info["perturbations"]}
                if terminated or truncated:
                    break
            assert len(ops) == 1, ops  # one member plays the whole episode
            used.append(ops.pop())
        return used

    used = episodes(0)
    counts = Counter(used)
    assert set(counts) == set(operators) and min(counts.values()) >= 10, counts  # every member, about 1/3 each
    assert episodes(0) == used  # the same seeds, the same members
    assert episodes(1) != used


def test_snapshots_join_the_population_and_the_oldest_leave(trained):
    adversary = trained[0]
    assert [u for u, _ in adversary.population] == [4, 8, 12, 16, 20, 24]
    small = LearnedAdversary(config(population_every=1, population_size=2, tasks_per_update=2))
    small.train(LexicalAgent(), 3)
    assert [u for u, _ in small.population] == [2, 3]
    # members are frozen copies: training on does not move them
    member = small.population[-1][1]
    before = [p.clone() for p in member.parameters()]
    small.train(LexicalAgent(), 1)
    assert [u for u, _ in small.population] == [3, 4] and small.population[0][1] is member
    assert all(torch.equal(a, b) for a, b in zip(before, member.parameters(), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(before, small.network.parameters(), strict=True))
    with pytest.raises(ConfigError, match="at least one member"):
        PopulationPolicy([])


def test_save_and_load_keep_policy_population_optimizer_and_discriminator(trained, tmp_path):
    adversary = trained[0]
    adversary.save(tmp_path / "adv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adv"]  # nothing half-written beside it
    loaded = LearnedAdversary.load(tmp_path / "adv")
    assert loaded.updates == adversary.updates and loaded.history == json.loads(json.dumps(loaded.history))
    for a, b in zip(adversary.network.parameters(), loaded.network.parameters(), strict=True):
        assert torch.equal(a, b)
    assert [u for u, _ in loaded.population] == [u for u, _ in adversary.population]
    assert math.isclose(loaded.discriminator.bias, adversary.discriminator.bias)
    # the same moves on the same tasks
    a = play_under(LexicalAgent(), HELD_IN[:4], adversary.population_policy(), adversary.config.attack(5),
                   env_kwargs=adversary.config.env_kwargs)
    b = play_under(LexicalAgent(), HELD_IN[:4], load_population(tmp_path / "adv"), adversary.config.attack(5),
                   env_kwargs=adversary.config.env_kwargs)
    assert [[t.decision.move for t in e.turns] for e in a] == [[t.decision.move for t in e.turns] for e in b]
    # training on from the loaded copy is training on from the same state
    adversary_copy = LearnedAdversary.load(tmp_path / "adv")
    r1, r2 = adversary_copy.update(LexicalAgent()), loaded.update(LexicalAgent())
    assert r1["reward"] == r2["reward"] and r1["policy_loss"] == r2["policy_loss"]
    with pytest.raises(ConfigError, match="not a saved learned adversary"):
        LearnedAdversary.load(tmp_path)


# --------------------------------------------------------------------------------------------------
# The discriminator
# --------------------------------------------------------------------------------------------------
def _texts(operators: Sequence[str], seeds: range, fields: Sequence[str] = ("observation",)
           ) -> tuple[list[str], list[bool]]:
    texts, labels = [], []
    for env_id in ENVS:
        for s in seeds:
            op = operators[s % len(operators)]
            editable = [f for f in fields if f in OPERATORS[op].fields]
            field = editable[s % len(editable)]
            env = PerturbationWrapper(gym.make(env_id, split="train", difficulty="easy"), op, budget=2,
                                      targets=[field], seed=s)
            obs, info = env.reset(seed=s)
            for _ in range(3):
                if env.turn_records():
                    clean, shown = env.clean, env.view
                    texts += [getattr(clean, field), getattr(shown, field)]
                    labels += [False, True]
                obs, _, terminated, truncated, info = env.step(info["admissible_actions"][0])
                if terminated or truncated:
                    break
    return texts, labels


def test_the_discriminator_beats_chance_on_held_out_texts_and_round_trips(tmp_path):
    operators = ("typo", "char_swap", "word_insert", "distractor", "tautology", "inject", "paraphrase_plain")
    train_texts, train_labels = _texts(operators, range(0, 40))
    test_texts, test_labels = _texts(operators, range(1000, 1020))  # other tasks: texts it never saw
    disc = Discriminator(DiscriminatorConfig(hash_bits=16))
    assert disc.accuracy(test_texts, test_labels) == pytest.approx(0.5)  # untrained: everything at p = 0.5
    disc.update(train_texts, train_labels, epochs=3)
    accuracy = disc.accuracy(test_texts, test_labels)
    assert accuracy > 0.7, accuracy
    p = disc.prob(test_texts)
    assert p[[i for i, y in enumerate(test_labels) if y]].mean() > p[[i for i, y in enumerate(test_labels) if not y]].mean() + 0.2
    disc.save(tmp_path / "disc")
    again = Discriminator.load(tmp_path / "disc")
    assert again.prob(test_texts).tolist() == pytest.approx(p.tolist())
    # features are stable across processes: a hash of code points, not Python's salted hash
    buckets, values = ngram_features("go to the red box", DiscriminatorConfig(hash_bits=16))
    assert buckets.tolist() == sorted(set(buckets.tolist())) and abs(float((values ** 2).sum()) - 1) < 1e-5
    with pytest.raises(ConfigError, match="ngram_min <= ngram_max"):
        DiscriminatorConfig(ngram_min=5, ngram_max=3)
    with pytest.raises(ConfigError, match="one label per text"):
        disc.update(["a", "b"], [True])


def test_the_discriminator_penalty_moves_the_adversary_toward_less_detectable_operators():
    """The same run with and without the penalty, against the same pre-trained discriminator."""
    texts, labels = _texts(sorted(TRAIN_OPERATORS - {"action_shuffle", "synonym"}), range(0, 60))
    base = Discriminator(DiscriminatorConfig(hash_bits=16))
    base.update(texts, labels, epochs=3)
    agent = LexicalAgent(observation_weight=1.0)
    results = {}
    for weight in (0.0, 4.0):
        adversary = LearnedAdversary(config(discriminator_weight=weight, targets=["observation"], edit_penalty=0.0,
                                            learning_rate=0.03, ent_coef=0.02, seed=1))
        adversary.discriminator = Discriminator.from_state(*base.state())
        adversary.train(agent, 20)
        adversary.discriminator = Discriminator.from_state(*base.state())  # one judge for both runs
        results[weight] = adversary.evaluate(agent, HELD_IN)
    plain, penalised = results[0.0], results[4.0]
    assert penalised["detected"] < plain["detected"] - 0.1, (plain, penalised)
    loud = {"distractor", "tautology", "inject", "word_insert"}
    share = {w: sum(n for o, n in r["operators"].items() if o in loud) / max(sum(r["operators"].values()), 1)
             for w, r in results.items()}
    assert share[4.0] < share[0.0], share
    # the penalised adversary still hurts the agent: it traded detectability, not its purpose
    assert penalised["mean_drop"] > 0.01, penalised
