"""Meaning-preserving paraphrase of observations and instructions, with templates per family.

The native envs render their text from a fixed set of templates ("You arrive at fridge 1.", "Alba
Venn was born in Kelia in 1962.", "Search results for ..."), so each template has rewrite rules:
a pattern that captures the template's slots (names, numbers, lists), and other wordings of the
same fact that put the slots back unchanged. Two banks of wordings: ``paraphrase_plain`` (plain
rewordings, a training attack) and ``paraphrase_terse`` (a telegraphic register, "At fridge 1.",
"Alba Venn: born Kelia, 1962.", held out). Each unit of budget is one rule applied. A family without
rules (e.g. a TextWorld game) is left as it is.
"""

from __future__ import annotations

import random
import re
from typing import NamedTuple

from sparring.adversary.edits import Span
from sparring.adversary.operators import PROSE, Context, Operator


class Rule(NamedTuple):
    pattern: re.Pattern[str]
    plain: tuple[str, ...]  #: wordings of the ``paraphrase_plain`` bank
    terse: tuple[str, ...]  #: wordings of the ``paraphrase_terse`` bank


def _rules(*rows: tuple[str, tuple[str, ...], tuple[str, ...]]) -> tuple[Rule, ...]:
    return tuple(Rule(re.compile(p), plain, terse) for p, plain, terse in rows)


_OBJ = r"\w+ \d+"  # a household instance name: "apple 1"
_ENT = r"[A-Z][^.]*?"  # a toolqa entity name (or description) inside one sentence

