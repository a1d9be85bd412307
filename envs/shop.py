"""Shop: WebShop-like tasks in a generated online store."""

from __future__ import annotations

import dataclasses
import functools
import math
import random
import re
from collections.abc import Mapping
from typing import Any, ClassVar, NamedTuple

from sparring.envs.lexicon import Lexicon
from sparring.envs.text_env import FamilyConfig, TextEnv
from sparring.errors import ConfigError, InvalidTaskError

# --------------------------------------------------------------------------------------------------
# The store's vocabulary
# --------------------------------------------------------------------------------------------------
_SIZES = ("xs", "s", "m", "l", "xl", "xxl")
_SHOE_SIZES = ("6", "7", "8", "9", "10", "11", "12")


class Category(NamedTuple):
    """What products of one category can be: features, option dimensions, price range in dollars."""

    attributes: tuple[str, ...]
    options: tuple[tuple[str, tuple[str, ...]], ...]
    price: tuple[int, int]
    #: how the instruction introduces one item ("a", "a pair of", "" for a mass noun)
    article: str = "a"


CATEGORIES: dict[str, Category] = {
    "jacket": Category(
        ("waterproof", "insulated", "lightweight", "hooded", "windproof", "packable"),
        (("size", _SIZES), ("color", ("black", "navy", "gray", "green", "red", "beige", "brown"))),
        (40, 220)),
    "sneakers": Category(
        ("lightweight", "breathable", "non-slip", "waterproof", "padded"),
        (("size", _SHOE_SIZES), ("color", ("black", "white", "gray", "blue", "red", "orange"))),
        (35, 160), "a pair of"),
    "backpack": Category(
        ("waterproof", "lightweight", "padded", "anti-theft", "usb charging", "laptop sleeve"),
        (("capacity", ("20 liters", "30 liters", "40 liters")), ("color", ("black", "gray", "navy", "green", "red"))),
        (25, 130)),
    "headphones": Category(
        ("wireless", "noise cancelling", "foldable", "over-ear", "lightweight"),
        (("color", ("black", "white", "silver", "blue", "red")),),
        (20, 300), "a pair of"),
    "coffee maker": Category(
        ("programmable", "stainless steel", "single serve", "glass carafe", "auto shut-off"),
        (("capacity", ("4 cups", "8 cups", "12 cups")), ("color", ("black", "silver", "red", "white"))),
        (25, 220)),
    "tea": Category(
        ("organic", "decaf", "loose leaf", "fair trade", "vegan"),
        (("flavor", ("peppermint", "chamomile", "jasmine", "chai", "english breakfast")),
         ("count", ("20 bags", "50 bags", "100 bags"))),
        (5, 30), ""),
    "shampoo": Category(
        ("sulfate-free", "paraben-free", "organic", "moisturizing", "vegan"),
        (("scent", ("lavender", "coconut", "citrus", "mint", "unscented")),
         ("capacity", ("250 ml", "500 ml", "1000 ml"))),
        (6, 45), ""),
    "desk lamp": Category(
        ("dimmable", "led", "usb charging", "adjustable", "touch control", "portable"),
        (("color", ("black", "white", "silver", "gray")),),
        (15, 90)),
    "office chair": Category(
        ("ergonomic", "adjustable", "lumbar support", "mesh", "swivel", "padded"),
        (("color", ("black", "gray", "blue", "red", "white")),),
        (60, 400)),
    "water bottle": Category(
        ("insulated", "bpa free", "leak-proof", "stainless steel", "lightweight", "dishwasher safe"),
        (("capacity", ("12 oz", "18 oz", "24 oz", "32 oz", "40 oz")),
         ("color", ("black", "white", "blue", "green", "pink"))),
        (8, 50)),
    "tent": Category(
        ("waterproof", "lightweight", "windproof", "packable", "breathable"),
        (("color", ("green", "gray", "blue", "beige", "orange")),),
        (50, 400)),
    "sunglasses": Category(
        ("uv protection", "lightweight", "foldable", "scratch-resistant", "shockproof"),
        (("color", ("black", "brown", "gray", "blue")),),
        (10, 150), "a pair of"),
    "yoga mat": Category(
        ("non-slip", "extra thick", "eco-friendly", "lightweight", "foldable"),
        (("color", ("purple", "blue", "black", "pink", "green", "gray")), ("thickness", ("4 mm", "6 mm", "8 mm"))),
        (15, 90)),
    "t-shirt": Category(
        ("organic", "breathable", "moisture-wicking", "slim fit", "uv protection"),
        (("size", _SIZES), ("color", ("white", "black", "gray", "navy", "red", "green"))),
        (8, 40)),
    "blender": Category(
        ("portable", "stainless steel", "usb charging", "dishwasher safe", "programmable", "bpa free"),
        (("capacity", ("24 oz", "32 oz", "40 oz")), ("color", ("black", "white", "red", "silver"))),
        (20, 200)),
    "phone case": Category(
        ("shockproof", "slim fit", "magnetic", "kickstand", "scratch-resistant"),
        (("model", ("iphone 15", "iphone 14", "pixel 8", "galaxy s24")),
         ("color", ("black", "clear", "blue", "pink", "red"))),
        (8, 60)),
}
#: held out for test_unseen: no train / valid / test catalogue holds one of their products; every
#: feature and option value they use also belongs to a seen category (tests check it)
HELD_OUT_CATEGORIES: tuple[str, ...] = ("blender", "sunglasses", "tent")
SEEN_CATEGORIES: tuple[str, ...] = tuple(c for c in CATEGORIES if c not in HELD_OUT_CATEGORIES)

BRANDS = ("Alderwood", "Brightfield", "Cobaltline", "Driftly", "Evergold", "Fernhill", "Granitepeak",
          "Harborview", "Ironbark", "Juniper", "Kestrel", "Lumenor", "Marlowe", "Northwind", "Oakridge",
          "Pinecrest", "Quartzline", "Redfern", "Silverline", "Tidewater", "Umberlane", "Vantage",
          "Willowby", "Zephyrine")

