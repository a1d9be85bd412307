"""Household: ALFWorld-like tasks in a procedurally generated home."""

from __future__ import annotations

import dataclasses
import hashlib
import random
from collections import deque
from collections.abc import Mapping
from typing import Any, ClassVar

from sparring.envs.lexicon import Lexicon
from sparring.envs.text_env import FamilyConfig, TextEnv
from sparring.errors import ConfigError, InvalidTaskError

# --------------------------------------------------------------------------------------------------
# The world's vocabulary
# --------------------------------------------------------------------------------------------------
ROOM_RECEPTACLES: dict[str, tuple[str, ...]] = {
    "kitchen": ("countertop", "cabinet", "drawer", "fridge", "microwave", "sinkbasin", "stoveburner",
                "diningtable", "shelf", "garbagecan", "coffeemachine", "toaster"),
    "livingroom": ("sofa", "coffeetable", "sidetable", "tvstand", "shelf", "drawer", "armchair", "cabinet",
                   "garbagecan"),
    "bedroom": ("bed", "desk", "dresser", "drawer", "sidetable", "shelf", "safe", "garbagecan"),
    "bathroom": ("sinkbasin", "bathtubbasin", "countertop", "cabinet", "toilet", "towelholder", "garbagecan",
                 "drawer"),
}
OPENABLE = frozenset({"cabinet", "drawer", "fridge", "microwave", "safe"})
#: receptacle kinds that may appear more than once in a room
REPEATABLE = frozenset({"cabinet", "drawer", "shelf", "countertop", "stoveburner", "sidetable"})
APPLIANCE = {"hot": "microwave", "cold": "fridge", "clean": "sinkbasin"}
VERB_OF = {"hot": "heat", "cold": "cool", "clean": "clean"}
#: how a thought describes an object with a modifier ("The mug 1 is clean")
_STATE = {"hot": "hot", "cold": "cool", "clean": "clean"}
LAMP_HOSTS = ("desk", "sidetable", "dresser")

_FOOD = ("countertop", "diningtable", "fridge", "microwave", "sinkbasin", "garbagecan")
_DISH = ("countertop", "diningtable", "cabinet", "shelf", "sinkbasin", "fridge", "microwave")
_COOKWARE = ("stoveburner", "countertop", "cabinet", "sinkbasin", "diningtable", "fridge")
_CUTLERY = ("countertop", "drawer", "diningtable", "sinkbasin")
_DESKTOP = ("desk", "sidetable", "dresser", "shelf", "drawer")
_BATH = ("countertop", "cabinet", "toilet", "shelf", "garbagecan")
#: object kind -> (receptacle kinds it is found in and may be put in, modifiers it supports, examinable)
OBJECTS: dict[str, tuple[tuple[str, ...], frozenset[str], bool]] = {
    "apple": (_FOOD, frozenset({"hot", "cold", "clean"}), False),
    "tomato": (_FOOD, frozenset({"hot", "cold", "clean"}), False),
    "potato": (_FOOD + ("stoveburner",), frozenset({"hot", "cold", "clean"}), False),
    "lettuce": (_FOOD, frozenset({"cold", "clean"}), False),
    "egg": (_FOOD + ("stoveburner",), frozenset({"hot", "cold"}), False),
    "bread": (_FOOD + ("toaster", "cabinet"), frozenset({"hot", "cold"}), False),
    "mug": (_DISH + ("coffeemachine",), frozenset({"hot", "cold", "clean"}), True),
    "plate": (_DISH, frozenset({"hot", "cold", "clean"}), True),
    "bowl": (_DISH, frozenset({"hot", "cold", "clean"}), True),
    "pan": (_COOKWARE, frozenset({"cold", "clean"}), False),
    "pot": (_COOKWARE, frozenset({"cold", "clean"}), False),
    "kettle": (_COOKWARE, frozenset({"clean"}), False),
    "knife": (_CUTLERY, frozenset({"clean"}), False),
    "fork": (_CUTLERY, frozenset({"clean"}), False),
    "spoon": (_CUTLERY, frozenset({"clean"}), False),
    "spatula": (_CUTLERY, frozenset({"clean"}), False),
    "book": (("bed", "desk", "shelf", "sofa", "sidetable", "coffeetable", "dresser", "drawer", "armchair"),
             frozenset(), True),
    "cellphone": (("bed", "desk", "sidetable", "sofa", "dresser", "coffeetable", "drawer", "armchair"),
                  frozenset(), True),
    "remotecontrol": (("sofa", "coffeetable", "sidetable", "tvstand", "armchair", "drawer"), frozenset(), True),
    "keychain": (("sidetable", "dresser", "drawer", "coffeetable", "shelf", "safe", "desk"), frozenset(), True),
    "creditcard": (("sidetable", "dresser", "drawer", "desk", "coffeetable", "safe", "countertop"),
                   frozenset(), True),
    "pen": (_DESKTOP, frozenset(), True),
    "pencil": (_DESKTOP, frozenset(), True),
    "pillow": (("bed", "sofa", "armchair"), frozenset(), True),
    "cd": (("desk", "shelf", "drawer", "safe", "sidetable"), frozenset(), True),
    "laptop": (("bed", "desk", "sofa", "coffeetable", "diningtable"), frozenset(), True),
    "alarmclock": (("desk", "sidetable", "dresser", "shelf"), frozenset(), True),
    "vase": (("shelf", "sidetable", "coffeetable", "diningtable", "dresser", "tvstand"), frozenset(), True),
    "statue": (("shelf", "sidetable", "coffeetable", "dresser", "tvstand", "desk"), frozenset(), True),
    "watch": (("sidetable", "dresser", "drawer", "safe", "desk"), frozenset(), True),
    "newspaper": (("sofa", "coffeetable", "sidetable", "diningtable", "armchair"), frozenset(), True),
    "candle": (_BATH + ("sidetable",), frozenset(), False),
    "soapbar": (("sinkbasin", "bathtubbasin", "countertop", "cabinet", "toilet"), frozenset({"clean"}), False),
    "toiletpaper": (_BATH, frozenset(), False),
    "towel": (("towelholder", "countertop", "bathtubbasin", "cabinet"), frozenset(), False),
    "spraybottle": (_BATH, frozenset(), False),
    "cloth": (("countertop", "cabinet", "bathtubbasin", "sinkbasin", "drawer"), frozenset({"clean"}), False),
    "sponge": (("sinkbasin", "countertop", "cabinet"), frozenset({"clean"}), False),
}