RULES: dict[str, tuple[Rule, ...]] = {
    "household": _rules(
        (r"You are in the (?P<room>\w+)\.", ("You find yourself in the {room}.", "You are standing in the {room}."),
         ("Room: {room}.",)),
        (rf"You are in the (?P<room>\w+), at the (?P<at>{_OBJ})\.", ("You are in the {room}, standing at the {at}.",),
         ("Room: {room}; at {at}.",)),
        (r"Looking quickly around you, you see (?P<list>[^.]*)\.", ("Glancing around, you see {list}.",
                                                                    "Around you are {list}."), ("Visible: {list}.",)),
        (r"From here you can go to: (?P<exits>[^.]*)\.", ("Doorways lead to: {exits}.",
                                                          "You can walk from here to: {exits}."), ("Exits: {exits}.",)),
        (r"You enter the (?P<room>\w+)\.", ("You walk into the {room}.", "You step into the {room}."),
         ("Entered {room}.",)),
        (rf"You arrive at (?P<rec>{_OBJ})\.", ("You reach the {rec}.", "You are now at the {rec}."), ("At {rec}.",)),
        (rf"On the (?P<rec>{_OBJ}), you see (?P<list>[^.]*)\.", ("You see {list} on the {rec}.",
                                                                 "The {rec} holds {list}."), ("{rec}: {list}.",)),
        (rf"The (?P<rec>{_OBJ}) is closed\.", ("The {rec} is shut.",), ("{rec}: closed.",)),
        (rf"The (?P<rec>{_OBJ}) is open\. In it, you see (?P<list>[^.]*)\.",
         ("The {rec} is open, and inside it you see {list}.",), ("{rec} (open): {list}.",)),
        (rf"You open the (?P<rec>{_OBJ})\.", ("You pull the {rec} open.",), ("Opened {rec}.",)),
        (rf"You close the (?P<rec>{_OBJ})\.", ("You shut the {rec}.",), ("Closed {rec}.",)),
        (rf"You pick up the (?P<obj>{_OBJ}) from the (?P<rec>{_OBJ})\.",
         ("You take the {obj} from the {rec}.", "You lift the {obj} off the {rec}."), ("Took {obj} from {rec}.",)),
        (rf"You put the (?P<obj>{_OBJ}) in/on the (?P<rec>{_OBJ})\.", ("You place the {obj} in/on the {rec}.",),
         ("Put {obj} in/on {rec}.",)),
        (rf"You (?P<verb>heat|cool|clean) the (?P<obj>{_OBJ}) using the (?P<rec>{_OBJ})\.",
         ("Using the {rec}, you {verb} the {obj}.",), ("{verb}ed {obj} with {rec}.",)),
        (r"You turn on the desklamp 1\.", ("You switch on the desklamp 1.",), ("Desklamp 1: on.",)),
        (r"You are not carrying anything\.", ("Your hands are empty.",), ("Inventory: empty.",)),
        (r"You are carrying: (?P<what>[^.]*)\.", ("You hold {what}.",), ("Inventory: {what}.",)),
        (rf"This is a (?P<state>[a-z ]+?) (?P<obj>{_OBJ})\.", ("You look at the {obj}: it is {state}.",),
         ("{obj}: {state}.",)),
        (r"It is lit by the desklamp\.", ("The desklamp lights it up.",), ("(Lit.)",)),
        (r"Your task is to: ", ("Your goal is to: ", "What you must do: "), ("Task: ",)),
        (r"put (?P<n>some|two) (?P<obj>\w+) in (?P<t>\w+)\.", ("place {n} {obj} in {t}.", "move {n} {obj} to {t}."),
         ("{n} {obj} -> {t}.",)),
        (r"look at (?P<obj>\w+) under the desklamp\.", ("examine the {obj} under the desklamp.",
                                                        "look at the {obj} by the light of the desklamp."),
         ("{obj} under desklamp.",)),
        (r"(?P<verb>heat|cool|clean) some (?P<obj>\w+) and put it in (?P<t>\w+)\.",
         ("put a {verb}ed {obj} in {t}.", "{verb} a {obj}, then put it in {t}."), ("{verb} {obj} -> {t}.",)),
        (r"(?P<verb>heat|cool|clean) two (?P<obj>\w+) and put them in (?P<t>\w+)\.",
         ("put two {verb}ed {obj} in {t}.",), ("{verb} 2 {obj} -> {t}.",)),
    ),
    "navigation": _rules(
        (r"You are in a building of (?P<n>a single room|\d+ rooms)\.", ("The building has {n}.",),
         ("Building: {n}.",)),
        (r"You are in the (?P<room>[\w-]+ room|room)(?P<where>, (?:at|next to) the \w+ \w+)?\.",
         ("You stand in the {room}{where}.",), ("Room: {room}{where}.",)),
        (r"You see no objects here\.", ("There are no objects here.",), ("Objects: none.",)),
        (r"You see (?P<list>[^.]+)\.", ("You notice {list}.", "In view: {list}."), ("Seen: {list}.",)),
        (r"Doors: (?P<doors>[^.]+)\.", ("The doors here: {doors}.",), ("Exits: {doors}.",)),
        (r"You are carrying nothing\.", ("Your hands are empty.",), ("Carrying: nothing.",)),
        (r"You are carrying the (?P<obj>\w+ \w+)\.", ("You hold the {obj}.",), ("Carrying: {obj}.",)),
        (r"You go to the (?P<x>\w+ \w+)\.", ("You walk up to the {x}.",), ("At {x}.",)),
        (r"It is (?P<s>open|closed|locked) and leads to the (?P<r>[^.]+)\.", ("It is {s}; beyond it lies the {r}.",),
         ("{s}; to the {r}.",)),
        (r"It lies next to the (?P<x>\w+ \w+)\.", ("It is beside the {x}.",), ("Next to {x}.",)),
        (r"You pick up the (?P<obj>\w+ \w+)\.", ("You take the {obj}.", "You lift the {obj}."), ("Took {obj}.",)),
        (r"You open the (?P<d>\w+ door)\. Beyond it is the (?P<r>[^.]+)\.",
         ("You open the {d}; on the other side is the {r}.",), ("Opened {d}; {r} beyond.",)),
        (r"You close the (?P<d>\w+ door)\.", ("You shut the {d}.",), ("Closed {d}.",)),
        (r"You go through the (?P<d>\w+ door)\.", ("You pass through the {d}.",), ("Through {d}.",)),
        (r"Your mission: ", ("Your goal: ", "What you must do: "), ("Goal: ",)),
        (r"(?P<a>[a-z][^,.:]*), then (?P<b>[^.]+)", ("first {a}, and after that {b}",), ("{a}; next {b}",)),
        (r"(?P<b>[a-z][^,.:]*?) after you (?P<a>[^.]+)", ("first {a}, then {b}",), ("{a}; next {b}",)),
    ),
    "toolqa": _rules(
        (r"Answer the question using a small encyclopedia of fictional people, cities, companies and countries\.",
         ("Use a small encyclopedia of fictional people, cities, companies and countries to answer the question.",),
         ("Answer from an encyclopedia of fictional people, cities, companies and countries.",)),
        (rf"(?P<n>{_ENT}) was born in (?P<c>{_ENT}) in (?P<y>\d{{4}})\.",
         ("{n} was born in {y} in {c}.", "{n} was born in {c}, in the year {y}."), ("{n}: born {c}, {y}.",)),
        (rf"(?P<n>{_ENT}) has a height of (?P<h>\d+) cm\.", ("{n} is {h} cm tall.",), ("{n}: {h} cm tall.",)),
        (rf"(?P<n>{_ENT}) works for (?P<c>{_ENT})\.", ("{n} is employed by {c}.",), ("{n}: works at {c}.",)),
        (rf"(?P<n>{_ENT}) is a city located in (?P<k>{_ENT})\.", ("{n} is a city in {k}.",), ("{n}: city, {k}.",)),
        (rf"(?P<n>{_ENT}) is the capital of (?P<k>{_ENT})\.", ("{n} is the capital city of {k}.",),
         ("{n}: capital of {k}.",)),
        (rf"(?P<n>{_ENT}) has a population of (?P<p>[\d,]+)\.", ("{n} is home to {p} people.",),
         ("{n}: population {p}.",)),
        (rf"(?P<n>{_ENT}) was founded in (?P<y>\d{{4}})\.", ("{n} was established in {y}.",), ("{n}: founded {y}.",)),
        (rf"(?P<n>{_ENT}) was founded in (?P<y>\d{{4}}) by (?P<f>{_ENT})\.", ("{f} founded {n} in {y}.",),
         ("{n}: founded {y} by {f}.",)),
        (rf"(?P<n>{_ENT}) sits at an elevation of (?P<e>\d+) metres\.", ("{n} lies {e} metres above sea level.",),
         ("{n}: elevation {e} m.",)),
        (rf"(?P<n>{_ENT}) is a company headquartered in (?P<c>{_ENT})\.", ("{n} is a company based in {c}.",),
         ("{n}: company, HQ {c}.",)),
        (rf"(?P<n>{_ENT}) has (?P<e>[\d,]+) employees\.", ("{n} employs {e} people.",), ("{n}: {e} employees.",)),
        (rf"(?P<n>{_ENT}) is a country whose capital is (?P<c>{_ENT})\.",
         ("{n} is a country with {c} as its capital.",), ("{n}: country, capital {c}.",)),
        (rf"(?P<n>{_ENT}) has an area of (?P<a>[\d,]+) square kilometres\.", ("{n} covers {a} square kilometres.",),
         ("{n}: area {a} sq km.",)),
        (r"Could not find \[(?P<x>[^\]]*)\]\. Similar: ", ("No page matches [{x}]. Close matches: ",),
         ("Not found: [{x}]. Similar: ",)),
        (r"\(Result (?P<i>\d+) / (?P<n>\d+)\) ", ("(Match {i} of {n}) ",), ("[{i}/{n}] ",)),
        (r"In which city was (?P<x>[^?]+) born\?", ("Which city was {x} born in?", "What is the birthplace of {x}?"),
         ("Birthplace of {x}?",)),
        (r"Which company does (?P<x>[^?]+) work for\?", ("Who is the employer of {x}?",
                                                         "For which company does {x} work?"), ("Employer of {x}?",)),
        (r"In which city is (?P<x>[^?]+) headquartered\?", ("Which city is {x} headquartered in?",),
         ("HQ city of {x}?",)),
        (r"Who founded (?P<x>[^?]+)\?", ("Who is the founder of {x}?",), ("Founder of {x}?",)),
        (r"In which country is (?P<x>[^?]+) located\?", ("Which country is {x} located in?",), ("Country of {x}?",)),
        (r"What is the capital of (?P<x>[^?]+)\?", ("Which city is the capital of {x}?",), ("Capital of {x}?",)),
        (r"In what year was (?P<x>[^?]+) born\?", ("What year was {x} born in?",), ("Birth year of {x}?",)),
        (r"How tall is (?P<x>[^?]+), in centimetres\?", ("What is the height of {x}, in centimetres?",),
         ("Height of {x} (cm)?",)),
        (r"What is the population of (?P<x>[^?]+)\?", ("How many people live in {x}?",), ("Population of {x}?",)),
        (r"In what year was (?P<x>[^?]+) founded\?", ("What year was {x} founded in?",), ("Founding year of {x}?",)),
        (r"What is the elevation of (?P<x>[^?]+), in metres\?", ("How high above sea level is {x}, in metres?",),
         ("Elevation of {x} (m)?",)),
        (r"How many employees does (?P<x>[^?]+) have\?", ("How many people does {x} employ?",),
         ("Employees of {x}?",)),
        (r"What is the area of (?P<x>[^?]+), in square kilometres\?", ("How large is {x}, in square kilometres?",),
         ("Area of {x} (sq km)?",)),
        (r"What is the combined population of (?P<a>[^?]+?) and (?P<b>[^?]+)\?",
         ("What is the total population of {a} and {b}?",), ("Population of {a} plus {b}?",)),
        (r"How many years older is (?P<a>[^?]+?) than (?P<b>[^?]+)\?", ("By how many years is {a} older than {b}?",),
         ("Years by which {a} is older than {b}?",)),
    ),
    "shop": _rules(
        (r"You are on the search page of an online store with (?P<n>\d+) products in these categories: "
         r"(?P<c>[^.]+)\.", ("This is the search page of an online shop with {n} products, in these categories: {c}.",),
         ("Search page: {n} products; categories: {c}.",)),
        (r"Type search\[your query\] to search the catalogue\.", ("Use search[your query] to look through the catalogue.",),
         ("search[query] searches.",)),
        (r"Search results for \"(?P<q>[^\"]*)\", page (?P<p>\d+) of (?P<t>\d+) \((?P<r>\d+ results?)\):",
         ("Page {p} of {t} of the results for \"{q}\" ({r}):",), ("Results for \"{q}\", page {p}/{t} ({r}):",)),
        (r"Open a product with click\[<id>\]; ", ("To open a product, use click[<id>]; ",),
         ("click[<id>] opens a product; ",)),
        (r"Product (?P<id>[A-Z0-9]+), price: (?P<p>\$[\d.]+)", ("Item {id} costs {p}",), ("{id} | {p}",)),
        (r"Pick option values with choose\[<value>\], then buy; back returns to the results\.",
         ("Select option values with choose[<value>] and then buy; back goes back to the results.",),
         ("choose[<value>], then buy; back: results.",)),
        (r"You choose (?P<d>\w+): (?P<v>[^.]+)\. Selected: ", ("You selected {d}: {v}. Chosen so far: ",),
         ("Set {d}: {v}. Selected: ",)),
        (r"No products match \"(?P<q>[^\"]*)\"\.", ("Nothing matches \"{q}\".",), ("0 results for \"{q}\".",)),
        (r"(?:^|(?<=: ))(?:i need to order|i need|i am looking for|find me|i want to buy|get me|i would like|"
         r"i'm looking for|please find|show me) ", ("i am searching for ", "i'd like to get "), ("wanted: ",)),
        (r"(?:, and price lower than|, with price lower than|, price lower than| that costs less than| priced under|"
         r" for less than) (?P<p>\d+\.\d\d) dollars", (", costing less than {p} dollars", " at a price below {p} dollars"),
         (" (under {p} dollars)",)),
        (r"Your task is to: ", ("Your goal is to: ", "What you must do: "), ("Task: ",)),
        (r"You bought (?P<t>.+?) for (?P<p>\$[\d.]+)\. Thank you for shopping!",
         ("You purchased {t} for {p}. Thanks for shopping!",), ("Bought {t}, {p}.",)),
    ),
}


