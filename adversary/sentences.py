"""Sentence operators: distractor sentences from the env's world, tautologies and random strings
added to an observation, sentences swapped, and the admissible-action list reordered.

Each unit of budget is one sentence added or one swap. Sentences go in where a sentence ends (after
``.``, ``!`` or ``?`` and a space or line break) or at the end of the text; random strings
are appended. Reordering the admissible actions is meaning-preserving: the agent is offered the same
commands in another order (position bias is what it tests).
"""

from __future__ import annotations

import random
import re

from sparring.adversary.edits import Span
from sparring.adversary.operators import Context, Operator, pick_positions

_BOUNDARY = re.compile(r"(?<=[.!?])[ \n]+")
#: a sentence: from a capital, digit, quote or bracket to the first ., ! or ? followed by a space,
#: a line break or the end (so "$74.99" and "5,000." inside a sentence do not end it)
_SENTENCE = re.compile(r"[A-Z0-9\"(\[][^\n]*?[.!?](?=[ \n]|$)")
OBSERVATION = frozenset({"observation"})

TAUTOLOGIES: tuple[str, ...] = (
    "A thing is what it is.",
    "Either it is raining outside or it is not.",
    "Every door is a door.",
    "What is here is here, and what is not here is not.",
    "If you are holding something, then you are holding something.",
    "Nothing is both open and not open at once.",
    "All red things are red.",
    "Today is the day that it is.",
    "Whatever happens next will happen next.",
    "A question that has an answer has an answer.",
    "Every product costs what it costs.",
    "The task is the task.",
    "Anything that is true is true.",
    "What has been done has been done.",
)
_RANDOM_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def boundaries(text: str) -> list[int]:
    """Where a sentence may be inserted: the start of every sentence after the first, and the end."""
    return [m.end() for m in _BOUNDARY.finditer(text)] + [len(text)]


def insert_sentences(text: str, sentences: list[str], rng: random.Random, position: float | None) -> list[Span]:
    """Spans that put each sentence at its own boundary of ``text`` (what is left over goes at the end)."""
    places = boundaries(text)
    n = len(text)
    if position is None:
        chosen = [places[int(rng.random() * len(places))] for _ in sentences]
    else:
        anchor = position * n
        ranked = sorted(places, key=lambda b: (abs(b - anchor), b))
        chosen = [ranked[min(k, len(ranked) - 1)] for k in range(len(sentences))]
    grouped: dict[int, list[str]] = {}
    for at, sentence in zip(chosen, sentences, strict=True):
        grouped.setdefault(at, []).append(sentence)
    spans: list[Span] = []
    for at, group in grouped.items():
        block = " ".join(group)
        if at >= n:
            sep = "" if not text or text[-1] in " \n" else " "
            spans.append((n, n, "", sep + block))
        else:
            spans.append((at, at, "", block + " "))
    return spans


class Distractor(Operator):
    name = "distractor"
    family = "sentence"
    unit = "sentence"
    description = "plausible but irrelevant facts about the task's own world (things the goal does not involve)"
    fields = OBSERVATION

    def spans(self, text: str, budget: int, rng: random.Random, ctx: Context,
              position: float | None = None) -> list[Span]:
        world = ctx.world
        sentences: list[str] = []
        for _ in range(3 * budget):  # distinct sentences where the world allows
            sentence = world.sentence(rng)
            if sentence not in sentences and sentence not in text:
                sentences.append(sentence)
            if len(sentences) >= budget:
                break
        return insert_sentences(text, sentences, rng, position)


class Tautology(Operator):
    name = "tautology"
    family = "sentence"
    unit = "sentence"
    description = "tautologies (true of everything, telling nothing) added between sentences"
    fields = OBSERVATION

    def spans(self, text: str, budget: int, rng: random.Random, ctx: Context,
              position: float | None = None) -> list[Span]:
        pool = list(TAUTOLOGIES)
        sentences = [pool.pop(int(rng.random() * len(pool))) for _ in range(min(budget, len(pool)))]
        return insert_sentences(text, sentences, rng, position)


class RandomString(Operator):
    name = "random_string"
    family = "sentence"
    unit = "sentence"
    description = "strings of random letters and digits appended (a noisy channel, a garbled page)"
    fields = OBSERVATION

    def spans(self, text: str, budget: int, rng: random.Random, ctx: Context,
              position: float | None = None) -> list[Span]:
        draw, chars = rng.random, _RANDOM_CHARS
        sentences = []
        for _ in range(budget):
            tokens = ["".join(chars[int(draw() * len(chars))] for _ in range(2 + int(draw() * 7)))
                      for _ in range(3 + int(draw() * 4))]
            sentences.append(" ".join(tokens))
        if position is None:
            position = 1.0  # appended
        return insert_sentences(text, sentences, rng, position)


class SentenceShuffle(Operator):
    name = "sentence_shuffle"
    family = "sentence"
    unit = "sentence"
    description = "two neighbouring sentences of a line swapped"
    fields = OBSERVATION

    def spans(self, text: str, budget: int, rng: random.Random, ctx: Context,
              position: float | None = None) -> list[Span]:
        found = [m.span() for m in _SENTENCE.finditer(text)]
        pairs = [k for k in range(len(found) - 1) if text[found[k][1]:found[k + 1][0]] == " "]
        if not pairs:
            return []
        # choose among the pairs (not characters); two chosen pairs must not share a sentence
        at = pick_positions(len(pairs), budget, rng, lambda i: True,
                            None if position is None else position, gap=2)
        spans: list[Span] = []
        for i in at:
            (s1, e1), (s2, e2) = found[pairs[i]], found[pairs[i] + 1]
            if any(s < e2 and s1 < e for s, e, _, _ in spans):
                continue
            spans.append((s1, e2, text[s1:e2], text[s2:e2] + " " + text[s1:e1]))
        return spans


class ActionShuffle(Operator):
    name = "action_shuffle"
    family = "sentence"
    unit = "swap"
    description = "the admissible-action list reordered (each unit swaps two actions; same commands offered)"
    preserves_meaning = True
    fields = frozenset({"admissible_actions"})
    edits_list = True

    def list_spans(self, items: list[str], budget: int, rng: random.Random, ctx: Context,
                   position: float | None = None) -> list[Span]:
        n = len(items)
        if n < 2:
            return []
        current = list(items)
        spans: list[Span] = []
        for k in range(budget):
            if position is not None and k == 0:
                i = min(n - 1, int(position * n))
            else:
                i = int(rng.random() * n)
            j = int(rng.random() * (n - 1))
            j += j >= i
            a, b = min(i, j), max(i, j)
            before = current[a:b + 1]
            after = [before[-1], *before[1:-1], before[0]]
            current[a:b + 1] = after
            spans.append((a, b + 1, before, after))
        return spans


OPERATORS: tuple[Operator, ...] = (Distractor(), Tautology(), RandomString(), SentenceShuffle(), ActionShuffle())

__all__ = ["OPERATORS", "TAUTOLOGIES", "boundaries", "insert_sentences"]
