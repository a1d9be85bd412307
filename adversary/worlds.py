"""Distractor sentences drawn from the env's own world: plausible facts about things that are in
the task's world (or in the family's vocabulary) but irrelevant to its goal.

A world view is built once per episode from the task spec (``info["task"]``), which the env
publishes anyway, so the adversary reads no state. Each family picks the things it may talk about
so that no distractor touches the goal: in Household, objects and receptacles of other kinds than
the goal's; in Navigation, objects and doors the mission does not name; in ToolQA, entities the
question does not name; in Shop, categories other than the one asked for. The sentences describe
looks, history and gossip, never where something is or what a command does, so they distract
without changing what the right action is.
"""

from __future__ import annotations

import random
import string
from collections.abc import Mapping
from typing import Any

GENERIC: tuple[str, ...] = (
    "The weather outside is mild today.",
    "Somewhere far away, a dog barks.",
    "A clock ticks quietly in the distance.",
    "It is a calm and quiet afternoon.",
    "A faint breeze comes through a gap somewhere.",
    "You hear distant traffic for a moment.",
)

TEMPLATES: dict[str, tuple[str, ...]] = {
    "household": (
        "The {receptacle} has a small scratch on one side.",
        "The {receptacle} looks freshly polished.",
        "The paint on the {receptacle} is slightly faded.",
        "The {object} looks a little worn.",
        "The {object} was bought at a market last spring.",
        "The {room} smells faintly of lemon.",
        "A calendar on the wall of the {room} still shows last month.",
        "The light in the {room} flickers for a moment.",
    ),
    "navigation": (
        "The {object} is covered in a thin layer of dust.",
        "The {object} looks older than everything else around.",
        "The {door} creaks faintly in the draught.",
        "The paint on the {door} is peeling a little.",
        "The walls of the {room} are painted {colour}.",
        "The floor of the {room} is made of old wooden planks.",
    ),
    "toolqa": (
        "{person} enjoys hiking on weekends.",
        "{person} once gave a talk about {topic}.",
        "{city} hosts a music festival every summer.",
        "{city} has a well-known public library.",
        "{company} sponsors a local chess club.",
        "{company} recently redesigned its logo.",
        "{country} is known for its mild winters.",
        "{country} has a long tradition of {topic}.",
    ),
    "shop": (
        "{brand} also sells {category} products.",
        "Customers who looked at {category} products also looked at {other} products.",
        "Free returns on every {category} order within 30 days.",
        "The {category} section was restocked this morning.",
        "{brand} started out as a small workshop.",
        "Product {product} ({category}) is a bestseller this week.",
    ),
}
TOPICS: tuple[str, ...] = ("architecture", "river fishing", "folk music", "early printing", "bee keeping",
                           "railway history", "glass making", "chess openings")
COLOURS: tuple[str, ...] = ("pale yellow", "light grey", "dark green", "off-white", "sky blue", "terracotta")


class World:
    """Distractor sentences of one episode: templates whose slots all have something to name."""

    def __init__(self, templates: tuple[str, ...], pools: Mapping[str, list[str]]) -> None:
        self.pools = {k: v for k, v in pools.items() if v}
        usable = [(t, _slots(t)) for t in templates if all(slot in self.pools for slot in _slots(t))]
        self.templates = usable or [(t, []) for t in GENERIC]

    def sentence(self, rng: random.Random) -> str:
        template, slots = self.templates[int(rng.random() * len(self.templates))]
        if not slots:
            return template
        values = {slot: self.pools[slot][int(rng.random() * len(self.pools[slot]))] for slot in slots}
        if "other" in values and values["other"] == values.get("category"):
            values["other"] = next((c for c in self.pools["other"] if c != values["category"]), values["other"])
        return template.format(**values)


def _slots(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def _kind(name: str) -> str:
    return name.rsplit(" ", 1)[0]


def world_of(family: str, spec: Mapping[str, Any], instruction: str = "") -> World:
    """The world view of a task (the generic one for a family without templates or a spec)."""
    try:
        pools = _POOLS[family](spec, instruction) if family in _POOLS and spec else {}
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        pools = {}  # a spec of another shape: fall back to sentences that name nothing
    return World(TEMPLATES.get(family, GENERIC) if pools else GENERIC, pools)


def _household(spec: Mapping[str, Any], instruction: str) -> dict[str, list[str]]:
    goal = spec["goal"]
    avoid = {goal["object"], goal["target"], "desklamp", "microwave", "fridge", "sinkbasin"}
    return {
        "object": sorted(o for o, _ in spec["objects"] if _kind(o) not in avoid),
        "receptacle": sorted(r for r, _ in spec["receptacles"] if _kind(r) not in avoid and r != spec.get("lamp")),
        "room": sorted(spec["rooms"]),
    }


def _navigation(spec: Mapping[str, Any], instruction: str) -> dict[str, list[str]]:
    named = {t for goal in spec["mission"] for t in goal[1:]}
    return {
        "object": sorted(o[0] for o in spec["objects"] if o[0] not in named),
        "door": sorted(f"{d[0]} door" for d in spec["doors"] if f"{d[0]} door" not in named),
        "room": sorted({d[1] for d in spec["doors"]} | {d[2] for d in spec["doors"]} | {spec["start"]}),
        "colour": list(COLOURS),
    }


def _toolqa(spec: Mapping[str, Any], instruction: str) -> dict[str, list[str]]:
    def others(group: str) -> list[str]:
        return sorted(n for n in spec[group] if n not in instruction and n.split(" ")[0] not in instruction)

    return {"person": others("people"), "city": others("cities"), "company": others("companies"),
            "country": others("countries"), "topic": list(TOPICS)}


def _shop(spec: Mapping[str, Any], instruction: str) -> dict[str, list[str]]:
    goal = spec["goal"]["category"]
    products = [str(p).split(" | ") for p in spec["products"]]
    other = [f for f in products if len(f) > 2 and f[2] != goal]
    categories = sorted({f[2] for f in other})
    return {"brand": sorted({f[1].split(" ")[0] for f in products if len(f) > 1}), "category": categories,
            "other": categories, "product": sorted(f[0] for f in other)}


_POOLS = {"household": _household, "navigation": _navigation, "toolqa": _toolqa, "shop": _shop}

__all__ = ["GENERIC", "TEMPLATES", "World", "world_of"]
