"""A user's own operator: registered from a plugin module, it is found by name and by its family's
and side's group names, the wrapper applies and records it, and `sparring attack --list` shows it.
Each check runs in a fresh interpreter, so the registration never leaks into the other tests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

PLUGIN = textwrap.dedent('''
    import re

    from sparring.adversary import Operator, register_operator


    class Shout(Operator):
        name = "shout"
        family = "word"
        unit = "word"
        description = "a word in capitals"
        preserves_meaning = True

        def spans(self, text, budget, rng, ctx, position=None):
            words = [m for m in re.finditer(r"[a-z]{3,}", text)]
            chosen = sorted(rng.sample(words, min(budget, len(words))), key=lambda m: m.start())
            return [(m.start(), m.end(), m.group(), m.group().upper()) for m in chosen]


    register_operator(Shout(), held_out=True)
''')

CHECK = textwrap.dedent('''
    import gymnasium as gym
    import pytest

    import sparring.envs  # noqa: F401
    from sparring.adversary import (BY_FAMILY, HELD_OUT_OPERATORS, PerturbationWrapper, Operator,
                                    register_operator, resolve, split_of)
    from sparring.errors import ConfigError

    assert split_of("shout") == "held_out" and "shout" in HELD_OUT_OPERATORS and "shout" in BY_FAMILY["word"]
    assert "shout" in [op.name for op in resolve("word")] and "shout" in [op.name for op in resolve("held_out")]
    assert "shout" not in [op.name for op in resolve("train")]
    env = PerturbationWrapper(gym.make("sparring/Household-v0"), "shout", budget=2, targets=["observation"])
    obs, info = env.reset(seed=0)
    assert [p["operator"] for p in info["perturbations"]] == ["shout", "shout"]
    assert all(p["after"] == p["before"].upper() and p["after"] in obs for p in info["perturbations"])
    while True:
        obs, reward, terminated, truncated, info = env.step(env.unwrapped.expert_action())
        if terminated or truncated:
            break
    assert info["won"]
    class Nameless(Operator):
        family = "word"
    for bad, message in ((Nameless, "an instance, not the class"), (Nameless(), "a name made of"),
                         (type(resolve("shout")[0])(), "is taken")):
        with pytest.raises(ConfigError, match=message):
            register_operator(bad)
    print("ok")
''')


def _run(tmp_path, *args):
    (tmp_path / "my_operators.py").write_text(PLUGIN)
    env = {**os.environ, "SPARRING_PLUGINS": "my_operators",
           "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, env=env)


def test_a_registered_operator_is_found_applied_and_recorded(tmp_path):
    out = _run(tmp_path, "-c", CHECK)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_attack_list_shows_a_plugin_operator_and_a_missing_plugin_is_a_clear_error(tmp_path):
    out = _run(tmp_path, "-m", "sparring", "attack", "--list")
    assert out.returncode == 0, out.stderr
    line = next(line for line in out.stdout.splitlines() if "shout" in line)
    assert "word" in line and "held_out" in line.replace("held-out", "held_out")
    env = {**os.environ, "SPARRING_PLUGINS": "no_such_plugin_module"}
    out = subprocess.run([sys.executable, "-m", "sparring", "attack", "--list"], capture_output=True, text=True,
                         timeout=300, env=env)
    assert out.returncode != 0 and "SPARRING_PLUGINS names module 'no_such_plugin_module'" in out.stderr
    assert "Traceback" not in out.stderr