#: task type -> (modifier or None, number of objects, examine under the lamp)
TASKS: dict[str, tuple[str | None, int, bool]] = {
    "pick": (None, 1, False),
    "pick_two": (None, 2, False),
    "heat": ("hot", 1, False),
    "cool": ("cold", 1, False),
    "clean": ("clean", 1, False),
    "examine": (None, 1, True),
    # held out: a modifier combined with two objects is never generated for training
    "heat_two": ("hot", 2, False),
    "cool_two": ("cold", 2, False),
    "clean_two": ("clean", 2, False),
}
SEEN_TASKS = ("pick", "pick_two", "heat", "cool", "clean", "examine")
HELD_OUT_TASKS = ("heat_two", "cool_two", "clean_two")


def _targets(kind: str, modifier: str | None) -> tuple[str, ...]:
    """Receptacle kinds a goal may ask to put ``kind`` in (never the appliance that modifies it)."""
    places = OBJECTS[kind][0]
    return tuple(p for p in places if modifier is None or p != APPLIANCE[modifier])


def _held_out_pairs() -> frozenset[tuple[str, str]]:
    """About a fifth of all (object, target) goal pairs, chosen by a stable hash, never taking an
    object's or a target's last remaining pair: every object and every target still appears in
    training goals with other partners (tests check this)."""
    pairs = sorted(
        (obj, target)
        for obj, (places, _, examinable) in OBJECTS.items()
        for target in places + (("desklamp",) if examinable else ())
    )
    remaining_obj: dict[str, int] = {}
    remaining_target: dict[str, int] = {}
    for obj, target in pairs:
        remaining_obj[obj] = remaining_obj.get(obj, 0) + 1
        remaining_target[target] = remaining_target.get(target, 0) + 1
    held = set()
    for obj, target in pairs:
        digest = hashlib.blake2b(f"{obj}|{target}".encode(), digest_size=2).digest()
        if int.from_bytes(digest, "big") % 5 == 0 and remaining_obj[obj] > 2 and remaining_target[target] > 2:
            held.add((obj, target))
            remaining_obj[obj] -= 1
            remaining_target[target] -= 1
    return frozenset(held)


HELD_OUT_PAIRS = _held_out_pairs()

