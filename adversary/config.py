"""The attack config: which operators, how much budget, on which fields, on which turns, chosen by
which policy — by name, from a dict, or from a TOML or JSON file.

A file holds the fields of :class:`AttackConfig` at the top level or under an ``[attack]`` table::

    # attack.toml
    operators = ["typo", "synonym", "distractor"]
    budget = 2
    targets = ["observation", "admissible_actions"]
    schedule = "every:2"
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sparring.adversary.edits import FIELDS
from sparring.adversary.registry import resolve
from sparring.adversary.schedule import Schedule
from sparring.errors import ConfigError, UnknownNameError

POLICIES = ("random", "greedy")
HIJACKS = ("action", "state")
MAX_BUDGET = 10_000


def _names(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{what} must be a name, a comma-separated string or a list of names, got {value!r}")


@dataclasses.dataclass(frozen=True)
class AttackConfig:
    """An attack: operators, budget, fields, schedule and policy."""

    operators: tuple[str, ...] = ("typo",)  #: operator names, families ("char"...), "train", "held_out" or "all"
    budget: int = 1  #: edit units per field and perturbed turn (characters, words, sentences, rewrites...)
    targets: tuple[str, ...] = ("observation",)  #: fields to perturb: observation, instruction, admissible_actions
    schedule: str = "all"  #: turns to perturb: all | reset | every:N | from:N | until:N | turns:0,2 | prob:P
    policy: str = "random"  #: random (operators drawn within the budget) | greedy (needs an agent to query)
    operators_per_turn: int = 1  #: random policy: operators drawn per field and turn, sharing the budget
    hijack: str = "action"  #: what injections aim at: action (a non-expert command) | state (a wrong world state)
    remap_actions: bool = True  #: map a perturbed admissible action the agent picks back to the env's command
    query_budget: int = 16  #: greedy policy: agent scorings per perturbed turn, the clean one included
    candidates_per_round: int = 8  #: greedy policy: candidate moves scored per round of the search
    seed: int = 0  #: perturbation seed: a task's perturbations depend on it and on the task only
    name: str = ""  #: a label for reports and info["attack"] (default: the operators, budget and schedule)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "operators", _names(self.operators, "operators"))
        operators = resolve(self.operators)  # unknown names: "did you mean"
        set_(self, "targets", _names(self.targets, "targets"))
        for target in self.targets:
            if target not in FIELDS:
                raise UnknownNameError("target field", target, FIELDS)
        if not self.targets:
            raise ConfigError(f"targets must name at least one field of {FIELDS}")
        reachable = [t for t in self.targets if any(t in op.fields for op in operators)]
        if not reachable:
            raise ConfigError(
                f"none of the operators {[op.name for op in operators]} can edit {list(self.targets)}; add a target "
                f"they edit ({sorted({f for op in operators for f in op.fields})}) or other operators"
            )
        for knob in ("budget", "operators_per_turn", "query_budget", "candidates_per_round"):
            value = getattr(self, knob)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{knob} must be a positive integer, got {value!r}")
        if self.budget > MAX_BUDGET:
            raise ConfigError(f"budget must be at most {MAX_BUDGET:,} edit units, got {self.budget}")
        set_(self, "schedule", str(Schedule.parse(self.schedule)))
        if self.policy not in POLICIES:
            raise UnknownNameError("adversary policy", self.policy, POLICIES)
        if self.hijack not in HIJACKS:
            raise UnknownNameError("hijack target kind", self.hijack, HIJACKS)
        if not isinstance(self.remap_actions, bool):
            raise ConfigError(f"remap_actions must be true or false, got {self.remap_actions!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"seed must be an integer, got {self.seed!r}")
        if not isinstance(self.name, str):
            raise ConfigError(f"name must be a string, got {self.name!r}")

    def resolved_names(self) -> tuple[str, ...]:
        """The operator names, with family and group names expanded."""
        return tuple(op.name for op in resolve(self.operators))

    @property
    def label(self) -> str:
        return self.name or f"{'+'.join(self.operators)}@{self.budget}/{self.schedule}"

    def replace(self, **changes: Any) -> AttackConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["operators"], data["targets"] = list(self.operators), list(self.targets)
        return data

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> AttackConfig:
        """A config from a dict (a file's contents); unknown keys get a "did you mean"."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"an attack must be a table of settings, got {type(data).__name__}")
        if "attack" in data and isinstance(data["attack"], Mapping) and len(data) == 1:
            data = data["attack"]
        known = {f.name for f in dataclasses.fields(cls)}
        for key in data:
            if key not in known:
                raise UnknownNameError("attack setting", key, known)
        return cls(**dict(data))

    @classmethod
    def load(cls, path: str | os.PathLike) -> AttackConfig:
        """A config from a ``.toml`` or ``.json`` file."""
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"attack file {str(file)!r} does not exist; write one (see sparring.adversary.config)")
        text = file.read_text(encoding="utf-8")
        if file.suffix.lower() == ".json":
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"attack file {str(file)!r} is not valid JSON: {exc}") from exc
        elif file.suffix.lower() == ".toml":
            try:
                import tomllib
            except ImportError:  # Python 3.10
                try:
                    import tomli as tomllib  # type: ignore[no-redef]
                except ImportError:
                    raise ConfigError("reading TOML needs Python 3.11+ or `pip install tomli`; or write the attack "
                                      "as JSON") from None
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"attack file {str(file)!r} is not valid TOML: {exc}") from exc
        else:
            raise ConfigError(f"attack file {str(file)!r} must end in .toml or .json")
        try:
            return cls.from_mapping(data)
        except (ConfigError, UnknownNameError) as exc:
            exc.args = (f"{file}: {exc}",)
            raise

    @classmethod
    def coerce(cls, attack: Any, **overrides: Any) -> AttackConfig:
        """A config from what a caller may pass as ``attack``: an :class:`AttackConfig`, a dict, a
        path to a .toml / .json file, operator names (a string or a list); ``overrides`` replace
        fields (None values are ignored)."""
        changes = {k: v for k, v in overrides.items() if v is not None}
        if isinstance(attack, AttackConfig):
            config = attack
        elif isinstance(attack, Mapping):
            config = cls.from_mapping(attack)
        elif isinstance(attack, os.PathLike) or (
                isinstance(attack, str) and attack.lower().endswith((".toml", ".json"))):
            config = cls.load(attack)
        elif isinstance(attack, (str, Sequence)):
            config = cls(operators=_names(attack, "attack"), **changes)
            changes = {}
        else:
            raise ConfigError(
                f"attack must be operator names, a dict, an AttackConfig or a .toml / .json path, got "
                f"{type(attack).__name__}"
            )
        return dataclasses.replace(config, **changes) if changes else config


__all__ = ["AttackConfig", "HIJACKS", "MAX_BUDGET", "POLICIES"]
