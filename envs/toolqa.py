"""ToolQA: ReAct-style multi-hop question answering over a generated knowledge base."""

from __future__ import annotations

import ast
import dataclasses
import difflib
import hashlib
import math
import operator
import random
import re
import struct
import unicodedata
from collections.abc import Mapping
from typing import Any, ClassVar, NamedTuple

from sparring.envs.lexicon import Lexicon
from sparring.envs.text_env import FamilyConfig, Rejected, TextEnv, quote
from sparring.errors import ConfigError, InvalidTaskError

# --------------------------------------------------------------------------------------------------
# The world's schema
# --------------------------------------------------------------------------------------------------
TYPES: tuple[str, ...] = ("person", "city", "company", "country")
#: relation -> (type of the entity whose page states it, type of the entity it names)
RELATIONS: dict[str, tuple[str, str]] = {
    "born_in": ("person", "city"),
    "works_for": ("person", "company"),
    "headquartered_in": ("company", "city"),
    "founded_by": ("company", "person"),
    "located_in": ("city", "country"),
    "capital": ("country", "city"),
}
#: entity type -> its numeric attributes
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "person": ("birth_year", "height"),
    "city": ("population", "founded", "elevation"),
    "company": ("founded", "employees"),
    "country": ("area", "population"),
}
#: attributes that are years: "older" / "before" means a smaller value
YEAR_ATTRIBUTES = frozenset({"birth_year", "founded"})
#: attributes whose sum is a sensible question ("the combined population of ...")
SUMMABLE = frozenset({"population", "employees", "area", "height"})
#: a relation followed by another that always leads back (the capital of X lies in X)
TRIVIAL_PAIRS = frozenset({("capital", "located_in")})
MAX_CHAIN = 3
QUESTION_KINDS = ("single", "difference", "sum")

#: where each type's entities live in a task spec
GROUPS: dict[str, str] = {
    "person": "people", "city": "cities", "company": "companies", "country": "countries",
}
#: per type, the fields of an entity record, in the order of the record's list: (field, entity type
#: it names, or None for an integer). A person is [born_in, works_for, birth_year, height].
SCHEMA: dict[str, tuple[tuple[str, str | None], ...]] = {
    t: tuple((r, dst) for r, (src, dst) in RELATIONS.items() if src == t)
    + tuple((a, None) for a in ATTRIBUTES[t])
    for t in TYPES
}
FIELDS: dict[str, tuple[str, ...]] = {t: tuple(f for f, _ in fields) for t, fields in SCHEMA.items()}
FIELD_INDEX: dict[str, dict[str, int]] = {
    t: {f: i for i, f in enumerate(fields)} for t, fields in FIELDS.items()
}
#: kinds of distractor sentence a page of each type may carry
FACT_KINDS: dict[str, tuple[str, ...]] = {
    "person": ("moved", "friend"),
    "city": ("census", "twin"),
    "company": ("office", "staff", "rival"),
    "country": ("border", "census"),
}
#: distractor kinds that name another entity, and its type
_FACT_TARGET = {"friend": "person", "twin": "city", "rival": "company", "border": "country"}
LAST_YEAR = 2023  #: no event in a world happens later


class Chain(NamedTuple):
    """A question's path from a named entity: relations, possibly ending in an attribute."""

    start: str  #: the type of the named entity
    path: tuple[str, ...]
    final: str  #: the type of the last entity reached (the one whose attribute is asked, if any)
    attribute: str | None
    key: str  #: the links joined by ">", e.g. "born_in>population"
    steps: tuple[int, ...]  #: for each link, its index in the record of the entity it is read from


def _enumerate_chains() -> tuple[Chain, ...]:
    chains: list[Chain] = []

    def walk(start: str, here: str, path: tuple[str, ...], steps: tuple[int, ...]) -> None:
        for attr in ATTRIBUTES[here]:
            chains.append(Chain(start, path + (attr,), here, attr, ">".join(path + (attr,)),
                                steps + (FIELD_INDEX[here][attr],)))
        for rel, (src, dst) in RELATIONS.items():
            if src != here or (path and (path[-1], rel) in TRIVIAL_PAIRS):
                continue
            longer, further = path + (rel,), steps + (FIELD_INDEX[here][rel],)
            chains.append(Chain(start, longer, dst, None, ">".join(longer), further))
            if len(longer) < MAX_CHAIN:  # room left for another link
                walk(start, dst, longer, further)

    for t in TYPES:
        walk(t, t, (), ())
    return tuple(chains)


def _is_held_out_chain(key: str) -> bool:
    # A fixed share of the chains of two or more links, chosen by a stable hash; every single
    # relation and attribute stays in training as a one-link chain, and the tests check that each
    # link of a held-out chain also appears in seen chains of two or more links.
    digest = hashlib.blake2b(f"toolqa|{key}".encode(), digest_size=2).digest()
    return int.from_bytes(digest, "big") % 4 == 0


CHAINS: tuple[Chain, ...] = _enumerate_chains()
HELD_OUT_CHAINS = frozenset(c.key for c in CHAINS if len(c.path) >= 2 and _is_held_out_chain(c.key))


def _chain_pools() -> dict[tuple[bool, int, bool], tuple[Chain, ...]]:
    """``(held out, length, must end in an attribute) -> chains``, for drawing questions quickly."""
    pools: dict[tuple[bool, int, bool], tuple[Chain, ...]] = {}
    for held in (False, True):
        for n in range(1, MAX_CHAIN + 1):
            chains = tuple(c for c in CHAINS if len(c.path) == n and (c.key in HELD_OUT_CHAINS) == held)
            pools[(held, n, False)] = chains
            pools[(held, n, True)] = tuple(c for c in chains if c.attribute is not None)
    return pools


_POOLS = _chain_pools()
#: (type of the final entity, attribute) -> the chains that end in it
_BY_FINAL: dict[tuple[str, str], tuple[Chain, ...]] = {}
for _chain in CHAINS:
    if _chain.attribute is not None:
        _end = (_chain.final, _chain.attribute)
        _BY_FINAL[_end] = _BY_FINAL.get(_end, ()) + (_chain,)
del _chain, _end

