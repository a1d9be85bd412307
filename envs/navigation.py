"""Navigation: BabyAI-like rooms, doors, keys and missions, in words."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from typing import Any, ClassVar

from sparring.envs.lexicon import Lexicon
from sparring.envs.text_env import FamilyConfig, TextEnv
from sparring.errors import ConfigError, InvalidTaskError

# --------------------------------------------------------------------------------------------------
# The world's vocabulary
# --------------------------------------------------------------------------------------------------
#: BabyAI's six colours first; four more so that a 3x3 grid can give every door its own colour
COLOURS: tuple[str, ...] = ("red", "green", "blue", "purple", "yellow", "grey",
                            "orange", "white", "black", "brown")
TYPES: tuple[str, ...] = ("ball", "box", "key")
DOOR_STATES: tuple[str, ...] = ("open", "closed", "locked")
MAX_GRID = 3

#: sub-goal kinds, and how many entities each names
KINDS: dict[str, int] = {"goto": 1, "open": 1, "pickup": 1, "putnext": 2}
CONNECTIVES: tuple[str, ...] = ("then", "after")

#: colour x type combinations never placed in a train / valid / test world; every colour and every
#: type still appears in training with other partners (tests check this)
HELD_OUT_OBJECTS: tuple[str, ...] = ("green ball", "yellow ball", "purple box", "white box")
#: ordered pairs of sub-goal kinds (first > second, in the order they must be done) never generated
#: for training; every kind still appears first and second in other training pairs
HELD_OUT_SEQUENCES: tuple[str, ...] = ("putnext>open", "pickup>goto", "open>putnext")
ALL_SEQUENCES: tuple[str, ...] = tuple(f"{a}>{b}" for a in KINDS for b in KINDS)
SEEN_SEQUENCES: tuple[str, ...] = tuple(s for s in ALL_SEQUENCES if s not in HELD_OUT_SEQUENCES)

_ROW_WORDS = {1: ("",), 2: ("north", "south"), 3: ("north", "", "south")}
_COL_WORDS = {1: ("",), 2: ("west", "east"), 3: ("west", "", "east")}
_DIRECTIONS = ("north", "east", "south", "west")

LEXICON = Lexicon({
    # verbs and their glue words
    "go to": ("walk to", "move to", "head to", "go over to", "walk over to", "head over to", "navigate to",
              "proceed to", "travel to", "run to", "get to", "go up to", "walk up to", "approach"),
    "go through": ("pass through", "walk through", "step through", "move through", "head through",
                   "go thru", "walk thru", "exit through", "leave through", "go into", "walk into", "enter",
                   "cross"),
    "pick up": ("take", "grab", "get", "lift", "collect", "fetch", "carry"),
    "drop": ("put down", "set down", "lay down", "place down", "release", "let go of", "discard"),
    "put": ("place", "set", "position", "leave", "move"),
    "next to": ("beside", "near", "close to", "alongside", "adjacent to", "right next to", "by"),
    "open": ("unlock", "pull open", "push open", "swing open", "unlock and open"),
    "close": ("shut", "pull shut", "push shut", "swing shut"),
    "look": ("look around", "l", "where am i", "survey", "observe surroundings", "describe room"),
    "inventory": ("i", "inv", "check inventory", "what am i carrying", "what am i holding", "items"),
    # things
    "ball": ("sphere", "orb"),
    "box": ("crate", "chest", "carton"),
    "door": ("doorway", "gate"),
    # colours
    "grey": ("gray",),
    "purple": ("violet",),
})


def room_names(rows: int, cols: int) -> list[str]:
    """The rooms of a ``rows`` x ``cols`` grid, row by row ("north-west room", ... "room" for 1x1)."""
    names = []
    for r in range(rows):
        for c in range(cols):
            row, col = _ROW_WORDS[rows][r], _COL_WORDS[cols][c]
            if row and col:
                names.append(f"{row}-{col} room")
            elif row or col:
                names.append(f"{row or col} room")
            else:
                names.append("room" if rows * cols == 1 else "central room")
    return names


def _adjacent_pairs(rows: int, cols: int) -> list[tuple[int, int]]:
    """Index pairs (a < b) of rooms that share a wall."""
    pairs = []
    for r in range(rows):
        for c in range(cols):
            i = r * cols + c
            if c + 1 < cols:
                pairs.append((i, i + 1))
            if r + 1 < rows:
                pairs.append((i, i + cols))
    return pairs


def _article(name: str) -> str:
    return ("an " if name[0] in "aeiou" else "a ") + name


def _listing(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    if len(items) == 2:
        return f"{items[0]} and {items[1]}"
    return ", ".join(items[:-1]) + ", and " + items[-1]


def _sub_goal_text(goal: tuple[str, ...]) -> str:
    kind = goal[0]
    if kind == "goto":
        return f"go to the {goal[1]}"
    if kind == "open":
        return f"open the {goal[1]}"
    if kind == "pickup":
        return f"pick up the {goal[1]}"
    return f"put the {goal[1]} next to the {goal[2]}"


def mission_text(mission: list[tuple[str, ...]], connective: str | None) -> str:
    """The mission in BabyAI's grammar: "A", "A, then B" or "B after you A" (A is done first)."""
    if len(mission) == 1:
        return _sub_goal_text(mission[0])
    first, second = _sub_goal_text(mission[0]), _sub_goal_text(mission[1])
    if connective == "after":
        return f"{second} after you {first}"
    return f"{first}, then {second}"


