"""Agents defined outside sparring: an import path ``module:factory`` names a callable that returns an
agent (anything with ``act(observations, infos) -> actions``, see :mod:`sparring.agents.base`).

    # mypkg/agents.py
    def make(seed=0, greeting="look"):
        return MyAgent(seed=seed, greeting=greeting)

    sparring eval --agent mypkg.agents:make --env sparring/Navigation-v0
    sparring leaderboard --suite quick --agents random mine=mypkg.agents:make,greeting=hello

    # or in a suite
    [agents.mine]
    kind = "mypkg.agents:make"
    greeting = "hello"

The factory is called with the keyword options and ``seed`` (when it takes a ``seed`` parameter or
``**kwargs``). The module must be importable where the agent plays: installed, or on ``PYTHONPATH``
(the working directory is, for ``python -m`` and for the leaderboard's worker processes).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import re
from collections.abc import Callable
from typing import Any

from sparring.errors import ConfigError

#: ``package.module:attribute`` (the attribute may be dotted: ``module:Class.create``)
PLUGIN_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def is_plugin(name: Any) -> bool:
    """Whether ``name`` is an import path ``module:factory`` rather than a built-in agent name."""
    return isinstance(name, str) and bool(PLUGIN_PATTERN.match(name))


def load_factory(path: str) -> Callable[..., Any]:
    """The callable an import path ``module:factory`` names, with an error that says what to fix."""
    if not is_plugin(path):
        raise ConfigError(f"an agent plugin is an import path 'module:factory' (e.g. 'mypkg.agents:make'), "
                          f"got {path!r}")
    module_name, _, attribute = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"agent plugin {path!r}: could not import module {module_name!r} ({exc}); install it or "
                          f"put its folder on PYTHONPATH") from exc
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ConfigError(f"agent plugin {path!r}: module {module_name!r} has no {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ConfigError(f"agent plugin {path!r}: {attribute!r} is a {type(target).__name__}, not a callable that "
                          f"returns an agent")
    return target


def _takes_seed(factory: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "seed" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def make_plugin_agent(path: str, *, seed: int = 0, name: str | None = None, **options: Any) -> Any:
    """Calls the factory ``path`` names with ``options`` (and ``seed``) and checks that it made an agent."""
    factory = load_factory(path)
    try:
        agent = factory(**options, **({"seed": seed} if _takes_seed(factory) else {}))
    except TypeError as exc:
        raise ConfigError(f"agent plugin {path!r} did not take options {sorted(options)}: {exc}") from exc
    if not callable(getattr(agent, "act", None)):
        raise ConfigError(f"agent plugin {path!r} returned a {type(agent).__name__}, which has no act(observations, "
                          f"infos) method; return an agent (see sparring.agents.base.Agent)")
    if name is not None or not isinstance(getattr(agent, "name", None), str):
        try:
            agent.name = name or path
        except AttributeError:
            pass  # a read-only name: the leaderboard labels results by the spec's name anyway
    return agent


def plugin_fingerprint(path: str) -> str:
    """A digest of the plugin's code (its module's source file), so cached leaderboard cells are
    played again when the agent's code changes."""
    factory = load_factory(path)
    module = importlib.import_module(path.partition(":")[0])
    sha = hashlib.sha256(path.encode())
    try:
        source = inspect.getsourcefile(module) or inspect.getsourcefile(factory)
    except TypeError:
        source = None
    if source:
        with open(source, "rb") as handle:
            sha.update(handle.read())
    return "plugin:" + sha.hexdigest()


__all__ = ["PLUGIN_PATTERN", "is_plugin", "load_factory", "make_plugin_agent", "plugin_fingerprint"]
