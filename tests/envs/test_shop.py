"""Shop family behaviour: pages, parsing and aliases, rewards, near misses, held-out categories, config."""

from __future__ import annotations

import re

import gymnasium as gym
import pytest

from sparring.envs import shop
from sparring.envs.shop import (
    CATEGORIES,
    HELD_OUT_CATEGORIES,
    LEXICON,
    SEEN_CATEGORIES,
    ShopConfig,
)
from sparring.errors import ConfigError, InvalidTaskError, UnknownNameError

ENV_ID = "sparring/Shop-v0"

# A hand-written store: the target and one near miss per requirement it can break.
TARGET = ("B0TARGET01 | Northwind Waterproof Hooded Jacket | jacket | waterproof, hooded | "
          "size: s, m, l; color: black, gray | $74.99")
PRICEY = "B0PRICEY02 | Kestrel Waterproof Hooded Jacket | jacket | hooded, waterproof | size: m; color: gray | $95.99"
NO_HOOD = ("B0NOHOOD03 | Marlowe Waterproof Insulated Jacket | jacket | waterproof, insulated | "
           "size: m; color: gray | $60.99")
NO_GRAY = ("B0NOGRAY04 | Redfern Hooded Waterproof Jacket | jacket | hooded, waterproof | "
           "size: m, l; color: black | $70.99")
TEA = "B0TEABOX05 | Juniper Organic Tea | tea | organic | flavor: chai, jasmine; count: 20 bags | $9.99"
SPEC = {
    "goal": {"category": "jacket", "attributes": ["waterproof", "hooded"],
             "options": [["size", "m"], ["color", "gray"]], "max_price": 80.0, "target": "B0TARGET01",
             "phrasing": 0},
    "products": [PRICEY, TARGET, NO_HOOD, NO_GRAY, TEA],
}
EXPERT_PATH = ["search[waterproof hooded jacket]", "click[B0TARGET01]", "choose[m]", "choose[gray]", "buy"]


def _env(**kwargs):
    return gym.make(ENV_ID, **kwargs)


def _replay(path: list[str], spec: dict = SPEC, **kwargs):
    """A fresh env on the pinned ``spec`` after the canonical commands of ``path``."""
    env = _env(**kwargs)
    obs, info = env.reset(options={"task": spec})
    for command in path:
        obs, reward, terminated, truncated, info = env.step(command)
        assert not info["invalid_action"], (command, obs)
    return env, obs, info


def _fields(record: str) -> dict:
    pid, title, category, features, options, price = record.split(" | ")
    values = {}
    for part in options.split("; "):
        dim, _, listed = part.partition(": ")
        values[dim] = listed.split(", ")
    return {"id": pid, "category": category, "features": features.split(", "), "options": values,
            "price": float(price[1:])}


def _misses(product: dict, goal: dict) -> int:
    """Requirements a product misses if bought with the goal's option values chosen where offered."""
    return ((product["category"] != goal["category"])
            + sum(a not in product["features"] for a in goal["attributes"])
            + sum(v not in product["options"].get(d, ()) for d, v in goal["options"])
            + (not product["price"] < goal["max_price"]))


# --------------------------------------------------------------------------------------------------
# A scripted episode on the hand-written store
# --------------------------------------------------------------------------------------------------
def test_scripted_episode_reaches_each_page_and_wins():
    env = _env()
    obs, info = env.reset(options={"task": SPEC})
    assert info["instruction"] == (
        "i need a waterproof, hooded jacket with size m and gray color, and price lower than 80.00 dollars")
    assert "Your task is to: i need a waterproof, hooded jacket" in obs and "categories: jacket, tea" in obs
    assert info["admissible_actions"] == ["search[waterproof hooded jacket]", "search[jacket]", "search[tea]"]
    assert info["score"] == 0 and info["max_score"] == 6

    obs, reward, terminated, _, info = env.step("search[waterproof hooded jacket]")
    # ranked by shared words (the tea shares none), ties in catalogue order
    assert obs.splitlines()[1:5] == [
        "[B0PRICEY02] Kestrel Waterproof Hooded Jacket - $95.99",
        "[B0TARGET01] Northwind Waterproof Hooded Jacket - $74.99",
        "[B0NOGRAY04] Redfern Hooded Waterproof Jacket - $70.99",
        "[B0NOHOOD03] Marlowe Waterproof Insulated Jacket - $60.99",
    ]
    assert "B0TEABOX05" not in obs and "page 1 of 1 (4 results)" in obs
    assert info["admissible_actions"] == ["click[B0PRICEY02]", "click[B0TARGET01]", "click[B0NOGRAY04]",
                                          "click[B0NOHOOD03]", "back"]

    obs, *_, info = env.step("click[B0TARGET01]")
    assert "Features: waterproof, hooded." in obs and "size: s, m, l; color: black, gray" in obs and "$74.99" in obs
    assert info["admissible_actions"] == ["choose[s]", "choose[m]", "choose[l]", "choose[black]", "choose[gray]",
                                          "back", "buy"]
    obs, reward, *_ = env.step("choose[m]")
    assert obs == "You choose size: m. Selected: size: m." and reward == 0
    obs, *_ = env.step("choose[gray]")
    assert "Selected: size: m, color: gray." in obs
    obs, reward, terminated, truncated, info = env.step("buy")
    assert terminated and not truncated and info["won"] and not info["lost"]
    assert reward == 1.0 and info["score"] == info["max_score"] == 6
    assert "meets 6 of 6 requirements" in obs