@dataclasses.dataclass(frozen=True)
class NavigationConfig(FamilyConfig):
    """Difficulty knobs of the Navigation family."""

    rows: int = 2  #: rows of rooms in the grid (1-3)
    cols: int = 2  #: columns of rooms in the grid (1-3)
    extra_doors: int = 1  #: doors added to the spanning tree of doors, making loops
    num_locked_doors: int = 1  #: doors that open only with the key of their colour
    num_objects: int = 6  #: balls, boxes and keys placed besides the keys of locked doors
    max_subgoals: int = 2  #: 1: single missions; 2: also two sub-goals joined by "then" / "after you"
    max_steps: int = 80

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "easy": dict(rows=1, cols=2, extra_doors=0, num_locked_doors=0, num_objects=3, max_subgoals=1,
                     max_steps=30),
        "medium": dict(rows=2, cols=2, extra_doors=1, num_locked_doors=1, num_objects=6, max_subgoals=2,
                       max_steps=80),
        "hard": dict(rows=3, cols=3, extra_doors=2, num_locked_doors=2, num_objects=10, max_subgoals=2,
                     max_steps=150),
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        for knob in ("rows", "cols"):
            value = getattr(self, knob)
            if not isinstance(value, int) or not 1 <= value <= MAX_GRID:
                raise ConfigError(f"{knob} must be an integer between 1 and {MAX_GRID}, got {value!r}")
        rooms = self.rows * self.cols
        spare = len(_adjacent_pairs(self.rows, self.cols)) - (rooms - 1)
        if not isinstance(self.extra_doors, int) or not 0 <= self.extra_doors <= spare:
            raise ConfigError(
                f"extra_doors must be between 0 and {spare} for a {self.rows}x{self.cols} grid (the walls "
                f"left after a spanning tree of doors), got {self.extra_doors!r}"
            )
        doors = rooms - 1 + self.extra_doors
        if doors > len(COLOURS):
            raise ConfigError(
                f"a {self.rows}x{self.cols} grid with extra_doors={self.extra_doors} needs {doors} doors, but "
                f"doors have distinct colours and there are only {len(COLOURS)}; lower extra_doors"
            )
        if not isinstance(self.num_locked_doors, int) or not 0 <= self.num_locked_doors <= doors:
            raise ConfigError(
                f"num_locked_doors must be between 0 and the number of doors ({doors}), got "
                f"{self.num_locked_doors!r}"
            )
        free = len(COLOURS) * len(TYPES) - len(HELD_OUT_OBJECTS) - self.num_locked_doors
        if not isinstance(self.num_objects, int) or not 2 <= self.num_objects <= min(free, 20):
            raise ConfigError(
                f"num_objects must be between 2 and {min(free, 20)}, got {self.num_objects!r}"
            )
        if self.max_subgoals not in (1, 2):
            raise ConfigError(
                f"max_subgoals must be 1 (single missions) or 2 (also sequences), got {self.max_subgoals!r}"
            )


