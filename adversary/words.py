"""Word operators: synonyms (the family's alias lexicon, and a general lexicon), insertions,
deletions, splits, merges and local shuffles.

A word is a run of letters and digits, possibly joined by ``-``, ``/`` or ``'`` ("t-shirt",
"in/on", "i'm" are one word each), as the families' lexicons count them. Each unit of budget is one
word edit. Words are found by probing random positions and growing to the word's bounds, so an
operator does not tokenise the whole text; a full scan runs only when probing finds too few.

``synonym`` draws from the env family's own alias lexicon, which the family's parser accepts: an
admissible action it rewrites is the same command to the env (the rewrite is checked against the
lexicon's normal form before it is made), so it is meaning-preserving. In prose it uses only the
groups that read as synonyms in running text (ToolQA's lookup keywords such as born / birth are
aliases of a keyword, not of a word in a sentence). ``thesaurus`` draws from the general lexicon of
:mod:`sparring.adversary.thesaurus` and rewrites prose only.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable
from typing import Any

from sparring.adversary.edits import Span
from sparring.adversary.operators import PROSE, Context, Operator, overlaps
from sparring.adversary.thesaurus import GROUPS

_WORD = re.compile(r"[^\W_]+(?:[-/'][^\W_]+)*")
_CONNECTORS = frozenset("-/'")


def word_bounds(text: str, i: int) -> tuple[int, int]:
    """The word around ``text[i]`` (which must be a letter or digit), as ``(start, end)``."""
    n = len(text)
    s = i
    while s > 0:
        c = text[s - 1]
        if c.isalnum() or (c in _CONNECTORS and s > 1 and text[s - 2].isalnum()):
            s -= 1
        else:
            break
    e = i + 1
    while e < n:
        c = text[e]
        if c.isalnum() or (c in _CONNECTORS and e + 1 < n and text[e + 1].isalnum()):
            e += 1
        else:
            break
    return s, e


def words_of(text: str) -> list[tuple[int, int]]:
    """Every word of ``text`` as ``(start, end)``, in order (the full scan)."""
    return [m.span() for m in _WORD.finditer(text)]


def next_word(text: str, end: int) -> tuple[int, int] | None:
    """The word right after the one ending at ``end`` when a single space separates them."""
    if end + 1 < len(text) and text[end] == " " and text[end + 1].isalnum():
        return word_bounds(text, end + 1)
    return None


def pick_words(text: str, budget: int, rng: random.Random, accept: Callable[[int, int], Span | None],
               position: float | None = None) -> list[Span]:
    """Up to ``budget`` non-overlapping edits, each made by ``accept(start, end)`` from one word
    (None: that word cannot be edited). Random words first; with ``position``, the words nearest
    ``position * len(text)``."""
    n = len(text)
    out: list[Span] = []
    if n == 0 or budget <= 0:
        return out
    tried: set[int] = set()

    def take(s: int, e: int) -> bool:
        tried.add(s)
        span = accept(s, e)
        if span is not None and not overlaps(out, span[0], span[1]):
            out.append(span)
        return len(out) >= budget

    if position is None:
        draw = rng.random
        for _ in range(4 * budget + 12):
            i = int(draw() * n)
            if text[i].isalnum():
                s, e = word_bounds(text, i)
                if s not in tried and take(s, e):
                    return out
        spans = words_of(text)
        if spans:
            first = int(draw() * len(spans))  # the rest in a random rotation: cheap, and fair enough
            for k in range(len(spans)):
                s, e = spans[(first + k) % len(spans)]
                if s not in tried and take(s, e):
                    break
        return out
    anchor = position * n
    for s, e in sorted(words_of(text), key=lambda w: (abs((w[0] + w[1]) / 2 - anchor), w[0])):
        if take(s, e):
            break
    return out


def _match_case(original: str, replacement: str) -> str:
    if original[:1].isupper() and replacement[:1].islower():
        return replacement[:1].upper() + replacement[1:]
    return replacement


# --------------------------------------------------------------------------------------------------
# Phrase tables
# --------------------------------------------------------------------------------------------------
def trie_pattern(words: Iterable[str]) -> str:
    """A regular expression matching any of ``words``, as a trie (``go(?: to)?``): one pass of the
    C matcher over a text instead of one try per word, and the longest phrase wins."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        alts = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        if len(alts) == 1 and "" not in node:
            return alts[0]
        body = "(?:" + "|".join(alts) + ")"
        return body + "?" if "" in node else body

    return build(trie)