# --------------------------------------------------------------------------------------------------
# Question templates
# --------------------------------------------------------------------------------------------------
#: the entity a relation leads to, described from a plain name ("the city where Alba Venn was born")
REL_CLAUSE = {
    "born_in": "the city where {} was born",
    "works_for": "the company that {} works for",
    "headquartered_in": "the city where {} is headquartered",
    "founded_by": "the founder of {}",
    "located_in": "the country where {} is located",
    "capital": "the capital of {}",
}
#: the same from a description, where a second relative clause would read badly
OF_FORM = {
    "born_in": "the birthplace of {}",
    "works_for": "the employer of {}",
    "headquartered_in": "the headquarters city of {}",
    "founded_by": "the founder of {}",
    "located_in": "the country of {}",
    "capital": "the capital of {}",
}
ASK_RELATION = {
    "born_in": "In which city was {} born?",
    "works_for": "Which company does {} work for?",
    "headquartered_in": "In which city is {} headquartered?",
    "founded_by": "Who founded {}?",
    "located_in": "In which country is {} located?",
    "capital": "What is the capital of {}?",
}
ASK_ATTRIBUTE = {
    "birth_year": "In what year was {} born?",
    "height": "How tall is {}, in centimetres?",
    "population": "What is the population of {}?",
    "founded": "In what year was {} founded?",
    "elevation": "What is the elevation of {}, in metres?",
    "employees": "How many employees does {} have?",
    "area": "What is the area of {}, in square kilometres?",
}
#: the answer is value(a) - value(b), or value(b) - value(a) for years ("older" = born earlier)
ASK_DIFFERENCE = {
    "birth_year": "How many years older is {a} than {b}?",
    "height": "How many centimetres taller is {a} than {b}?",
    "population": "How many more people live in {a} than in {b}?",
    "founded": "How many years before {b} was {a} founded?",
    "elevation": "How many metres higher is {a} than {b}?",
    "employees": "How many more employees does {a} have than {b}?",
    "area": "How many square kilometres larger is {a} than {b}?",
}
ASK_SUM = {
    "population": "What is the combined population of {a} and {b}?",
    "employees": "How many employees do {a} and {b} have in total?",
    "area": "What is the combined area of {a} and {b}, in square kilometres?",
    "height": "What is the combined height of {a} and {b}, in centimetres?",
}


def describe(name: str, relations: tuple[str, ...] | list[str]) -> str:
    """The noun phrase for the entity reached from ``name`` along ``relations``."""
    text = name
    for i, rel in enumerate(relations):
        text = (REL_CLAUSE if i == 0 else OF_FORM)[rel].format(text)
    return text


# --------------------------------------------------------------------------------------------------
# Lexicon
# --------------------------------------------------------------------------------------------------
LEXICON_ENTRIES: dict[str, tuple[str, ...]] = {
    # tools ("look up" is English for searching; "lookup" is the in-page tool)
    "search": ("find", "query", "look up", "search for", "look for", "search wikipedia", "wiki"),
    "lookup": ("ctrl-f", "ctrl+f", "find in page", "search in page", "look in page", "grep"),
    "calculate": ("calc", "compute", "evaluate", "calculator", "eval", "math"),
    "finish": ("answer", "submit", "final answer", "give answer"),
    # keywords for lookup[...]
    "born": ("birth", "birthplace", "birth year", "year of birth", "place of birth"),
    "height": ("tall", "tallness", "stature"),
    "works": ("work", "employer", "employed", "job", "workplace"),
    "founded": ("established", "founding", "set up"),
    "population": ("inhabitants", "residents", "populace"),
    "employees": ("staff", "workforce", "workers", "personnel", "headcount", "employee count"),
    "area": ("size", "surface area", "land area"),
    "elevation": ("altitude", "height above sea level"),
    "headquartered": ("based", "headquarters", "hq", "head office"),
    "located": ("situated", "location"),
    "capital": ("capital city", "seat of government"),
    "twinned": ("twin", "sister city"),
    "competes": ("rival", "competitor", "competes with"),
    "border": ("borders", "neighbour", "neighbor"),
    # entity kinds
    "city": ("town",),
    "company": ("firm", "business", "corporation"),
    "country": ("nation",),
}
LEXICON = Lexicon(LEXICON_ENTRIES)
TOOLS = ("search", "lookup", "calculate", "finish")
_VERB_OF = {form: verb for verb in TOOLS for form in (verb,) + LEXICON_ENTRIES[verb]}
# One command: an optional ReAct "Action 2:" prefix, a tool (or an alias), then its argument in
# brackets, after a colon, or after a space. Longest forms first so "find in page" wins over "find".
_COMMAND = re.compile(
    r"\s*(?:action\s*\d*\s*:\s*)?("
    + "|".join(re.escape(f).replace(r"\ ", r"\s+") for f in sorted(_VERB_OF, key=lambda f: (-len(f), f)))
    + r")(?:\s*\[(.*)\]\s*[.!]?|\s*:\s*(.*)|\s+(.*))",
    re.IGNORECASE | re.DOTALL,
)
_BAD_ARGUMENT = re.compile(r"[\[\]\n\r;]|&&")
_NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")

# --------------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------------
_ONSETS = ("b", "br", "d", "dr", "f", "g", "gr", "h", "k", "kr", "l", "m", "n", "p", "r", "s", "sk", "t",
           "th", "tr", "v", "z", "")
_VOWELS = ("a", "e", "i", "o", "u", "ae", "ai", "ei", "ou")
_CODAS = ("", "n", "r", "l", "s", "th", "m", "nd", "rn")
#: a name word is a first syllable (capitalised) and a second; no word ends in "d" or "k"
_SYLLABLES_1 = tuple(sorted({(o + v + c).capitalize() for o in _ONSETS for v in _VOWELS for c in _CODAS}))
_SYLLABLES_2 = tuple(sorted({
    o + v + c for o in _ONSETS if len(o) == 1 for v in _VOWELS[:5] for c in _CODAS[:6]
}))
COUNTRY_SUFFIXES = ("ia", "land", "ora", "istan", "mark", "avia")
COMPANY_SUFFIXES = ("Systems", "Industries", "Group", "Labs", "Holdings", "Motors", "Foods", "Energy",
                    "Media", "Logistics", "Textiles", "Pharma")
#: words a name may not contain: the parser would rewrite or drop them
_RESERVED = frozenset(
    w for phrase in [*LEXICON_ENTRIES, *(a for al in LEXICON_ENTRIES.values() for a in al), "the a an some"]
    for w in re.findall(r"[a-z]+", phrase)
)
_RESERVED_NAMES = frozenset(w.capitalize() for w in _RESERVED)
_NAME_OK = re.compile(r"[^\[\]\x00-\x1f\x7f;,]{1,60}")


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _clean(text: str) -> str:
    """An answer or search term reduced for comparison: case, spacing, quotes, final punctuation."""
    return " ".join(text.lower().split()).strip(" .!?\"'`")


def _printable(text: str, limit: int = 60) -> str:
    """User input echoed in an observation: control characters replaced, length clipped."""
    clipped = "".join("?" if unicodedata.category(ch).startswith("C") else ch for ch in text[:limit])
    return clipped + ("…" if len(text) > limit else "")


# --------------------------------------------------------------------------------------------------
# The calculator: arithmetic on an `ast` tree, never eval
# --------------------------------------------------------------------------------------------------
class CalculationError(ValueError):
    """An expression the calculator refuses; the message says why."""


_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}
_LIMIT = 1e15


def _check_size(value: float) -> float:
    if isinstance(value, float) and not math.isfinite(value) or abs(value) > _LIMIT:
        raise CalculationError("the result is too large (the calculator works up to 10^15)")
    return value