class NavigationEnv(TextEnv):
    """
    ## Description
    BabyAI-like rooms, in words. A grid of rooms (named by position: "the north-west room") is joined
    by doors, each with its own colour, that are open, closed or locked; a locked door opens only for
    the agent carrying the key of its colour. Balls, boxes and keys lie about, each colour x type at
    most once, so "the red ball" is unambiguous. The agent stands in a room, at an object, at a door or
    in the middle of the room, and carries at most one object. A mission, in BabyAI's grammar, asks to
    go to something, open a door, pick something up, or put one object next to another, or two of
    these in order ("pick up the red ball, then open the blue door"; "open the blue door after you
    pick up the red ball"). Every key a locked door needs can be reached without passing that door.

    ## Actions
    A command string. Admissible actions are listed in ``info["admissible_actions"]``:
    ``go to the <object|door>``, ``open|close the <door>`` and ``go through the <door>`` (at the door),
    ``pick up the <object>`` (at it, hands free), ``drop the <object>`` (where the agent stands),
    ``put the <object> next to the <object>`` (carrying the first, at the second), ``look``,
    ``inventory``. The parser accepts the aliases of the family lexicon ("grab the red orb", "walk
    through the blue doorway"), articles, "it" for the thing carried or at hand, a bare "open" / "go
    through" / "pick up" for what the agent is at, "put it down", and a missing colour where only one
    thing fits ("go to the door").

    ## Observations
    The room the agent is in, the objects it sees (and what each lies next to), the doors with their
    direction, state and the room beyond, and what the agent carries; after each command a short
    feedback saying what changed. The first observation describes the starting room and ends with the
    mission ("Your mission: ...").

    ## Rewards
    ``"env"``: 1 on the step that completes the mission. ``"progress"``: the change in
    ``score / max_score``, where ``score`` counts the sub-goals done, in order. A sub-goal counts when
    it comes true after the previous one is done (go to: the agent is at it; open: the door is open;
    pick up: the agent carries it; put next to: the object lies next to the other); one that already
    holds when its turn comes must be undone and done again, so "then" means then.

    ## Episode end
    Terminated when every sub-goal is done (there is no losing state); truncated after ``max_steps``.

    ## Splits
    ``train`` / ``valid`` / ``test``: disjoint seeds and task specs. ``test_unseen``: every task holds a
    colour x type combination never placed in a training world (green ball, yellow ball, purple box,
    white box) named by its mission, or an ordered pair of sub-goal kinds never generated for training
    (put-next then open, pick-up then go-to, open then put-next).

    ## Version history
    * v0: initial version.
    """

    family = "navigation"
    config_class = NavigationConfig
    lexicon = LEXICON
    verbs = ("go to", "go through", "open", "close", "pick up", "drop", "put", "look", "inventory")
    syntax = ("go to the red ball", "open the blue door", "go through the blue door", "pick up the red ball",
              "drop the red ball", "put the red ball next to the green box", "look", "inventory")
    match_unnumbered = False

    config: NavigationConfig
    #: what the expert's last command works toward, for :meth:`expert_thought`: ("mission",), ("fetch",
    #: object) or ("operate", door, verb); the innermost helper that chose the command sets it
    _aim: tuple[str, ...] = ("mission",)

    # ----------------------------------------------------------------------------------------------
    # Generation
    # ----------------------------------------------------------------------------------------------
    def _generate(self, rng: random.Random, unseen: bool) -> dict[str, Any]:
        for _ in range(200):
            spec = self._draw(rng, unseen)
            if spec is not None:
                return spec
        raise RuntimeError(f"could not generate a navigation task with {self.config.describe()}")

    def _draw(self, rng: random.Random, unseen: bool) -> dict[str, Any] | None:
        cfg = self.config
        rooms = room_names(cfg.rows, cfg.cols)

        # Doors: a random spanning tree (Kruskal over shuffled walls), then extra doors for loops.
        walls = _adjacent_pairs(cfg.rows, cfg.cols)
        rng.shuffle(walls)
        group = list(range(len(rooms)))

        def find(i: int) -> int:
            while group[i] != i:
                i = group[i]
            return i

        tree, spare = [], []
        for a, b in walls:
            ra, rb = find(a), find(b)
            if ra != rb:
                group[ra] = rb
                tree.append((a, b))
            else:
                spare.append((a, b))
        edges = sorted(tree + rng.sample(spare, cfg.extra_doors))
        colours = rng.sample(COLOURS, len(edges))
        locked = set(rng.sample(range(len(edges)), cfg.num_locked_doors))
        doors = [[colours[i], rooms[a], rooms[b],
                  "locked" if i in locked else ("closed" if rng.random() < 0.6 else "open")]
                 for i, (a, b) in enumerate(edges)]
        start = rng.choice(rooms)
        key_rooms = _place_keys(rng, rooms, doors, start)

        # Mission kinds: a held-out pair, or a world holding a held-out object the mission names.
        sequence_route = unseen and cfg.max_subgoals == 2 and rng.random() < 0.5
        if sequence_route:
            kinds = rng.choice(HELD_OUT_SEQUENCES).split(">")
        elif cfg.max_subgoals == 2 and rng.random() < 0.5:
            kinds = rng.choice(SEEN_SEQUENCES).split(">")
        else:
            kinds = [rng.choice(sorted(KINDS))]
        object_route = unseen and not sequence_route
        if object_route and all(k == "open" for k in kinds):
            return None

        # Objects: the keys of locked doors, then the rest from the allowed colour x type pool.
        keys = [f"{colour} key" for colour, *_ in doors if f"{colour} key" in key_rooms]
        pool = [f"{c} {t}" for t in TYPES for c in COLOURS
                if f"{c} {t}" not in key_rooms and (unseen or f"{c} {t}" not in HELD_OUT_OBJECTS)]
        forced = rng.choice(HELD_OUT_OBJECTS) if object_route else None
        others = [forced] if forced else []
        others += rng.sample([p for p in pool if p != forced], cfg.num_objects - len(others))
        room_doors: dict[str, list[str]] = {r: [] for r in rooms}
        for colour, a, b, _ in doors:
            room_doors[a].append(f"{colour} door")
            room_doors[b].append(f"{colour} door")
        objects: list[list[Any]] = []
        placed: dict[str, list[str]] = {r: [] for r in rooms}
        for name in keys + others:
            room = key_rooms[name] if name in key_rooms else rng.choice(rooms)
            anchor = rng.choice([None, None] + room_doors[room] + placed[room])
            objects.append([name, room, anchor])
            placed[room].append(name)
        rng.shuffle(objects)

        # Sub-goals: distinct entities, none already true; the held-out object in one of them.
        names = sorted(o[0] for o in objects)
        door_names = sorted(f"{d[0]} door" for d in doors)
        closed = [f"{d[0]} door" for d in sorted(doors) if d[3] != "open"]
        anchor_of = {o[0]: o[2] for o in objects}
        carrier = rng.choice([i for i, k in enumerate(kinds) if k != "open"]) if forced else -1
        used: set[str] = set()
        mission: list[list[str]] = []
        for i, kind in enumerate(kinds):
            if kind == "putnext":
                options = [[x, y] for x in names for y in names
                           if x != y and x not in used and y not in used
                           and anchor_of[x] != y and anchor_of[y] != x]
                if i == carrier:
                    options = [p for p in options if forced in p]
            else:
                pool_of = {"goto": names + door_names, "open": closed, "pickup": names}[kind]
                options = [[t] for t in pool_of if t not in used]
                if i == carrier:
                    options = [t for t in options if t[0] == forced]
            if not options:
                return None
            targets = rng.choice(options)
            used.update(targets)
            mission.append([kind, *targets])
        return {
            "grid": [cfg.rows, cfg.cols],
            "doors": doors,
            "objects": objects,
            "start": start,
            "mission": mission,
            "connective": rng.choice(CONNECTIVES) if len(mission) == 2 else None,
        }

    @classmethod
    def held_out(cls, spec: Mapping[str, Any]) -> list[str]:
        found = sorted({f"object:{o[0]}" for o in spec["objects"] if o[0] in HELD_OUT_OBJECTS})
        mission = spec["mission"]
        if len(mission) == 2:
            sequence = f"{mission[0][0]}>{mission[1][0]}"
            if sequence in HELD_OUT_SEQUENCES:
                found.append(f"sequence:{sequence}")
        return found

    # ----------------------------------------------------------------------------------------------
    # State
    # ----------------------------------------------------------------------------------------------
    def _load(self, spec: Mapping[str, Any]) -> None:
        grid = spec["grid"]
        if (not isinstance(grid, list) or len(grid) != 2
                or not all(isinstance(n, int) and 1 <= n <= MAX_GRID for n in grid)):
            raise InvalidTaskError(f"'grid' must be [rows, cols] with each 1-{MAX_GRID}, got {grid!r}")
        rows, cols = grid
        self._rooms = room_names(rows, cols)
        index = {r: i for i, r in enumerate(self._rooms)}

        # Doors: name -> (room a, room b); per room, (door, direction, room beyond) from north clockwise.
        self._doors: dict[str, tuple[str, str]] = {}
        self._door_state: dict[str, str] = {}
        per_room: dict[str, list[tuple[int, str, str, str]]] = {r: [] for r in self._rooms}
        walls: set[tuple[int, int]] = set()
        for colour, a, b, state in spec["doors"]:
            name = f"{colour} door"
            if colour not in COLOURS:
                raise InvalidTaskError(f"unknown door colour {colour!r}; known: {', '.join(COLOURS)}")
            if name in self._doors:
                raise InvalidTaskError(f"two doors are {colour}; every door needs its own colour")
            if a not in index or b not in index:
                raise InvalidTaskError(f"the {name} joins {a!r} and {b!r}, but the rooms are {self._rooms}")
            (ra, ca), (rb, cb) = divmod(index[a], cols), divmod(index[b], cols)
            if abs(ra - rb) + abs(ca - cb) != 1:
                raise InvalidTaskError(f"the {name} joins {a!r} and {b!r}, which do not share a wall")
            wall = (min(index[a], index[b]), max(index[a], index[b]))
            if wall in walls:
                raise InvalidTaskError(f"two doors join {a!r} and {b!r}; a wall has at most one door")
            walls.add(wall)
            if state not in DOOR_STATES:
                raise InvalidTaskError(f"the {name} is {state!r}; a door is one of {DOOR_STATES}")
            self._doors[name] = (a, b)
            self._door_state[name] = state
            direction = ("south" if rb > ra else "north") if ca == cb else ("east" if cb > ca else "west")
            back = _DIRECTIONS[(_DIRECTIONS.index(direction) + 2) % 4]
            per_room[a].append((_DIRECTIONS.index(direction), name, direction, b))
            per_room[b].append((_DIRECTIONS.index(back), name, back, a))
        self._room_doors = {r: [(d, direction, other) for _, d, direction, other in sorted(ds)]
                            for r, ds in per_room.items()}
        self._room_door_names = {r: [d for d, _, _ in ds] for r, ds in self._room_doors.items()}

        # Objects: where each lies (its room, and what it lies next to), and each room's list.
        self._obj_room: dict[str, str | None] = {}
        self._anchor: dict[str, str | None] = {}
        self._room_objs: dict[str, list[str]] = {r: [] for r in self._rooms}
        for name, room, anchor in spec["objects"]:
            colour, _, kind = str(name).partition(" ")
            if colour not in COLOURS or kind not in TYPES:
                raise InvalidTaskError(
                    f"unknown object {name!r}; objects are '<colour> <type>' with a colour in {COLOURS} and a "
                    f"type in {TYPES}"
                )
            if name in self._obj_room:
                raise InvalidTaskError(f"there are two {name}s; each colour x type appears at most once")
            if room not in index:
                raise InvalidTaskError(f"the {name} lies in unknown room {room!r}; the rooms are {self._rooms}")
            self._obj_room[name] = room
            self._anchor[name] = anchor
            self._room_objs[room].append(name)
        for name, anchor in self._anchor.items():
            room = self._obj_room[name]
            beside_door = anchor in self._room_door_names[room]
            beside_object = anchor != name and self._obj_room.get(anchor) == room
            if anchor is not None and not (beside_door or beside_object):
                raise InvalidTaskError(
                    f"the {name} lies next to {anchor!r}, which is not another object or a door of the {room}"
                )
        self._door_key = {d: d[:-5] + " key" for d in self._doors}
        for d, state in self._door_state.items():
            if state == "locked" and self._door_key[d] not in self._obj_room:
                raise InvalidTaskError(f"the {d} is locked but there is no {self._door_key[d]} to open it")

        self._room = spec["start"]
        if self._room not in index:
            raise InvalidTaskError(f"start room {self._room!r} is not one of {self._rooms}")
        self._spot: str | None = None
        self._carrying: str | None = None
        unreachable = self._unreachable_rooms()
        if unreachable:
            raise InvalidTaskError(
                f"the {', '.join(unreachable)} cannot be reached from the {self._room}: every locked door's "
                f"key must lie where it can be reached without passing that door"
            )

        mission = spec["mission"]
        if not isinstance(mission, list) or not 1 <= len(mission) <= 2:
            raise InvalidTaskError(f"'mission' must be a list of 1 or 2 sub-goals, got {mission!r}")
        self._mission: list[tuple[str, ...]] = []
        for goal in mission:
            goal = tuple(goal)
            kind = goal[0] if goal else None
            if kind not in KINDS or len(goal) != 1 + KINDS[kind]:
                raise InvalidTaskError(
                    f"sub-goal {list(goal)!r} is not one of ['goto', X], ['open', D], ['pickup', X], "
                    f"['putnext', X, Y]"
                )
            wanted = {"goto": (self._obj_room.keys() | self._doors.keys()), "open": self._doors.keys(),
                      "pickup": self._obj_room.keys(), "putnext": self._obj_room.keys()}[kind]
            for target in goal[1:]:
                if target not in wanted:
                    raise InvalidTaskError(f"sub-goal {list(goal)!r} names {target!r}, which is not in the world")
            if kind == "putnext" and goal[1] == goal[2]:
                raise InvalidTaskError(f"sub-goal {list(goal)!r} puts an object next to itself")
            if self._holds(goal):
                raise InvalidTaskError(f"sub-goal {list(goal)!r} already holds when the mission starts")
            self._mission.append(goal)
        self._connective = spec.get("connective")
        if len(self._mission) == 2 and self._connective not in CONNECTIVES:
            raise InvalidTaskError(
                f"'connective' of a two-step mission must be one of {CONNECTIVES}, got {self._connective!r}"
            )
        self._progress = 0
        self._armed = True

        # Command texts, made once per episode rather than on every step.
        self._goto = {n: (f"go to the {n}", ("goto", n)) for n in list(self._obj_room) + list(self._doors)}
        self._door_cmds = {d: ((f"open the {d}", ("open", d)), (f"close the {d}", ("close", d)),
                               (f"go through the {d}", ("through", d))) for d in self._doors}
        self._obj_cmds = {o: ((f"pick up the {o}", ("pickup", o)), (f"drop the {o}", ("drop", o)))
                          for o in self._obj_room}

    def _unreachable_rooms(self) -> list[str]:
        """Rooms the agent could never enter, fetching keys from wherever they lie at the start."""
        seen = {self._room}
        grew = True
        while grew:
            grew = False
            for d, (a, b) in self._doors.items():
                if (a in seen) == (b in seen):
                    continue
                state = self._door_state[d]
                if state != "locked" or self._obj_room.get(self._door_key[d]) in seen:
                    seen.update((a, b))
                    grew = True
        return [r for r in self._rooms if r not in seen]

    def _other_side(self, door: str) -> str:
        a, b = self._doors[door]
        return b if self._room == a else a

    def _instruction(self) -> str:
        return mission_text(self._mission, self._connective)

    def _intro(self) -> str:
        n = len(self._rooms)
        layout = "a single room" if n == 1 else f"{n} rooms"
        return (f"-= Navigation =-\nYou are in a building of {layout}.\n{self._describe_room()}\n\n"
                f"Your mission: {self._instruction_text}.")

    def _describe_room(self) -> str:
        spot = self._spot
        where = ""
        if spot is not None:
            where = f", at the {spot}" if spot in self._doors else f", next to the {spot}"
        lines = [f"You are in the {self._room}{where}."]
        seen = []
        for o in self._room_objs[self._room]:
            anchor = self._anchor[o]
            seen.append(_article(o) + (f" next to the {anchor}" if anchor else ""))
        lines.append(f"You see {_listing(seen)}." if seen else "You see no objects here.")
        doors = [f"{_article(self._door_state[d])} {d} to the {direction} leads to the {other}"
                 for d, direction, other in self._room_doors[self._room]]
        if doors:
            lines.append(f"Doors: {'; '.join(doors)}.")
        elif len(self._rooms) > 1:
            lines.append("There are no doors here.")
        lines.append(self._carried_text())
        return " ".join(lines)

    def _carried_text(self) -> str:
        if self._carrying is None:
            return "You are carrying nothing."
        return f"You are carrying the {self._carrying}."

    # ----------------------------------------------------------------------------------------------
    # Actions
    # ----------------------------------------------------------------------------------------------
    def _admissible(self) -> dict[str, Any]:
        acts: dict[str, Any] = {}
        room, spot, carrying, goto = self._room, self._spot, self._carrying, self._goto
        for o in self._room_objs[room]:
            if o != spot:
                command, op = goto[o]
                acts[command] = op
        for d in self._room_door_names[room]:
            if d != spot:
                command, op = goto[d]
                acts[command] = op
        if spot is not None:
            state = self._door_state.get(spot)
            if state is not None:
                open_, close, through = self._door_cmds[spot]
                if state == "open":
                    acts[through[0]] = through[1]
                    acts[close[0]] = close[1]
                else:
                    acts[open_[0]] = open_[1]
            elif carrying is None:
                command, op = self._obj_cmds[spot][0]
                acts[command] = op
        if carrying is not None:
            command, op = self._obj_cmds[carrying][1]
            acts[command] = op
            if spot is not None and spot in self._obj_room:
                acts[f"put the {carrying} next to the {spot}"] = ("put", carrying, spot)
        acts["look"] = ("look",)
        acts["inventory"] = ("inventory",)
        return acts

    def _parse(self, text: str) -> Any | None:
        # Commands that name less than the admissible form: "it", a bare verb for what the agent is
        # at, "pick it up" / "put it down", a missing colour where one thing fits, a room for a door.
        words = self.lexicon.normalize(text).split(" ")
        carrying, spot = self._carrying, self._spot
        if len(words) >= 3 and words[0] == "pick" and words[-1] == "up":
            words = ["pick", "up"] + words[1:-1]
        if len(words) >= 3 and words[0] == "put" and words[-1] == "down":
            words = ["drop"] + words[1:-1]
        verb_len = 2 if " ".join(words[:2]) in ("go to", "go through", "pick up") else 1
        verb, rest = " ".join(words[:verb_len]), words[verb_len:]
        if verb not in self.verbs:
            return None
        held = verb in ("drop", "put")
        if rest and rest[0] == "it":
            thing = carrying if held else spot
            if thing is None:
                return None
            rest = thing.split(" ") + rest[1:]
        elif not rest:
            thing = carrying if held else spot
            if thing is None or verb in ("go to", "put"):
                return None
            rest = thing.split(" ")
        if verb == "go through" and rest[-1] == "room":
            room = " ".join(rest)
            for d in self._room_door_names[self._room]:
                if self._other_side(d) == room and ("through", d) in self._actions.values():
                    return ("through", d)
            return None
        wanted = " ".join([verb] + rest)
        found = None
        for command, op in self._actions.items():
            if _matches_without_colours(wanted, self.lexicon.normalize(command)):
                if found is not None and found != op:
                    return None
                found = op
        return found

    def _execute(self, op: tuple) -> str:
        kind = op[0]
        if kind == "goto":
            name = op[1]
            self._spot = name
            if name in self._doors:
                return f"You go to the {name}. It is {self._door_state[name]} and leads to the {self._other_side(name)}."
            anchor = self._anchor[name]
            return f"You go to the {name}." + (f" It lies next to the {anchor}." if anchor else "")
        if kind == "open":
            d = op[1]
            state = self._door_state[d]
            if state == "locked":
                key = self._door_key[d]
                if self._carrying != key:
                    held = f" The {self._carrying} does not fit." if self._carrying else ""
                    return f"The {d} is locked.{held} You need the {key} to open it."
                self._door_state[d] = "open"
                return f"You unlock the {d} with the {key} and open it. Beyond it is the {self._other_side(d)}."
            self._door_state[d] = "open"
            return f"You open the {d}. Beyond it is the {self._other_side(d)}."
        if kind == "close":
            self._door_state[op[1]] = "closed"
            return f"You close the {op[1]}."
        if kind == "through":
            self._room = self._other_side(op[1])
            return f"You go through the {op[1]}.\n{self._describe_room()}"
        if kind == "pickup":
            o = op[1]
            room = self._room
            self._room_objs[room].remove(o)
            self._obj_room[o] = None
            self._anchor[o] = None
            for other in self._room_objs[room]:
                if self._anchor[other] == o:
                    self._anchor[other] = None
            self._carrying = o
            self._spot = None
            return f"You pick up the {o}."
        if kind in ("drop", "put"):
            o = op[1]
            self._room_objs[self._room].append(o)
            self._obj_room[o] = self._room
            self._anchor[o] = self._spot
            self._carrying = None
            if kind == "put":
                return f"You put the {o} next to the {op[2]}."
            return f"You drop the {o}" + (f" next to the {self._spot}." if self._spot else " on the floor.")
        if kind == "look":
            return self._describe_room()
        if kind == "inventory":
            return self._carried_text()
        raise AssertionError(f"unhandled navigation operation {op!r}")

    # ----------------------------------------------------------------------------------------------
    # Verifier
    # ----------------------------------------------------------------------------------------------
    def _holds(self, goal: tuple[str, ...]) -> bool:
        kind = goal[0]
        if kind == "goto":
            return self._spot == goal[1]
        if kind == "open":
            return self._door_state[goal[1]] == "open"
        if kind == "pickup":
            return self._carrying == goal[1]
        # Anchors are cleared when either object is picked up, so an anchor means both lie here.
        return self._anchor[goal[1]] == goal[2] or self._anchor[goal[2]] == goal[1]

    def _verify(self) -> tuple[float, float, bool, bool]:
        mission = self._mission
        if self._progress < len(mission):
            holds = self._holds(mission[self._progress])
            if holds and self._armed:
                self._progress += 1
                # the next sub-goal must come true after this one: if it already holds, it waits
                self._armed = self._progress == len(mission) or not self._holds(mission[self._progress])
            elif not holds:
                self._armed = True
        done = self._progress
        return float(done), float(len(mission)), done == len(mission), False

    # ----------------------------------------------------------------------------------------------
    # Expert
    # ----------------------------------------------------------------------------------------------
    def _reachable(self) -> dict[str, tuple[str, str] | None]:
        """Rooms reachable through doors that are not locked: ``{room: (previous room, door)}``, in
        breadth-first order from the agent's room."""
        parent: dict[str, tuple[str, str] | None] = {self._room: None}
        frontier = [self._room]
        state = self._door_state
        while frontier:
            nxt = []
            for r in frontier:
                for d, _, other in self._room_doors[r]:
                    if other not in parent and state[d] != "locked":
                        parent[other] = (r, d)
                        nxt.append(other)
            frontier = nxt
        return parent

    def _distances(self, targets: set[str]) -> dict[str, int]:
        """Room distances to the nearest of ``targets`` through every door, locked or not."""
        dist = {t: 0 for t in targets}
        frontier = sorted(targets)
        while frontier:
            nxt = []
            for r in frontier:
                for _, _, other in self._room_doors[r]:
                    if other not in dist:
                        dist[other] = dist[r] + 1
                        nxt.append(other)
            frontier = nxt
        return dist

    def _toward(self, targets: set[str]) -> str | None:
        """The command that moves toward the nearest room of ``targets``; None once in one of them."""
        if self._room in targets:
            return None
        parent = self._reachable()
        goal = next((r for r in parent if r in targets), None)
        if goal is None:
            return self._unlock_toward(targets, parent)
        step = parent[goal]
        while step is not None and step[0] != self._room:
            step = parent[step[0]]
        door = step[1] if step is not None else ""
        if self._spot != door:
            return f"go to the {door}"
        if self._door_state[door] != "open":
            return f"open the {door}"
        return f"go through the {door}"

    def _unlock_toward(self, targets: set[str], reachable: Mapping[str, Any]) -> str:
        """Unlocks a locked door on the edge of the reachable rooms, the one nearest ``targets``."""
        frontier = [d for d, (a, b) in sorted(self._doors.items())
                    if self._door_state[d] == "locked" and (a in reachable) != (b in reachable)]
        for d in frontier:
            if self._carrying == self._door_key[d]:
                return self._operate(d, "open")
        dist = self._distances(targets)
        options = []
        for d in frontier:
            key_room = self._obj_room.get(self._door_key[d])
            if key_room in reachable:
                a, b = self._doors[d]
                far = b if a in reachable else a
                options.append((dist.get(far, 99), d))
        if not options:
            return "look"  # only on specs _load rejects as unsolvable
        return self._fetch(self._door_key[min(options)[1]])

    def _operate(self, door: str, verb: str) -> str:
        """Moves to ``door`` (from a side the agent can reach) and then ``verb``s it."""
        self._aim = ("operate", door, verb)
        move = self._toward(set(self._doors[door]))
        if move:
            return move
        if self._spot != door:
            return f"go to the {door}"
        return f"{verb} the {door}"

    def _fetch(self, obj: str) -> str:
        """Picks up ``obj`` (lying somewhere), putting down whatever the agent carries at it."""
        self._aim = ("fetch", obj)
        # Carry the load until the object is reached: the way there may need the carried key.
        move = self._toward({self._obj_room[obj] or self._room})
        if move:
            return move
        if self._spot != obj:
            return f"go to the {obj}"
        if self._carrying is not None:
            return f"drop the {self._carrying}"
        return f"pick up the {obj}"

    def expert_action(self) -> str:
        self._aim = ("mission",)
        if self._progress >= len(self._mission):
            return "look"
        goal = self._mission[self._progress]
        kind = goal[0]
        carrying = self._carrying
        if not self._armed:
            return self._undo(goal)
        if kind == "goto":
            target = goal[1]
            if target in self._doors:
                return self._operate(target, "go to")
            if carrying == target:
                return f"drop the {target}"
            return self._toward({self._obj_room[target] or self._room}) or f"go to the {target}"
        if kind == "pickup":
            return self._fetch(goal[1])
        if kind == "open":
            door = goal[1]
            if self._door_state[door] == "locked" and carrying != self._door_key[door]:
                a, b = self._doors[door]
                reachable = self._reachable()
                if a not in reachable and b not in reachable:
                    return self._toward({a, b}) or "look"
                return self._fetch(self._door_key[door])
            return self._operate(door, "open")
        obj, target = goal[1], goal[2]
        if carrying == target:
            # the target may be the key on the way to the object: keep it until that way is open
            obj_room = self._obj_room[obj]
            if obj_room is not None and obj_room not in self._reachable():
                return self._toward({obj_room}) or "look"
            return f"drop the {target}"
        target_room = self._obj_room[target] or self._room
        if carrying == obj:
            move = self._toward({target_room})
            if move:
                return move
            if self._spot != target:
                return f"go to the {target}"
            return f"put the {obj} next to the {target}"
        if target_room not in self._reachable():
            return self._toward({target_room}) or "look"
        return self._fetch(obj)

    def expert_thought(self) -> str:
        """Why the expert takes its next command: the mission's current sub-goal and the step toward
        it, or the sub-step it needs first (the key of a locked door, hands free, a sub-goal that held
        too early undone). Things the agent may not have seen are named as things to look for."""
        action = self.expert_action()
        if self._progress >= len(self._mission):
            return "The mission is complete; I look around."
        goal = self._mission[self._progress]
        sub = _sub_goal_text(goal)
        if not self._armed:
            return f"To {sub} after the previous step, I must undo it first; I {action}."
        aim, carrying = self._aim, self._carrying
        if aim[0] == "fetch":
            obj = aim[1]
            if obj.endswith(" key") and obj not in goal[1:]:
                need = f"I need the {obj} to unlock the {obj[:-4]} door"
            elif goal[0] == "putnext" and obj == goal[1]:
                need = f"I need the {obj} to put it next to the {goal[2]}"
            else:
                need = f"The mission asks me to {sub}"
            if action == f"pick up the {obj}":
                return f"{need}; I pick it up."
            if action == f"go to the {obj}":
                return f"{need}; I see it here, so I go to it."
            if action.startswith("drop "):
                return f"{need}; I {action} to free my hands."
            return f"{need}; I {action} to look for it."
        if aim[0] == "operate":
            door, verb = aim[1], aim[2]
            key = self._door_key[door]
            if action == f"{verb} the {door}":
                if self._door_state[door] == "locked":
                    return f"I carry the {key} for the locked {door}; I {action}."
                if verb == "go to":
                    return f"The mission asks me to {sub}; I see it here, so I go to it."
                return f"The mission asks me to {sub}; I am at it, so I do it now."
            if carrying == key and self._door_state[door] == "locked":
                lead = f"I carry the {key} for the locked {door}"
            else:
                lead = f"To {sub}, I must reach " + ("it" if door in goal else f"the {door}")
            if action == f"go to the {door}":
                return f"{lead}; I go to it."
            return f"{lead}; I {action} on the way."
        if action == "look":
            return f"I look around to find a way to {sub}."
        if goal[0] == "goto":
            target = goal[1]
            if action == f"drop the {target}":
                return f"To go to the {target}, I must put it down first; I drop it."
            if action == f"go to the {target}":
                return f"The mission asks me to {sub}; I see it here, so I go to it."
            return f"To {sub}, I {action} to look for it."
        obj, target = goal[1], goal[2]
        if carrying == target:
            if action == f"drop the {target}":
                return f"To {sub}, I put the {target} down first."
            return f"I keep the {target}, which may open the way; I {action} to look for the {obj}."
        if carrying == obj:
            if action.startswith("put "):
                return f"I carry the {obj} and I am at the {target}; I put it next to it."
            if action == f"go to the {target}":
                return f"I carry the {obj}; I go to the {target} to put it next to it."
            return f"I carry the {obj}; I {action} to look for the {target}."
        return f"To {sub}, I {action} to look for the way."

    def _undo(self, goal: tuple[str, ...]) -> str:
        """Undoes a sub-goal that already held when its turn came, so that it can come true again."""
        kind = goal[0]
        if kind == "open":
            return self._operate(goal[1], "close")
        if kind == "pickup":
            return f"drop the {goal[1]}"
        if kind == "putnext":
            return self._fetch(goal[1])
        others = [c for c, op in self._actions.items() if op[0] == "goto"]
        if others:
            return others[0]
        if self._carrying is not None:
            return f"drop the {self._carrying}"
        return f"pick up the {goal[1]}" if goal[1] in self._obj_room else "look"