class PhraseTable:
    """Interchangeable phrases: ``alternatives[phrase]``, found in a text by one trie regex."""

    def __init__(self, groups: Iterable[Iterable[str]], *, capitalised: bool = False) -> None:
        alternatives: dict[str, list[str]] = {}
        for group in groups:
            members = list(dict.fromkeys(m.lower() for m in group))
            for m in members:
                bucket = alternatives.setdefault(m, [])
                bucket.extend(o for o in members if o != m and o not in bucket)
        self.alternatives: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in alternatives.items() if v}
        #: whether the pattern matches the text itself (lower-case phrases and capitalised first words)
        #: rather than a lower-cased copy of it
        self.capitalised = capitalised
        phrases = list(self.alternatives)
        if capitalised:
            phrases += [p[0].upper() + p[1:] for p in phrases]
        # whole words only: "t-shirt", "in/on" and "i'm" are one word each, and nothing inside them matches
        self.pattern = (re.compile(r"(?<![\w/'-])(?:" + trie_pattern(phrases) + r")(?![\w/'-])") if phrases
                        else None)

    def find(self, text: str) -> list[tuple[int, int, tuple[str, ...]]]:
        """Every phrase of the table in ``text`` as ``(start, end, alternatives)``, whole words only."""
        if self.pattern is None:
            return []
        if self.capitalised:
            scanned = text
        else:
            scanned = text.lower()
            if len(scanned) != len(text):  # a character whose lower case is longer: match in place
                return [(s, e, alts) for s, e, alts in self._find_slow(text)]
        out = []
        alternatives = self.alternatives
        for m in self.pattern.finditer(scanned):
            alts = alternatives.get(m.group().lower())
            if alts:
                out.append((m.start(), m.end(), alts))
        return out

    def _find_slow(self, text: str) -> list[tuple[int, int, tuple[str, ...]]]:
        out = []
        for s, e in words_of(text):
            ends = [e]
            while len(ends) < 6:
                following = next_word(text, ends[-1])
                if following is None:
                    break
                ends.append(following[1])
            for end in reversed(ends):
                alts = self.alternatives.get(text[s:end].lower())
                if alts:
                    out.append((s, end, alts))
                    break
        return out


def choose_matches(found: list[tuple[int, int, Any]], budget: int, rng: random.Random, position: float | None,
                   length: int, accept: Callable[[int, int, Any], Span | None]) -> list[Span]:
    """Up to ``budget`` non-overlapping edits made by ``accept`` from matches ``found``: random ones,
    or the ones nearest ``position * length``."""
    if position is None:
        order = list(found)
        picked = []
        while order and len(picked) < budget:
            s, e, alts = order.pop(int(rng.random() * len(order)))
            span = accept(s, e, alts)
            if span is not None and not overlaps(picked, span[0], span[1]):
                picked.append(span)
        return picked
    anchor = position * length
    picked = []
    for s, e, alts in sorted(found, key=lambda f: (abs((f[0] + f[1]) / 2 - anchor), f[0])):
        span = accept(s, e, alts)
        if span is not None and not overlaps(picked, span[0], span[1]):
            picked.append(span)
            if len(picked) >= budget:
                break
    return picked


#: per family, the lexicon groups (by canonical word) not used in prose: commands that are not
#: synonyms in a sentence ("The door is open" is not "The door is unlock")
PROSE_EXCLUDED: dict[str, frozenset[str]] = {
    "household": frozenset({"look", "inventory"}),
    "navigation": frozenset({"open", "close", "look", "inventory"}),
    "toolqa": frozenset({"finish", "born", "height", "works", "founded", "population", "employees", "area", "elevation",
                         "headquartered", "located", "capital", "twinned", "competes", "border"}),
    "shop": frozenset({"back", "next", "prev", "set"}),
}
_TABLES: dict[tuple[int, bool], PhraseTable] = {}


def lexicon_table(lexicon: Any, family: str, prose: bool) -> PhraseTable:
    """The phrase table of a family's alias lexicon (all groups for commands; in prose, the groups
    that read as synonyms, without one- or two-letter abbreviations)."""
    key = (id(lexicon), prose)
    table = _TABLES.get(key)
    if table is None:
        excluded = PROSE_EXCLUDED.get(family, frozenset()) if prose else frozenset()
        groups = []
        for canonical, aliases in lexicon.entries().items():
            if canonical in excluded:
                continue
            members = (canonical, *aliases)
            if prose:
                members = tuple(m for m in members if len(m) > 2 and m != "inv")
            groups.append(members)
        table = _TABLES[key] = PhraseTable(groups)
    return table


THESAURUS = PhraseTable(GROUPS, capitalised=True)


# --------------------------------------------------------------------------------------------------
# Operators
# --------------------------------------------------------------------------------------------------
class Synonym(Operator):
    name = "synonym"
    family = "word"
    unit = "word"
    description = "words swapped for aliases from the family's lexicon, which its parser accepts"
    preserves_meaning = True

    def spans(self, text: str, budget: int, rng: random.Random, ctx: Context,
              position: float | None = None) -> list[Span]:
        lexicon = ctx.lexicon
        if lexicon is None or not len(lexicon):
            return []
        command = ctx.field == "admissible_actions"
        table = lexicon_table(lexicon, ctx.family, prose=not command)
        normal = lexicon.normalize(text) if command else ""

        def accept(s: int, end: int, alts: tuple[str, ...]) -> Span | None:
            before = text[s:end]
            after = _match_case(before, alts[int(rng.random() * len(alts))])
            if command and lexicon.normalize(text[:s] + after + text[end:]) != normal:
                return None  # the alias would make another command (a word inside a longer alias)
            return (s, end, before, after)

        return choose_matches(table.find(text), budget, rng, position, len(text), accept)