def test_expert_follows_the_expected_path():
    env = _env()
    env.reset(options={"task": SPEC})
    taken = []
    for _ in range(len(EXPERT_PATH)):
        action = env.unwrapped.expert_action()
        taken.append(action)
        *_, info = env.step(action)
    assert taken == EXPERT_PATH and info["won"]


@pytest.mark.parametrize(("product", "choices", "missing", "met"), [
    ("B0PRICEY02", ["m", "gray"], "price lower than 80.00 dollars", 5),
    ("B0NOHOOD03", ["m", "gray"], "hooded", 5),
    ("B0NOGRAY04", ["m"], "color gray", 5),
    ("B0TARGET01", ["l", "black"], "size m, color gray", 4),
    ("B0TARGET01", [], "size m, color gray", 4),
])
def test_buying_a_near_miss_pays_the_share_met_and_loses(product, choices, missing, met):
    for reward_kind in ("env", "progress"):
        env, *_ = _replay(["search[waterproof hooded jacket]", f"click[{product}]"]
                          + [f"choose[{c}]" for c in choices], reward=reward_kind)
        obs, reward, terminated, truncated, info = env.step("buy")
        assert terminated and info["lost"] and not info["won"]
        assert info["score"] == met and info["max_score"] == 6
        assert reward == pytest.approx(met / 6)
        assert f"it misses: {missing}." in obs


def test_buying_another_category_misses_the_category():
    env, *_ = _replay(["search[tea]", "click[B0TEABOX05]", "choose[chai]"])
    obs, reward, *_, info = env.step("buy")
    # tea: category, both features and both options missed; only the price is met
    assert info["score"] == 1 and reward == pytest.approx(1 / 6) and "category jacket" in obs


def test_choosing_again_replaces_the_value_of_that_dimension():
    env, *_ = _replay(["search[jacket]", "click[B0TARGET01]", "choose[s]", "choose[black]", "choose[m]"])
    obs, *_ = env.step("choose[gray]")
    assert obs.endswith("Selected: size: m, color: gray.")
    *_, info = env.step("buy")
    assert info["won"]


def test_back_and_paging_return_to_the_page_they_left():
    env, results_obs, _ = _replay(["search[waterproof hooded jacket]"])
    env.step("click[B0NOHOOD03]")
    obs, *_, info = env.step("back")
    assert obs == results_obs
    obs, *_, info = env.step("back")
    assert obs.startswith("You are on the search page") and "search[jacket]" in info["admissible_actions"]

    products = [f"B0FILLER{i:02d} | Oakridge Lightweight Jacket | jacket | lightweight | size: m | $50.99"
                for i in range(23)]
    spec = {**SPEC, "products": [TARGET] + products}
    env, obs, info = _replay(["search[jacket]"], spec)
    assert "page 1 of 3 (24 results)" in obs and "click[next >]" in info["admissible_actions"]
    assert "click[< prev]" not in info["admissible_actions"]
    obs, *_, info = env.step("click[next >]")
    obs, *_, info = env.step("click[next >]")
    assert "page 3 of 3" in obs and len(obs.splitlines()) == 2 + 4
    assert "click[next >]" not in info["admissible_actions"] and "click[< prev]" in info["admissible_actions"]
    obs, *_, info = env.step("click[< prev]")
    assert "page 2 of 3" in obs and "[B0FILLER10]" in obs