LEXICON = Lexicon({
    # verbs and their glue words
    "go to": ("walk to", "move to", "head to", "navigate to", "go over to", "travel to", "walk over to",
              "head over to", "proceed to", "approach"),
    "take": ("pick up", "grab", "get", "collect", "lift", "fetch", "pick"),
    "put": ("place", "set", "drop", "leave", "deposit", "stick"),
    "in/on": ("in", "on", "into", "onto", "inside", "on top of", "in or on", "on/in"),
    "from": ("out of", "off of", "off"),
    "open": ("pull open", "unlatch"),
    "close": ("shut", "close up"),
    "heat": ("warm", "warm up", "heat up"),
    "cool": ("chill", "refrigerate", "cool down", "cool off"),
    "clean": ("wash", "rinse", "scrub", "clean up"),
    "with": ("using", "by using"),
    "use": ("turn on", "switch on", "activate", "light", "toggle"),
    "examine": ("inspect", "look at", "check", "study", "observe", "investigate"),
    "inventory": ("i", "inv", "check inventory", "what am i carrying"),
    "look": ("l", "look around", "where am i"),
    # rooms
    "livingroom": ("living room", "lounge", "sitting room"),
    "bathroom": ("restroom", "washroom", "bath room"),
    "bedroom": ("bed room",),
    # receptacles
    "countertop": ("counter", "worktop", "kitchen counter", "counter top"),
    "cabinet": ("cupboard",),
    "fridge": ("refrigerator", "icebox"),
    "microwave": ("microwave oven",),
    "sinkbasin": ("sink", "sink basin", "washbasin", "wash basin"),
    "stoveburner": ("stove burner", "stove", "burner", "hob"),
    "diningtable": ("dining table", "dinner table"),
    "garbagecan": ("garbage can", "trash can", "bin", "trash bin", "wastebasket", "dustbin"),
    "coffeemachine": ("coffee machine", "coffee maker", "espresso machine"),
    "sofa": ("couch", "settee"),
    "coffeetable": ("coffee table",),
    "sidetable": ("side table", "nightstand", "end table", "bedside table"),
    "tvstand": ("tv stand", "television stand", "tv cabinet"),
    "armchair": ("arm chair", "easy chair"),
    "dresser": ("chest of drawers", "bureau"),
    "bathtubbasin": ("bathtub", "tub", "bath", "bathtub basin"),
    "towelholder": ("towel holder", "towel rack", "towel rail"),
    "toilet": ("loo", "lavatory"),
    "desklamp": ("desk lamp", "lamp", "reading lamp"),
    # objects
    "mug": ("cup", "coffee mug"),
    "cellphone": ("phone", "cell phone", "mobile phone", "smartphone", "mobile"),
    "remotecontrol": ("remote", "remote control", "tv remote"),
    "alarmclock": ("alarm clock", "clock"),
    "creditcard": ("credit card", "bank card"),
    "keychain": ("keys", "key chain", "keyring", "key ring"),
    "laptop": ("notebook computer", "computer"),
    "spraybottle": ("spray bottle", "sprayer", "spray"),
    "soapbar": ("soap bar", "soap", "bar of soap"),
    "toiletpaper": ("toilet paper", "toilet roll", "loo roll"),
    "potato": ("spud",),
    "bread": ("loaf", "loaf of bread"),
    "pan": ("frying pan", "skillet"),
    "pot": ("saucepan", "cooking pot"),
    "plate": ("dish",),
    "kettle": ("teakettle", "tea kettle"),
    "newspaper": ("paper", "news paper"),
    "pillow": ("cushion",),
    "statue": ("figurine", "sculpture", "statuette"),
    "watch": ("wristwatch",),
    "cloth": ("rag", "dishcloth", "dish cloth"),
    "knife": ("blade",),
    "cd": ("compact disc", "disc"),
    "book": ("novel", "hardcover"),
    "tomato": ("tomatoe",),
    "lettuce": ("salad",),
    "spatula": ("turner",),
})


def _article(name: str) -> str:
    return ("an " if name[0] in "aeiou" else "a ") + name


def _listing(names: list[str]) -> str:
    if not names:
        return "nothing"
    items = [_article(n) for n in names]
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + ", and " + items[-1]


def _kind(name: str) -> str:
    return name.rsplit(" ", 1)[0]


@dataclasses.dataclass(frozen=True)
class HouseholdConfig(FamilyConfig):
    """Difficulty knobs of the Household family."""

    num_rooms: int = 2  #: rooms in the home (1-4), joined by doorways
    receptacles_per_room: int = 7  #: receptacles placed in each room
    num_objects: int = 8  #: objects placed besides the ones the task needs
    task_types: tuple[str, ...] = SEEN_TASKS  #: task types drawn for train/valid/test
    max_steps: int = 50

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "easy": dict(num_rooms=1, receptacles_per_room=5, num_objects=3, task_types=("pick", "examine"),
                     max_steps=30),
        "medium": dict(num_rooms=2, receptacles_per_room=7, num_objects=8, max_steps=50),
        "hard": dict(num_rooms=4, receptacles_per_room=9, num_objects=16, max_steps=80),
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= self.num_rooms <= len(ROOM_RECEPTACLES):
            raise ConfigError(f"num_rooms must be between 1 and {len(ROOM_RECEPTACLES)}, got {self.num_rooms}")
        if not 3 <= self.receptacles_per_room <= 16:
            raise ConfigError(f"receptacles_per_room must be between 3 and 16, got {self.receptacles_per_room}")
        if not 0 <= self.num_objects <= 60:
            raise ConfigError(f"num_objects must be between 0 and 60, got {self.num_objects}")
        task_types = tuple(self.task_types)
        bad = [t for t in task_types if t not in SEEN_TASKS]
        if bad or not task_types:
            raise ConfigError(
                f"task_types must be a non-empty subset of {SEEN_TASKS}, got {self.task_types!r} "
                f"({', '.join(bad) or 'empty'}; {HELD_OUT_TASKS} are held out for test_unseen)"
            )
        object.__setattr__(self, "task_types", task_types)