class Thesaurus(Operator):
    name = "thesaurus"
    family = "word"
    unit = "word"
    description = "prose words swapped for synonyms from a general lexicon shipped with the package"
    preserves_meaning = True
    fields = PROSE

    def spans(self, text: str, budget: int, rng: random.Random, ctx: Context,
              position: float | None = None) -> list[Span]:
        def accept(s: int, end: int, alts: tuple[str, ...]) -> Span | None:
            before = text[s:end]
            if before[0].isupper() and not (s == 0 or text[s - 1] == "\n" or text[s - 2:s] in (". ", "! ", "? ", ": ")):
                return None  # a capital only where a sentence opens: names are never rewritten
            return (s, end, before, _match_case(before, alts[int(rng.random() * len(alts))]))

        return choose_matches(THESAURUS.find(text), budget, rng, position, len(text), accept)


#: words a typist or a noisy page drops into a sentence without changing what it asks
FILLERS: tuple[str, ...] = ("really", "just", "very", "quite", "actually", "simply", "also", "still", "maybe",
                            "perhaps", "totally", "basically", "literally", "kind of", "sort of", "please",
                            "now", "here", "indeed", "somehow")


class WordInsert(Operator):
    name = "word_insert"
    family = "word"
    unit = "word"
    description = "filler words inserted between words"

    def spans(self, text: str, budget: int, rng: random.Random, ctx: Context,
              position: float | None = None) -> list[Span]:
        fillers = FILLERS

        def accept(s: int, e: int) -> Span:
            return (s, s, "", fillers[int(rng.random() * len(fillers))] + " ")

        return pick_words(text, budget, rng, accept, position)


class WordDelete(Operator):
    name = "word_delete"
    family = "word"
    unit = "word"
    description = "words deleted (with one space next to them)"

    def spans(self, text: str, budget: int, rng: random.Random, ctx: Context,
              position: float | None = None) -> list[Span]:
        n = len(text)

        def accept(s: int, e: int) -> Span:
            if e < n and text[e] == " ":
                e += 1
            elif s > 0 and text[s - 1] == " ":
                s -= 1
            return (s, e, text[s:e], "")

        return pick_words(text, budget, rng, accept, position)


class WordSplit(Operator):
    name = "word_split"
    family = "word"
    unit = "word"
    description = "words split in two by a space (countertop -> counter top, fridge -> fri dge)"

    def spans(self, text: str, budget: int, rng: random.Random, ctx: Context,
              position: float | None = None) -> list[Span]:
        def accept(s: int, e: int) -> Span | None:
            if e - s < 4 or not text[s:e].isalpha():
                return None
            at = s + 2 + int(rng.random() * (e - s - 3))
            return (at, at, "", " ")

        return pick_words(text, budget, rng, accept, position)


class WordMerge(Operator):
    name = "word_merge"
    family = "word"
    unit = "word"
    description = "two neighbouring words merged into one (go to -> goto)"

    def spans(self, text: str, budget: int, rng: random.Random, ctx: Context,
              position: float | None = None) -> list[Span]:
        def accept(s: int, e: int) -> Span | None:
            if next_word(text, e) is None:
                return None
            return (e, e + 1, " ", "")

        return pick_words(text, budget, rng, accept, position)


class WordShuffle(Operator):
    name = "word_shuffle"
    family = "word"
    unit = "word"
    description = "local shuffles: two neighbouring words swapped"

    def spans(self, text: str, budget: int, rng: random.Random, ctx: Context,
              position: float | None = None) -> list[Span]:
        def accept(s: int, e: int) -> Span | None:
            following = next_word(text, e)
            if following is None:
                return None
            s2, e2 = following
            first, second = text[s:e], text[s2:e2]
            if first.lower() == second.lower():
                return None
            return (s, e2, text[s:e2], second + " " + first)

        return pick_words(text, budget, rng, accept, position)


OPERATORS: tuple[Operator, ...] = (Synonym(), Thesaurus(), WordInsert(), WordDelete(), WordSplit(), WordMerge(),
                                   WordShuffle())

__all__ = ["FILLERS", "OPERATORS", "PROSE_EXCLUDED", "PhraseTable", "THESAURUS", "choose_matches", "lexicon_table",
           "next_word", "pick_words", "trie_pattern", "word_bounds", "words_of"]