def test_searches_list_only_products_sharing_a_word():
    env, obs, info = _replay(["search[insulated]"])
    assert "(1 result)" in obs and info["admissible_actions"] == ["click[B0NOHOOD03]", "back"]
    env, obs, info = _replay([])
    obs, *_, info = env.step("search[umbrella]")
    assert not info["invalid_action"] and obs.startswith("No products match \"umbrella\"")
    assert info["admissible_actions"] == ["back"]


# --------------------------------------------------------------------------------------------------
# Parsing: alternative syntaxes and aliases act exactly like the canonical command
# --------------------------------------------------------------------------------------------------
EQUIVALENT = [
    # (state path, canonical command, what a person or model might type)
    ([], "search[waterproof hooded jacket]", "find[water-resistant hooded coat]"),
    ([], "search[waterproof hooded jacket]", "Search [ Waterproof Hooded Jacket ]"),
    ([], "search[waterproof hooded jacket]", "look for waterproof with hood jacket"),
    ([], "search[waterproof hooded jacket]", "search for: waterproof, hooded jacket"),
    ([], "search[tea]", "query[tea]"),
    (["search[jacket]"], "click[B0TARGET01]", "click[b0target01]"),
    (["search[jacket]"], "click[B0TARGET01]", "Click [ B0TARGET01 ]"),
    (["search[jacket]"], "click[B0TARGET01]", "select[B0TARGET01]"),
    (["search[jacket]"], "click[B0TARGET01]", "open B0TARGET01"),
    (["search[jacket]"], "click[B0TARGET01]", "click[Northwind Waterproof Hooded Jacket]"),
    (["search[jacket]"], "click[B0TARGET01]", "view[northwind water-resistant with hood coat]"),
    (["search[jacket]"], "back", "go back"),
    (["search[jacket]"], "back", "click[back to search]"),
    (["search[jacket]", "click[B0TARGET01]"], "choose[m]", "choose[size: m]"),
    (["search[jacket]", "click[B0TARGET01]"], "choose[m]", "choose[size m]"),
    (["search[jacket]", "click[B0TARGET01]"], "choose[m]", "pick[medium]"),
    (["search[jacket]", "click[B0TARGET01]"], "choose[m]", "click[m]"),
    (["search[jacket]", "click[B0TARGET01]"], "choose[m]", "CHOOSE[M]"),
    (["search[jacket]", "click[B0TARGET01]"], "choose[gray]", "select option[grey]"),
    (["search[jacket]", "click[B0TARGET01]"], "choose[gray]", "choose[grey colour]"),
    (["search[jacket]", "click[B0TARGET01]"], "choose[gray]", "choose gray"),
    (["search[jacket]", "click[B0TARGET01]"], "back", "click[< prev]"),
    (["search[jacket]", "click[B0TARGET01]"], "back", "return"),
    (["search[jacket]", "click[B0TARGET01]", "choose[m]", "choose[gray]"], "buy", "click[buy now]"),
    (["search[jacket]", "click[B0TARGET01]", "choose[m]", "choose[gray]"], "buy", "Purchase"),
    (["search[jacket]", "click[B0TARGET01]", "choose[m]", "choose[gray]"], "buy", "checkout"),
]


@pytest.mark.parametrize(("path", "canonical", "typed"), EQUIVALENT)
def test_alternative_forms_act_like_the_canonical_command(path, canonical, typed):
    env_a, *_ = _replay(path)
    env_b, *_ = _replay(path)
    assert canonical in env_a.unwrapped._actions, "the canonical command must be admissible here"
    expected = env_a.step(canonical)
    got = env_b.step(typed)
    assert not got[4]["invalid_action"], got[0]
    assert got[0] == expected[0] and got[1:4] == expected[1:4]
    assert got[4]["admissible_actions"] == expected[4]["admissible_actions"]
    assert env_b.unwrapped.expert_action() == env_a.unwrapped.expert_action()


