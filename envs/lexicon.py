"""Alias lexicons: the words a family's parser accepts for each canonical word or phrase.

Each family declares ``{canonical: (alias, ...)}``. The parser rewrites every alias in a command to
its canonical form (longest match first, on word boundaries) before matching it against the
admissible actions, so "grab the cup 1 from the counter 2" is "take mug 1 from countertop 2". The
adversary draws its meaning-preserving word substitutions from the same lexicon, which is why a
perturbed observation never asks for a command the parser would reject.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping


class Lexicon:
    """Canonical words and phrases with their aliases."""

    def __init__(self, entries: Mapping[str, Iterable[str]], *, drop: Iterable[str] = ("the", "a", "an", "some")):
        self._aliases: dict[str, tuple[str, ...]] = {}
        self._canonical: dict[str, str] = {}
        for canonical, aliases in entries.items():
            canonical = canonical.lower()
            aliases = tuple(dict.fromkeys(a.lower() for a in aliases if a.lower() != canonical))
            self._aliases[canonical] = aliases
            for alias in aliases:
                previous = self._canonical.setdefault(alias, canonical)
                if previous != canonical:
                    raise ValueError(f"alias {alias!r} maps to both {previous!r} and {canonical!r}")
        clash = sorted(set(self._canonical) & set(self._aliases))
        if clash:
            raise ValueError(f"{clash} are both canonical words and aliases of other words")
        self._drop = frozenset(w.lower() for w in drop)
        words = sorted(self._canonical, key=lambda a: (-len(a), a))
        # `(?<![\w/-])` / `(?![\w/-])`: whole words only; "t-shirt" and "in/on" are one word each.
        self._pattern = (
            re.compile(r"(?<![\w/-])(" + "|".join(re.escape(w) for w in words) + r")(?![\w/-])")
            if words
            else None
        )
        self._drop_pattern = (
            re.compile(r"(?<![\w/-])(" + "|".join(re.escape(w) for w in sorted(self._drop)) + r")(?![\w/-])\s*")
            if self._drop
            else None
        )

        broken = [c for c in self._aliases if self.normalize(c) != c and c not in self._drop]
        if broken:
            raise ValueError(
                f"normalizing {broken[:3]} changes them (an alias is a word inside its own or another "
                f"canonical phrase); remove or lengthen those aliases"
            )

    def canonical(self, word: str) -> str:
        """The canonical form of a word or phrase (itself when it is not an alias)."""
        word = word.lower()
        return self._canonical.get(word, word)

    def aliases(self, canonical: str) -> tuple[str, ...]:
        """The aliases of a canonical word (empty when it has none)."""
        return self._aliases.get(canonical.lower(), ())

    def entries(self) -> dict[str, tuple[str, ...]]:
        """``{canonical: aliases}`` for every word that has aliases."""
        return {c: a for c, a in self._aliases.items() if a}

    def normalize(self, text: str) -> str:
        """Lower-cases ``text``, drops filler words (articles), rewrites aliases to canonical forms and
        collapses whitespace."""
        text = " ".join(text.lower().replace(",", " ").split()).strip(".!?\"'`")
        if self._drop_pattern is not None:
            text = self._drop_pattern.sub("", text)
        if self._pattern is not None:
            text = self._pattern.sub(lambda m: self._canonical[m.group(1)], text)
        return " ".join(text.split())

    def __contains__(self, word: str) -> bool:
        word = word.lower()
        return word in self._aliases or word in self._canonical

    def __len__(self) -> int:
        return len(self._aliases)
