"""Benchmark suites: which envs, splits, attacks, episodes, seeds and agents a leaderboard runs,
declared in a TOML file and checked in full before any work starts.

The suites that ship with sparring live in ``benchmarks/suites/`` (installed as package data) and
are found by name (``quick``, ``full``); any other file is found by its path. A suite file::

    name = "quick"
    description = "..."

    [evaluation]
    splits = ["train", "valid", "test", "test_unseen"]
    episodes = 5           # tasks per env and split: task seeds task_seed .. task_seed + episodes - 1
    task_seed = 0
    seeds = [0]            # evaluation seeds: one pass per seed, the seed of the agent's own randomness
    num_envs = 4           # envs a cell plays side by side (the agent acts on them as one batch)
    resamples = 2000       # bootstrap resamples of every interval
    bootstrap_seed = 0
    env_kwargs = { difficulty = "easy" }

    [[envs]]               # or envs = ["sparring/Household-v0", ...]
    id = "sparring/Household-v0"
    kwargs = { max_steps = 20 }   # merged over evaluation.env_kwargs
    # splits = [...], episodes = N, attacks = false: per-env overrides

    [attacks]
    splits = ["test"]      # evaluation splits the attacks run on (each env: those it has)
    samples = 2            # perturbation seeds per task: the K of RSR@K
    budget = 2             # defaults for every attack below (any AttackConfig knob)
    run = ["char/held_out", "word/held_out"]   # names or tables (see attack_specs)

    [agents.react-tiny]
    kind = "react"
    model = "tiny"
    mode = "score"

Every mistake — an unknown key, env id, split, operator or agent kind, a split an env lacks, a
value of the wrong type — raises a :class:`~sparring.errors.ConfigError` (with a "did you mean"
where a name is close) that names the file and the key.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, as a package (a declared dependency)
    import tomli as tomllib  # type: ignore[no-redef]

from sparring.benchmarks.agent_specs import AgentSpec, spec_from_table
from sparring.benchmarks.attack_specs import ATTACK_KNOBS, AttackSpec, resolve_attack
from sparring.errors import ConfigError, SparringError, UnknownNameError

SUITE_KEYS = ("name", "description", "evaluation", "envs", "attacks", "agents")
EVALUATION_KEYS = ("splits", "episodes", "task_seed", "seeds", "num_envs", "resamples", "bootstrap_seed", "env_kwargs")
ENV_KEYS = ("id", "splits", "kwargs", "episodes", "attacks")
ATTACKS_KEYS = ("splits", "samples", "run", *ATTACK_KNOBS)


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    """One env of a suite, with its splits, kwargs and episode count."""

    id: str
    splits: tuple[str, ...]
    kwargs: tuple[tuple[str, Any], ...] = ()  #: env kwargs (suite-wide ones merged in), sorted by name
    episodes: int = 10
    attacked: bool = True  #: whether the suite's attacks run on it

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "splits": list(self.splits), "kwargs": dict(self.kwargs), "episodes": self.episodes,
                "attacked": self.attacked}


@dataclasses.dataclass(frozen=True)
class Suite:
    """A checked suite. ``text`` is the file as written (kept in every results file)."""

    name: str
    description: str
    splits: tuple[str, ...]  #: evaluation splits, in report order
    envs: tuple[EnvSpec, ...]
    task_seed: int
    seeds: tuple[int, ...]  #: evaluation seeds
    num_envs: int
    resamples: int
    bootstrap_seed: int
    attacks: tuple[AttackSpec, ...]
    attack_splits: tuple[str, ...]
    agents: tuple[AgentSpec, ...]
    source: str = ""
    text: str = ""

    @property
    def agent_table(self) -> dict[str, AgentSpec]:
        return {a.name: a for a in self.agents}

    def task_seeds(self, env: EnvSpec) -> tuple[int, ...]:
        return tuple(range(self.task_seed, self.task_seed + env.episodes))

    def attack_splits_of(self, env: EnvSpec) -> tuple[str, ...]:
        """The splits the attacks run on for ``env``: the suite's attack splits that it has."""
        return tuple(s for s in self.attack_splits if s in env.splits) if env.attacked else ()

    def with_overrides(self, *, episodes: int | None = None, num_envs: int | None = None,
                       seeds: Sequence[int] | None = None, samples: int | None = None) -> Suite:
        """The suite with episodes per env, envs per cell, evaluation seeds or attack samples replaced
        (the command line's scaling knobs); values are checked like the file's."""
        suite = self
        if episodes is not None:
            _positive_int(episodes, "episodes")
            suite = dataclasses.replace(suite, envs=tuple(dataclasses.replace(e, episodes=episodes) for e in suite.envs))
        if num_envs is not None:
            suite = dataclasses.replace(suite, num_envs=_positive_int(num_envs, "num_envs"))
        if seeds is not None:
            suite = dataclasses.replace(suite, seeds=_seeds(list(seeds), "seeds"))
        if samples is not None:
            _positive_int(samples, "samples")
            suite = dataclasses.replace(suite, attacks=tuple(dataclasses.replace(a, samples=samples)
                                                              for a in suite.attacks))
        return suite

    def to_dict(self) -> dict[str, Any]:
        """The suite as resolved (defaults filled in, attack names expanded to their operators)."""
        return {
            "name": self.name, "description": self.description, "source": self.source, "splits": list(self.splits),
            "task_seed": self.task_seed, "seeds": list(self.seeds), "num_envs": self.num_envs,
            "resamples": self.resamples, "bootstrap_seed": self.bootstrap_seed,
            "envs": [e.to_dict() for e in self.envs], "attack_splits": list(self.attack_splits),
            "attacks": [a.to_dict() for a in self.attacks], "agents": [a.declaration() for a in self.agents],
        }