def test_any_query_is_a_valid_search_on_the_search_page():
    env, *_ = _replay([])
    obs, *_, info = env.step("search[hooded tea]")
    assert not info["invalid_action"] and "Search results for \"hooded tea\"" in obs
    # the tea shares "tea", the hooded jackets share "hooded": one word each, in catalogue order
    assert [line[:12] for line in obs.splitlines()[1:5]] == ["[B0PRICEY02]", "[B0TARGET01]", "[B0NOGRAY04]",
                                                              "[B0TEABOX05]"]


def _whole_word(word: str) -> re.Pattern:
    return re.compile(r"(?<![\w-])" + re.escape(word) + r"(?![\w-])")


def _alias_spec() -> dict:
    """One product per category with every feature and every option value, so every alias of the
    lexicon has a command to appear in."""
    records = []
    for i, (name, cat) in enumerate(CATEGORIES.items()):
        options = "; ".join(f"{d}: {', '.join(vs)}" for d, vs in cat.options)
        records.append(f"B0{i:08d} | Alderwood {shop._display(name)} | {name} | {', '.join(cat.attributes)} | "
                       f"{options} | $10.99")
    return {"goal": {"category": "jacket", "attributes": ["waterproof"], "options": [["size", "m"]],
                     "max_price": 80.0, "target": "B000000000", "phrasing": 0}, "products": records}


def test_every_alias_is_accepted_in_place_of_its_canonical_word():
    # The adversary rewrites canonical words of observations into their aliases; an agent that types
    # the rewritten command must get exactly what the canonical command gives.
    spec = _alias_spec()
    search = f"search[{' '.join(CATEGORIES)}]"
    states = [[], [search], [search, "click[next >]"]]
    for page in states[1:]:
        ids = [a for a in _replay(page, spec)[2]["admissible_actions"] if a.startswith("click[B0")]
        states += [page + [click] for click in ids]
    assert len(states) == 3 + len(CATEGORIES)
    entries = LEXICON.entries()
    used: set[tuple[str, str]] = set()

    def same(path: list[str], command: str, typed: str) -> None:
        expected = _replay(path, spec)[0].step(command)
        got = _replay(path, spec)[0].step(typed)
        assert not got[4]["invalid_action"], (command, typed, got[0])
        assert got[0] == expected[0], (command, typed)

    # any query works on the search page, and titles show features: every feature and category alias
    # must search like its canonical phrase
    for name, cat in CATEGORIES.items():
        for phrase in (name,) + cat.attributes:
            for alias in LEXICON.aliases(phrase):
                same([], f"search[{phrase}]", f"search[{alias}]")
                used.add((phrase, alias))
    for path in states:
        env, _, info = _replay(path, spec)
        for command in info["admissible_actions"]:
            for canonical, aliases in entries.items():
                pattern = _whole_word(canonical)
                if pattern.search(command.lower()):
                    for alias in aliases:
                        same(path, command, pattern.sub(alias, command.lower()))
                        used.add((canonical, alias))
        if env.unwrapped._page_kind == "product":
            # option dimensions appear in "choose[<dimension>: <value>]"
            for dim, values in env.unwrapped._products[env.unwrapped._product].options:
                for alias in LEXICON.aliases(dim):
                    same(path, f"choose[{values[-1]}]", f"choose[{alias}: {values[-1]}]")
                    used.add((dim, alias))
    unused = sorted({(c, a) for c, aliases in entries.items() for a in aliases} - used)
    assert not unused, unused


def test_catalogue_words_survive_normalisation_and_are_no_aliases():
    # What the store shows must read the same after the parser's normalisation, or searches and
    # titles typed back would not match.
    aliases = {a for values in LEXICON.entries().values() for a in values}
    phrases = set(CATEGORIES) | {b.lower() for b in shop.BRANDS}
    for cat in CATEGORIES.values():
        phrases |= set(cat.attributes)
        phrases |= {d for d, _ in cat.options} | {v for _, vs in cat.options for v in vs}
    assert not phrases & aliases
    assert [p for p in sorted(phrases) if LEXICON.normalize(p) != p] == []
    assert [c for c in LEXICON.entries() if LEXICON.normalize(c) != c] == []


