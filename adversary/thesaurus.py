"""A general English lexicon for the prose of the native families: groups of words and phrases that
mean the same in the sentences the envs write ("Looking quickly around you" / "Looking rapidly
around you", "has 120 employees" / "has 120 workers").

It is what the ``thesaurus`` operator and the vulnerability report's substitution probes draw
from. It deliberately leaves out every command word (verbs the parsers know, such as take, open,
search, buy) and every word of the worlds (objects, rooms, products, features), whose synonyms are
the families' own alias lexicons: those are the ``synonym`` operator's, and the parsers accept them.
Only lower-case occurrences are rewritten, or capitalised ones that open a sentence, so names
(ToolQA's people and places, Shop's brands) are never touched.
"""

from __future__ import annotations

#: each group: interchangeable words or phrases (any member may stand for any other)
GROUPS: tuple[tuple[str, ...], ...] = (
    # the household and navigation narration
    ("quickly", "rapidly", "swiftly"),
    ("looking quickly around you", "glancing quickly around you", "peering quickly around you"),
    ("around you", "about you"),
    ("you see", "you notice", "you spot"),
    ("from here", "from this spot"),
    ("you arrive at", "you reach", "you get to"),
    ("you enter", "you walk into", "you step into"),
    ("carrying", "holding"),
    ("anything", "a thing"),
    ("nothing", "not a thing"),
    ("closed", "shut"),
    ("using", "by means of"),
    ("task", "job", "assignment"),
    ("welcome", "greetings"),
    ("faint", "slight"),
    ("a building", "a house"),
    ("rooms", "chambers"),
    ("mission", "assignment"),
    ("leads to", "opens onto", "gives onto"),
    ("beyond", "behind"),
    ("lies", "rests", "sits"),
    ("floor", "ground"),
    ("no objects", "no items", "nothing at all"),
    ("does not fit", "will not fit"),
    ("you need", "you require"),
    ("nothing happens", "nothing changes"),
    ("normal", "ordinary", "plain"),
    ("lit", "illuminated"),
    # the toolqa encyclopedia
    ("answer the question", "respond to the question"),
    ("encyclopedia", "reference book"),
    ("fictional", "invented", "made-up"),
    ("people", "persons"),
    ("shows", "displays"),
    ("evaluates", "computes", "works out"),
    ("submits", "hands in", "sends"),
    ("ends the episode", "closes the episode"),
    ("contains", "includes"),
    ("is located in", "is situated in", "lies in"),
    ("is headquartered in", "is based in", "has its headquarters in"),
    ("sits at an elevation of", "lies at an altitude of", "stands at a height of"),
    ("employees", "workers", "staff members"),
    ("has a height of", "stands"),
    ("is a close friend of", "is a good friend of", "is close friends with"),
    ("shares a border with", "borders on", "is a neighbour of"),
    ("competes with", "is a rival of"),
    ("is twinned with", "is a sister city of", "is paired with"),
    ("opened an office", "set up an office", "established an office"),
    ("moved to", "relocated to"),
    ("could not find", "was unable to find", "failed to find"),
    ("no results", "no matches"),
    ("no more results", "no further results"),
    ("correct", "right"),
    ("wrong answer", "incorrect answer"),
    ("the correct answer was", "the right answer was"),
    # the shop
    ("online store", "web shop", "online shop"),
    ("products", "items", "goods"),
    ("catalogue", "product list", "range"),
    ("these categories", "the following categories"),
    ("results", "matches", "hits"),
    ("more results", "further results"),
    ("the previous page", "the page before"),
    ("returns to", "goes back to", "brings you back to"),
    ("price", "cost"),
    ("lower than", "less than", "below"),
    ("less than", "under", "below"),
    ("i need", "i require"),
    ("i am looking for", "i am searching for", "i am trying to find"),
    ("i would like", "i'd like", "i wish to have"),
    ("i want to buy", "i want to purchase", "i wish to buy"),
    ("thank you for shopping", "thanks for shopping", "thank you for your purchase"),
    ("requirements", "criteria", "conditions"),
    ("meets", "satisfies", "fulfils"),
    ("misses", "lacks", "fails"),
    ("your score", "your rating"),
    # all families
    ("commands", "instructions"),
    ("understand", "recognise", "know"),
    ("right now", "at the moment", "currently"),
    ("several", "multiple", "a number of"),
    ("possible", "feasible", "doable"),
)

__all__ = ["GROUPS"]
