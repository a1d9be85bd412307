"""Text environments: the env core, reward sources, registration and the env families.

Importing this module registers every id below with Gymnasium.
"""

from sparring.envs.registration import EnvEntry, entry, make, make_vec, register, registered
from sparring.envs.rewards import (
    CustomReward,
    EnvReward,
    ModelReward,
    RewardModel,
    RewardSource,
    Transition,
    WeightedReward,
    make_reward,
)
from sparring.envs.rewards_wrapper import RewardWrapper
from sparring.envs.spaces import UnicodeText
from sparring.envs.splits import SEEN_SPLITS, SPLITS
from sparring.envs.text_env import FamilyConfig, TextEnv
from sparring.envs.textworld_games import register_textworld
from sparring.envs.trials import TrialsWrapper

register(EnvEntry(
    id="sparring/Household-v0",
    entry_point="sparring.envs.household:HouseholdEnv",
    family="household",
    description="ALFWorld-like home: find, heat/cool/clean and place objects, examine under a lamp",
))
register(EnvEntry(
    id="sparring/Navigation-v0",
    entry_point="sparring.envs.navigation:NavigationEnv",
    family="navigation",
    description="BabyAI-like rooms in words: doors, keys, go-to/open/pick-up/put-next missions and sequences",
))
register(EnvEntry(
    id="sparring/ToolQA-v0",
    entry_point="sparring.envs.toolqa:ToolQAEnv",
    family="toolqa",
    description="ReAct tool use: search/lookup a generated knowledge base, calculate, answer multi-hop questions",
))
register(EnvEntry(
    id="sparring/Shop-v0",
    entry_point="sparring.envs.shop:ShopEnv",
    family="shop",
    description="WebShop-like store: search a generated catalogue, pick options, buy what the instruction asks",
))
register_textworld()

__all__ = [
    "CustomReward", "EnvEntry", "EnvReward", "FamilyConfig", "ModelReward", "RewardModel", "RewardSource",
    "RewardWrapper", "SEEN_SPLITS", "SPLITS", "TextEnv", "Transition", "TrialsWrapper", "UnicodeText",
    "WeightedReward", "entry", "make", "make_reward", "make_vec", "register", "registered",
]
