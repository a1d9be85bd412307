"""The attacks a leaderboard runs: a name resolved to a :class:`~sparring.adversary.config.AttackConfig`
through one function, :func:`resolve_attack`, and one pass of an agent under it.

An attack name is either ``FAMILY/SPLIT`` — the operators of one family on one side of the
train / held-out split (``char/held_out``, ``injection/train``) — or anything the adversary's
registry resolves: an operator (``typo``), a family (``word``), ``train``, ``held_out``, ``all``, or
a comma-separated list of those. A suite may also give a table that sets the attack's knobs::

    [[attacks.run]]
    name = "typo-heavy"
    operators = ["typo", "keyboard"]
    budget = 6
    targets = ["observation"]

Each attack is reported under its family (the operators' family, or ``a+b`` when they span
several) and its split (``train``, ``held_out``, or ``mixed``). An attack is played ``samples`` times
per task, with perturbation seeds ``0 .. samples - 1``: that is the K of RSR@K.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from sparring.errors import ConfigError, UnknownNameError

#: AttackConfig fields a suite may set (``seed`` comes from the samples, ``name`` from the attack)
ATTACK_KNOBS = ("operators", "budget", "targets", "schedule", "policy", "operators_per_turn", "hijack",
                "remap_actions", "query_budget", "candidates_per_round")


@dataclasses.dataclass(frozen=True)
class AttackSpec:
    """One attack of a leaderboard."""

    name: str  #: the label in tables and plots
    family: str  #: the operator family (``a+b`` when several)
    split: str  #: train | held_out | mixed
    config: Any  #: the AttackConfig (seed 0; each sample replaces it)
    samples: int = 1  #: perturbation seeds per task (K of RSR@K)

    @property
    def operators(self) -> tuple[str, ...]:
        return self.config.resolved_names()

    def identity(self) -> dict[str, Any]:
        """What decides the attack's effect (its label does not): part of a cell's cache key."""
        data = self.config.to_dict()
        data.pop("seed"), data.pop("name")
        data["operators"] = list(self.operators)
        return {**data, "samples": self.samples}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "family": self.family, "split": self.split, **self.identity()}

    def sample(self, k: int) -> Any:
        """The config of the k-th perturbation sample."""
        return self.config.replace(seed=k)


def resolve_attack(spec: str | Mapping[str, Any], defaults: Mapping[str, Any] | None = None,
                   samples: int = 1) -> AttackSpec:
    """An attack from a name or a table (see the module docstring); ``defaults`` are knobs every
    attack of the suite shares, which the table overrides. Unknown names get a "did you mean"."""
    from sparring.adversary.config import AttackConfig
    from sparring.adversary.edits import FIELDS
    from sparring.adversary.registry import BY_FAMILY, GROUPS, OPERATORS, split_of

    knobs = dict(defaults or {})
    if isinstance(spec, str):
        name, selector = spec.strip(), spec.strip()
    elif isinstance(spec, Mapping):
        table = dict(spec)
        for key in table:
            if key not in ("name", "attack", *ATTACK_KNOBS):
                raise UnknownNameError("attack setting", key, ("name", "attack", *ATTACK_KNOBS))
        selector = table.pop("attack", None)
        if selector is not None and "operators" in table:
            raise ConfigError(f"attack {table.get('name', selector)!r}: give attack = NAME or operators = [...], "
                              f"not both")
        if selector is None and "operators" not in table:
            raise ConfigError(f"attack table {spec!r} needs attack = NAME (e.g. 'char/held_out') or operators = [...]")
        name = table.pop("name", None) or selector or ",".join(_names(table["operators"]))
        knobs.update(table)
    else:
        raise ConfigError(f"an attack must be a name like 'char/held_out' or a table, got {type(spec).__name__}")
    if not isinstance(name, str) or not name or ":" in name:
        raise ConfigError(f"an attack's name must be a non-empty string without ':', got {name!r}")
    if isinstance(selector, str):
        family, slash, side = selector.partition("/")
        if slash:
            if family not in BY_FAMILY:
                raise UnknownNameError("operator family", family, BY_FAMILY, hint="Write FAMILY/SPLIT, e.g. char/held_out.")
            if side not in ("train", "held_out"):
                raise UnknownNameError("attack split", side, ("train", "held_out"),
                                       hint="Write FAMILY/SPLIT, e.g. char/held_out.")
            knobs["operators"] = [op for op in BY_FAMILY[family] if split_of(op) == side]
        else:
            knobs["operators"] = selector
    operators = _names(knobs["operators"])
    for op in operators:
        if op not in OPERATORS and op not in GROUPS:
            raise UnknownNameError("operator", op, [*OPERATORS, *GROUPS],
                                   hint="Attacks are FAMILY/SPLIT (char/held_out) or operator, family or group names; "
                                        "`sparring attack --list` lists the operators.")
    if "targets" not in knobs:
        members = [OPERATORS[m] for n in operators for m in GROUPS.get(n, (n,))]
        knobs["targets"] = [f for f in FIELDS if any(f in op.fields for op in members)]
    try:
        config = AttackConfig.from_mapping({**knobs, "operators": operators, "seed": 0, "name": name})
    except ConfigError as exc:
        exc.args = (f"attack {name!r}: {exc}",)
        raise
    resolved = config.resolved_names()
    families = sorted({OPERATORS[op].family for op in resolved})
    sides = {split_of(op) for op in resolved}
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ConfigError(f"attack samples must be a positive integer (perturbation seeds per task), got {samples!r}")
    return AttackSpec(name=name, family="+".join(families), split=sides.pop() if len(sides) == 1 else "mixed",
                      config=config, samples=samples)


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError(f"operators must be a name, a comma-separated string or a list of names, got {value!r}")


def play_attack(agent_factory: Any, attack: AttackSpec, env_id: str, seeds: Sequence[int], *, split: str,
                env_kwargs: Mapping[str, Any], num_envs: int, sample: int) -> list[Any]:
    """One pass of an agent (from ``agent_factory()``) under the ``sample``-th perturbation of
    ``attack``; returns the adversary's episode logs."""
    from sparring.adversary.play import play

    agent = agent_factory()
    config = attack.sample(sample)
    scorer = factory = None
    if config.policy == "greedy":
        from sparring.adversary.policies import GreedyPolicy
        from sparring.adversary.scoring import ReActScorer

        scorer = ReActScorer(agent)

        def factory() -> Any:
            return GreedyPolicy(scorer, query_budget=config.query_budget,
                                candidates_per_round=config.candidates_per_round)

    return play(agent, env_id, list(seeds), attack=config, split=split, env_kwargs=env_kwargs, num_envs=num_envs,
                policy=factory)


__all__ = ["ATTACK_KNOBS", "AttackSpec", "play_attack", "resolve_attack"]