#: how the instruction asks for an option value
OPTION_PHRASE = {"size": "size {}", "color": "{} color", "capacity": "{} capacity", "flavor": "{} flavor",
                 "scent": "{} scent", "count": "{} per box", "thickness": "{} thickness", "model": "model {}"}
#: instruction templates; at most ten, so a wording is one digit of a spec's JSON text
_PHRASINGS = (
    "i need {item}{options}, and price lower than {price} dollars",
    "i am looking for {item}{options}, and price lower than {price} dollars",
    "find me {item}{options}, with price lower than {price} dollars",
    "i want to buy {item}{options} that costs less than {price} dollars",
    "get me {item}{options}, price lower than {price} dollars",
    "i would like {item}{options}, and price lower than {price} dollars",
    "i'm looking for {item}{options} priced under {price} dollars",
    "please find {item}{options}, price lower than {price} dollars",
    "show me {item}{options} for less than {price} dollars",
    "i need to order {item}{options}, and price lower than {price} dollars",
)
#: words shown upper-case in product titles
_ACRONYMS = {"uv": "UV", "led": "LED", "usb": "USB", "bpa": "BPA"}
#: 32 id characters (no I, O, 0, 1, which read alike), five random bits each
_ID_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_PER_PAGE = 10
_MAX_RESULTS = 50
#: the target of a generated task is listed within this many results of the instruction's query
_TARGET_RANK = 30
_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_NEXT, _PREV = "click[next >]", "click[< prev]"

LEXICON = Lexicon({
    # verbs
    "search": ("find", "look for", "search for", "query", "look up", "lookup"),
    "click": ("select", "open", "view", "click on", "tap"),
    "choose": ("pick", "select option", "choose option", "set"),
    "back": ("go back", "return", "go back to results"),
    "buy": ("purchase", "buy now", "checkout", "check out", "order", "place order", "buy it"),
    "next": ("next page",),
    "prev": ("previous", "previous page", "prev page"),
    # categories
    "jacket": ("coat", "rain jacket", "parka"),
    "sneakers": ("trainers", "running shoes", "tennis shoes", "sneaker"),
    "backpack": ("rucksack", "knapsack", "daypack", "back pack"),
    "headphones": ("headset", "earphones", "headphone"),
    "coffee maker": ("coffee machine", "coffeemaker", "coffee brewer"),
    "shampoo": ("hair wash",),
    "desk lamp": ("table lamp", "reading lamp"),
    "office chair": ("desk chair", "computer chair", "task chair"),
    "water bottle": ("drinking bottle", "drink bottle"),
    "tent": ("camping tent",),
    "sunglasses": ("shades", "sun glasses"),
    "yoga mat": ("exercise mat", "workout mat", "fitness mat"),
    "t-shirt": ("tee", "tshirt", "t shirt", "tee shirt"),
    "blender": ("smoothie maker", "smoothie blender"),
    "phone case": ("phone cover", "cell phone case", "mobile case"),
    # features
    "waterproof": ("water-resistant", "water resistant", "water proof", "water-proof"),
    "insulated": ("thermal", "vacuum-insulated"),
    "lightweight": ("light-weight", "light weight", "ultralight", "ultra-light"),
    "hooded": ("with hood", "with a hood"),
    "windproof": ("wind-resistant", "wind resistant", "wind proof"),
    "packable": ("compressible", "stowable"),
    "breathable": ("ventilated", "airy"),
    "non-slip": ("anti-slip", "slip-resistant", "slip resistant", "nonslip", "non slip"),
    "padded": ("cushioned",),
    "anti-theft": ("theft-proof", "antitheft"),
    "wireless": ("bluetooth", "cordless"),
    "noise cancelling": ("noise-cancelling", "noise canceling", "noise-canceling", "anc", "noise cancellation"),
    "foldable": ("collapsible", "folding", "fold-up"),
    "over-ear": ("over ear", "around-ear"),
    "single serve": ("single-serve", "one cup"),
    "auto shut-off": ("automatic shut-off", "auto off", "auto shutoff"),
    "decaf": ("decaffeinated", "caffeine-free", "caffeine free"),
    "loose leaf": ("loose-leaf",),
    "fair trade": ("fairtrade", "fair-trade"),
    "sulfate-free": ("sulphate-free", "sulfate free", "sulphate free"),
    "paraben-free": ("paraben free",),
    "moisturizing": ("moisturising", "hydrating"),
    "vegan": ("plant-based",),
    "dimmable": ("dimming",),
    "usb charging": ("usb rechargeable", "rechargeable"),
    "touch control": ("touch-control", "touch sensitive"),
    "lumbar support": ("back support",),
    "swivel": ("rotating", "swiveling"),
    "bpa free": ("bpa-free",),
    "leak-proof": ("leakproof", "leak proof", "spill-proof"),
    "dishwasher safe": ("dishwasher-safe",),
    "uv protection": ("uv-protection", "uv blocking", "uv400"),
    "scratch-resistant": ("scratch resistant", "scratchproof", "scratch-proof"),
    "shockproof": ("shock-proof", "drop-proof", "shock resistant"),
    "eco-friendly": ("eco friendly", "environmentally friendly", "sustainable"),
    "moisture-wicking": ("moisture wicking", "sweat-wicking", "quick-dry"),
    "slim fit": ("slim-fit", "slim-cut"),
    "portable": ("compact",),
    # option dimensions and values
    "color": ("colour",),
    "flavor": ("flavour", "taste"),
    "scent": ("fragrance",),
    "capacity": ("volume",),
    "gray": ("grey",),
    "navy": ("navy blue", "dark blue"),
    "beige": ("tan",),
    "purple": ("violet",),
    "clear": ("transparent",),
    "unscented": ("fragrance-free", "fragrance free"),
    "xs": ("extra small", "x-small"),
    "s": ("small",),
    "m": ("medium",),
    "l": ("large",),
    "xl": ("extra large", "x-large"),
    "xxl": ("xx-large", "2xl"),
    "oz": ("ounces", "ounce"),
    "liters": ("litres", "liter", "litre"),
    "ml": ("milliliters", "millilitres"),
    "mm": ("millimeters", "millimetres"),
    "cups": ("cup",),
    "bags": ("bag", "teabags"),
})


