"""Character operators: keyboard typos, swaps, insertions, deletions, OCR confusions, homoglyphs,
zero-width characters, case and whitespace noise.

Each unit of budget is one character edit (an OCR confusion may turn one character into two, or two
into one). Edits are at least two characters apart, so two of them never fuse into one. The tables
are built once at import.

Case and whitespace noise are meaning-preserving: every native family's parser lower-cases
commands and collapses runs of spaces, so a command with its case flipped or its spaces widened is
the same command (tested on every family). The others change the characters the parser sees; an
admissible action they rewrite is mapped back to the env's command by the wrapper.
"""

from __future__ import annotations

import random
import re
from typing import ClassVar

from sparring.adversary.edits import Span
from sparring.adversary.operators import Context, Operator, pick_positions


def _keyboard() -> dict[str, str]:
    """QWERTY neighbours of each letter and digit (keys within about one key's width), both cases."""
    rows = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")
    offsets = (0.0, 0.5, 0.75, 1.25)  # each row's horizontal shift, in key widths
    where = {k: (r, c + offsets[r]) for r, row in enumerate(rows) for c, k in enumerate(row)}
    table: dict[str, str] = {}
    for key, (r, x) in where.items():
        near = sorted((other for other, (r2, x2) in where.items()
                       if other != key and abs(r2 - r) <= 1 and abs(x2 - x) <= 1.0 and other.isalpha() == key.isalpha()),
                      key=lambda o: (abs(where[o][0] - r), abs(where[o][1] - x)))
        table[key] = "".join(near)
        if key.isalpha():
            table[key.upper()] = "".join(near).upper()
    return table


#: every letter and digit -> its neighbouring keys (same case)
KEYBOARD: dict[str, str] = _keyboard()

#: characters an OCR engine confuses: one character read as another (or as two)
OCR_SINGLE: dict[str, tuple[str, ...]] = {
    "o": ("0",), "O": ("0", "D"), "0": ("O", "o"), "l": ("1", "I", "|"), "I": ("l", "1"), "1": ("l", "I"),
    "i": ("l", "1"), "e": ("c",), "c": ("e",), "S": ("5",), "s": ("5",), "5": ("S",), "B": ("8",),
    "8": ("B",), "g": ("9", "q"), "q": ("g",), "Z": ("2",), "2": ("Z",), "m": ("rn",), "w": ("vv",),
    "d": ("cl",), "h": ("b",), "b": ("h", "6"), "6": ("b",), "u": ("v",), "a": ("o",), "t": ("f",),
    "f": ("t",), "n": ("ri",), "E": ("F",), "D": ("O",), "G": ("6",),
}
#: two characters an OCR engine reads as one
OCR_PAIRS: dict[str, str] = {"rn": "m", "cl": "d", "vv": "w", "ri": "n", "li": "h"}

#: Latin letters and look-alikes from other scripts (Cyrillic, Greek, Armenian)
HOMOGLYPHS: dict[str, str] = {
    "a": "\u0430", "c": "\u0441", "e": "\u0435", "o": "\u043e", "p": "\u0440", "x": "\u0445", "y": "\u0443",
    "i": "\u0456", "j": "\u0458", "s": "\u0455", "d": "\u0501", "h": "\u04bb", "v": "\u03bd", "u": "\u057d",
    "k": "\u03ba", "n": "\u0578", "q": "\u051b", "w": "\u051d", "A": "\u0410", "B": "\u0412", "C": "\u0421",
    "E": "\u0415", "H": "\u041d", "I": "\u0406", "J": "\u0408", "K": "\u041a", "M": "\u041c", "N": "\u039d",
    "O": "\u041e", "P": "\u0420", "S": "\u0405", "T": "\u0422", "X": "\u0425", "Y": "\u04ae", "Z": "\u0396",
}

_SPACE = re.compile(" ")

#: invisible characters: zero width space, non-joiner, joiner, word joiner, byte-order mark
ZERO_WIDTH: tuple[str, ...] = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")


def _choice(options: str | tuple[str, ...], rng: random.Random) -> str:
    return options[int(rng.random() * len(options))]


class Typo(Operator):
    name = "typo"
    family = "char"
    unit = "character"
    description = "keyboard typos: a letter or digit replaced by a neighbouring key"

    def spans(self, text: str, budget: int, rng: random.Random, ctx: Context,
              position: float | None = None) -> list[Span]:
        table = KEYBOARD
        at = pick_positions(len(text), budget, rng, lambda i: text[i] in table, position, gap=2)
        return [(i, i + 1, text[i], _choice(table[text[i]], rng)) for i in at]


class CharSwap(Operator):
    name = "char_swap"
    family = "char"
    unit = "character"
    description = "two adjacent letters swapped"

    def spans(self, text: str, budget: int, rng: random.Random, ctx: Context,
              position: float | None = None) -> list[Span]:
        n = len(text)

        def ok(i: int) -> bool:
            return i + 1 < n and text[i].isalpha() and text[i + 1].isalpha() and text[i] != text[i + 1]

        at = pick_positions(n, budget, rng, ok, position, gap=3)
        return [(i, i + 2, text[i:i + 2], text[i + 1] + text[i]) for i in at]