class HouseholdEnv(TextEnv):
    """
    ## Description
    An ALFWorld-like home: rooms joined by doorways, receptacles (cabinets, drawers and fridges open
    and close), objects, and appliances that change them (a microwave heats, a fridge cools, a sink
    cleans, a desk lamp lights). Each task asks to put an object in a kind of receptacle, possibly
    heated, cooled or cleaned first, or two of them, or to look at an object under the desk lamp.

    ## Actions
    A command string. Admissible actions are listed in ``info["admissible_actions"]``:
    ``go to <room>``, ``go to <receptacle>``, ``open|close <receptacle>``,
    ``take <object> from <receptacle>``, ``put <object> in/on <receptacle>``,
    ``heat|cool|clean <object> with <appliance>``, ``use desklamp 1``, ``examine <thing>``,
    ``look``, ``inventory``. The parser accepts the aliases of the family lexicon ("grab the cup 1
    from the counter 1"), articles, and a missing instance number when only one thing fits.

    ## Observations
    What the agent sees after each command, ALFWorld style ("You arrive at fridge 1. The fridge 1 is
    closed."); the first observation describes the room and states the task.

    ## Rewards
    ``"env"``: 1 on the step that completes the task. ``"progress"``: the change in
    ``score / max_score``, where ``score`` counts reached milestones (holding a right object, having
    heated/cooled/cleaned it, one of two placed, done).

    ## Episode end
    Terminated when the task is complete (there is no losing state); truncated after ``max_steps``.

    ## Splits
    ``train`` / ``valid`` / ``test``: disjoint seeds and task specs. ``test_unseen``: every task holds
    an object x receptacle pair never used in a training goal (a fixed fifth of all pairs), or a task
    composition never generated for training (heating, cooling or cleaning *two* objects).

    ## Version history
    * v0: initial version.
    """

    family = "household"
    config_class = HouseholdConfig
    lexicon = LEXICON
    verbs = ("go to", "take", "put", "open", "close", "heat", "cool", "clean", "use", "examine")
    syntax = ("go to countertop 1", "take apple 1 from countertop 1", "put apple 1 in/on fridge 1",
              "open fridge 1", "heat apple 1 with microwave 1", "use desklamp 1", "look", "inventory")

    config: HouseholdConfig

    # ----------------------------------------------------------------------------------------------
    # Generation
    # ----------------------------------------------------------------------------------------------
    def _generate(self, rng: random.Random, unseen: bool) -> dict[str, Any]:
        cfg = self.config
        for _ in range(500):
            task_type, obj, target = self._draw_goal(rng, unseen)
            spec = self._draw_world(rng, task_type, obj, target)
            if spec is not None:
                return spec
        raise RuntimeError(f"could not generate a household task with {cfg.describe()}")

    def _draw_goal(self, rng: random.Random, unseen: bool) -> tuple[str, str, str]:
        cfg = self.config
        held_out_task = unseen and rng.random() < 0.5
        task_type = rng.choice(HELD_OUT_TASKS if held_out_task else cfg.task_types)
        modifier, _, examine = TASKS[task_type]
        objects = [o for o, (_, mods, examinable) in OBJECTS.items()
                   if (examinable if examine else (modifier is None or modifier in mods))]
        obj = rng.choice(objects)
        targets = ("desklamp",) if examine else _targets(obj, modifier)
        if unseen and not held_out_task:
            targets = tuple(t for t in targets if (obj, t) in HELD_OUT_PAIRS)
        elif not unseen:
            targets = tuple(t for t in targets if (obj, t) not in HELD_OUT_PAIRS)
        if not targets:
            return self._draw_goal(rng, unseen)
        return task_type, obj, rng.choice(targets)

    def _draw_world(self, rng: random.Random, task_type: str, obj: str, target: str) -> dict[str, Any] | None:
        cfg = self.config
        modifier, count, examine = TASKS[task_type]
        needed = {"desklamp" if examine else target}
        if modifier:
            needed.add(APPLIANCE[modifier])
        spawn_kinds = [p for p in OBJECTS[obj][0] if p != target]
        rooms = rng.sample(sorted(ROOM_RECEPTACLES), cfg.num_rooms)
        available = {k for r in rooms for k in ROOM_RECEPTACLES[r]}
        if examine and not available & set(LAMP_HOSTS):
            return None
        if not examine and target not in available:
            return None
        if modifier and APPLIANCE[modifier] not in available:
            return None
        spawn_kinds = [k for k in spawn_kinds if k in available]
        if not spawn_kinds:
            return None

        # Receptacle kinds per room: the ones the task needs first, then random fill.
        must: dict[str, list[str]] = {r: [] for r in rooms}
        for kind in sorted(needed - {"desklamp"}) + [rng.choice(spawn_kinds)]:
            if not any(kind in must[r] for r in rooms):
                must[rng.choice([r for r in rooms if kind in ROOM_RECEPTACLES[r]])].append(kind)
        if examine:
            hosts = [(r, k) for r in rooms for k in ROOM_RECEPTACLES[r] if k in LAMP_HOSTS]
            lamp_room, lamp_kind = rng.choice(hosts)
            if lamp_kind not in must[lamp_room]:
                must[lamp_room].append(lamp_kind)
        kinds_per_room: dict[str, list[str]] = {}
        for r in rooms:
            kinds = list(must[r])
            pool = list(ROOM_RECEPTACLES[r])
            while len(kinds) < max(cfg.receptacles_per_room, len(must[r])):
                kind = rng.choice(pool)  # every room has repeatable kinds, so this ends
                if kind not in kinds or kind in REPEATABLE:
                    kinds.append(kind)
            rng.shuffle(kinds)
            kinds_per_room[r] = kinds
        counters: dict[str, int] = {}
        receptacles: list[list[str]] = []
        for r in rooms:
            for kind in kinds_per_room[r]:
                counters[kind] = counters.get(kind, 0) + 1
                receptacles.append([f"{kind} {counters[kind]}", r])
        by_kind: dict[str, list[str]] = {}
        for name, _room in receptacles:
            by_kind.setdefault(_kind(name), []).append(name)

        # Objects: the ones the task needs (never already in a target receptacle), then distractors.
        obj_counters: dict[str, int] = {}
        objects: list[list[str]] = []

        def place(kind: str, allowed: list[str]) -> None:
            obj_counters[kind] = obj_counters.get(kind, 0) + 1
            objects.append([f"{kind} {obj_counters[kind]}", rng.choice(allowed)])

        spawn_recs = [n for k in spawn_kinds for n in by_kind.get(k, ())]
        for _ in range(count + rng.randint(0, 1)):
            place(obj, spawn_recs)
        for _ in range(cfg.num_objects):
            kind = rng.choice(sorted(OBJECTS))
            allowed = [n for k in OBJECTS[kind][0] for n in by_kind.get(k, ())
                       if not (kind == obj and _kind(n) == target)]
            if allowed:
                place(kind, allowed)
        lamp = None
        if examine:
            lamp = rng.choice([n for n, room in receptacles if room == lamp_room and _kind(n) == lamp_kind])
        elif any(_kind(n) in LAMP_HOSTS for n, _ in receptacles) and rng.random() < 0.5:
            lamp = rng.choice([n for n, _ in receptacles if _kind(n) in LAMP_HOSTS])

        doors = [[rooms[i], rooms[rng.randrange(i)]] for i in range(1, len(rooms))]
        return {
            "goal": {"type": task_type, "object": obj, "target": target},
            "rooms": rooms,
            "doors": doors,
            "receptacles": receptacles,
            "objects": objects,
            "lamp": lamp,
            "start": rng.choice(rooms),
        }

    @classmethod
    def held_out(cls, spec: Mapping[str, Any]) -> list[str]:
        goal = spec["goal"]
        found = []
        if goal["type"] in HELD_OUT_TASKS:
            found.append(f"task:{goal['type']}")
        if (goal["object"], goal["target"]) in HELD_OUT_PAIRS:
            found.append(f"pair:{goal['object']}|{goal['target']}")
        return found

    # ----------------------------------------------------------------------------------------------
    # State
    # ----------------------------------------------------------------------------------------------
    def _load(self, spec: Mapping[str, Any]) -> None:
        goal = spec["goal"]
        if goal["type"] not in TASKS:
            raise InvalidTaskError(f"unknown household task type {goal['type']!r}; known: {sorted(TASKS)}")
        if goal["object"] not in OBJECTS:
            raise InvalidTaskError(f"unknown household object {goal['object']!r}")
        self._task_type = goal["type"]
        self._modifier, self._count, self._examine = TASKS[goal["type"]]
        self._goal_obj, self._goal_target = goal["object"], goal["target"]
        self._rooms = list(spec["rooms"])
        self._adj: dict[str, list[str]] = {r: [] for r in self._rooms}
        for a, b in spec["doors"]:
            self._adj[a].append(b)
            self._adj[b].append(a)
        for r in self._adj:
            self._adj[r].sort()
        self._rec_room: dict[str, str] = {}
        self._room_recs: dict[str, list[str]] = {r: [] for r in self._rooms}
        for name, room in spec["receptacles"]:
            self._rec_room[name] = room
            self._room_recs[room].append(name)
        self._open = {n: False for n in self._rec_room if _kind(n) in OPENABLE}
        self._contents: dict[str, list[str]] = {n: [] for n in self._rec_room}
        self._obj_loc: dict[str, str] = {}
        self._flags: dict[str, set[str]] = {}
        for name, rec in spec["objects"]:
            if rec not in self._contents:
                raise InvalidTaskError(f"object {name!r} is in unknown receptacle {rec!r}")
            self._contents[rec].append(name)
            self._obj_loc[name] = rec
            self._flags[name] = set()
        self._lamp = spec["lamp"]
        if self._lamp is not None and self._lamp not in self._rec_room:
            raise InvalidTaskError(f"the desk lamp stands on unknown receptacle {self._lamp!r}")
        self._lamp_on = False
        self._room = spec["start"]
        if self._room not in self._adj:
            raise InvalidTaskError(f"start room {self._room!r} is not one of {self._rooms}")
        self._at: str | None = None
        self._holding: str | None = None
        self._target_recs = [n for n in self._rec_room if _kind(n) == self._goal_target]
        self._goal_objs = [o for o in self._obj_loc if _kind(o) == self._goal_obj]
        self._milestones: set[str] = set()
        if not self._examine and not self._target_recs:
            raise InvalidTaskError(f"no {self._goal_target} to put the {self._goal_obj} in")
        if self._examine and self._lamp is None:
            raise InvalidTaskError("an examine task needs a desk lamp ('lamp' in the spec)")

    def _instruction(self) -> str:
        obj, target = self._goal_obj, self._goal_target
        if self._examine:
            return f"look at {obj} under the desklamp."
        if self._modifier is None:
            return f"put {'two' if self._count == 2 else 'some'} {obj} in {target}."
        verb = VERB_OF[self._modifier]
        if self._count == 2:
            return f"{verb} two {obj} and put them in {target}."
        return f"{verb} some {obj} and put it in {target}."

    def _intro(self) -> str:
        return (f"-= Welcome to the Household =-\n{self._describe_room('You are in')}\n\n"
                f"Your task is to: {self._instruction()}")

    def _describe_room(self, lead: str) -> str:
        exits = ", ".join(self._adj[self._room])
        text = f"{lead} the {self._room}. Looking quickly around you, you see {_listing(self._room_recs[self._room])}."
        if exits:
            text += f" From here you can go to: {exits}."
        return text

    def _describe_receptacle(self, rec: str, lead: str) -> str:
        if rec in self._open and not self._open[rec]:
            return f"{lead}The {rec} is closed."
        things = list(self._contents[rec])
        if self._lamp == rec:
            things.append("desklamp 1")
        if rec in self._open:
            return f"{lead}The {rec} is open. In it, you see {_listing(things)}."
        return f"{lead}On the {rec}, you see {_listing(things)}."

    # ----------------------------------------------------------------------------------------------
    # Actions
    # ----------------------------------------------------------------------------------------------
    def _admissible(self) -> dict[str, Any]:
        acts: dict[str, Any] = {}
        room, at, holding = self._room, self._at, self._holding
        for r in self._adj[room]:
            acts[f"go to {r}"] = ("goroom", r)
        for rec in self._room_recs[room]:
            if rec != at:
                acts[f"go to {rec}"] = ("goto", rec)
        if at is not None:
            is_open = self._open.get(at)
            if is_open is not None:
                if is_open:
                    acts[f"close {at}"] = ("close", at)
                else:
                    acts[f"open {at}"] = ("open", at)
            if is_open is not False:
                if holding is None:
                    for o in self._contents[at]:
                        acts[f"take {o} from {at}"] = ("take", o, at)
                else:
                    acts[f"put {holding} in/on {at}"] = ("put", holding, at)
            if holding is not None:
                kind = _kind(at)
                if kind == "microwave":
                    acts[f"heat {holding} with {at}"] = ("modify", "hot", holding)
                elif kind == "fridge":
                    acts[f"cool {holding} with {at}"] = ("modify", "cold", holding)
                elif kind == "sinkbasin":
                    acts[f"clean {holding} with {at}"] = ("modify", "clean", holding)
            if self._lamp == at:
                acts["use desklamp 1"] = ("use",)
            acts[f"examine {at}"] = ("examine", at)
        if holding is not None:
            acts[f"examine {holding}"] = ("examine", holding)
        acts["look"] = ("look",)
        acts["inventory"] = ("inventory",)
        return acts

    def _parse(self, text: str) -> Any | None:
        # Commands that name less than the admissible form: "take apple 1" / "put apple 1" at the
        # current receptacle, "heat apple 1 in microwave 1".
        words = self.lexicon.normalize(text).split(" ")
        if len(words) < 2:
            return None
        verb, rest = words[0], " ".join(words[1:])
        for op in self._actions.values():
            if verb == "take" and op[0] == "take" and rest == op[1]:
                return op
            if verb == "put" and op[0] == "put" and rest == op[1]:
                return op
            if op[0] == "modify" and verb == VERB_OF[op[1]] and rest.startswith(op[2] + " "):
                return op
        return None

    def _execute(self, op: tuple) -> str:
        kind = op[0]
        if kind == "goroom":
            self._room, self._at = op[1], None
            return self._describe_room("You enter")
        if kind == "goto":
            self._at = op[1]
            return self._describe_receptacle(op[1], f"You arrive at {op[1]}. ")
        if kind == "open":
            self._open[op[1]] = True
            return self._describe_receptacle(op[1], f"You open the {op[1]}. ")
        if kind == "close":
            self._open[op[1]] = False
            return f"You close the {op[1]}."
        if kind == "take":
            _, o, rec = op
            self._contents[rec].remove(o)
            self._obj_loc[o] = "hand"
            self._holding = o
            return f"You pick up the {o} from the {rec}."
        if kind == "put":
            _, o, rec = op
            self._contents[rec].append(o)
            self._obj_loc[o] = rec
            self._holding = None
            return f"You put the {o} in/on the {rec}."
        if kind == "modify":
            _, flag, o = op
            flags = self._flags[o]
            flags.add(flag)
            if flag == "hot":
                flags.discard("cold")
            elif flag == "cold":
                flags.discard("hot")
            return f"You {VERB_OF[flag]} the {o} using the {self._at}."
        if kind == "use":
            self._lamp_on = True
            return "You turn on the desklamp 1."
        if kind == "examine":
            name = op[1]
            if name in self._rec_room:
                return self._describe_receptacle(name, "")
            state = " and ".join(sorted(self._flags[name])) or "normal"
            extra = " It is lit by the desklamp." if self._lamp_on and self._at == self._lamp else ""
            return f"This is a {state} {name}.{extra}"
        if kind == "look":
            where = f", at the {self._at}" if self._at else ""
            text = f"You are in the {self._room}{where}. You see {_listing(self._room_recs[self._room])}."
            exits = ", ".join(self._adj[self._room])
            return text + (f" From here you can go to: {exits}." if exits else "")
        if kind == "inventory":
            if self._holding is None:
                return "You are not carrying anything."
            return f"You are carrying: {_article(self._holding)}."
        raise AssertionError(f"unhandled household operation {op!r}")

    # ----------------------------------------------------------------------------------------------
    # Verifier
    # ----------------------------------------------------------------------------------------------
    def _good(self, o: str) -> bool:
        """Whether object ``o`` is of the goal kind and has the goal's modifier."""
        return _kind(o) == self._goal_obj and (self._modifier is None or self._modifier in self._flags[o])

    def _placed(self) -> int:
        return sum(1 for rec in self._target_recs for o in self._contents[rec] if self._good(o))

    def _verify(self) -> tuple[float, float, bool, bool]:
        m = self._milestones
        holding = self._holding
        if holding is not None and _kind(holding) == self._goal_obj:
            m.add("holding")
        if self._examine:
            won = holding is not None and _kind(holding) == self._goal_obj and self._lamp_on and (
                self._at == self._lamp)
            steps = ("holding", "done")
        else:
            if self._modifier and any(self._good(o) for o in self._goal_objs):
                m.add("modified")
            placed = self._placed()
            if placed >= 1 and self._count == 2:
                m.add("one placed")
            won = placed >= self._count
            steps = ("holding",) + (("modified",) if self._modifier else ()) + (
                ("one placed",) if self._count == 2 else ()) + ("done",)
        if won:
            m.update(steps)
        return float(sum(1 for s in steps if s in m)), float(len(steps)), won, False

    # ----------------------------------------------------------------------------------------------
    # Expert
    # ----------------------------------------------------------------------------------------------
    def _next_room(self, goal_room: str) -> str:
        """The next room on a shortest path from the current room to ``goal_room``."""
        parent = {self._room: self._room}
        queue = deque([self._room])
        while queue:
            r = queue.popleft()
            if r == goal_room:
                break
            for n in self._adj[r]:
                if n not in parent:
                    parent[n] = r
                    queue.append(n)
        step = goal_room
        while parent[step] != self._room:
            step = parent[step]
        return step

    def _distance(self, room: str) -> int:
        seen, frontier, d = {self._room}, [self._room], 0
        while frontier:
            if room in frontier:
                return d
            frontier = [n for r in frontier for n in self._adj[r] if n not in seen and not seen.add(n)]
            d += 1
        return 10**6

    def _toward(self, rec: str) -> str | None:
        """The command that moves toward receptacle ``rec``; None once the agent is at it."""
        room = self._rec_room[rec]
        if room != self._room:
            return f"go to {self._next_room(room)}"
        if self._at != rec:
            return f"go to {rec}"
        return None

    def _nearest(self, recs: list[str]) -> str:
        return min(recs, key=lambda r: (self._distance(self._rec_room[r]), r != self._at, r))

    def expert_action(self) -> str:
        holding = self._holding
        if self._examine:
            if holding is not None and _kind(holding) == self._goal_obj:
                return self._toward(self._lamp) or "use desklamp 1"
            if holding is not None:
                return self._put_down()
            return self._fetch(self._goal_objs)
        if holding is not None:
            if _kind(holding) != self._goal_obj:
                return self._put_down()
            if self._modifier and self._modifier not in self._flags[holding]:
                appliance = self._nearest([n for n in self._rec_room if _kind(n) == APPLIANCE[self._modifier]])
                return self._toward(appliance) or f"{VERB_OF[self._modifier]} {holding} with {appliance}"
            target = self._nearest(self._target_recs)
            move = self._toward(target)
            if move:
                return move
            if self._open.get(target) is False:
                return f"open {target}"
            return f"put {holding} in/on {target}"
        placed = {o for rec in self._target_recs for o in self._contents[rec] if self._good(o)}
        return self._fetch([o for o in self._goal_objs if o not in placed])

    def expert_thought(self) -> str:
        """Why the expert takes its next command, following :meth:`expert_action`'s branches (fetch a
        goal object, change it with an appliance, put it in a target or take it to the lamp, put a
        wrong object down). Objects are named by instance only once the agent has seen them, and
        places it has not looked into are given as places to check, never as where something is."""
        action = self.expert_action()
        verb, _, rest = action.partition(" ")
        place = rest[3:] if verb == "go" else rest  # "go to X": X, a room or a receptacle here
        holding, obj = self._holding, self._goal_obj
        if holding is not None and _kind(holding) != obj:
            if verb == "put":
                return f"The {holding} is not what the task needs; I put it down here."
            if verb == "open":
                return f"The {place} is closed; I open it to put the {holding} down."
            return f"The {holding} is not what the task needs; I go to the {place} to put it down."
        if holding is None:
            need = "another " + obj if self._count == 2 and self._placed() else _article(obj)
            if verb == "take":
                return f"Here is the {rest.split(' from ')[0]} I need; I take it."
            if verb == "open":
                return f"The {place} is closed; I open it to look for {need}."
            where = f"look for one in the {place}" if place in self._adj else f"check the {place}"
            return f"I need {need} for the task; I will {where}."
        if self._examine:
            if verb == "use":
                return f"I hold the {holding} by the desklamp; I turn the desklamp on to look at it."
            where = f"in the {place}" if place in self._adj else f"at the {place}"
            return f"I have the {holding}; now I need the desklamp, so I will look for it {where}."
        modifier = self._modifier
        if modifier and modifier not in self._flags[holding]:
            how = VERB_OF[modifier]
            if verb == how:
                return f"I have the {holding} at the {self._at}; I {how} it."
            if place in self._adj:
                appliance = _article(APPLIANCE[modifier])
                return f"I have the {holding}; next I {how} it, so I will look for {appliance} in the {place}."
            return f"I have the {holding}; next I {how} it with the {place}."
        lead = f"The {holding} is {_STATE[modifier]}" if modifier else f"I have the {holding}"
        if verb == "put":
            return f"{lead}; I put it in/on the {place.split(' in/on ')[-1]}."
        if verb == "open":
            return f"The {place} is closed; I open it to put the {holding} in."
        if place in self._adj:
            return f"{lead}; I will look for {_article(self._goal_target)} in the {place}."
        return f"{lead}; I take it to the {place} to put it there."

    def _fetch(self, candidates: list[str]) -> str:
        rec = self._nearest([self._obj_loc[o] for o in candidates])
        move = self._toward(rec)
        if move:
            return move
        if self._open.get(rec) is False:
            return f"open {rec}"
        obj = min(o for o in candidates if self._obj_loc[o] == rec)
        return f"take {obj} from {rec}"

    def _put_down(self) -> str:
        if self._at is not None and self._open.get(self._at) is not False:
            return f"put {self._holding} in/on {self._at}"
        if self._at is not None:
            return f"open {self._at}"
        return f"go to {self._room_recs[self._room][0]}"
