"""Adversary: perturbation operators, the perturbation wrapper env and adversary policies.

The adversary changes only the *text* an agent sees — the observation, the instruction, the listed
admissible actions — never the env's state, so the env's verifier still judges success and the
oracle still wins. Operators come in five families (character, word, sentence, paraphrase,
injection), each split into train attacks and held-out attacks (:mod:`sparring.adversary.registry`).

    from sparring.adversary import PerturbationWrapper
    env = PerturbationWrapper(gym.make("sparring/Household-v0"), "typo,synonym", budget=2,
                              targets=["observation", "admissible_actions"], schedule="all")

Everything applied is recorded in ``info["perturbations"]`` (exact edit records) and, for
injections, ``info["hijack"]`` (the target and whether the env's state shows it was reached).
"""

from sparring.adversary.config import AttackConfig
from sparring.adversary.edits import FIELDS, edit_fraction, replay
from sparring.adversary.operators import FAMILIES, Context, Operator
from sparring.adversary.plan import Move, View, apply_moves
from sparring.adversary.policies import (
    AdversaryPolicy,
    GreedyPolicy,
    Plan,
    RandomPolicy,
    TaskFeatures,
    TurnView,
    make_policy,
)
from sparring.adversary.registry import (
    BY_FAMILY,
    HELD_OUT_OPERATORS,
    OPERATORS,
    TRAIN_OPERATORS,
    catalogue,
    get_operator,
    register_operator,
    resolve,
    split_of,
)
from sparring.adversary.schedule import Schedule
from sparring.adversary.scoring import ActionScorer, ReActScorer, ScoreRequest, choice_probabilities
from sparring.adversary.wrapper import PerturbationWrapper, interpret

__all__ = [
    "BY_FAMILY", "FAMILIES", "FIELDS", "HELD_OUT_OPERATORS", "OPERATORS", "TRAIN_OPERATORS", "ActionScorer",
    "AdversaryPolicy", "AttackConfig", "Context", "GreedyPolicy", "Move", "Operator", "PerturbationWrapper", "Plan",
    "RandomPolicy", "ReActScorer", "Schedule", "ScoreRequest", "TaskFeatures", "TurnView", "View", "apply_moves",
    "catalogue", "choice_probabilities", "edit_fraction", "get_operator", "interpret", "make_policy", "register_operator",
    "replay", "resolve", "split_of",
]

#: modules (comma-separated) imported when the adversary loads, so that operators they register exist
#: in every process, the leaderboard's and collection's spawned workers included
PLUGINS_ENV = "SPARRING_PLUGINS"


def _load_plugins() -> None:
    import importlib
    import os

    from sparring.errors import ConfigError

    for name in filter(None, (part.strip() for part in os.environ.get(PLUGINS_ENV, "").split(","))):
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ConfigError(f"{PLUGINS_ENV} names module {name!r}, which does not import ({exc}); put it on "
                              f"PYTHONPATH or install it, or remove it from {PLUGINS_ENV}") from exc


_load_plugins()