# --------------------------------------------------------------------------------------------------
# Finding suites
# --------------------------------------------------------------------------------------------------
def _packaged() -> Any:
    return resources.files("sparring.benchmarks").joinpath("suites")


def available_suites() -> list[str]:
    """Names of the suites that ship with sparring."""
    folder = _packaged()
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml")) if folder.is_dir() else []


def load_suite(name_or_path: str | os.PathLike) -> Suite:
    """A suite by name (one that ships with sparring) or by the path of a TOML file."""
    text_name = os.fspath(name_or_path)
    path = Path(text_name).expanduser()
    if path.suffix.lower() == ".toml" or path.exists() or os.sep in text_name or "/" in text_name:
        if not path.is_file():
            raise ConfigError(f"suite file {text_name!r} does not exist; pass a suite name "
                              f"({', '.join(available_suites())}) or the path of a .toml file")
        return parse_suite(path.read_text(encoding="utf-8"), source=str(path))
    packaged = _packaged().joinpath(f"{text_name}.toml")
    if not packaged.is_file():
        raise UnknownNameError("suite", text_name, available_suites(), hint="Or pass the path of a .toml suite file.")
    return parse_suite(packaged.read_text(encoding="utf-8"), source=f"sparring:benchmarks/suites/{text_name}.toml")


