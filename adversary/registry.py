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

#: operators never used in training (the min-max trainer refuses them; the leaderboard reports them apart)
HELD_OUT_OPERATORS: frozenset[str] = frozenset({
    "ocr", "homoglyph", "zero_width", "whitespace",  # char
    "thesaurus", "word_split", "word_merge",  # word
    "random_string", "sentence_shuffle",  # sentence
    "paraphrase_terse",  # paraphrase
    "inject_authority",  # injection
})
#: operators an adversarial trainer may use
TRAIN_OPERATORS: frozenset[str] = frozenset(OPERATORS) - HELD_OUT_OPERATORS

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


_check()


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
           "get_operator", "resolve", "split_of"]
