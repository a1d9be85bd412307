"""sparring: text environments, LLM agents, trainers and adversaries for agents that stay competent
when their world shifts.

``import sparring`` registers every env id with Gymnasium (``gymnasium.make("sparring/Household-v0")``)
and stays light: models and trainers load only when their modules are imported.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sparring")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

from sparring import envs  # noqa: E402,F401  (registers the env ids)

__all__ = ["__version__", "envs"]