class CharInsert(Operator):
    name = "char_insert"
    family = "char"
    unit = "character"
    description = "a stray key inserted next to a letter (a neighbour of it on the keyboard)"

    def spans(self, text: str, budget: int, rng: random.Random, ctx: Context,
              position: float | None = None) -> list[Span]:
        table = KEYBOARD
        at = pick_positions(len(text), budget, rng, lambda i: text[i].isalpha() and text[i] in table, position, gap=2)
        out: list[Span] = []
        for i in at:
            where = i + (rng.random() < 0.5)  # before or after the letter
            out.append((where, where, "", _choice(table[text[i]], rng)))
        return out


class CharDelete(Operator):
    name = "char_delete"
    family = "char"
    unit = "character"
    description = "a letter deleted"

    def spans(self, text: str, budget: int, rng: random.Random, ctx: Context,
              position: float | None = None) -> list[Span]:
        at = pick_positions(len(text), budget, rng, lambda i: text[i].isalpha(), position, gap=2)
        return [(i, i + 1, text[i], "") for i in at]


class OCRConfusion(Operator):
    name = "ocr"
    family = "char"
    unit = "character"
    description = "OCR confusions: o/0, l/1/I, rn/m, cl/d, vv/w, S/5, B/8 and the like"

    def spans(self, text: str, budget: int, rng: random.Random, ctx: Context,
              position: float | None = None) -> list[Span]:
        single, pairs = OCR_SINGLE, OCR_PAIRS
        at = pick_positions(len(text), budget, rng, lambda i: text[i] in single or text[i:i + 2] in pairs,
                            position, gap=3)
        out: list[Span] = []
        for i in at:
            pair = text[i:i + 2]
            if pair in pairs and (text[i] not in single or rng.random() < 0.5):
                out.append((i, i + 2, pair, pairs[pair]))
            else:
                out.append((i, i + 1, text[i], _choice(single[text[i]], rng)))
        return out


class Homoglyph(Operator):
    name = "homoglyph"
    family = "char"
    unit = "character"
    description = "Latin letters replaced by look-alikes from Cyrillic, Greek or Armenian"

    def spans(self, text: str, budget: int, rng: random.Random, ctx: Context,
              position: float | None = None) -> list[Span]:
        table = HOMOGLYPHS
        at = pick_positions(len(text), budget, rng, lambda i: text[i] in table, position, gap=2)
        return [(i, i + 1, text[i], table[text[i]]) for i in at]


class ZeroWidth(Operator):
    name = "zero_width"
    family = "char"
    unit = "character"
    description = "invisible zero-width characters inserted inside words"

    def spans(self, text: str, budget: int, rng: random.Random, ctx: Context,
              position: float | None = None) -> list[Span]:
        at = pick_positions(len(text), budget, rng, lambda i: i > 0 and text[i].isalnum() and text[i - 1].isalnum(),
                            position, gap=2)
        return [(i, i, "", _choice(ZERO_WIDTH, rng)) for i in at]


class CaseNoise(Operator):
    name = "case"
    family = "char"
    unit = "character"
    description = "letters with their case flipped (parsers lower-case commands: meaning-preserving)"
    preserves_meaning = True

    def spans(self, text: str, budget: int, rng: random.Random, ctx: Context,
              position: float | None = None) -> list[Span]:
        at = pick_positions(len(text), budget, rng, lambda i: text[i].isalpha() and text[i].swapcase() != text[i],
                            position, gap=2)
        return [(i, i + 1, text[i], text[i].swapcase()) for i in at]


class WhitespaceNoise(Operator):
    name = "whitespace"
    family = "char"
    unit = "character"
    description = "spaces widened, or added at the ends (parsers collapse spaces: meaning-preserving)"
    preserves_meaning = True
    _WIDE: ClassVar[tuple[str, ...]] = ("  ", "   ")

    def spans(self, text: str, budget: int, rng: random.Random, ctx: Context,
              position: float | None = None) -> list[Span]:
        n = len(text)
        # spaces are sparse, so list them (one C-level scan) rather than probe; n stands for "after
        # the end" and 0 for "before the start" (a space added there)
        places = [m.start() for m in _SPACE.finditer(text)]
        if not places or places[0] != 0:
            places.insert(0, 0)
        places.append(n)
        if position is None:
            order = places
            picked: list[int] = []
            while order and len(picked) < budget:
                i = order.pop(int(rng.random() * len(order)))
                if all(abs(i - j) >= 2 for j in picked):
                    picked.append(i)
        else:
            anchor = position * n
            picked = []
            for i in sorted(places, key=lambda p: (abs(p - anchor), p)):
                if all(abs(i - j) >= 2 for j in picked):
                    picked.append(i)
                    if len(picked) >= budget:
                        break
        out: list[Span] = []
        for i in picked:
            if i < n and text[i] == " ":
                out.append((i, i + 1, " ", _choice(self._WIDE, rng)))
            else:
                out.append((i, i, "", " "))
        return out


OPERATORS: tuple[Operator, ...] = (Typo(), CharSwap(), CharInsert(), CharDelete(), OCRConfusion(), Homoglyph(),
                                   ZeroWidth(), CaseNoise(), WhitespaceNoise())

__all__ = ["HOMOGLYPHS", "KEYBOARD", "OCR_PAIRS", "OCR_SINGLE", "OPERATORS", "ZERO_WIDTH"]
