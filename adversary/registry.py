"""Every operator by name, its family, and the split into train attacks and held-out attacks.

The split is part of the project's evaluation protocol: adversarial training (the min-max trainer)
may only ever use :data:`TRAIN_OPERATORS`; :data:`HELD_OUT_OPERATORS` are kept for measuring
robustness to perturbations never trained against (the leaderboard reports both). Each family has
operators on both sides, so "held-out" means a new kind of perturbation within a known family, not a
new family.

Names resolve as operator names, family names (``"char"`` = every character operator), ``"train"``,
``"held_out"`` and ``"all"``; an unknown name raises :class:`~sparring.errors.UnknownNameError` with
a "did you mean".
"""

from __future__ import annotations

from collections.abc import Iterable

from sparring.adversary import characters, injection, paraphrase, sentences, words
from sparring.adversary.operators import FAMILIES, Operator
from sparring.errors import ConfigError, UnknownNameError

OPERATORS: dict[str, Operator] = {
    op.name: op
    for module in (characters, words, sentences, paraphrase, injection)
    for op in module.OPERATORS
}

#: operators never used in training (the min-max trainer refuses them; the leaderboard reports them apart).
#: These tables are live: :func:`register_operator` adds to them in place, never assign to them.
HELD_OUT_OPERATORS: set[str] = set({
    "ocr", "homoglyph", "zero_width", "whitespace",  # char
    "thesaurus", "word_split", "word_merge",  # word
    "random_string", "sentence_shuffle",  # sentence
    "paraphrase_terse",  # paraphrase
    "inject_authority",  # injection
})
#: operators an adversarial trainer may use
TRAIN_OPERATORS: set[str] = set(OPERATORS) - HELD_OUT_OPERATORS

#: family -> its operators, in registration order
BY_FAMILY: dict[str, tuple[str, ...]] = {f: tuple(n for n, op in OPERATORS.items() if op.family == f) for f in FAMILIES}
#: group names that stand for several operators
GROUPS: dict[str, tuple[str, ...]] = {
    **BY_FAMILY,
    "train": tuple(n for n in OPERATORS if n in TRAIN_OPERATORS),
    "held_out": tuple(n for n in OPERATORS if n in HELD_OUT_OPERATORS),
    "all": tuple(OPERATORS),
}


def _check() -> None:
    unknown = HELD_OUT_OPERATORS - set(OPERATORS)
    if unknown:
        raise RuntimeError(f"held-out operators {sorted(unknown)} are not registered")
    for family, names in BY_FAMILY.items():
        if not (set(names) & TRAIN_OPERATORS and set(names) & HELD_OUT_OPERATORS):
            raise RuntimeError(f"family {family!r} needs operators on both sides of the train / held-out split")
    shadowed = set(OPERATORS) & set(GROUPS)
    if shadowed:
        # resolve() reads a group name first, so such an operator could never be named on its own
        raise RuntimeError(f"operators {sorted(shadowed)} have the names of operator groups; rename them")


_check()


def register_operator(operator: Operator, *, held_out: bool = False) -> Operator:
    """Adds an operator (an instance of an :class:`~sparring.adversary.operators.Operator` subclass)
    to the catalogue, on the train side or, with ``held_out=True``, the held-out side of its family.
    From then on the wrapper, ``sparring attack``, the suites and the trainers find it by name, and
    its family's name and ``"train"`` / ``"held_out"`` / ``"all"`` include it. Returns the operator,
    so it can decorate an instance's creation: ``register_operator(Shout())``."""
    if isinstance(operator, type):
        raise ConfigError(f"register an instance, not the class: register_operator({operator.__name__}())")
    if not isinstance(operator, Operator):
        raise ConfigError(f"expected an instance of sparring.adversary.operators.Operator, got {operator!r}")
    name = operator.name
    if not isinstance(name, str) or not name.isidentifier():
        raise ConfigError(f"an operator needs a name made of letters, digits and underscores, got {name!r}")
    if name in OPERATORS or name in GROUPS:
        raise ConfigError(f"the name {name!r} is taken (an operator or a group of them); choose another")
    if operator.family not in FAMILIES:
        raise ConfigError(f"operator {name!r} has family {operator.family!r}; set its family to one of "
                          f"{', '.join(FAMILIES)}")
    if not operator.description:
        raise ConfigError(f"operator {name!r} needs a one-line description (shown in listings and reports)")
    OPERATORS[name] = operator
    (HELD_OUT_OPERATORS if held_out else TRAIN_OPERATORS).add(name)
    BY_FAMILY[operator.family] += (name,)
    GROUPS[operator.family] = BY_FAMILY[operator.family]
    side = "held_out" if held_out else "train"
    GROUPS[side] += (name,)
    GROUPS["all"] += (name,)
    return operator


def get_operator(name: str) -> Operator:
    """The operator called ``name`` (with a "did you mean" when there is none)."""
    try:
        return OPERATORS[name]
    except (KeyError, TypeError):
        raise UnknownNameError("operator", name, list(OPERATORS) + list(GROUPS),
                               hint="`sparring attack --list` shows each with its family and split.") from None


def resolve(names: str | Iterable[str]) -> tuple[Operator, ...]:
    """Operators from names, family names, "train", "held_out" or "all" (a comma-separated string
    or a sequence), in order, without repeats."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",")]
    out: dict[str, Operator] = {}
    for name in names:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"operator names must be non-empty strings, got {name!r}")
        for member in GROUPS.get(name, (name,)):
            out.setdefault(member, get_operator(member))
    if not out:
        raise ConfigError("no operators given; name at least one (e.g. 'typo', 'char' or 'train')")
    return tuple(out.values())


def split_of(name: str) -> str:
    """``"train"`` or ``"held_out"``."""
    get_operator(name)
    return "held_out" if name in HELD_OUT_OPERATORS else "train"


def catalogue() -> list[dict[str, object]]:
    """One row per operator: name, family, split, unit, fields, meaning-preserving, description."""
    return [
        {"name": op.name, "family": op.family, "split": split_of(op.name), "unit": op.unit,
         "fields": sorted(op.fields), "preserves_meaning": op.preserves_meaning, "description": op.description}
        for op in OPERATORS.values()
    ]


__all__ = ["BY_FAMILY", "GROUPS", "HELD_OUT_OPERATORS", "OPERATORS", "TRAIN_OPERATORS", "catalogue",
           "get_operator", "register_operator", "resolve", "split_of"]