# --------------------------------------------------------------------------------------------------
# Parsing and checking
# --------------------------------------------------------------------------------------------------
def parse_suite(text: str, source: str = "<string>") -> Suite:
    """A suite from TOML text; every error names ``source``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        return _build(data, source, text)
    except SparringError as exc:
        exc.args = (f"{source}: {exc}",)
        raise


def _unknown_keys(table: Mapping[str, Any], known: Sequence[str], where: str) -> None:
    for key in table:
        if key not in known:
            raise UnknownNameError(f"key in {where}", key, known)


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a table, got {_kind(value)}")
    return dict(value)


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {value!r}" if not isinstance(value, Mapping) else "a table"


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where} must be a positive integer, got {_kind(value)}")
    return value


def _int(value: Any, where: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where} must be an integer >= {minimum}, got {_kind(value)}")
    return value


def _seeds(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where} must be a non-empty list of integers (e.g. [0, 1, 2]), got {_kind(value)}")
    seeds = tuple(_int(v, f"{where} entries") for v in value)
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{where} lists a seed twice: {list(seeds)}")
    return seeds


def _splits(value: Any, where: str) -> tuple[str, ...]:
    from sparring.envs.splits import SPLITS

    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a non-empty list of split names ({', '.join(SPLITS)}), got {_kind(value)}")
    for split in value:
        if split not in SPLITS:
            raise UnknownNameError(f"split in {where}", split, SPLITS)
    if len(set(value)) != len(value):
        raise ConfigError(f"{where} lists a split twice: {value}")
    return tuple(s for s in SPLITS if s in value)  # report order: train, valid, test, test_unseen


def _build(data: dict[str, Any], source: str, text: str) -> Suite:
    from sparring.envs.registration import entry, make

    _unknown_keys(data, SUITE_KEYS, "the suite")
    name = data.get("name", Path(source).stem)
    description = data.get("description", "")
    for key, value in (("name", name), ("description", description)):
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {_kind(value)}")
    evaluation = _table(data.get("evaluation", {}), "[evaluation]")
    _unknown_keys(evaluation, EVALUATION_KEYS, "[evaluation]")
    splits = _splits(evaluation.get("splits", ["train", "valid", "test", "test_unseen"]), "evaluation.splits")
    episodes = _positive_int(evaluation.get("episodes", 10), "evaluation.episodes")
    env_kwargs = _table(evaluation.get("env_kwargs", {}), "evaluation.env_kwargs")

    raw_envs = data.get("envs")
    if not isinstance(raw_envs, list) or not raw_envs:
        raise ConfigError("envs must be a non-empty list of env ids or [[envs]] tables; `sparring list-envs` "
                          f"lists the ids (got {_kind(raw_envs)})")
    envs: list[EnvSpec] = []
    for i, raw in enumerate(raw_envs):
        where = f"envs[{i}]"
        table = {"id": raw} if isinstance(raw, str) else _table(raw, where)
        _unknown_keys(table, ENV_KEYS, where)
        env_id = table.get("id")
        if not isinstance(env_id, str):
            raise ConfigError(f"{where} needs id = \"sparring/Name-vN\", got {_kind(env_id)}")
        registered = entry(env_id)  # unknown ids: "did you mean"
        where = f"env {env_id}"
        env_splits = _splits(table["splits"], f"{where} splits") if "splits" in table else splits
        missing = [s for s in env_splits if s not in registered.splits]
        if missing:
            raise ConfigError(
                f"{env_id} has no split {missing[0]!r} (it has {', '.join(registered.splits)}); give its entry "
                f"its own splits, e.g. {{ id = \"{env_id}\", splits = {list(s for s in env_splits if s not in missing)} }}"
            )
        extra = [s for s in env_splits if s not in splits]
        if extra:
            raise ConfigError(f"{where} splits name {extra}, which evaluation.splits does not have; add them there")
        kwargs = {**env_kwargs, **_table(table.get("kwargs", {}), f"{where} kwargs")}
        if "split" in kwargs:
            raise ConfigError(f"{where}: set splits with splits = [...], not as an env kwarg")
        attacked = table.get("attacks", True)
        if not isinstance(attacked, bool):
            raise ConfigError(f"{where} attacks must be true or false, got {_kind(attacked)}")
        if any(e.id == env_id for e in envs):
            raise ConfigError(f"{env_id} is listed twice in envs; list each env once")
        make(env_id, split=env_splits[0], **kwargs).close()  # bad kwargs: "did you mean", before any work
        envs.append(EnvSpec(id=env_id, splits=env_splits, kwargs=tuple(sorted(kwargs.items())),
                            episodes=_positive_int(table.get("episodes", episodes), f"{where} episodes"),
                            attacked=attacked))

    attacks_table = _table(data.get("attacks", {}), "[attacks]")
    _unknown_keys(attacks_table, ATTACKS_KEYS, "[attacks]")
    run = attacks_table.get("run", [])
    if not isinstance(run, list):
        raise ConfigError(f"attacks.run must be a list of attack names or tables, got {_kind(run)}")
    attack_splits: tuple[str, ...] = ()
    attacks: list[AttackSpec] = []
    if run:
        attack_splits = _splits(attacks_table.get("splits", ["test"]), "attacks.splits")
        outside = [s for s in attack_splits if s not in splits]
        if outside:
            raise ConfigError(f"attacks.splits names {outside}, which evaluation.splits does not have: attacks are "
                              f"compared with the clean run of the same tasks, so add them there")
        if not any(set(attack_splits) & set(e.splits) for e in envs if e.attacked):
            raise ConfigError(f"no env is attacked: none of the attacked envs has a split of {list(attack_splits)}")
        samples = _positive_int(attacks_table.get("samples", 1), "attacks.samples")
        defaults = {k: v for k, v in attacks_table.items() if k in ATTACK_KNOBS}
        for i, item in enumerate(run):
            try:
                attack = resolve_attack(item, defaults, samples)
            except SparringError as exc:
                exc.args = (f"attacks.run[{i}]: {exc}",)
                raise
            if any(a.name == attack.name for a in attacks):
                raise ConfigError(f"attacks.run has two attacks called {attack.name!r}; give one a name = ...")
            attacks.append(attack)

    agents_table = _table(data.get("agents", {}), "[agents]")
    agents = tuple(spec_from_table(agent_name, table) for agent_name, table in agents_table.items())
    return Suite(
        name=name, description=description, splits=splits, envs=tuple(envs),
        task_seed=_int(evaluation.get("task_seed", 0), "evaluation.task_seed"),
        seeds=_seeds(evaluation.get("seeds", [0]), "evaluation.seeds"),
        num_envs=_positive_int(evaluation.get("num_envs", 1), "evaluation.num_envs"),
        resamples=_positive_int(evaluation.get("resamples", 2000), "evaluation.resamples"),
        bootstrap_seed=_int(evaluation.get("bootstrap_seed", 0), "evaluation.bootstrap_seed"),
        attacks=tuple(attacks), attack_splits=attack_splits, agents=agents, source=source, text=text,
    )


__all__ = ["EnvSpec", "Suite", "available_suites", "load_suite", "parse_suite"]