class Paraphrase(Operator):
    name = "paraphrase_plain"  # not "paraphrase": that names the family (both banks)
    family = "paraphrase"
    unit = "rewrite"
    description = "templates reworded per family, every name and number kept (plain wordings)"
    preserves_meaning = True
    fields = PROSE
    bank = "plain"

    def spans(self, text: str, budget: int, rng: random.Random, ctx: Context,
              position: float | None = None) -> list[Span]:
        rules = RULES.get(ctx.family)
        if not rules:
            return []
        found = []
        for rule in rules:
            wordings = rule.terse if self.bank == "terse" else rule.plain
            for m in rule.pattern.finditer(text):
                found.append((m.start(), m.end(), m, wordings))
        if not found:
            return []
        if position is None:
            order = [found.pop(int(rng.random() * len(found))) for _ in range(len(found))]
        else:
            anchor = position * len(text)
            order = sorted(found, key=lambda f: (abs((f[0] + f[1]) / 2 - anchor), f[0]))
        spans: list[Span] = []
        for s, e, m, wordings in order:
            if any(s < e2 and s2 < e for s2, e2, _, _ in spans):
                continue
            slots = {k: v or "" for k, v in m.groupdict().items()}
            after = wordings[int(rng.random() * len(wordings))].format(**slots)
            if after != m.group(0):
                spans.append((s, e, m.group(0), after))
            if len(spans) >= budget:
                break
        return spans


class TerseParaphrase(Paraphrase):
    name = "paraphrase_terse"
    description = "templates rewritten telegraphically per family, every name and number kept"
    bank = "terse"


OPERATORS: tuple[Operator, ...] = (Paraphrase(), TerseParaphrase())

__all__ = ["OPERATORS", "RULES", "Rule"]
