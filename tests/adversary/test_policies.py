"""Adversary policies: random within budget, a learned policy's interface, and the greedy black-box
search lowering the tiny agent's probability of its clean action."""

from __future__ import annotations

import random

import gymnasium as gym

from sparring.adversary import (
    AttackConfig,
    GreedyPolicy,
    Move,
    PerturbationWrapper,
    Plan,
    RandomPolicy,
    ReActScorer,
    ScoreRequest,
    TaskFeatures,
    TurnView,
    View,
    choice_probabilities,
    resolve,
)
from sparring.adversary.operators import Context
from sparring.adversary.plan import apply_moves
from sparring.adversary.scoring import argmax


def _turn(env_id="sparring/Household-v0", seed=0, config=None):
    env = gym.make(env_id).unwrapped
    obs, info = env.reset(seed=seed)
    config = config or AttackConfig(operators=("typo", "word_delete", "synonym"), budget=3,
                                    targets=("observation", "admissible_actions"))
    ctx = Context(family=env.family, lexicon=env.lexicon, task=info["task"], instruction=info["instruction"],
                  admissible=tuple(info["admissible_actions"]), expert=env.expert_action, env=env)
    clean = View(obs, info["instruction"], info["admissible_actions"])
    return TurnView(clean, [], config, resolve(config.operators), ctx, 0, "train", "h"), env


def test_random_policy_spends_the_budget_per_field():
    view, _ = _turn(config=AttackConfig(operators=("typo", "word_delete", "synonym"), budget=5, operators_per_turn=2,
                                        targets=("observation", "admissible_actions")))
    plan = RandomPolicy().choose(view, random.Random(0))
    for field in ("observation", "admissible_actions"):
        moves = [m for m in plan.moves if m.field == field]
        assert len(moves) == 2 and sum(m.budget for m in moves) == 5
        assert len({m.operator for m in moves}) == 2
    assert plan.queries == 0


def test_a_learned_policy_plugs_in_through_choose():
    """Any object with choose(view, rng) -> Plan drives the wrapper: here one that always deletes the
    word in the middle of the observation, from task features."""

    class Middle:
        name = "middle"

        def __init__(self):
            self.features = []

        def choose(self, view, rng):
            self.features.append(view.features)
            return Plan([Move("word_delete", "observation", 1, position=0.5, seed=view.turn)], queries=1)

    policy = Middle()
    env = PerturbationWrapper(gym.make("sparring/Navigation-v0"), "word_delete", policy=policy)
    obs, info = env.reset(seed=0)
    env.step(info["admissible_actions"][0])
    assert len(policy.features) == 2 and isinstance(policy.features[0], TaskFeatures)
    assert policy.features[0].family == "navigation" and len(policy.features[0].vector()) == 8
    (record,) = [r for r in env.records if r["turn"] == 0]
    assert abs(record["start"] - len(env.history[0][0]) / 2) < len(env.history[0][0]) / 4
    assert env.queries == 2


def test_greedy_search_lowers_the_clean_actions_probability(tiny_agent):
    scorer = ReActScorer(tiny_agent)
    lowered = 0
    for seed in range(3):
        view, _ = _turn(seed=seed)
        policy = GreedyPolicy(scorer, query_budget=12, candidates_per_round=4)
        before = scorer.queries
        plan = policy.choose(view, random.Random(seed))
        assert scorer.queries - before == plan.queries <= 12
        for field in ("observation", "admissible_actions"):  # the budget holds per field
            assert sum(m.budget for m in plan.moves if m.field == field) <= 3
        # score the clean and the perturbed turn afresh: the clean action's probability went down
        clean = view.clean
        applied = apply_moves(clean, plan.moves, view.ctx, random.Random(0), 0).view
        scores = scorer.scores([ScoreRequest("household", clean.instruction, [], clean.observation, clean.actions),
                                ScoreRequest("household", applied.instruction, [], applied.observation,
                                             applied.actions)])
        chosen = argmax(scores[0])
        command = clean.commands[chosen]
        p_clean = choice_probabilities(scores[0])[chosen]
        p_attacked = choice_probabilities(scores[1])[applied.commands.index(command)]
        assert abs(p_clean - plan.info["clean_probability"]) < 1e-5
        if plan.moves:
            assert p_attacked < p_clean
            assert abs(p_attacked - plan.info["probability"]) < 1e-5
            lowered += 1
    assert lowered >= 2


def test_greedy_policy_in_the_wrapper(tiny_agent):
    scorer = ReActScorer(tiny_agent)
    env = PerturbationWrapper(gym.make("sparring/Shop-v0"), "typo,synonym", budget=2, schedule="reset",
                              policy=GreedyPolicy(scorer, query_budget=6, candidates_per_round=3))
    obs, info = env.reset(seed=2)
    assert 1 <= info["attack_queries"] <= 6
    assert env.last_plan is not None and env.last_plan.info["probability"] <= env.last_plan.info["clean_probability"]
