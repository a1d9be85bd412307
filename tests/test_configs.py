"""Config apart from logic (docs/STYLE.md, item 4): each config dataclass lives in ``x_config.py``
beside ``x.py``, is re-exported from ``x.py``, gives every field a help in its metadata, and the
command line's options take their help from there."""

from __future__ import annotations

import argparse
import dataclasses
import importlib

import pytest

#: (the module that runs it, the config class, the command whose options it builds)
CONFIGS = [
    ("sparring.trainers.sft", "SFTConfig", ["train", "sft"]),
    ("sparring.trainers.dpo", "DPOConfig", ["train", "dpo"]),
    ("sparring.trainers.eto", "ETOConfig", ["train", "eto"]),
    ("sparring.trainers.reward_model", "RewardModelConfig", ["train", "reward"]),
    ("sparring.trainers.ppo", "PPOConfig", ["train", "ppo"]),
    ("sparring.trainers.grpo", "GRPOConfig", ["train", "grpo"]),
    ("sparring.trainers.adversarial", "AdversarialConfig", ["train", "adversarial"]),
    ("sparring.trainers.recipes", "SFTPPOConfig", ["train", "recipe", "sft-ppo"]),
    ("sparring.benchmarks.main_job", "MainJobConfig", ["main"]),
]


def _subparser(parser: argparse.ArgumentParser, path: list[str]) -> argparse.ArgumentParser:
    for name in path:
        (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        parser = action.choices[name]
    return parser


@pytest.mark.parametrize("module,name,command", CONFIGS, ids=[c[1] for c in CONFIGS])
def test_config_lives_beside_its_module_with_help_on_every_field(module, name, command):
    cls = getattr(importlib.import_module(module + "_config"), name)
    assert getattr(importlib.import_module(module), name) is cls, f"{module} should re-export {name}"
    for f in dataclasses.fields(cls):
        text = f.metadata.get("help", "")
        assert text and "\n" not in text, f"{name}.{f.name}: give it metadata={{'help': 'one line'}}"


@pytest.mark.parametrize("module,name,command", CONFIGS, ids=[c[1] for c in CONFIGS])
def test_command_line_help_comes_from_the_metadata(module, name, command):
    from sparring.cli import build_parser

    cls = getattr(importlib.import_module(module + "_config"), name)
    parser = _subparser(build_parser(), command)
    helps = {a.dest: a.help for a in parser._actions}
    for f in dataclasses.fields(cls):
        assert helps[f.name].startswith(f.metadata["help"].replace("%", "%%")), f.name
    parser.format_help()  # a '%' in a help must not break --help


def test_shared_checks_refuse_bad_values_with_the_field_named():
    from sparring.errors import ConfigError
    from sparring.trainers.dpo import DPOConfig
    from sparring.trainers.grpo import GRPOConfig
    from sparring.trainers.ppo import PPOConfig

    with pytest.raises(ConfigError, match="learning_rate must be a number > 0.0"):
        DPOConfig(learning_rate=None)  # SFT's None means "the default for the model"; DPO has no such default
    with pytest.raises(ConfigError, match="lora must be True or False"):
        PPOConfig(lora="yes")
    with pytest.raises(ConfigError, match="minibatch_size must be an integer >= 1"):
        GRPOConfig(minibatch_size=0)
    # PPO and GRPO share their fields through OnPolicyConfig, each with its own defaults
    assert PPOConfig().output_dir == "runs/ppo" and GRPOConfig().output_dir == "runs/grpo"
    assert (PPOConfig().update_epochs, GRPOConfig().update_epochs) == (4, 1)
