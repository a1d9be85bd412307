"""TextWorld: real TextWorld games (Simple, Coin Collector, Treasure Hunter, Cooking) behind sparring's
env contract.

Games are made by the ``textworld`` package's own generator, exactly as ``tw-make <challenge> ...``
makes them, keyed by (challenge, settings, seed). A game is generated the first time a task asks for
it and kept in a disk cache (see :func:`cache_root`); later uses load it from there. Playing goes
through TextWorld itself (its Z-machine interpreter and state tracking); this module only maps its
output onto :class:`~sparring.envs.text_env.TextEnv`: admissible commands become the admissible
actions, the objective the instruction, the game's points the score. Only admissible commands (or
lexicon / partial-name matches of them) ever reach TextWorld, so input that breaks TextWorld
(several commands in one line, control characters...) is answered by the base class as invalid.

The cache
    ``$SPARRING_CACHE`` if set, else ``$XDG_CACHE_HOME/sparring``, else ``~/.cache/sparring``; one
    entry per game in ``textworld/<challenge>/<settings hash>/<seed>/`` holding ``game.z8``,
    ``game.json`` and ``manifest.json`` (the spec, the TextWorld version, the equivalent ``tw-make``
    command and a SHA-256 of each game file). An entry is generated under an exclusive lock (one
    lock file per entry, so parallel workers never generate the same game twice) into a temporary
    directory next to it, the manifest is written last, and the directory is renamed into place, so
    an entry either is complete or does not exist. An entry whose manifest is missing or does not
    match its files (an interrupted copy, a truncated file) is regenerated.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import shutil
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import gymnasium as gym

from sparring.cache import CACHE_ENV, cache_root, ensure_entry, read_manifest
from sparring.envs.lexicon import Lexicon
from sparring.envs.registration import EnvEntry, register
from sparring.envs.splits import SEEN_SPLITS, SPLITS, canonical_json
from sparring.envs.text_env import FamilyConfig, Rejected, TextEnv, generic_thought, quote
from sparring.errors import ConfigError, EnvCreationError, InvalidTaskError

logger = logging.getLogger(__name__)

GAME_FILE = "game.z8"
GAME_DATA = "game.json"
MANIFEST_FORMAT = 1

#: game seeds per split; seed ``s`` of a split plays game seed ``offset + s % num_games``
SEEDS_PER_SPLIT = 1_000_000
SPLIT_OFFSETS: dict[str, int] = {"train": 0, "valid": 1_000_000, "test": 2_000_000, "test_unseen": 3_000_000}
#: TextWorld seeds its generators with ``numpy.random.RandomState(seed)``, which takes 32-bit seeds
MAX_GAME_SEED = 2**32 - 1
#: the Z-machine's random generator; TextWorld leaves it time-seeded, we fix it so replays are exact
_INTERPRETER_SEED = 20_180_701

INSTALL_HINT = "pip install 'sparring[textworld]'"


# --------------------------------------------------------------------------------------------------
# TextWorld, imported on first use
# --------------------------------------------------------------------------------------------------
_TW: SimpleNamespace | None = None


def _textworld() -> SimpleNamespace:
    """The parts of the ``textworld`` package this module uses; imported once, on first use, so
    that ``sparring`` imports (and lists these ids) without it."""
    global _TW
    if _TW is None:
        try:
            import textworld
            import textworld.challenges
            import textworld.generator
            from textworld.generator.game import GameProgression
            from textworld.generator.inform7 import Inform7Game
        except ImportError as exc:
            raise gym.error.DependencyNotInstalled(
                f"the TextWorld envs need the `textworld` package, which is not installed ({exc}); "
                f"install it with: {INSTALL_HINT}"
            ) from exc
        _TW = SimpleNamespace(
            textworld=textworld, challenges=textworld.challenges.CHALLENGES,
            compile_game=textworld.generator.compile_game, GameOptions=textworld.GameOptions,
            EnvInfos=textworld.EnvInfos, GameProgression=GameProgression, Inform7Game=Inform7Game,
            version=textworld.__version__,
        )
    return _TW


# --------------------------------------------------------------------------------------------------
# The game cache
# --------------------------------------------------------------------------------------------------
def settings_key(settings: Mapping[str, Any]) -> str:
    """A short stable name for a settings dict (its canonical JSON, hashed)."""
    return hashlib.blake2b(canonical_json(dict(settings)).encode("utf-8"), digest_size=8).hexdigest()


def game_directory(challenge: str, settings: Mapping[str, Any], game_seed: int) -> Path:
    """The cache entry of one game."""
    return cache_root() / "textworld" / challenge / settings_key(settings) / str(game_seed)


def tw_make_command(challenge: str, settings: Mapping[str, Any], game_seed: int,
                    output: str = GAME_FILE) -> str:
    """The ``tw-make`` command line that makes the same game (TextWorld's own CLI)."""
    parts = ["tw-make", challenge]
    for name, value in settings.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            parts.append(flag)
        elif value is not False and value is not None:
            parts += [flag, str(value)]
    parts += ["--seed", str(game_seed), "--output", output]
    return " ".join(parts)


@dataclasses.dataclass(frozen=True)
class GameFiles:
    """A verified cache entry."""

    directory: Path
    manifest: dict[str, Any]
    generated: bool  #: whether this call generated the game (False: it came from the cache)

    @property
    def game_file(self) -> Path:
        return self.directory / GAME_FILE


def ensure_game(challenge: str, settings: Mapping[str, Any], game_seed: int) -> GameFiles:
    """The cache entry of a game, generating it first if it is missing or corrupt.

    Safe under parallel workers (see :mod:`sparring.cache`): generation holds a per-entry lock and
    moves the finished entry into place atomically; a worker that waited on the lock finds the entry
    made and uses it."""
    settings = dict(settings)
    directory = game_directory(challenge, settings, game_seed)

    def build(tmp: Path) -> dict[str, Any]:
        tw = _textworld()
        start = time.perf_counter()
        _make_game(tw, challenge, settings, game_seed, tmp / GAME_FILE)
        seconds = time.perf_counter() - start
        for extra in tmp.iterdir():  # the Inform 7 source and the like: playing needs none of it
            if extra.name not in (GAME_FILE, GAME_DATA):
                shutil.rmtree(extra) if extra.is_dir() else extra.unlink()
        return {
            "format": MANIFEST_FORMAT, "challenge": challenge, "settings": settings, "game_seed": game_seed,
            "textworld_version": tw.version, "command": tw_make_command(challenge, settings, game_seed),
            "generation_seconds": round(seconds, 3),
        }

    generated = ensure_entry(directory, build)
    return GameFiles(directory, read_manifest(directory), generated=generated)


def _make_game(tw: SimpleNamespace, challenge: str, settings: dict[str, Any], game_seed: int,
               path: Path) -> None:
    """What ``tw-make <challenge> <settings> --seed <game_seed> --output <path>`` does."""
    try:
        _, make, _ = tw.challenges[challenge]
        options = tw.GameOptions()
        options.seeds = game_seed
        options.path = str(path)
        options.file_ext = ".z8"
        options.force_recompile = True
        game = make(settings=dict(settings), options=options)
        tw.compile_game(game, options)
    except Exception as exc:
        raise EnvCreationError(
            f"TextWorld could not generate the {challenge} game with settings {canonical_json(settings)} "
            f"and seed {game_seed} ({type(exc).__name__}: {exc}); reproduce it with: "
            f"{tw_make_command(challenge, settings, game_seed, output='/tmp/game.z8')}"
        ) from exc


# --------------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------------
DIRECTIONS = ("north", "south", "east", "west")
#: cooking verbs people use for TextWorld's "cook X with <appliance>"
COOKING_APPLIANCE = {"fry": "stove", "roast": "oven", "bake": "oven", "grill": "bbq"}
CUTTING_VERBS = ("slice", "dice", "chop")

LEXICON = Lexicon({
    # verbs and their glue words
    "go": ("walk", "head", "move", "travel", "run", "proceed", "go to"),
    "take": ("get", "grab", "pick up", "pick", "collect", "fetch", "retrieve", "obtain", "snatch"),
    "drop": ("put down", "discard", "throw away", "toss", "dump", "let go of"),
    "put": ("place", "set", "rest", "lay", "stick"),
    "insert": ("stow", "stash", "slip"),
    "on": ("onto", "on top of", "upon"),
    "into": ("in", "inside", "in to", "within"),
    "from": ("out of", "off of", "off"),
    "open": ("pull open", "prise open", "pry open"),
    "close": ("shut", "close up"),
    "unlock": ("unbolt",),
    "lock": ("bolt",),
    "examine": ("x", "look at", "inspect", "check", "read", "study", "observe", "check out", "describe"),
    "eat": ("consume", "devour", "munch", "scoff"),
    "drink": ("sip", "quaff", "gulp"),
    "cook": ("heat", "heat up", "warm", "warm up"),
    "chop": ("chop up",),
    "dice": ("cube",),
    "slice": ("slice up",),
    "prepare": ("make", "assemble", "put together"),
    "with": ("using", "by using"),
    "look": ("l", "look around", "where am i"),
    "inventory": ("i", "inv", "check inventory", "what am i carrying", "what do i have"),
    # directions
    "north": ("n", "northward", "northwards"),
    "south": ("s", "southward", "southwards"),
    "east": ("e", "eastward", "eastwards"),
    "west": ("w", "westward", "westwards"),
    # things that recur across the challenges' games
    "fridge": ("refrigerator", "icebox"),
    "stove": ("cooktop", "stovetop", "hob"),
    "bbq": ("barbecue", "barbeque"),
    "counter": ("countertop", "worktop", "kitchen counter"),
    "sofa": ("couch", "settee"),
    "cookbook": ("recipe book", "recipe", "cook book"),
    "knife": ("blade",),
    "meal": ("dinner",),
    "tv": ("television", "telly"),
    "coin": ("gold coin", "money"),
})

VERBS = ("go", "take", "drop", "put", "insert", "open", "close", "unlock", "lock", "examine", "eat", "drink",
         "cook", "slice", "dice", "chop", "prepare", "look", "inventory")
SYNTAX = ("go north", "take old key from antique trunk", "open wooden door", "unlock wooden door with old key",
          "put milk on stove", "insert milk into refrigerator", "eat milk", "examine note", "look", "inventory")

# TextWorld's raw output carries an ASCII-art banner, the interpreter's prompt with a status line,
# and the Z-machine's end-of-game menu: noise for an agent, so they are removed.
_BANNER_LINE = re.compile(r"^[ _|\\$/<>]*[_|\\$][ _|\\$/<>]*$", re.M)
_PROMPT = re.compile(r"\n>[^\n]*\s*\Z")
_END_MENU = re.compile(r"Would you like to RESTART, RESTORE a saved game, QUIT or UNDO the last command\?")
_SPACES = re.compile(r"[ \t]*\n[ \t]*")
_BLANK_LINES = re.compile(r"\n{3,}")


def clean_text(text: str, *, banner: bool = False) -> str:
    """TextWorld's output without the banner, prompt, status line and end menu, whitespace tidied."""
    if banner:
        text = _BANNER_LINE.sub("", text)
    text = _END_MENU.sub("", _PROMPT.sub("", text))
    return _BLANK_LINES.sub("\n\n", _SPACES.sub("\n", text)).strip()


# --------------------------------------------------------------------------------------------------
# Configs: each challenge's own settings, as difficulty knobs
# --------------------------------------------------------------------------------------------------
def _check_int(name: str, value: Any, low: int, high: int, hint: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer from {low} to {high}, got {value!r}{hint}")


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be True or False, got {value!r}")


@dataclasses.dataclass(frozen=True)
class TextWorldConfig(FamilyConfig):
    """Knobs every TextWorld challenge has."""

    #: distinct games per split: seed ``s`` plays game ``s % num_games`` of the split's seed range
    #: (TextWorld's "train on N games" setting); the default is the whole range
    num_games: int = SEEDS_PER_SPLIT
    max_steps: int = 50

    #: the knobs that are the challenge's own settings (passed to its generator)
    SETTINGS: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_int("num_games", self.num_games, 1, SEEDS_PER_SPLIT,
                   "; it is the number of distinct games a split cycles through")


@dataclasses.dataclass(frozen=True)
class SimpleConfig(TextWorldConfig):
    """Knobs of TextWorld's Simple game (``tw-make tw-simple``)."""

    rewards: str = "balanced"  #: how often points are given: "dense", "balanced" or "sparse"
    goal: str = "detailed"  #: the objective shown: "detailed" (step by step), "brief" or "none"
    max_steps: int = 50

    SETTINGS: ClassVar[tuple[str, ...]] = ("rewards", "goal")
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "easy": dict(rewards="dense", goal="detailed"),
        "medium": dict(rewards="balanced", goal="detailed"),
        "hard": dict(rewards="sparse", goal="brief"),
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.rewards not in ("dense", "balanced", "sparse"):
            raise ConfigError(f"rewards must be 'dense', 'balanced' or 'sparse', got {self.rewards!r}")
        if self.goal not in ("detailed", "brief", "none"):
            raise ConfigError(f"goal must be 'detailed', 'brief' or 'none', got {self.goal!r}")


@dataclasses.dataclass(frozen=True)
class CoinCollectorConfig(TextWorldConfig):
    """Knobs of TextWorld's Coin Collector (``tw-make tw-coin_collector``)."""

    #: 1-100: a chain of ``level`` rooms; 101-200: plus a dead-end room beside each; 201-300: two;
    #: the coin lies in the last room of the chain (TextWorld allows at most 100 rooms in all)
    level: int = 15
    max_steps: int = 50

    SETTINGS: ClassVar[tuple[str, ...]] = ("level",)
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "easy": dict(level=5, max_steps=50),
        "medium": dict(level=15, max_steps=50),
        "hard": dict(level=215, max_steps=100),
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_int("level", self.level, 1, 300)
        rooms = ((self.level - 1) // 100 + 1) * ((self.level - 1) % 100 + 1)
        if rooms > 100:
            raise ConfigError(
                f"level {self.level} needs {rooms} rooms but TextWorld games hold at most 100; pick a level "
                f"whose quest length ((level - 1) % 100 + 1) times {(self.level - 1) // 100 + 1} is at most 100"
            )


@dataclasses.dataclass(frozen=True)
class TreasureHunterConfig(TextWorldConfig):
    """Knobs of TextWorld's Treasure Hunter (``tw-make tw-treasure_hunter``)."""

    #: 1-10: 5 empty rooms; 11-20: 10 rooms with closed doors and containers; 21-30: 20 rooms with
    #: locked ones (keys in the inventory); the quest grows longer within each band
    level: int = 15
    max_steps: int = 80

    SETTINGS: ClassVar[tuple[str, ...]] = ("level",)
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "easy": dict(level=5, max_steps=50),
        "medium": dict(level=15, max_steps=80),
        "hard": dict(level=25, max_steps=100),
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_int("level", self.level, 1, 30)


@dataclasses.dataclass(frozen=True)
class CookingConfig(TextWorldConfig):
    """Knobs of TextWorld's Cooking game (``tw-make tw-cooking``, the First TextWorld Problems)."""

    recipe: int = 2  #: ingredients in the recipe (1-5)
    take: int = 2  #: ingredients to fetch (the rest start in the inventory), 0 to ``recipe``
    go: int = 6  #: locations: 1, 6, 9 or 12
    open: bool = True  #: containers and doors need opening
    cook: bool = True  #: ingredients need cooking (stove: fried, oven: roasted, BBQ: grilled)
    cut: bool = False  #: ingredients need cutting (sliced, diced or chopped with a knife)
    drop: bool = False  #: the inventory has limited room
    max_steps: int = 80

    SETTINGS: ClassVar[tuple[str, ...]] = ("recipe", "take", "go", "open", "cook", "cut", "drop")
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "easy": dict(recipe=1, take=1, go=1, open=True, cook=False, cut=False, max_steps=50),
        "medium": dict(recipe=2, take=2, go=6, open=True, cook=True, cut=False, max_steps=80),
        "hard": dict(recipe=3, take=3, go=9, open=True, cook=True, cut=True, max_steps=100),
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_int("recipe", self.recipe, 1, 5)
        _check_int("take", self.take, 0, self.recipe, f" (at most recipe={self.recipe})")
        if isinstance(self.go, bool) or self.go not in (1, 6, 9, 12):
            raise ConfigError(f"go must be 1, 6, 9 or 12 (locations), got {self.go!r}")
        for name in ("open", "cook", "cut", "drop"):
            _check_bool(name, getattr(self, name))


# --------------------------------------------------------------------------------------------------
# The env
# --------------------------------------------------------------------------------------------------
class TextWorldEnv(TextEnv):
    """
    ## Description
    A game made by TextWorld's generator for one of its challenges, played through TextWorld itself.
    The subclasses (one per registered id) say which challenge and which of its settings are knobs.

    ## Actions
    A command string. ``info["admissible_actions"]`` is TextWorld's ``admissible_commands`` (sorted
    as TextWorld sorts them): ``go north``, ``take old key from antique trunk``, ``open wooden
    door``, ``unlock wooden door with old key``, ``put milk on stove``, ``insert apple into
    fridge``, ``cook red potato with stove``, ``slice red potato with knife``, ``prepare meal``,
    ``eat meal``, ``examine cookbook``, ``look``, ``inventory``... The parser also accepts the
    lexicon's aliases ("grab the key from the antique trunk", "n"), a bare direction, "put ... in"
    for "insert ... into", "fry / roast / bake / grill X" for cooking X with the stove / oven / BBQ,
    and a command that leaves words out ("take key") when exactly one admissible command fits.
    Anything else is answered as invalid and never reaches TextWorld.

    ## Observations
    TextWorld's own text, without its ASCII-art banner, prompt, status line and end-of-game menu.
    The first observation is the game's introduction: the objective and the first room.

    ## Rewards
    ``"env"``: the change in the game's score (TextWorld's points) on each step, so an episode's
    return is its final score. ``"progress"``: the change in ``score / max_score``.

    ## Episode end
    Terminated when TextWorld reports the game won or lost; truncated after ``max_steps``.

    ## Splits
    Seed ``s`` of a split plays game seed ``offset + s % num_games``: ``train`` 0-999,999, ``valid``
    1,000,000-1,999,999, ``test`` 2,000,000-2,999,999, ``test_unseen`` 3,000,000-3,999,999, so the
    splits never share a game. Where TextWorld has a held-out distribution of its own (Simple's and
    Cooking's test foods), ``test_unseen`` draws from it and no other split ever does.

    ## Version history
    * v0: initial version (TextWorld 1.7).
    """

    challenge: ClassVar[str] = ""  #: TextWorld's name of the challenge, as ``tw-make`` takes it
    lexicon = LEXICON
    verbs = VERBS
    syntax = SYNTAX
    config_class: ClassVar[type[FamilyConfig]] = TextWorldConfig

    config: TextWorldConfig

    def __init__(self, split: str = "train", difficulty: str = "medium", **kwargs: Any) -> None:
        self._tw_env: Any = None
        self._tw_file: str | None = None
        _textworld()
        super().__init__(split, difficulty, **kwargs)
        if split not in self.splits():
            raise ConfigError(
                f"{type(self).__name__} has no {split!r} split: TextWorld's {self.challenge} has no held-out "
                f"distribution to draw unseen games from; use one of {list(self.splits())}"
            )
        self._infos = _textworld().EnvInfos(admissible_commands=True, score=True, max_score=True, won=True,
                                            lost=True, objective=True)
        self._first_plan: tuple[str, ...] | None = None  # the loaded game's plan from its start
        self._i7: Any = None  # the loaded game's command writer, made when the expert first plans

    @classmethod
    def splits(cls) -> tuple[str, ...]:
        """The splits this challenge has."""
        return SPLITS if cls._unseen_settings() else SEEN_SPLITS

    # ----------------------------------------------------------------------------------------------
    # Tasks
    # ----------------------------------------------------------------------------------------------
    @classmethod
    def _unseen_settings(cls) -> dict[str, Any]:
        """The settings that switch TextWorld to its held-out distribution; empty if it has none."""
        return {}

    @classmethod
    def _seen_settings(cls) -> dict[str, Any]:
        """The same settings' values for train / valid / test."""
        return {}

    def _settings(self) -> dict[str, Any]:
        knobs = {name: getattr(self.config, name) for name in self.config_class.SETTINGS}
        split_settings = self._unseen_settings() if self.split == "test_unseen" else self._seen_settings()
        return {**knobs, **split_settings}

    def sample_task(self, seed: int) -> tuple[dict[str, Any], str]:
        """The game of ``seed`` in this env's split, and its canonical JSON text.

        Overrides the base's hash-bucket sampling: a TextWorld game costs seconds to generate, so
        splits own disjoint ranges of game seeds instead of rejecting generated tasks."""
        game_seed = SPLIT_OFFSETS[self.split] + int(seed) % self.config.num_games
        spec = {"challenge": self.challenge, "settings": self._settings(), "game_seed": game_seed}
        return spec, canonical_json(spec)

    def generate_games(self, seeds: Iterable[int]) -> list[GameFiles]:
        """Makes sure the games of these seeds of this env's split are in the cache (generating the
        missing ones), e.g. to fill it before training or a test session; safe to run in parallel
        processes on overlapping seeds."""
        specs = [self.sample_task(seed)[0] for seed in seeds]
        return [ensure_game(self.challenge, spec["settings"], spec["game_seed"]) for spec in specs]

    @classmethod
    def held_out(cls, spec: Mapping[str, Any]) -> list[str]:
        unseen = cls._unseen_settings()
        settings = spec["settings"]
        if unseen and all(settings.get(k) == v for k, v in unseen.items()):
            return ["foods:test"]
        return []

    def _check_spec(self, spec: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
        keys = {"challenge", "settings", "game_seed"}
        if set(spec) != keys:
            raise InvalidTaskError(
                f"a TextWorld task spec has exactly the keys {sorted(keys)}, got {sorted(spec)}; pass "
                f"info['task'] of a {type(self).__name__}"
            )
        if spec["challenge"] != self.challenge:
            raise InvalidTaskError(
                f"this {type(self).__name__} plays {self.challenge} games, but the task spec is a "
                f"{spec['challenge']!r} game; make the env of that challenge to replay it"
            )
        seed = spec["game_seed"]
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_GAME_SEED:
            raise InvalidTaskError(f"game_seed must be an integer from 0 to {MAX_GAME_SEED}, got {seed!r}")
        settings = spec["settings"]
        if not isinstance(settings, Mapping):
            raise InvalidTaskError(f"settings must be a dict of {self.challenge} settings, got {settings!r}")
        expected = set(self.config_class.SETTINGS) | set(self._seen_settings())
        if set(settings) != expected:
            raise InvalidTaskError(
                f"{self.challenge} settings need exactly the keys {sorted(expected)}, got {sorted(settings)}"
            )
        try:
            self.config_class(**{k: settings[k] for k in self.config_class.SETTINGS})
        except ConfigError as exc:
            raise InvalidTaskError(f"the task's {self.challenge} settings are invalid: {exc}") from exc
        for name, seen in self._seen_settings().items():
            allowed = (seen, self._unseen_settings()[name])
            if not any(type(settings[name]) is type(a) and settings[name] == a for a in allowed):
                raise InvalidTaskError(f"setting {name!r} must be one of {allowed}, got {settings[name]!r}")
        return dict(settings), seed

    # ----------------------------------------------------------------------------------------------
    # State: a running TextWorld env, reused while the game file stays the same
    # ----------------------------------------------------------------------------------------------
    def _load(self, spec: Mapping[str, Any]) -> None:
        settings, game_seed = self._check_spec(spec)
        path = str(game_directory(self.challenge, settings, game_seed) / GAME_FILE)
        if path != self._tw_file:
            path = str(ensure_game(self.challenge, settings, game_seed).game_file)
            self._start(path)
        state = self._tw_env.reset()
        self._state = state
        self._game = state["game"]
        self._tw_score = state["score"] or 0
        self._history: list[Any] = []
        self._record_actions(state["_game_progression"])
        self._tracker: Any = None  # a quest-tracking copy of the game, made when the expert re-plans
        self._tracked = 0  # how many actions of the history the tracker has applied
        self._plan: tuple[str, ...] | None = self._first_plan
        self._plan_step = 0

    def _start(self, path: str) -> None:
        tw = _textworld()
        if self._tw_env is None:
            self._tw_env = tw.textworld.start(path, self._infos)
        else:
            self._tw_file = None  # until the load below succeeds
            self._tw_env.load(path)
            # Jericho keeps the bytes of every story file an interpreter ever loaded; one env cycling
            # through thousands of games would hold them all.
            frotz = getattr(self._tw_env.unwrapped, "_jericho", None)
            roms = getattr(frotz, "_cache", None)
            if isinstance(roms, dict):
                for other in [p for p in roms if p != os.path.abspath(path)]:
                    del roms[other]
        self._tw_env.seed(_INTERPRETER_SEED)
        self._tw_file = path
        self._first_plan = self._i7 = None

    def _record_actions(self, progression: Any) -> None:
        """Keeps the logical actions TextWorld applies, so the expert can re-plan from them.

        TextWorld only tracks its winning policy when asked for ``policy_commands`` on every step,
        which costs about 40% of its throughput; the history lets the expert compute the same policy
        only when it is asked for one."""
        original = progression.update
        history = self._history

        def update(action: Any) -> None:
            history.append(action)
            original(action)

        progression.update = update

    def close(self) -> None:
        if self._tw_env is not None:
            self._tw_env.close()
            self._tw_env = None
            self._tw_file = None
        super().close()

    def _intro(self) -> str:
        text = clean_text(self._state.feedback, banner=True)
        if not (self._state["objective"] or "").strip():  # goal "none": say so, as the task
            text = f"{text}\n\n{self._instruction_text}"
        return text.strip()

    def _instruction(self) -> str:
        objective = (self._state["objective"] or "").strip()
        return objective or ("No objective is given: explore, examine what you find, and work out what "
                             "earns points.")

    # ----------------------------------------------------------------------------------------------
    # Actions
    # ----------------------------------------------------------------------------------------------
    def _admissible(self) -> dict[str, Any]:
        return {command: command for command in self._state["admissible_commands"]}

    def _execute(self, command: str) -> str:
        state, _, _ = self._tw_env.step(command)
        self._state = state
        self._tw_score = state["score"] or 0
        if self._plan is not None:
            if self._plan_step < len(self._plan) and self._plan[self._plan_step] == command:
                self._plan_step += 1
            else:
                self._plan = None  # off the plan: re-plan when the expert is next asked
        return clean_text(state.feedback) or "Nothing happens."

    def _parse(self, text: str) -> Any | None:
        words = self.lexicon.normalize(text).split()
        if not words:
            return None
        table = {key: op for key, op in self._normalized_table().items() if isinstance(key, str)}
        verb, rest = words[0], " ".join(words[1:])
        candidates: list[str] = []
        if len(words) == 1 and verb in DIRECTIONS:
            candidates.append(f"go {verb}")
        if verb == "put" and " into " in f" {rest} ":
            candidates.append(f"insert {rest}")
        if verb == "insert" and " on " in f" {rest} ":
            candidates.append(f"put {rest}")
        if verb in COOKING_APPLIANCE and rest:
            candidates.append(f"cook {rest} with {COOKING_APPLIANCE[verb]}")
        for candidate in candidates:
            if candidate in table:
                return table[candidate]
        if verb == "cut":
            return Rejected(f"{quote(text)}: say how to cut it: slice, dice or chop.")
        # A command that names less than the admissible one ("take key", "open trunk"), as TextWorld's
        # own parser allows, when exactly one admissible command holds those words in that order.
        matches = [op for key, op in table.items() if _is_subsequence(words, key.split())]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            shown = ", ".join(repr(m) for m in matches[:4])
            return Rejected(f"{quote(text)} could mean several things: {shown}.")
        return None

    # ----------------------------------------------------------------------------------------------
    # Verifier: TextWorld's own
    # ----------------------------------------------------------------------------------------------
    def _verify(self) -> tuple[float, float, bool, bool]:
        state = self._state
        return float(self._tw_score), float(self._game.max_score), bool(state["won"]), bool(state["lost"])

    def _outcome(self, won: bool, newly_won: bool) -> float:
        # Called before the base records the new score, so self._score is still the previous one.
        return float(self._tw_score) - self._score

    # ----------------------------------------------------------------------------------------------
    # Expert: TextWorld's winning policy
    # ----------------------------------------------------------------------------------------------
    def expert_action(self) -> str:
        if self._plan is None or self._plan_step >= len(self._plan) or \
                self._plan[self._plan_step] not in self._actions:
            self._plan, self._plan_step = self._replan(), 0
            if not self._history:
                self._first_plan = self._plan
        if self._plan_step < len(self._plan) and self._plan[self._plan_step] in self._actions:
            return self._plan[self._plan_step]
        # No winning policy from here (the game is lost, or TextWorld cannot track it any more).
        return "look" if "look" in self._actions else next(iter(self._actions))

    def expert_thought(self) -> str:
        """The generic reason for the expert's command, by its verb ("I open the fridge to get through
        it or at what it holds."), without the objective: TextWorld objectives are walkthroughs a
        paragraph long, and the winning policy knows steps (a recipe's) the agent has not read yet."""
        return generic_thought(self.expert_action())

    def _replan(self) -> tuple[str, ...]:
        """TextWorld's winning policy from the current state: its ``policy_commands``, computed by
        applying this episode's actions to a quest-tracking copy of the game (only the actions it
        has not seen yet: quest tracking costs TextWorld tens of milliseconds per action)."""
        tw = _textworld()
        if self._tracker is None:
            self._tracker, self._tracked = tw.GameProgression(self._game, track_quests=True), 0
        for action in self._history[self._tracked:]:
            self._tracker.update(action)
        self._tracked = len(self._history)
        policy = self._tracker.winning_policy
        if not policy:
            return ()
        if self._i7 is None:
            self._i7 = tw.Inform7Game(self._game)
        return tuple(self._i7.gen_commands_from_actions(policy))


def _is_subsequence(short: list[str], long: list[str]) -> bool:
    """Whether ``short`` starts with ``long``'s first word and its words appear in ``long`` in order."""
    if not short or not long or short[0] != long[0] or len(short) >= len(long):
        return False
    it = iter(long)
    return all(word in it for word in short)


class TextWorldSimpleEnv(TextWorldEnv):
    """
    ## Description
    TextWorld's Simple game (``tw-make tw-simple``): a fixed six-room house; find the key, leave
    the bedroom, fetch the food the objective names and put it on the stove. Knobs: ``rewards``
    ("dense", "balanced", "sparse": how many sub-goals earn points) and ``goal`` ("detailed",
    "brief", "none": how much of the plan the objective spells out).

    ## Actions
    See :class:`TextWorldEnv`.

    ## Observations
    TextWorld's text (see :class:`TextWorldEnv`).

    ## Rewards
    The change in the game's points; ``max_score`` is the number of rewarded sub-goals.

    ## Episode end
    Won when the food is on the stove; lost when it is eaten; truncated after ``max_steps``.

    ## Splits
    Disjoint seed ranges (see :class:`TextWorldEnv`). ``test_unseen``: TextWorld's test games,
    whose food is one never used in training (garlic, kiwi or carrot).

    ## Version history
    * v0: initial version (TextWorld 1.7).
    """

    family = "textworld_simple"
    challenge = "tw-simple"
    config_class = SimpleConfig

    @classmethod
    def _unseen_settings(cls) -> dict[str, Any]:
        return {"test": True}

    @classmethod
    def _seen_settings(cls) -> dict[str, Any]:
        return {"test": False}


class TextWorldCoinCollectorEnv(TextWorldEnv):
    """
    ## Description
    TextWorld's Coin Collector (``tw-make tw-coin_collector``): a chain of rooms, possibly with
    dead-end rooms beside it; the coin lies at the far end. Knob: ``level`` (1-300).

    ## Actions
    See :class:`TextWorldEnv` (here: ``go <direction>``, ``take coin``, ``look``, ``inventory``).

    ## Observations
    TextWorld's text (see :class:`TextWorldEnv`).

    ## Rewards
    1 point for taking the coin.

    ## Episode end
    Won when the coin is taken; truncated after ``max_steps``.

    ## Splits
    Disjoint seed ranges for ``train`` / ``valid`` / ``test`` (see :class:`TextWorldEnv`). No
    ``test_unseen``: the challenge has no held-out distribution.

    ## Version history
    * v0: initial version (TextWorld 1.7).
    """

    family = "textworld_coin_collector"
    challenge = "tw-coin_collector"
    config_class = CoinCollectorConfig
    syntax = ("go north", "take coin", "look", "inventory")


class TextWorldTreasureHunterEnv(TextWorldEnv):
    """
    ## Description
    TextWorld's Treasure Hunter (``tw-make tw-treasure_hunter``): a maze of rooms; the objective
    names an object to find and take; taking the wrong one loses. Higher levels add closed and
    locked doors and containers. Knob: ``level`` (1-30).

    ## Actions
    See :class:`TextWorldEnv`.

    ## Observations
    TextWorld's text (see :class:`TextWorldEnv`).

    ## Rewards
    1 point for taking the right object.

    ## Episode end
    Won when the right object is taken; lost when the wrong one is; truncated after ``max_steps``.

    ## Splits
    Disjoint seed ranges for ``train`` / ``valid`` / ``test`` (see :class:`TextWorldEnv`). No
    ``test_unseen``: the challenge has no held-out distribution.

    ## Version history
    * v0: initial version (TextWorld 1.7).
    """

    family = "textworld_treasure_hunter"
    challenge = "tw-treasure_hunter"
    config_class = TreasureHunterConfig
    syntax = ("go north", "open wooden door", "unlock wooden door with key", "take passkey from chest",
              "examine passkey", "look", "inventory")


class TextWorldCookingEnv(TextWorldEnv):
    """
    ## Description
    TextWorld's Cooking game (``tw-make tw-cooking``, the First TextWorld Problems): read the
    cookbook, gather the ingredients, cook and cut them as the recipe says, prepare the meal and
    eat it. Knobs: the challenge's skills ``recipe``, ``take``, ``go``, ``open``, ``cook``,
    ``cut``, ``drop``.

    ## Actions
    See :class:`TextWorldEnv` (``cook X with stove|oven|BBQ``, ``slice|dice|chop X with knife``,
    ``prepare meal``, ``eat meal``, ...).

    ## Observations
    TextWorld's text (see :class:`TextWorldEnv`).

    ## Rewards
    The change in the game's points: one per ingredient fetched, cooked and cut as the recipe
    asks, one for preparing the meal, one for eating it.

    ## Episode end
    Won when the meal is eaten; lost when an ingredient is ruined (burnt, cut the wrong way) or
    the wrong thing is eaten; truncated after ``max_steps``.

    ## Splits
    Disjoint seed ranges (see :class:`TextWorldEnv`), drawn from TextWorld's ``train`` foods and
    preparations. ``test_unseen``: TextWorld's ``test`` distribution, whose foods and food x
    preparation pairs never appear in training.

    ## Version history
    * v0: initial version (TextWorld 1.7).
    """

    family = "textworld_cooking"
    challenge = "tw-cooking"
    config_class = CookingConfig
    syntax = ("examine cookbook", "go north", "open fridge", "take red potato from fridge",
              "cook red potato with stove", "slice red potato with knife", "prepare meal", "eat meal", "look",
              "inventory")

    @classmethod
    def _unseen_settings(cls) -> dict[str, Any]:
        return {"recipe_seed": 0, "split": "test"}

    @classmethod
    def _seen_settings(cls) -> dict[str, Any]:
        return {"recipe_seed": 0, "split": "train"}


# --------------------------------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------------------------------
_ENTRIES = (
    ("TextWorld-Simple-v0", TextWorldSimpleEnv,
     "TextWorld's Simple game: find the key, fetch the food, put it on the stove"),
    ("TextWorld-CoinCollector-v0", TextWorldCoinCollectorEnv,
     "TextWorld's Coin Collector: follow a chain of rooms to the coin"),
    ("TextWorld-TreasureHunter-v0", TextWorldTreasureHunterEnv,
     "TextWorld's Treasure Hunter: find and take the named object in a maze of rooms"),
    ("TextWorld-Cooking-v0", TextWorldCookingEnv,
     "TextWorld's Cooking game: read the recipe, gather, cook and cut ingredients, prepare the meal"),
)


def register_textworld() -> None:
    """Registers the TextWorld ids; they register without the ``textworld`` package, and making
    one without it raises :class:`gymnasium.error.DependencyNotInstalled` saying how to install it."""
    for name, cls, description in _ENTRIES:
        register(EnvEntry(
            id=f"sparring/{name}",
            entry_point=f"sparring.envs.textworld_games:{cls.__name__}",
            family=cls.family,
            description=description,
            splits=cls.splits(),
        ))


__all__ = [
    "CACHE_ENV", "CoinCollectorConfig", "CookingConfig", "GameFiles", "SimpleConfig", "TextWorldConfig",
    "TextWorldCoinCollectorEnv", "TextWorldCookingEnv", "TextWorldEnv", "TextWorldSimpleEnv",
    "TextWorldTreasureHunterEnv", "TreasureHunterConfig", "cache_root", "clean_text", "ensure_game",
    "game_directory", "register_textworld", "settings_key", "tw_make_command",
]