def _display(phrase: str) -> str:
    return " ".join(_ACRONYMS.get(w, w.title()) for w in phrase.split(" "))


def _words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text))


def _cents(cents: int) -> float:
    # int / int rounds correctly, so the float prints as the two-decimal price it stands for
    return cents / 100


def _dollars(price: float) -> str:
    return f"${price:.2f}"


_DISPLAY = {p: _display(p) for c, cat in CATEGORIES.items() for p in (c,) + cat.attributes}
#: the search words of each vocabulary phrase, built once so a catalogue costs no regex at reset
_PHRASE_WORDS = {p: _words(p) for p in _DISPLAY} | {b: _words(b.lower()) for b in BRANDS}


#: (dimension, values) -> for each bit mask over the values, the subset and its text in a product record
_SUBSETS = {
    (dim, choices): [
        (subset, f"{dim}: {', '.join(subset)}")
        for subset in (tuple(v for j, v in enumerate(choices) if mask >> j & 1) for mask in range(1 << len(choices)))
    ]
    for cat in CATEGORIES.values() for dim, choices in cat.options
}


class Product(NamedTuple):
    id: str
    title: str
    category: str
    attributes: tuple[str, ...]
    options: tuple[tuple[str, tuple[str, ...]], ...]
    price: float
    words: frozenset[str]  #: what a search query is matched against: title, category, features
    record: str  #: the product's line in a task spec (see :func:`_read_product`)


def _draw_product(
    rng: random.Random,
    category: str,
    attributes: list[str] | tuple[str, ...] = (),
    values: Mapping[str, str] | None = None,
    price: float | None = None,
) -> Product:
    """A product of ``category`` with ``attributes`` and option ``values`` (plus random others),
    priced ``price`` (at random if None)."""
    # Draws use rng.random() rather than choice / sample / shuffle: a reset draws a dozen products,
    # and the library helpers cost several times more per call.
    draw = rng.random
    cat = CATEGORIES[category]
    features = list(attributes)
    extra = [a for a in cat.attributes if a not in features]
    fewest = 0 if features else 1
    for _ in range(fewest + int(draw() * (min(2, 4 - len(features), len(extra)) - fewest + 1))):
        features.append(extra.pop(int(draw() * len(extra))))
    for i in range(len(features) - 1, 0, -1):  # shuffled, since the title shows only the first two
        j = int(draw() * (i + 1))
        features[i], features[j] = features[j], features[i]
    options = []
    listed = []
    for dim, choices in cat.options:
        # a random subset of the dimension's values as a bit mask: one draw per dimension
        mask = rng.getrandbits(len(choices))
        need = values.get(dim) if values else None
        if need is not None:
            mask |= 1 << choices.index(need)
        elif not mask:
            mask = 1
        offered, text = _SUBSETS[dim, choices][mask]
        options.append((dim, offered))
        listed.append(text)
    if price is None:
        price = _draw_price(rng, category)
    return _assemble(rng, category, features, tuple(options), listed, price)


def _draw_price(rng: random.Random, category: str, below: float | None = None) -> float:
    """A price in the category's range (under ``below`` if given), in dollars and 99 cents."""
    low, high = CATEGORIES[category].price
    if below is not None:
        high = max(low, min(high, int(below) - 1))
    return _cents((low + int(rng.random() * (high - low + 1))) * 100 + 99)


def _variant(
    rng: random.Random,
    base: Product,
    features: list[str] | None = None,
    options: tuple[tuple[str, tuple[str, ...]], ...] | None = None,
    price: float | None = None,
) -> Product:
    """``base`` sold by another brand under another id, with the fields given changed: the near
    misses of a target."""
    features = list(base.attributes if features is None else features)
    draw = rng.random
    for i in range(len(features) - 1, 0, -1):
        j = int(draw() * (i + 1))
        features[i], features[j] = features[j], features[i]
    options = base.options if options is None else options
    listed = [f"{dim}: {', '.join(offered)}" for dim, offered in options]
    return _assemble(rng, base.category, features, options, listed, base.price if price is None else price)


def _assemble(
    rng: random.Random,
    category: str,
    features: list[str],
    options: tuple[tuple[str, tuple[str, ...]], ...],
    listed: list[str],
    price: float,
) -> Product:
    """A product with a random brand and id; ``listed`` is the text of each option dimension."""
    brand = BRANDS[int(rng.random() * len(BRANDS))]
    title = " ".join([brand] + [_DISPLAY[a] for a in features[:2]] + [_DISPLAY[category]])
    bits = rng.getrandbits(40)
    pid = "B0" + "".join([_ID_CHARS[bits >> shift & 31] for shift in range(0, 40, 5)])
    words = _PHRASE_WORDS[brand].union(_PHRASE_WORDS[category], *(_PHRASE_WORDS[a] for a in features))
    record = f"{pid} | {title} | {category} | {', '.join(features)} | {'; '.join(listed)} | ${price:.2f}"
    return Product(pid, title, category, tuple(features), options, price, words, record)


def _sample(rng: random.Random, population: tuple[Product, ...], k: int) -> list[Product]:
    """``k`` distinct items in random order; one rng.random() per pick, several times cheaper than
    rng.sample for a few dozen items out of a thousand."""
    n = len(population)
    draw = rng.random
    chosen = dict.fromkeys([int(draw() * n) for _ in range(k)])
    while len(chosen) < k:  # repeats: draw more
        chosen[int(draw() * n)] = None
    return [population[i] for i in chosen]