def _place_keys(rng: random.Random, rooms: list[str], doors: list[list[str]], start: str) -> dict[str, str]:
    """Rooms for the keys of locked doors, each reachable without passing its own door: from the rooms
    reachable at the start, repeatedly pick a locked door on their edge, put its key among them, and
    let the region grow through it."""
    locked = [d for d in doors if d[3] == "locked"]
    region = {start}

    def grow(passable: set[str]) -> None:
        grew = True
        while grew:
            grew = False
            for colour, a, b, state in doors:
                if (a in region) != (b in region) and (state != "locked" or colour in passable):
                    region.update((a, b))
                    grew = True

    keyed: set[str] = set()
    grow(keyed)
    key_rooms: dict[str, str] = {}
    while len(keyed) < len(locked):
        edge = [d for d in locked if d[0] not in keyed and (d[1] in region or d[2] in region)]
        colour = rng.choice(edge)[0]
        key_rooms[f"{colour} key"] = rng.choice(sorted(region))
        keyed.add(colour)
        grow(keyed)
    return key_rooms


def _matches_without_colours(wanted: str, command: str) -> bool:
    """Whether ``wanted`` is ``command`` with some colour words left out ("go to door")."""
    if wanted == command:
        return True
    have, full = wanted.split(" "), command.split(" ")
    if len(have) >= len(full):
        return False
    i = 0
    for word in full:
        if i < len(have) and have[i] == word:
            i += 1
        elif word not in COLOURS:
            return False
    return i == len(have)