# --------------------------------------------------------------------------------------------------
# Invalid commands
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("path", "command"), [
    ([], "buy"),
    ([], "click[B0TARGET01]"),
    ([], "search[]"),
    ([], "search[🙂 !!]"),
    (["search[jacket]"], "search[tea]"),
    (["search[jacket]"], "click[B0TEABOX05]"),  # not on this page
    (["search[jacket]"], "click[next >]"),
    (["search[jacket]"], "choose[m]"),
    (["search[jacket]", "click[B0TARGET01]"], "choose[xl]"),
    (["search[jacket]", "click[B0TARGET01]"], "choose[color: m]"),
    (["search[jacket]", "click[B0TARGET01]"], "click[B0NOGRAY04]"),
    (["search[jacket]", "click[B0TARGET01]"], "[[[buy"),
    (["search[jacket]", "click[B0TARGET01]"], "buy; back"),
])
def test_invalid_commands_change_nothing(path, command):
    env, obs, info = _replay(path)
    before = (info["admissible_actions"], env.unwrapped.expert_action(), info["score"])
    obs, reward, terminated, truncated, info = env.step(command)
    assert info["invalid_action"] and obs.startswith("Invalid action") and reward == 0 and not terminated
    assert (info["admissible_actions"], env.unwrapped.expert_action(), info["score"]) == before


# --------------------------------------------------------------------------------------------------
# Task specs
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("change", "message"), [
    ({"products": ["B0X | only three | fields"]}, "one string"),
    ({"products": [TARGET, 42]}, "one string"),
    ({"products": [TARGET.replace("| jacket |", "| toaster |")]}, "unknown category"),
    ({"products": [TARGET.replace("$74.99", "cheap")]}, "price"),
    ({"products": [TARGET.replace("size:", "heft:")]}, "dimension"),
    ({"products": [TARGET, TARGET]}, "unique"),
    ({"products": [PRICEY, TEA]}, "not a product"),
    ({"products": [NO_HOOD], "goal": {**SPEC["goal"], "target": "B0NOHOOD03"}}, "does not meet"),
    ({"goal": {**SPEC["goal"], "category": "toaster"}}, "unknown shop category"),
    ({"goal": {**SPEC["goal"], "attributes": ["sparkly"]}}, "known features"),
    ({"goal": {**SPEC["goal"], "max_price": -3}}, "max_price"),
    ({"goal": {**SPEC["goal"], "phrasing": 99}}, "phrasing"),
])
def test_bad_specs_are_clear_errors(change, message):
    with pytest.raises(InvalidTaskError, match=message):
        _env().reset(options={"task": {**SPEC, **change}})


def test_target_the_query_cannot_find_is_rejected():
    fillers = [f"B0FILLER{i:02d} | Oakridge Waterproof Hooded Jacket | jacket | waterproof, hooded | size: l | $50.99"
               for i in range(60)]
    with pytest.raises(InvalidTaskError, match="does not list the target"):
        _env().reset(options={"task": {**SPEC, "products": fillers + [TARGET]}})


def test_generated_specs_are_readable_records():
    env = _env(split="train")
    obs, info = env.reset(seed=4)
    spec = env.unwrapped.task
    assert set(spec) == {"goal", "products"} and len(spec["products"]) == ShopConfig.PRESETS["medium"]["num_products"]
    product = _fields(spec["products"][0])
    assert re.fullmatch(r"B0[A-Z2-9]{8}", product["id"]) and product["category"] in SEEN_CATEGORIES
    assert f"{product['price']:.2f}" == spec["products"][0].rsplit("$", 1)[1]


# --------------------------------------------------------------------------------------------------
# Generation: near misses and held-out categories
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("difficulty", ["easy", "medium", "hard"])
def test_catalogues_hold_the_target_and_its_near_misses(difficulty):
    env = _env(split="train", difficulty=difficulty).unwrapped
    cfg = env.config
    for seed in range(60):
        spec, _ = env.sample_task(seed)
        goal = spec["goal"]
        products = [_fields(r) for r in spec["products"]]
        assert len(products) == cfg.num_products and len({p["id"] for p in products}) == len(products)
        target = next(p for p in products if p["id"] == goal["target"])
        assert _misses(target, goal) == 0
        near = [p for p in products if p["category"] == goal["category"] and _misses(p, goal) == 1]
        assert len(near) >= cfg.num_distractors
        assert 1 <= len(goal["attributes"]) <= cfg.max_attributes
        assert min(1, cfg.max_options) <= len(goal["options"]) <= cfg.max_options