def _read_product(record: Any) -> Product:
    """A product from its spec line ``"id | title | category | feature, ... | dim: value, ...; ... | $price"``."""
    if not isinstance(record, str):
        raise InvalidTaskError(
            f"a product must be one string 'id | title | category | features | options | $price', got "
            f"{type(record).__name__}"
        )
    return _parse_record(record)


@functools.lru_cache(maxsize=4096)
def _parse_record(record: str) -> Product:
    # Cached: replayed tasks repeat their records, and every task shares the background's.
    fields = record.split(" | ")
    if len(fields) != 6:
        raise InvalidTaskError(
            f"a product must be one string 'id | title | category | features | options | $price', got "
            f"{record!r:.120}"
        )
    pid, title, category, features, listed, price_text = (f.strip() for f in fields)
    if not pid or "[" in pid or "]" in pid or " " in pid:
        raise InvalidTaskError(f"a product id must be one word without brackets, got {pid!r}")
    if category not in CATEGORIES:
        raise InvalidTaskError(f"product {pid} has unknown category {category!r}; known: {sorted(CATEGORIES)}")
    if not title:
        raise InvalidTaskError(f"product {pid} needs a title")
    try:
        price = float(price_text.removeprefix("$"))
    except ValueError:
        price = -1.0
    if not (math.isfinite(price) and price >= 0):
        raise InvalidTaskError(f"product {pid} needs a price like '$19.99', got {price_text!r}")
    attributes = tuple(a.strip() for a in features.split(",") if a.strip())
    options = []
    seen: set[str] = set()
    for part in listed.split(";"):
        if not part.strip():
            continue
        dim, _, values_text = (s.strip() for s in part.partition(":"))
        values = tuple(v.strip() for v in values_text.split(",") if v.strip())
        if dim not in OPTION_PHRASE or not values:
            raise InvalidTaskError(
                f"product {pid} options must read 'dimension: value, value; ...' with dimensions from "
                f"{sorted(OPTION_PHRASE)}, got {part.strip()!r}"
            )
        if seen & set(values) or len(set(values)) < len(values):
            raise InvalidTaskError(f"product {pid} offers an option value twice")
        seen.update(values)
        options.append((dim, values))
    words = frozenset().union(
        *(_PHRASE_WORDS.get(a) or _words(LEXICON.normalize(a)) for a in attributes + (category,)),
        _words(LEXICON.normalize(title)),
    )
    return Product(pid, title, category, attributes, tuple(options), price, words, record)


#: background products per category; tasks draw their catalogue's filler from these
_BACKGROUND_SIZE = 96


@functools.cache
def _category_background(category: str) -> tuple[Product, ...]:
    # Seeded by name, so the background catalogue is the same in every process; built once, since
    # drawing dozens of products per reset would cost more than the rest of an episode.
    rng = random.Random(f"shop/background/{category}")
    return tuple(_draw_product(rng, category) for _ in range(_BACKGROUND_SIZE))


@functools.cache
def _background(categories: tuple[str, ...]) -> tuple[Product, ...]:
    return tuple(p for c in categories for p in _category_background(c))


@functools.cache
def _background_ids(categories: tuple[str, ...]) -> frozenset[str]:
    return frozenset(p.id for p in _background(categories))


@dataclasses.dataclass(frozen=True)
class ShopConfig(FamilyConfig):
    """Difficulty knobs of the Shop family."""

    num_products: int = 40  #: products in the catalogue (4-300)
    num_distractors: int = 4  #: near misses of the goal's category (one feature, the price or an option off)
    max_attributes: int = 2  #: features an instruction asks for, at most (1-3)
    max_options: int = 2  #: option values an instruction asks for, at most (0-2)
    categories: tuple[str, ...] = SEEN_CATEGORIES  #: categories train/valid/test catalogues draw from
    max_steps: int = 30

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "easy": dict(num_products=12, num_distractors=2, max_attributes=1, max_options=1, max_steps=20),
        "medium": dict(num_products=40, num_distractors=4, max_attributes=2, max_options=2, max_steps=30),
        "hard": dict(num_products=100, num_distractors=10, max_attributes=3, max_options=2, max_steps=40),
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.num_products, int) or not 4 <= self.num_products <= 300:
            raise ConfigError(f"num_products must be an integer from 4 to 300, got {self.num_products!r}")
        if not isinstance(self.num_distractors, int) or not 0 <= self.num_distractors < self.num_products:
            raise ConfigError(
                f"num_distractors must be an integer from 0 to num_products - 1 ({self.num_products - 1}), got "
                f"{self.num_distractors!r}; lower it or raise num_products"
            )
        if not isinstance(self.max_attributes, int) or not 1 <= self.max_attributes <= 3:
            raise ConfigError(f"max_attributes must be 1, 2 or 3, got {self.max_attributes!r}")
        if not isinstance(self.max_options, int) or not 0 <= self.max_options <= 2:
            raise ConfigError(f"max_options must be 0, 1 or 2, got {self.max_options!r}")
        categories = tuple(self.categories) if not isinstance(self.categories, str) else (self.categories,)
        bad = [c for c in categories if c not in SEEN_CATEGORIES]
        if bad or not categories:
            why = (f"{', '.join(map(repr, bad))} {'is' if len(bad) == 1 else 'are'} not among them"
                   f"{' (held out for test_unseen)' if set(bad) & set(HELD_OUT_CATEGORIES) else ''}"
                   if bad else "it is empty")
            raise ConfigError(
                f"categories must be a non-empty selection of {SEEN_CATEGORIES}, got {self.categories!r}: {why}; "
                f"pick categories from that list"
            )
        object.__setattr__(self, "categories", tuple(dict.fromkeys(categories)))
        if self.max_steps < 8:
            raise ConfigError(f"max_steps must be at least 8 (search, page, open, choose, buy), got {self.max_steps}")