def _eval_node(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _eval_node(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return _check_size(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _eval_node(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left, right = _eval_node(node.left), _eval_node(node.right)
        if isinstance(node.op, ast.Pow):
            if right != int(right) or abs(right) > 64:
                raise CalculationError("exponents must be whole numbers between -64 and 64")
            if left != 0 and right * math.log10(abs(left)) > 15:  # the result's order of magnitude
                raise CalculationError("the result is too large (the calculator works up to 10^15)")
            if left == 0 and right < 0:
                raise CalculationError("division by zero")
            return _check_size(left ** int(right))
        op = _BINARY.get(type(node.op))
        if op is not None:
            if right == 0 and op in (operator.truediv, operator.floordiv, operator.mod):
                raise CalculationError("division by zero")
            return _check_size(op(left, right))
    raise CalculationError("only numbers, + - * / // % ** and parentheses are allowed")


def calculate(expression: str) -> tuple[str, str]:
    """``(the expression as read, the result as text)``; raises :class:`CalculationError`."""
    text = _THOUSANDS.sub("", expression.strip()).replace("×", "*").replace("÷", "/").replace("^", "**")
    if not text:
        raise CalculationError("the expression is empty")
    if "#" in text:
        raise CalculationError("comments are not allowed")
    if len(text) > 200:
        raise CalculationError("the expression is too long (200 characters at most)")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise CalculationError("it is not an arithmetic expression") from None
    try:
        value = _eval_node(tree)
    except RecursionError:
        raise CalculationError("the expression is nested too deeply") from None
    except (OverflowError, ZeroDivisionError) as exc:
        raise CalculationError(str(exc)) from None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(text.split()), (str(value) if isinstance(value, int) else f"{value:.10g}")


# --------------------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ToolQAConfig(FamilyConfig):
    """Difficulty knobs of the ToolQA family."""

    max_hops: int = 2  #: longest chain in seen questions (relations, a final attribute counting as one): 1-3
    arithmetic: float = 0.3  #: share of questions that combine two values (a difference or a sum)
    num_people: int = 6  #: people in the knowledge base
    num_companies: int = 4  #: companies in the knowledge base
    num_cities: int = 5  #: cities in the knowledge base
    num_countries: int = 3  #: countries in the knowledge base
    distractor_facts: int = 1  #: extra sentences per page (0-2) that mention other entities and numbers
    max_steps: int = 20

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "easy": dict(max_hops=1, arithmetic=0.2, num_people=4, num_companies=2, num_cities=3,
                     num_countries=2, distractor_facts=0, max_steps=15),
        "medium": dict(max_hops=2, arithmetic=0.3, num_people=6, num_companies=4, num_cities=5,
                       num_countries=3, distractor_facts=1, max_steps=20),
        "hard": dict(max_hops=3, arithmetic=0.4, num_people=10, num_companies=6, num_cities=8,
                     num_countries=4, distractor_facts=2, max_steps=30),
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        hops = self.max_hops
        if isinstance(hops, bool) or not isinstance(hops, int) or not 1 <= hops <= MAX_CHAIN:
            raise ConfigError(f"max_hops must be an integer from 1 to {MAX_CHAIN}, got {self.max_hops!r}")
        if isinstance(self.arithmetic, bool) or not isinstance(self.arithmetic, (int, float)) or not (
                0.0 <= self.arithmetic <= 1.0):
            raise ConfigError(f"arithmetic must be a share between 0.0 and 1.0, got {self.arithmetic!r}")
        for knob in ("num_people", "num_companies", "num_cities", "num_countries"):
            value = getattr(self, knob)
            if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= 40:
                raise ConfigError(f"{knob} must be an integer from 2 to 40, got {value!r}")
        if self.num_cities < self.num_countries:
            raise ConfigError(
                f"num_cities must be at least num_countries (every country needs a capital city), got "
                f"num_cities={self.num_cities} and num_countries={self.num_countries}; raise num_cities"
            )
        if self.num_companies > 2 * self.num_people:
            raise ConfigError(
                f"num_companies must be at most twice num_people (a person founds at most two companies), "
                f"got num_companies={self.num_companies} and num_people={self.num_people}; raise num_people"
            )
        if isinstance(self.distractor_facts, bool) or self.distractor_facts not in (0, 1, 2):
            raise ConfigError(f"distractor_facts must be 0, 1 or 2, got {self.distractor_facts!r}")
        # the longest task: two operands of the longest chain (held-out chains have two links or
        # more), one page per link, one calculation and the answer
        needed = 2 * max(self.max_hops, 2) + 2
        if self.max_steps < needed:
            raise ConfigError(
                f"max_steps must be at least {needed} with max_hops={self.max_hops} (the longest question "
                f"needs that many steps), got {self.max_steps}; raise max_steps"
            )


# --------------------------------------------------------------------------------------------------
# Episode state
# --------------------------------------------------------------------------------------------------
class _Operand(NamedTuple):
    start: str
    path: tuple[str, ...]
    pages: tuple[str, ...]  #: the page to read for each link, in order (a chain may come back to one)
    final: str  #: the last entity reached
    attribute: str | None
    value: int | None  #: the attribute's value, when the chain ends in one


class _Page(NamedTuple):
    text: str
    sentences: tuple[tuple[str, tuple[str, ...], str], ...]  #: (sentence, lookup keywords, lower-cased)
    names: tuple[str, ...]  #: entities on the page, the page's own first
    numbers: tuple[str, ...]
    keywords: tuple[str, ...]  #: one lookup keyword per kind of sentence, in page order


#: how many recently seen entities / numbers / values of the asked attribute the admissible actions
#: offer; a page names at most 7 entities and 5 numbers, so the last page read always fits
_NAME_WINDOW = 8
_NUMBER_WINDOW = 6
_VALUE_WINDOW = 4


class ToolQAEnv(TextEnv):
    """
    ## Description
    ReAct-style tool use (HotpotQA / ToolQA): every task is a small encyclopedia of fictional people,
    cities, companies and countries, generated from a seed, and a question about it. Answering takes
    following a chain of relations from an entity the question names (born in, works for,
    headquartered in, founded by, located in, capital), reading an attribute at the end (birth year,
    height, population, founding year, elevation, employees, area), and for some questions combining
    two such values with the calculator ("How many years older is Alba Venn than the founder of Velor
    Systems?"). Each page names the next entity on the chain; distractor sentences mention other
    entities and numbers (a former population, the year someone moved).

    A task spec holds the world by type (``people``, ``cities``, ``companies``, ``countries``: name
    -> record, a list in the field order of :data:`SCHEMA`, e.g. a person is ``[born_in, works_for,
    birth_year, height]``), the number of ``distractors`` per page (their sentences are drawn from
    the names, so the spec pins them too), and the ``question`` (``kind``: single / difference /
    sum; ``operands``: ``{"start": name, "path": [links]}``). The answer is computed from the world.

    ## Actions
    ``search[entity]`` opens an entity's page ("Could not find [x]. Similar: [...]" otherwise);
    ``lookup[keyword]`` shows the next sentence of the open page containing the keyword
    ("(Result 1 / 2) ..."); ``calculate[expression]`` evaluates arithmetic (numbers, ``+ - * / // % **``,
    parentheses; nothing else); ``finish[answer]`` submits the answer and ends the episode. Tools are
    case-insensitive; ``search: x`` and ``search x`` work too, as do a ReAct ``Action 2:`` prefix and
    the lexicon's aliases (``find[x]``, ``look up[x]``, ``ctrl-f[x]``, ``calc[x]``, ``answer[x]``,
    ``lookup[inhabitants]``...). Any tool with any non-empty argument is a valid action, listed or
    not; several commands at once are not. ``info["admissible_actions"]`` lists searches for the
    entities in the question and on recently read pages, the keywords of the open page, the
    differences or sums of recently read values of the asked attribute, and answers of the asked
    kind (numbers, or names of the asked type of entity) among those recently seen.

    ## Observations
    The first observation explains the tools and states the question; then each tool's output (a
    page, a sentence, a result, the verdict).

    ## Rewards
    ``"env"``: 1 on a correct ``finish``. ``"progress"``: the change in ``score / max_score``, where
    ``score`` counts the pages on the answer's chains that have been read, plus one for the correct
    answer.

    ## Episode end
    Terminated by ``finish``: won when the answer is right (numbers compared numerically, so
    "1,234" and "1234.0" are the same; names case-insensitively, a company also by its short name),
    lost otherwise. Truncated after ``max_steps``.

    ## Splits
    ``train`` / ``valid`` / ``test``: disjoint seeds and task specs. ``test_unseen``: every question
    follows at least one relation chain of two or more links (a final attribute counting as a link,
    e.g. ``headquartered_in>population``) that no training question uses (a fixed quarter of such
    chains, :data:`HELD_OUT_CHAINS`). Every single relation and attribute still appears in training.
    At the easy difficulty (one-link questions) test_unseen asks two-link questions.

    ## Version history
    * v0: initial version.
    """

    family = "toolqa"
    config_class = ToolQAConfig
    lexicon = LEXICON
    verbs = TOOLS
    syntax = ("search[Alba Venn]", "lookup[population]", "calculate[1990 - 1962]", "finish[1962]")
    match_unnumbered = False  # numbers inside brackets are data, not instance numbers

    config: ToolQAConfig
    _generated: Any = None  #: the last spec _generate returned, which _load trusts without checks

    # ----------------------------------------------------------------------------------------------
    # Generation
    # ----------------------------------------------------------------------------------------------
    def _generate(self, rng: random.Random, unseen: bool) -> dict[str, Any]:
        for _ in range(100):
            spec, kb, by_type = self._draw_world(rng)
            for _ in range(10):
                question = self._draw_question(rng, kb, by_type, unseen)
                if question is not None:
                    spec["question"] = question
                    self._generated = spec
                    return spec
        raise RuntimeError(f"could not generate a toolqa task with {self.config.describe()}")

    def _draw_world(self, rng: random.Random) -> tuple[dict[str, Any], dict[str, Any], dict[str, list[str]]]:
        # Written for speed: every reset draws one world or more (the split buckets reject some), so
        # this is the hot path of a random agent's short episodes.
        cfg = self.config
        r = rng.random
        s1, s2, n2 = _SYLLABLES_1, _SYLLABLES_2, len(_SYLLABLES_2)
        n12 = len(s1) * n2
        n_people, n_cities, n_countries = cfg.num_people, cfg.num_cities, cfg.num_countries
        n_companies = cfg.num_companies
        taken: set[str] = set()
        words: list[str] = []
        wanted = 2 * n_people + n_cities + n_countries + n_companies
        while len(words) < wanted:
            i = int(r() * n12)
            w = s1[i // n2] + s2[i % n2]
            if w not in taken and w not in _RESERVED_NAMES:
                taken.add(w)
                words.append(w)
        people = [f"{words[2 * i]} {words[2 * i + 1]}" for i in range(n_people)]
        at = 2 * n_people
        cities = words[at:at + n_cities]
        at += n_cities
        countries = []
        for w in words[at:at + n_countries]:
            suffix = COUNTRY_SUFFIXES[int(r() * len(COUNTRY_SUFFIXES))]
            # "Thanbia", not "Thanbiia"
            name = (w[:-1] if w[-1] in "aeiou" and suffix[0] in "aeiou" else w) + suffix
            if name in taken:  # a city "Kelia", or another country: no word ends in "d", so "land" is free
                name = w + "land"
            taken.add(name)
            countries.append(name)
        at += n_countries
        companies = [f"{w} {COMPANY_SUFFIXES[int(r() * len(COMPANY_SUFFIXES))]}" for w in words[at:]]

        # records are lists in the field order of SCHEMA (a task spec is JSON-encoded on every
        # reset, and lists encode at twice the speed of small dicts)
        country_recs = {k: ["", 10_000 + int(r() * 1_990_001), 3_500_000 + int(r() * 86_500_001)]
                        for k in countries}
        city_recs: dict[str, list[Any]] = {}
        members: dict[str, list[str]] = {k: [] for k in countries}
        for i, c in enumerate(cities):
            country = countries[i] if i < n_countries else countries[int(r() * n_countries)]
            members[country].append(c)
            city_recs[c] = [country, 5_000 + int(r() * 2_995_001), 800 + int(r() * 1151), int(r() * 2501)]
        for k, rec in country_recs.items():
            rec[0] = members[k][int(r() * len(members[k]))]
        person_recs = {p: [cities[int(r() * n_cities)], "", 1930 + int(r() * 66), 150 + int(r() * 51)]
                       for p in people}
        company_recs: dict[str, list[Any]] = {}
        founded_count = dict.fromkeys(people, 0)
        for co in companies:
            founder = people[int(r() * n_people)]
            while founded_count[founder] >= 2:
                founder = people[int(r() * n_people)]
            founded_count[founder] += 1
            born = person_recs[founder][2]  # founded when the founder was 20 to 80, and not in the future
            company_recs[co] = [cities[int(r() * n_cities)], founder,
                                born + 20 + int(r() * (min(60, LAST_YEAR - born - 20) + 1)),
                                20 + int(r() * 199_981)]
        for rec in person_recs.values():
            rec[1] = companies[int(r() * n_companies)]
        spec = {"people": person_recs, "cities": city_recs, "companies": company_recs,
                "countries": country_recs, "distractors": cfg.distractor_facts}
        kb = {**person_recs, **city_recs, **company_recs, **country_recs}
        return spec, kb, {"person": people, "city": cities, "company": companies, "country": countries}

    def _draw_question(self, rng: random.Random, kb: dict[str, Any], by_type: dict[str, list[str]],
                       unseen: bool) -> dict[str, Any] | None:
        cfg = self.config
        r = rng.random
        hops = max(cfg.max_hops, 2) if unseen else cfg.max_hops
        arithmetic = r() < cfg.arithmetic
        if unseen:
            pool = [c for n in range(2, hops + 1) for c in _POOLS[(True, n, arithmetic)]]
            if not pool:  # no held-out chain of these lengths ends in an attribute: ask a single chain
                arithmetic = False
                pool = [c for n in range(2, hops + 1) for c in _POOLS[(True, n, False)]]
        else:
            pool = _POOLS[(False, 1 + int(r() * hops), arithmetic)]
        first = pool[int(r() * len(pool))]
        start = by_type[first.start][int(r() * len(by_type[first.start]))]
        if not arithmetic:
            return {"kind": "single", "operands": [{"start": start, "path": list(first.path)}]}

        attr = first.attribute
        kind = "sum" if attr in SUMMABLE and r() < 0.5 else "difference"
        partners = [c for c in _BY_FINAL[(first.final, attr)]
                    if len(c.path) <= hops and (unseen or c.key not in HELD_OUT_CHAINS)]
        second = partners[int(r() * len(partners))]
        other = by_type[second.start][int(r() * len(by_type[second.start]))]
        (a_end, va), (b_end, vb) = _follow(kb, start, first.steps), _follow(kb, other, second.steps)
        if a_end == b_end:
            return None
        operands = [{"start": start, "path": list(first.path)}, {"start": other, "path": list(second.path)}]
        if kind == "difference":
            if va == vb:
                return None
            # the answer is positive: the first operand is the larger value, or the earlier year
            if (va > vb) == (attr in YEAR_ATTRIBUTES):
                operands.reverse()
        elif r() < 0.5:
            operands.reverse()
        return {"kind": kind, "operands": operands}

    @classmethod
    def held_out(cls, spec: Mapping[str, Any]) -> list[str]:
        keys = {">".join(o["path"]) for o in spec["question"]["operands"]}
        return sorted(f"chain:{k}" for k in keys if k in HELD_OUT_CHAINS)

    # ----------------------------------------------------------------------------------------------
    # State
    # ----------------------------------------------------------------------------------------------
    def _load(self, spec: Mapping[str, Any]) -> None:
        if spec is not self._generated:  # a spec just drawn by _generate is valid by construction
            self._validate(spec)
        kb: dict[str, Any] = {}
        types: dict[str, str] = {}
        for etype, group in GROUPS.items():
            for name, rec in spec[group].items():
                kb[name] = rec
                types[name] = etype
        names = {name.lower(): name for name in kb}
        shorts: dict[str, str | None] = {}
        for name in spec["companies"]:
            if " " in name:
                short = name.split(" ", 1)[0].lower()
                shorts[short] = None if short in shorts else name
        # a company is also known by its short name ("Velor" for "Velor Systems") when that is unique
        for short, name in shorts.items():
            if name is not None and short not in names:
                names[short] = name

        question = spec["question"]
        kind, operands = question["kind"], question["operands"]
        if kind not in QUESTION_KINDS:
            raise InvalidTaskError(f"unknown question kind {kind!r}; known: {QUESTION_KINDS}")
        if not isinstance(operands, list) or len(operands) != (1 if kind == "single" else 2):
            raise InvalidTaskError(
                f"a {kind} question needs {1 if kind == 'single' else 2} operand(s) in a list")
        ops = [_resolve(kb, types, o) for o in operands]
        if kind == "single":
            truth: Any = ops[0].final if ops[0].attribute is None else ops[0].value
        else:
            a, b = ops
            if a.attribute is None or a.attribute != b.attribute or types[a.final] != types[b.final]:
                raise InvalidTaskError(f"the two operands of a {kind} question must end in the same "
                                       f"attribute of the same type of entity")
            if a.final == b.final:
                raise InvalidTaskError(
                    f"the two operands of a {kind} question reach the same entity {a.final!r}")
            if kind == "sum":
                if a.attribute not in SUMMABLE:
                    raise InvalidTaskError(
                        f"a sum question asks for one of {sorted(SUMMABLE)}, got {a.attribute!r}")
                truth = a.value + b.value
            elif a.attribute in YEAR_ATTRIBUTES:
                truth = b.value - a.value
            else:
                truth = a.value - b.value

        self._kb = kb
        self._types = types
        self._names = names
        self._distractors = spec["distractors"]
        self._pools: dict[str, list[str]] | None = None
        self._kind = kind
        self._operands = ops
        self._attribute = ops[0].attribute if kind != "single" else None
        self._truth = truth
        self._truth_text = str(truth)
        self._answer_type = None if isinstance(truth, int) else types[truth]
        self._question_entities = list(dict.fromkeys(o.start for o in ops))
        self._required = frozenset(p for o in ops for p in o.pages)
        self._question = self._render_question()

        self._pages: dict[str, _Page] = {}
        self._visited: set[str] = set()
        self._pages_read = 0  # required pages visited
        self._open: str | None = None
        self._lookup_state: list[Any] | None = None
        self._mentioned: dict[str, None] = {}  # recently seen entity names, oldest first
        self._numbers: dict[str, None] = {}  # recently seen numbers and results, oldest first
        self._values: dict[str, str] = {}  # recently read entities with the asked attribute: its value
        self._results: set[str] = set()
        self._finished = False
        self._correct = False
        self._dirty = True
        self._acts: dict[str, Any] = {}

    @staticmethod
    def _validate(spec: Any) -> None:
        """Raises :class:`InvalidTaskError` unless ``spec`` holds a consistent world."""
        missing = [k for k in (*GROUPS.values(), "distractors", "question") if k not in spec]
        if missing:
            raise InvalidTaskError(
                f"a toolqa task spec needs the keys {missing}; pass info['task'] of a toolqa env")
        types: dict[str, str] = {}
        lower: dict[str, str] = {}
        for etype, group in GROUPS.items():
            if not isinstance(spec[group], Mapping):
                raise InvalidTaskError(
                    f"the task's {group!r} must map names to records, got {spec[group]!r:.80}")
            for name in spec[group]:
                if not isinstance(name, str) or not _NAME_OK.fullmatch(name) or name != name.strip():
                    raise InvalidTaskError(f"entity name {name!r} must be 1-60 characters without brackets, "
                                           f"commas, semicolons or control characters")
                if name.lower() in lower:
                    raise InvalidTaskError(f"entity names {lower[name.lower()]!r} and {name!r} clash")
                lower[name.lower()] = name
                types[name] = etype
        for etype, group in GROUPS.items():
            fields = SCHEMA[etype]
            for name, rec in spec[group].items():
                if not isinstance(rec, list) or len(rec) != len(fields):
                    raise InvalidTaskError(f"the {etype} {name!r} must be a list of {list(FIELDS[etype])}, "
                                           f"got {rec!r:.120}")
                for (field, target), value in zip(fields, rec, strict=True):
                    if target is None:
                        if type(value) is not int:
                            raise InvalidTaskError(f"{name!r}: {field} must be an integer, got {value!r}")
                    elif not isinstance(value, str) or types.get(value) != target:
                        raise InvalidTaskError(
                            f"{name!r}: {field} must name a {target} of the task, got {value!r}")
        for name, rec in spec["countries"].items():
            if spec["cities"][rec[0]][0] != name:
                raise InvalidTaskError(f"the capital of {name!r}, {rec[0]!r}, is not located in {name!r}")
        if spec["distractors"] not in (0, 1, 2) or isinstance(spec["distractors"], bool):
            raise InvalidTaskError(f"'distractors' must be 0, 1 or 2, got {spec['distractors']!r}")

    def _render_question(self) -> str:
        ops = self._operands
        if self._kind == "single":
            op = ops[0]
            template = ASK_RELATION[op.path[-1]] if op.attribute is None else ASK_ATTRIBUTE[op.attribute]
            return template.format(describe(op.start, op.path[:-1]))
        a, b = (describe(o.start, o.path[:-1]) for o in ops)
        templates = ASK_SUM if self._kind == "sum" else ASK_DIFFERENCE
        return templates[self._attribute].format(a=a, b=b)

    def _instruction(self) -> str:
        return self._question

    def _intro(self) -> str:
        return (
            "-= ToolQA =-\n"
            "Answer the question using a small encyclopedia of fictional people, cities, companies and "
            "countries. Tools:\n"
            "  search[entity] opens the page of a person, city, company or country.\n"
            "  lookup[keyword] shows the next sentence of the open page that contains the keyword.\n"
            "  calculate[expression] evaluates arithmetic, e.g. calculate[1990 - 1962].\n"
            "  finish[answer] submits your answer (a name or a number) and ends the episode.\n\n"
            f"Question: {self._question}"
        )

    # ----------------------------------------------------------------------------------------------
    # Pages
    # ----------------------------------------------------------------------------------------------
    def _page(self, name: str) -> _Page:
        page = self._pages.get(name)
        if page is None:
            page = self._pages[name] = self._render_page(name)
        return page

    def _render_page(self, name: str) -> _Page:
        kb, etype = self._kb, self._types[name]
        rec = kb[name]
        # (sentence, lookup keywords, entities named, numbers)
        lines: list[tuple[str, tuple[str, ...], tuple[str, ...], tuple[int, ...]]] = []
        if etype == "person":
            city, company, year, height = rec
            lines.append((f"{name} was born in {city} in {year}.", ("born",), (city,), (year,)))
            lines.append((f"{name} has a height of {height} cm.", ("height",), (), (height,)))
            lines.append((f"{name} works for {company}.", ("works",), (company,), ()))
            founded = sorted(n for n, t in self._types.items() if t == "company" and kb[n][1] == name)
            if founded:
                lines.append((f"{name} founded {_join(founded)}.", ("founded", "founder"), tuple(founded),
                              ()))
        elif etype == "city":
            country, population, year, elevation = rec
            lines.append((f"{name} is a city located in {country}.", ("located",), (country,), ()))
            if kb[country][0] == name:
                lines.append((f"{name} is the capital of {country}.", ("capital",), (country,), ()))
            lines.append((f"{name} has a population of {population:,}.", ("population",), (), (population,)))
            lines.append((f"{name} was founded in {year}.", ("founded",), (), (year,)))
            lines.append((f"{name} sits at an elevation of {elevation} metres.", ("elevation",), (),
                          (elevation,)))
        elif etype == "company":
            city, founder, year, employees = rec
            lines.append((f"{name} is a company headquartered in {city}.", ("headquartered",), (city,), ()))
            lines.append((f"{name} was founded in {year} by {founder}.", ("founded", "founder"), (founder,),
                          (year,)))
            lines.append((f"{name} has {employees:,} employees.", ("employees",), (), (employees,)))
        else:
            capital, area, population = rec
            lines.append((f"{name} is a country whose capital is {capital}.", ("capital",), (capital,), ()))
            lines.append((f"{name} has an area of {area:,} square kilometres.", ("area",), (), (area,)))
            lines.append((f"{name} has a population of {population:,}.", ("population",), (), (population,)))
        for fact in self._facts(name, etype, rec):
            lines.append(_fact_line(name, fact))
        names = tuple(dict.fromkeys((name,) + tuple(n for line in lines for n in line[2])))
        numbers = tuple(dict.fromkeys(str(x) for line in lines for x in line[3]))
        keywords = tuple(dict.fromkeys(line[1][0] for line in lines))
        sentences = tuple((text, kws, text.lower()) for text, kws, _, _ in lines)
        return _Page(" ".join(line[0] for line in lines), sentences, names, numbers, keywords)

    def _facts(self, name: str, etype: str, rec: Mapping[str, Any]) -> list[list[Any]]:
        """The distractor facts on ``name``'s page: drawn from the spec alone (a generator seeded by
        the name, over the world's sorted names), so the spec pins them without listing them."""
        if not self._distractors:
            return []
        if self._pools is None:
            pools: dict[str, list[str]] = {t: [] for t in TYPES}
            for n, t in self._types.items():
                pools[t].append(n)
            self._pools = {t: sorted(ns) for t, ns in pools.items()}
        pools = self._pools
        kinds = [k for k in FACT_KINDS[etype] if k not in _FACT_TARGET or len(pools[_FACT_TARGET[k]]) > 1]
        # eight uniform draws from a hash of the name: cheaper than seeding a random.Random per page
        r = iter([x / 4294967296.0 for x in _EIGHT_WORDS(hashlib.blake2b(
            f"toolqa/facts/{name}".encode(), digest_size=32).digest())]).__next__
        chosen = []
        while kinds and len(chosen) < self._distractors:
            chosen.append(kinds.pop(int(r() * len(kinds))))
        fields = dict(zip(FIELDS[etype], rec, strict=True))
        return [_draw_fact(r, kind, name, fields, pools) for kind in chosen]

    # ----------------------------------------------------------------------------------------------
    # Actions
    # ----------------------------------------------------------------------------------------------
    def _admissible(self) -> dict[str, Any]:
        if not self._dirty:  # lookups and failed searches change nothing listed
            return self._acts
        acts: dict[str, Any] = {}
        for n in self._question_entities:
            acts[f"search[{n}]"] = ("search", n)
        for n in self._mentioned:
            acts.setdefault(f"search[{n}]", ("search", n))
        if self._open is not None:
            for kw in self._page(self._open).keywords:
                acts[f"lookup[{kw}]"] = ("lookup", kw)
        if self._kind != "single" and len(self._values) > 1:
            values = list(self._values.values())
            for i, a in enumerate(values):
                for j, b in enumerate(values):
                    if self._kind == "difference" and i != j:
                        acts[f"calculate[{a} - {b}]"] = ("calculate", f"{a} - {b}")
                    elif self._kind == "sum" and i < j:
                        acts[f"calculate[{a} + {b}]"] = ("calculate", f"{a} + {b}")
        if self._answer_type is None:
            for x in self._numbers:
                acts[f"finish[{x}]"] = ("finish", x)
        else:
            answer_type, types = self._answer_type, self._types
            for n in self._mentioned:
                if types[n] == answer_type:
                    acts[f"finish[{n}]"] = ("finish", n)
        self._acts = acts
        self._dirty = False
        return acts

    def _parse(self, text: str) -> Any | None:
        # Any tool with any argument: search[anything] is a valid (if fruitless) action.
        match = _COMMAND.fullmatch(text)
        if match is None:
            verb = _VERB_OF.get(" ".join(text.lower().split()))
            if verb is None:
                return None
            return Rejected(f"{verb} needs an argument, e.g. {self._example(verb)}.")
        verb = _VERB_OF[" ".join(match.group(1).lower().split())]
        arg = next(g for g in match.groups()[1:] if g is not None).strip().strip("\"'`").strip()
        if not arg:
            return Rejected(f"{verb}[...] needs an argument, e.g. {self._example(verb)}.")
        if _BAD_ARGUMENT.search(arg):
            return Rejected(f"{quote(text)} looks like several commands, or brackets inside an argument; "
                            f"send one command per step, e.g. {self._example(verb)}.")
        if verb == "lookup":
            keyword = self.lexicon.normalize(arg)
            if not keyword:  # only articles or punctuation
                return Rejected(f"lookup[...] needs a keyword, e.g. {self._example(verb)}.")
            return ("lookup", keyword)
        return (verb, arg)

    def _example(self, verb: str) -> str:
        if verb == "search":
            return f"search[{self._question_entities[0]}]"
        return dict(zip(TOOLS, self.syntax, strict=True))[verb]

    def _execute(self, op: tuple) -> str:
        verb, arg = op
        if verb == "search":
            return self._search(arg)
        if verb == "lookup":
            return self._lookup(arg)
        if verb == "calculate":
            try:
                shown, result = calculate(arg)
            except CalculationError as exc:
                return f"Could not calculate [{_printable(arg)}]: {exc}."
            _remember(self._numbers, (result,), _NUMBER_WINDOW)
            self._results.add(result)
            self._dirty = True
            return f"{shown} = {result}"
        if verb == "finish":
            self._finished = True
            self._correct = self._is_correct(arg)
            self._dirty = True
            if self._correct:
                return f"Correct! The answer to \"{self._question}\" is {self._truth_text}."
            return f"Wrong answer: [{_printable(arg)}]. The correct answer was {self._truth_text}."
        raise AssertionError(f"unhandled toolqa operation {op!r}")

    def _search(self, arg: str) -> str:
        name = arg if arg in self._kb else self._entity(arg)
        if name is None:
            close = difflib.get_close_matches(_clean(arg), sorted(self._names), n=5, cutoff=0.6)
            similar = list(dict.fromkeys(self._names[c] for c in close))
            hint = "" if similar else " Search for an entity named in the question or on a page."
            return f"Could not find [{_printable(arg)}]. Similar: [{', '.join(similar)}].{hint}"
        page = self._page(name)
        self._open = name
        self._lookup_state = None
        if name not in self._visited:
            self._visited.add(name)
            self._pages_read += name in self._required
        _remember(self._mentioned, page.names, _NAME_WINDOW)
        _remember(self._numbers, page.numbers, _NUMBER_WINDOW)
        index = FIELD_INDEX[self._types[name]].get(self._attribute) if self._attribute else None
        if index is not None:
            values = self._values
            values.pop(name, None)
            values[name] = str(self._kb[name][index])
            if len(values) > _VALUE_WINDOW:
                del values[next(iter(values))]
        self._dirty = True
        return page.text

    def _lookup(self, keyword: str) -> str:
        if self._open is None:
            return "No page is open. Use search[entity] first, then lookup[keyword] on its page."
        state = self._lookup_state
        if state is None or state[0] != keyword:
            sentences = self._page(self._open).sentences
            hits = [text for text, kws, lower in sentences if keyword in kws or keyword in lower]
            state = self._lookup_state = [keyword, hits, 0]
        hits, i = state[1], state[2]
        if not hits:
            return f"No results for [{_printable(keyword)}] on the page of {self._open}."
        if i >= len(hits):
            return f"No more results for [{_printable(keyword)}] on the page of {self._open}."
        state[2] = i + 1
        return f"(Result {i + 1} / {len(hits)}) {hits[i]}"

    def _is_correct(self, answer: str) -> bool:
        if self._answer_type is None:
            numbers = _NUMBER.findall(answer)
            if len(numbers) != 1:
                return False  # "1962 or 1963" is not an answer
            try:
                value = float(numbers[0].replace(",", ""))
            except (ValueError, OverflowError):
                return False
            return math.isclose(value, self._truth, rel_tol=1e-9, abs_tol=1e-6)
        return self._entity(answer) == self._truth

    def _entity(self, text: str) -> str | None:
        """The entity a search term or an answer names (case-insensitive, "the" optional), if any."""
        key = _clean(text)
        name = self._names.get(key)
        if name is None and key.startswith("the "):
            name = self._names.get(key[4:])
        return name

    # ----------------------------------------------------------------------------------------------
    # Verifier
    # ----------------------------------------------------------------------------------------------
    def _verify(self) -> tuple[float, float, bool, bool]:
        score = self._pages_read + (1 if self._correct else 0)
        lost = self._finished and not self._correct
        return float(score), float(len(self._required) + 1), self._correct, lost

    # ----------------------------------------------------------------------------------------------
    # Expert
    # ----------------------------------------------------------------------------------------------
    def expert_action(self) -> str:
        acts = self._admissible()
        ops = self._operands
        for op in ops:
            for i, page in enumerate(op.pages):
                if page not in self._visited:
                    return _reach(op, i, acts)
        answer = f"finish[{self._truth_text}]"
        if self._kind == "single":
            # the answer may have left the recent names / numbers: read its page again
            return answer if answer in acts else _reach(ops[0], len(ops[0].pages) - 1, acts)
        if self._truth_text in self._results and answer in acts:
            return answer
        a, b = (str(o.value) for o in ops)
        if self._kind == "sum":
            candidates = (f"calculate[{a} + {b}]", f"calculate[{b} + {a}]")
        else:
            # years: "how many years older is A than B" is year(B) - year(A)
            candidates = (f"calculate[{b} - {a}]" if self._attribute in YEAR_ATTRIBUTES
                          else f"calculate[{a} - {b}]",)
        for command in candidates:
            if command in acts:
                return command
        # an operand's value has left the calculator's recent values: read its page again
        for op in ops:
            if op.pages[-1] not in self._values:
                return _reach(op, len(op.pages) - 1, acts)
        return _reach(ops[0], len(ops[0].pages) - 1, acts)

    def expert_thought(self) -> str:
        """Why the expert takes its next command, following :meth:`expert_action`: the fact it needs
        next (and the page that states it), then the calculation, then the answer. It names only
        entities the question or a page already read has named, and numbers already seen."""
        action = self.expert_action()
        verb, _, arg = action.partition("[")
        arg = arg[:-1]
        if verb == "finish":
            if self._kind == "single":
                return f"The page of {self._operands[0].pages[-1]} gives the answer, {arg}; I submit it."
            return f"The calculation gives {arg}, the answer to the question; I submit it."
        if verb == "calculate":
            what = "total" if self._kind == "sum" else "difference"
            return f"I have the {_ATTRIBUTE_WORDS[self._attribute]} of both; I calculate their {what}."
        for op in self._operands:
            for i, page in enumerate(op.pages):
                if page not in self._visited:
                    if page == arg:
                        return f"I need {_need(op, i)}; I search {arg}."
                    return f"I need {_need(op, i)}; I search {arg} again to follow the chain."
        # every page read, but a value has left the recent ones: read it again (as expert_action does)
        if self._kind == "single":
            op = self._operands[0]
            return f"I need {_need(op, len(op.pages) - 1)}, the answer; I search {arg} again."
        op = next((o for o in self._operands if o.pages[-1] not in self._values), self._operands[0])
        return f"I need {_need(op, len(op.pages) - 1)} again to calculate; I search {arg} again."


_EIGHT_WORDS = struct.Struct(">8I").unpack
#: how a thought names an attribute ("I need the founding year of Velor Systems")
_ATTRIBUTE_WORDS = {"birth_year": "birth year", "height": "height", "population": "population",
                    "founded": "founding year", "elevation": "elevation", "employees": "number of employees",
                    "area": "area"}


def _need(op: _Operand, i: int) -> str:
    """What page ``i`` of an operand's chain tells: the next entity, or the attribute at the end."""
    link, entity = op.path[i], op.pages[i]
    if link in RELATIONS:
        return REL_CLAUSE[link].format(entity)
    return f"the {_ATTRIBUTE_WORDS[link]} of {entity}"


def _remember(recent: dict[str, None], items: tuple[str, ...] | list[str], window: int) -> None:
    """Moves ``items`` to the recent end of an ordered set, keeping the last ``window``."""
    for x in items:
        recent.pop(x, None)
        recent[x] = None
    while len(recent) > window:
        del recent[next(iter(recent))]


def _reach(op: _Operand, i: int, acts: Mapping[str, Any]) -> str:
    """A search toward page ``i`` of ``op``: that page if it is listed, else the latest listed page
    before it on the chain (which names the next one); the chain's start is always listed."""
    for j in range(i, -1, -1):
        command = f"search[{op.pages[j]}]"
        if command in acts:
            return command
    return f"search[{op.pages[0]}]"


def _resolve(kb: Mapping[str, Any], types: Mapping[str, str], operand: Any) -> _Operand:
    """Follows a question operand through the world; raises :class:`InvalidTaskError` if it cannot."""
    start, path = operand["start"], operand["path"]
    if not isinstance(start, str) or start not in kb:
        raise InvalidTaskError(f"a question operand starts at {start!r}, which is not an entity of the task")
    if not isinstance(path, list) or not 1 <= len(path) <= MAX_CHAIN:
        raise InvalidTaskError(f"a question path must be a list of 1 to {MAX_CHAIN} links, got {path!r}")
    here, pages = start, []
    value = attribute = None
    for i, link in enumerate(path):
        pages.append(here)
        etype = types[here]
        if isinstance(link, str) and link in RELATIONS and RELATIONS[link][0] == etype:
            here = kb[here][FIELD_INDEX[etype][link]]
        elif isinstance(link, str) and link in ATTRIBUTES[etype] and i == len(path) - 1:
            attribute, value = link, kb[here][FIELD_INDEX[etype][link]]
        else:
            raise InvalidTaskError(
                f"path {path!r} from {start!r}: {link!r} does not apply to a {etype} there")
    return _Operand(start, tuple(path), tuple(pages), here, attribute, value)


def _follow(kb: Mapping[str, Any], start: str, steps: tuple[int, ...]) -> tuple[str, Any]:
    """The entity whose attribute an attribute chain asks for, and the attribute's value."""
    here = start
    for i in steps[:-1]:
        here = kb[here][i]
    return here, kb[here][steps[-1]]


def _draw_fact(r: Any, kind: str, name: str, rec: Mapping[str, Any],
               pools: Mapping[str, list[str]]) -> list[Any]:
    """A distractor fact about ``name``: another entity of a kind, or a year after some event."""
    if kind in _FACT_TARGET:
        pool = pools[_FACT_TARGET[kind]]
        pick = pool[int(r() * (len(pool) - 1))]
        return [kind, pool[-1] if pick == name else pick]  # anyone but the page's own entity
    if kind == "moved":
        first = min(rec["birth_year"] + 18, LAST_YEAR)
    elif kind == "census":
        first = min(max(rec.get("founded", 0) + 1, 1900), LAST_YEAR)
    else:
        first = min(max(rec["founded"], 1900), LAST_YEAR)
    year = first + int(r() * (LAST_YEAR - first + 1))
    if kind == "census":
        return ["census", year, int(rec["population"] * (0.4 + 0.55 * r()))]
    if kind == "staff":
        return ["staff", year, max(1, int(rec["employees"] * (0.3 + 0.6 * r())))]
    cities = pools["city"]
    return [kind, cities[int(r() * len(cities))], year]  # moved to / opened an office in


def _fact_line(name: str, fact: list[Any]) -> tuple[str, tuple[str, ...], tuple[str, ...], tuple[int, ...]]:
    kind = fact[0]
    if kind == "moved":
        return f"In {fact[2]}, {name} moved to {fact[1]}.", ("moved",), (fact[1],), (fact[2],)
    if kind == "friend":
        return f"{name} is a close friend of {fact[1]}.", ("friend",), (fact[1],), ()
    if kind == "census":
        return (f"In {fact[1]}, {name} had a population of {fact[2]:,}.", ("census", "population"), (),
                (fact[1], fact[2]))
    if kind == "twin":
        return f"{name} is twinned with {fact[1]}.", ("twinned",), (fact[1],), ()
    if kind == "office":
        return f"{name} opened an office in {fact[1]} in {fact[2]}.", ("office",), (fact[1],), (fact[2],)
    if kind == "staff":
        return f"In {fact[1]}, {name} had {fact[2]:,} employees.", ("employees",), (), (fact[1], fact[2])
    if kind == "rival":
        return f"{name} competes with {fact[1]}.", ("competes",), (fact[1],), ()
    return f"{name} shares a border with {fact[1]}.", ("border",), (fact[1],), ()