@pytest.mark.parametrize("split", ["train", "valid", "test"])
def test_seen_splits_never_show_a_held_out_category(split):
    for difficulty in ("easy", "hard"):
        env = _env(split=split, difficulty=difficulty).unwrapped
        for seed in range(150):
            spec, _ = env.sample_task(seed)
            categories = {_fields(r)["category"] for r in spec["products"]}
            assert not categories & set(HELD_OUT_CATEGORIES), (split, seed)


def test_test_unseen_always_asks_for_a_held_out_category():
    env = _env(split="test_unseen").unwrapped
    asked = set()
    for seed in range(200):
        spec, _ = env.sample_task(seed)
        asked.add(spec["goal"]["category"])
        assert f"category:{spec['goal']['category']}" in type(env).held_out(spec)
    assert asked == set(HELD_OUT_CATEGORIES)


def test_held_out_categories_are_made_of_words_seen_in_training():
    # What is new in test_unseen is the category: its features and option values all occur in
    # training catalogues (in other categories).
    env = _env(split="train").unwrapped
    features, values = set(), set()
    for seed in range(200):
        for record in env.sample_task(seed)[0]["products"]:
            product = _fields(record)
            features.update(product["features"])
            values.update(v for vs in product["options"].values() for v in vs)
    for name in HELD_OUT_CATEGORIES:
        cat = CATEGORIES[name]
        assert set(cat.attributes) <= features, name
        assert {v for _, vs in cat.options for v in vs} <= values, name


def test_a_hand_written_seen_task_holds_nothing_out():
    assert _env().unwrapped.held_out(SPEC) == []
    assert _env().unwrapped.held_out({**SPEC, "products": SPEC["products"] + [
        "B0TENT0001 | Pinecrest Tent | tent | waterproof | color: green | $99.99"]}) == ["category:tent"]


# --------------------------------------------------------------------------------------------------
# Difficulty presets and config
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("difficulty", ["easy", "medium", "hard"])
def test_presets_set_the_catalogue_and_the_budget(difficulty):
    knobs = ShopConfig.PRESETS[difficulty]
    env = _env(difficulty=difficulty)
    obs, info = env.reset(seed=2)
    assert f"store with {knobs['num_products']} products" in obs
    # search and go back forever: never buys, so the episode is cut at max_steps with nothing scored
    steps, terminated, truncated = 0, False, False
    while not (terminated or truncated):
        action = "back" if "back" in info["admissible_actions"] else info["admissible_actions"][0]
        obs, reward, terminated, truncated, info = env.step(action)
        steps += 1
    assert truncated and not terminated and steps == knobs["max_steps"]
    assert info["score"] == 0 and not info["won"] and not info["lost"]


def test_knobs_override_a_preset():
    env = _env(difficulty="easy", num_products=25, max_options=0, categories=["tea", "jacket"])
    obs, info = env.reset(seed=0)
    spec = env.unwrapped.task
    assert len(spec["products"]) == 25 and spec["goal"]["options"] == []
    assert {_fields(r)["category"] for r in spec["products"]} <= {"tea", "jacket"}
    while not (info["won"] or info["lost"]):
        obs, _, _, _, info = env.step(env.unwrapped.expert_action())
    assert info["won"] and info["max_score"] == 2 + len(spec["goal"]["attributes"])


def test_a_single_category_store_larger_than_its_background_still_fills_up():
    env = _env(categories=["tea"], num_products=150, num_distractors=3)
    env.reset(seed=1)
    assert len(env.unwrapped.task["products"]) == 150


@pytest.mark.parametrize(("knobs", "message"), [
    ({"num_products": 2}, "num_products must be an integer from 4 to 300"),
    ({"num_products": 10, "num_distractors": 10}, "num_distractors must be an integer from 0 to"),
    ({"max_attributes": 4}, "max_attributes must be 1, 2 or 3"),
    ({"max_options": 3}, "max_options must be 0, 1 or 2"),
    ({"categories": ["tent"]}, "'tent' is not among them \\(held out for test_unseen\\)"),
    ({"categories": []}, "it is empty"),
    ({"max_steps": 5}, "max_steps must be at least 8"),
])
def test_config_errors_say_what_to_do(knobs, message):
    with pytest.raises(ConfigError, match=message):
        ShopConfig.preset("medium", **knobs)


def test_unknown_knob_suggests_the_known_ones():
    with pytest.raises(UnknownNameError, match="num_products"):
        ShopConfig.preset("medium", num_product=3)