class ShopEnv(TextEnv):
    """
    ## Description
    A WebShop-like online store over a generated catalogue of products from sixteen categories
    (jackets, sneakers, tea, office chairs...). Each product has an id like an Amazon ASIN
    ("B0K3ZQ82XA"), a title (brand, up to two features, category), features, option dimensions
    (size, color, capacity, flavor...) with the values it comes in, and a price. The instruction asks
    for a product of a category with one to three features, one or two option values and a price
    bound ("i need a waterproof, hooded jacket with size m and black color, and price lower than
    80.00 dollars"). Each catalogue holds a freshly drawn target, near misses of it (the same
    product from other brands with exactly one requirement broken: a feature missing, over the
    price, or not offered in the requested option value) and products of the store's standing
    stock. Titles show only some features, so the agent has to open products to check.

    A task spec is ``{"goal": {"category", "attributes", "options": [[dimension, value], ...],
    "max_price", "target", "phrasing"}, "products": [record, ...]}``, one readable line per product:
    ``"B0K3ZQ82XA | Northwind Waterproof Hooded Jacket | jacket | waterproof, hooded | size: s, m;
    color: black, gray | $74.99"``.

    ## Actions
    A command string; the admissible ones are listed in ``info["admissible_actions"]``. On the
    search page: ``search[<query>]`` (any query works; the list offers the instruction's words and
    each category in the store). On a results page (ten products per page, ranked by how many query
    words a product's title, features and category share): ``click[<product id>]`` (or the exact
    title), ``click[next >]``, ``click[< prev]``, ``back`` (to the search page). On a product page:
    ``choose[<value>]`` (also ``choose[size: m]`` or ``click[m]``), ``buy`` (also
    ``click[buy now]``), ``back`` (to the results). ``click[back to search]`` goes to the search page
    from a results or product page. Verbs are case-insensitive, spaces around brackets are
    tolerated, and the lexicon's aliases are accepted for verbs, categories, features and option
    values ("find[water-resistant coat]", "pick[grey]", "purchase").

    ## Observations
    The page in words: the search page with the store's categories, a results page with each
    product's id, title and price, or a product page with its title, price, features, options and
    the values chosen so far. The first observation states the task.

    ## Rewards
    The instruction is a list of requirements: the category, each feature, each option value and
    the price bound. ``"env"``: on the ``buy`` step, the share of the requirements the bought product
    and its chosen options meet (1 when all are met); 0 on every other step. ``"progress"``: the same
    share, paid on the same step. ``score`` is the number of requirements met at the purchase (0
    before it), ``max_score`` the number of requirements.

    ## Episode end
    Terminated by ``buy``: won if every requirement is met, lost otherwise. Truncated after
    ``max_steps``.

    ## Splits
    ``train`` / ``valid`` / ``test``: disjoint seeds and task specs over thirteen categories.
    ``test_unseen``: three categories (blender, sunglasses, tent) are held out: their products appear
    in no train / valid / test catalogue, and every test_unseen task asks for one of them. Their
    features and option values all occur in seen categories, so what is new is the combination.

    ## Version history
    * v0: initial version.
    """

    family = "shop"
    config_class = ShopConfig
    lexicon = LEXICON
    verbs = ("search", "click", "choose", "buy", "back", "next", "prev")
    syntax = ("search[waterproof jacket]", "click[B0K3ZQ82XA]", "click[next >]", "choose[black]", "buy", "back")
    match_unnumbered = False

    config: ShopConfig
    #: the last spec ``_generate`` drew and its products, so ``_load`` need not parse it again
    _drawn: tuple[dict[str, Any], list[Product]] | None = None

    # ----------------------------------------------------------------------------------------------
    # Generation
    # ----------------------------------------------------------------------------------------------
    def _generate(self, rng: random.Random, unseen: bool) -> dict[str, Any]:
        for _ in range(100):
            spec = self._draw(rng, unseen)
            if spec is not None:
                return spec
        raise RuntimeError(f"could not generate a shop task with {self.config.describe()}")

    def _draw(self, rng: random.Random, unseen: bool) -> dict[str, Any] | None:
        cfg = self.config
        pool = cfg.categories + HELD_OUT_CATEGORIES if unseen else cfg.categories
        draw = rng.random
        goal_pool = HELD_OUT_CATEGORIES if unseen else cfg.categories
        category = goal_pool[int(draw() * len(goal_pool))]
        cat = CATEGORIES[category]
        attributes = rng.sample(cat.attributes, 1 + int(draw() * cfg.max_attributes))
        fewest = min(1, cfg.max_options)
        wanted = min(fewest + int(draw() * (cfg.max_options - fewest + 1)), len(cat.options))
        dims = sorted(rng.sample(range(len(cat.options)), wanted))
        options = [[cat.options[i][0], cat.options[i][1][int(draw() * len(cat.options[i][1]))]] for i in dims]
        low, high = cat.price
        dollars = low + int(draw() * (high - low + 1))
        max_price = float((dollars // 10 + 1 + int(draw() * 3)) * 10)
        goal_values = dict(options)

        target = _draw_product(rng, category, attributes, goal_values, _cents(dollars * 100 + 99))
        fresh = [target]
        kinds = ["feature", "price"] + (["option"] if options else [])
        # Near misses: the target from another brand with exactly one requirement broken.
        for _ in range(cfg.num_distractors):
            kind = kinds[int(draw() * len(kinds))]
            if kind == "price":
                over = _cents((int(max_price) + int(draw() * max(6, int(max_price) // 2 + 1))) * 100 + 99)
                fresh.append(_variant(rng, target, price=over))
                continue
            price = _draw_price(rng, category, max_price)
            if kind == "feature":
                dropped = attributes[int(draw() * len(attributes))]
                spare = [a for a in cat.attributes if a not in target.attributes]
                features = [a for a in target.attributes if a != dropped] + [spare[int(draw() * len(spare))]]
                fresh.append(_variant(rng, target, features=features, price=price))
            else:
                dim, value = options[int(draw() * len(options))]
                changed = []
                for (d, choices), (_, offered) in zip(cat.options, target.options, strict=True):
                    if d == dim:
                        offered = tuple(v for v in offered if v != value) or (choices[choices[0] == value],)
                    changed.append((d, offered))
                fresh.append(_variant(rng, target, options=tuple(changed), price=price))
        background = _background(pool)
        products = _sample(rng, background, min(max(0, cfg.num_products - len(fresh)), len(background)))
        while len(products) + len(fresh) < cfg.num_products:  # a config with few categories
            fresh.append(_draw_product(rng, rng.choice(pool)))
        taken = _background_ids(pool)
        if len({p.id for p in fresh}) < len(fresh) or any(p.id in taken for p in fresh):
            return None
        # the filler comes in random order, so inserting each fresh product at a random place
        # shuffles the whole catalogue
        for p in fresh:
            products.insert(int(rng.random() * (len(products) + 1)), p)

        # The target has every word of the instruction's query; it ranks after the products before
        # it in the catalogue that have them all too.
        query = _PHRASE_WORDS[category].union(*(_PHRASE_WORDS[a] for a in attributes))
        if sum(1 for p in products[:products.index(target)] if query <= p.words) >= _TARGET_RANK:
            return None
        spec = {
            "goal": {"category": category, "attributes": attributes, "options": options, "max_price": max_price,
                     "target": target.id, "phrasing": rng.randrange(len(_PHRASINGS))},
            "products": [p.record for p in products],
        }
        self._drawn = (spec, products)
        return spec

    @classmethod
    def held_out(cls, spec: Mapping[str, Any]) -> list[str]:
        held = {fields[2] for fields in (str(p).split(" | ") for p in spec["products"])
                if len(fields) > 2 and fields[2] in HELD_OUT_CATEGORIES}
        return [f"category:{c}" for c in sorted(held)]

    # ----------------------------------------------------------------------------------------------
    # State
    # ----------------------------------------------------------------------------------------------
    def _load(self, spec: Mapping[str, Any]) -> None:
        goal = spec["goal"]
        drawn, self._drawn = self._drawn, None
        trusted = False
        if drawn is not None and drawn[0] is spec:
            trusted, products = True, drawn[1]
        else:
            raw = spec["products"]
            if not isinstance(raw, list) or not raw:
                raise InvalidTaskError("a shop task needs a non-empty list of 'products'")
            products = [_read_product(p) for p in raw]
        self._products = products
        self._words = [p.words for p in products]
        if not trusted and len({p.id for p in products}) < len(products):
            raise InvalidTaskError("product ids in a shop task must be unique")

        category = goal["category"]
        if category not in CATEGORIES:
            raise InvalidTaskError(f"unknown shop category {category!r}; known: {sorted(CATEGORIES)}")
        attributes = tuple(goal["attributes"])
        if not attributes or any(a not in _DISPLAY for a in attributes):
            raise InvalidTaskError(f"goal attributes must be known features, got {list(attributes)!r}")
        options = tuple((str(d), str(v)) for d, v in goal["options"])
        if any(d not in OPTION_PHRASE for d, _ in options):
            raise InvalidTaskError(f"goal options must be [dimension, value] pairs of {sorted(OPTION_PHRASE)}")
        max_price = goal["max_price"]
        if isinstance(max_price, bool) or not isinstance(max_price, (int, float)) or max_price <= 0:
            raise InvalidTaskError(f"goal max_price must be a positive number of dollars, got {max_price!r}")
        phrasing = goal.get("phrasing", 0)
        if not isinstance(phrasing, int) or not 0 <= phrasing < len(_PHRASINGS):
            raise InvalidTaskError(f"goal phrasing must be an integer below {len(_PHRASINGS)}, got {phrasing!r}")
        self._goal_category, self._goal_attributes, self._goal_options = category, attributes, options
        self._max_price, self._phrasing = float(max_price), phrasing
        target = goal["target"]
        self._target = next((i for i, p in enumerate(products) if p.id == target), -1)
        if self._target < 0:
            raise InvalidTaskError(f"the goal's target {goal['target']!r} is not a product of the catalogue")
        self._query = " ".join(attributes + (category,))
        if not trusted and self._unmet(products[self._target], dict(options)):
            raise InvalidTaskError(f"the goal's target {goal['target']!r} does not meet the goal")
        if not trusted and self._target not in self._rank(_words(self._query)):
            raise InvalidTaskError(
                f"searching the instruction's words ({self._query!r}) does not list the target; put the target "
                f"earlier in 'products'"
            )

        categories = sorted({p.category for p in products})
        self._categories = categories
        self._search_actions = {f"search[{self._query}]": ("search", self._query)}
        for c in categories:
            self._search_actions.setdefault(f"search[{c}]", ("search", c))
        self._product_actions: dict[int, dict[str, Any]] = {}
        self._page_kind = "search"
        self._results: list[int] = []
        self._results_query = ""
        self._page = 0
        self._product = -1
        self._selected: dict[str, str] = {}
        self._bought: Product | None = None
        self._met = 0
        self._missed: list[str] = []

    def _rank(self, query: frozenset[str]) -> list[int]:
        """Indices of the products a query lists: most shared words first, then catalogue order."""
        scored = sorted([(-len(query & w), i) for i, w in enumerate(self._words) if not query.isdisjoint(w)])
        return [i for _, i in scored[:_MAX_RESULTS]]

    def _instruction(self) -> str:
        item = self._item()
        wants = " and ".join(OPTION_PHRASE[d].format(v) for d, v in self._goal_options)
        return _PHRASINGS[self._phrasing].format(
            item=item, options=f" with {wants}" if wants else "", price=f"{self._max_price:.2f}")

    def _intro(self) -> str:
        return (f"-= Welcome to the Shop =-\n{self._search_page()}\n\n"
                f"Your task is to: {self._instruction_text}")

    def _search_page(self) -> str:
        return (f"You are on the search page of an online store with {len(self._products)} products in these "
                f"categories: {', '.join(self._categories)}. Type search[your query] to search the catalogue.")

    def _results_page(self) -> str:
        results, page = self._results, self._page
        if not results:
            return (f"No products match \"{self._results_query}\". Use back to return to the search page and "
                    f"try other words.")
        pages = (len(results) + _PER_PAGE - 1) // _PER_PAGE
        count = f"{len(results)} result{'s' if len(results) > 1 else ''}"
        lines = [f"Search results for \"{self._results_query}\", page {page + 1} of {pages} ({count}):"]
        products = self._products
        for i in results[page * _PER_PAGE:(page + 1) * _PER_PAGE]:
            p = products[i]
            lines.append(f"[{p.id}] {p.title} - {_dollars(p.price)}")
        more = []
        if page + 1 < pages:
            more.append("click[next >] for more results")
        if page:
            more.append("click[< prev] for the previous page")
        lines.append("Open a product with click[<id>]; " + ", ".join(more + ["back returns to the search page."]))
        return "\n".join(lines)

    def _product_page(self) -> str:
        p = self._products[self._product]
        options = "; ".join(f"{d}: {', '.join(vs)}" for d, vs in p.options) or "none"
        text = (f"{p.title}\nProduct {p.id}, price: {_dollars(p.price)}\n"
                f"Features: {', '.join(p.attributes) or 'none'}.\nOptions - {options}.\n")
        if self._selected:
            text += f"Selected: {self._selection()}.\n"
        return text + "Pick option values with choose[<value>], then buy; back returns to the results."

    def _selection(self) -> str:
        return ", ".join(f"{d}: {v}" for d, v in self._selected.items()) or "no options"

    # ----------------------------------------------------------------------------------------------
    # Actions
    # ----------------------------------------------------------------------------------------------
    def _admissible(self) -> dict[str, Any]:
        kind = self._page_kind
        if kind == "search":
            return dict(self._search_actions)
        if kind == "results":
            acts: dict[str, Any] = {}
            page, results, products = self._page, self._results, self._products
            for i in results[page * _PER_PAGE:(page + 1) * _PER_PAGE]:
                acts[f"click[{products[i].id}]"] = ("click", i)
            if (page + 1) * _PER_PAGE < len(results):
                acts[_NEXT] = ("page", 1)
            if page:
                acts[_PREV] = ("page", -1)
            acts["back"] = ("back",)
            return acts
        if kind == "product":
            cached = self._product_actions.get(self._product)
            if cached is None:
                cached = {f"choose[{v}]": ("choose", d, v) for d, vs in self._products[self._product].options
                          for v in vs}
                cached["back"] = ("back",)
                cached["buy"] = ("buy",)
                self._product_actions[self._product] = cached
            return dict(cached)
        return {}  # bought: the episode is over

    def _parse(self, text: str) -> Any | None:
        # Tolerant forms: any query on the search page, ids in any case, titles, "choose[size: m]",
        # WebShop's click[<option value>] / click[buy now], spaces around brackets, no brackets.
        norm = self.lexicon.normalize(text)
        start = norm.find("[")
        if start > 0 and norm.endswith("]"):
            verb, arg = norm[:start].strip().rstrip(":"), norm[start + 1:-1].strip()
        else:
            verb, _, arg = norm.partition(" ")
            verb = verb.rstrip(":")
            if verb not in ("search", "click", "choose"):
                return self._parse_button(norm)
            arg = arg.strip()
        if not arg:
            return None
        kind = self._page_kind
        if verb == "search":
            return ("search", arg) if kind == "search" and _WORD.search(arg) else None
        if verb == "choose":
            return self._parse_value(arg) if kind == "product" else None
        if verb != "click":
            return None
        button = self._parse_button(arg)
        if button is not None:
            return button
        if kind == "results":
            page = self._results[self._page * _PER_PAGE:(self._page + 1) * _PER_PAGE]
            for i in page:
                p = self._products[i]
                if arg == p.id.lower() or arg == self.lexicon.normalize(p.title):
                    return ("click", i)
            return None
        if kind == "product":
            return self._parse_value(arg)
        return None

    def _parse_button(self, name: str) -> Any | None:
        """Commands that name a button of the page: next / prev pages, back, buy, back to search."""
        kind = self._page_kind
        if name in ("next", "next >", ">"):
            return self._actions.get(_NEXT)
        if name in ("prev", "< prev", "<"):
            return self._actions.get(_PREV) or (("back",) if kind == "product" else None)
        if name in ("back to search", "search page", "back to search page") and kind in ("results", "product"):
            return ("home",)
        if name in ("back", "buy"):
            return self._actions.get(name)
        return None

    def _parse_value(self, arg: str) -> Any | None:
        dim = None
        if ":" in arg:
            dim, _, arg = (s.strip() for s in arg.partition(":"))
        elif "=" in arg:
            dim, _, arg = (s.strip() for s in arg.partition("="))
        for d, values in self._products[self._product].options:
            if dim is None and arg.startswith(d + " ") and arg[len(d) + 1:] in values:
                return ("choose", d, arg[len(d) + 1:])
            if dim is None and arg.endswith(" " + d) and arg[:-len(d) - 1] in values:
                return ("choose", d, arg[:-len(d) - 1])
            if (dim is None or dim == d) and arg in values:
                return ("choose", d, arg)
        return None

    def _execute(self, op: tuple) -> str:
        kind = op[0]
        if kind == "search":
            # the page echoes the words searched for, not the raw text (which may hold anything)
            words = _WORD.findall(op[1])
            self._results = self._rank(frozenset(words))
            self._results_query, self._page, self._page_kind = " ".join(words[:40]), 0, "results"
            return self._results_page()
        if kind == "click":
            self._product, self._selected, self._page_kind = op[1], {}, "product"
            return self._product_page()
        if kind == "page":
            self._page += op[1]
            return self._results_page()
        if kind == "choose":
            _, dim, value = op
            self._selected[dim] = value
            return f"You choose {dim}: {value}. Selected: {self._selection()}."
        if kind == "back":
            if self._page_kind == "product":
                self._page_kind = "results"
                return self._results_page()
            if self._page_kind == "done":
                self._page_kind = "product"
                return self._product_page()
            self._page_kind = "search"
            return self._search_page()
        if kind == "home":
            self._page_kind = "search"
            return self._search_page()
        if kind == "buy":
            return self._buy()
        raise AssertionError(f"unhandled shop operation {op!r}")

    def _buy(self) -> str:
        p = self._products[self._product]
        self._bought = p
        self._missed = self._unmet(p, self._selected)
        total = 2 + len(self._goal_attributes) + len(self._goal_options)
        self._met = total - len(self._missed)
        self._page_kind = "done"
        chosen = f" ({self._selection()})" if self._selected else ""
        text = (f"You bought {p.title}{chosen} for {_dollars(p.price)}. Thank you for shopping!\n"
                f"It meets {self._met} of {total} requirements")
        if self._missed:
            return text + f"; it misses: {', '.join(self._missed)}. Your score: {self._met / total:.2f}."
        return text + ". Your score: 1.00."

    # ----------------------------------------------------------------------------------------------
    # Verifier
    # ----------------------------------------------------------------------------------------------
    def _unmet(self, p: Product, selected: Mapping[str, str]) -> list[str]:
        """The requirements a product bought with ``selected`` option values misses."""
        missed = []
        if p.category != self._goal_category:
            missed.append(f"category {self._goal_category}")
        missed += [a for a in self._goal_attributes if a not in p.attributes]
        missed += [f"{d} {v}" for d, v in self._goal_options if selected.get(d) != v]
        if not p.price < self._max_price:
            missed.append(f"price lower than {self._max_price:.2f} dollars")
        return missed

    def _verify(self) -> tuple[float, float, bool, bool]:
        total = 2.0 + len(self._goal_attributes) + len(self._goal_options)
        if self._bought is None:
            return 0.0, total, False, False
        won = not self._missed
        return float(self._met), total, won, not won

    def _outcome(self, won: bool, newly_won: bool) -> float:
        if self._bought is None:
            return 0.0
        return self._met / (2 + len(self._goal_attributes) + len(self._goal_options))

    # ----------------------------------------------------------------------------------------------
    # Expert
    # ----------------------------------------------------------------------------------------------
    def expert_thought(self) -> str:
        """Why the expert takes its next command, following :meth:`expert_action`: search for the
        item, open the product whose title looks right, choose each required option, buy; or go back
        from a page that does not have it, saying which requirement a product page shows it misses.
        Until its page is open a product only "may be" the one: titles show only some features."""
        action = self.expert_action()
        category = self._goal_category
        kind = self._page_kind
        if kind == "search":
            return f"I need {self._item()}; I search the store for it."
        if kind == "results":
            if action.startswith("click[") and action not in (_NEXT, _PREV):
                p = self._products[self._target]
                return f"The {p.title} at {_dollars(p.price)} may be what I need; I open it to check."
            if action in (_NEXT, _PREV):
                where = "next" if action == _NEXT else "previous"
                return f"I look for the {category} I need on the {where} page of results."
            return "These results do not show what I need; I go back to search again."
        if kind == "product":
            if action.startswith("choose["):
                dim, value = next((d, v) for d, v in self._goal_options if action == f"choose[{v}]")
                return f"The task asks for {OPTION_PHRASE[dim].format(value)}; I choose {value}."
            if action == "buy":
                return (f"This {category} has what the task asks for and costs under {self._max_price:.2f} "
                        f"dollars; I buy it.")
            return f"{self._miss(self._products[self._product])}; I go back to the results."
        return "I go back to the store's pages."

    def _item(self) -> str:
        """The item the instruction asks for, with its article ("a waterproof, hooded jacket")."""
        features = ", ".join(self._goal_attributes)
        article = CATEGORIES[self._goal_category].article
        if article == "a" and features[0] in "aeio":
            article = "an"
        return f"{article} {features} {self._goal_category}".strip()

    def _miss(self, p: Product) -> str:
        """The first requirement a product's page shows it misses, as a thought says it."""
        if p.category != self._goal_category:
            article = CATEGORIES[self._goal_category].article
            if article == "a" and self._goal_category[0] in "aeiou":
                article = "an"
            return f"This is not {article} {self._goal_category}".replace("  ", " ")
        for a in self._goal_attributes:
            if a not in p.attributes:
                return f"This product is not {a}"
        offered = dict(p.options)
        for d, v in self._goal_options:
            if v not in offered.get(d, ()):
                return f"This product does not come in {OPTION_PHRASE[d].format(v)}"
        if not p.price < self._max_price:
            return f"This product costs more than {self._max_price:.2f} dollars"
        return "This is not the product I want"

    def expert_action(self) -> str:
        kind, target = self._page_kind, self._target
        if kind == "search":
            return f"search[{self._query}]"
        if kind == "results":
            if self._results_query != self._query or target not in self._results:
                return "back"
            where = self._results.index(target) // _PER_PAGE
            if where > self._page:
                return _NEXT
            if where < self._page:
                return _PREV
            return f"click[{self._products[target].id}]"
        if kind == "product":
            if self._product != target:
                return "back"
            for dim, value in self._goal_options:
                if self._selected.get(dim) != value:
                    return f"choose[{value}]"
            return "buy"
        return "back"

