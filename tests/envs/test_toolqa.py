"""ToolQA-specific behaviour: tools and their syntaxes, scripted episodes, the calculator, held-out chains."""

from __future__ import annotations

import copy
import random
import re

import gymnasium as gym
import pytest

from sparring.envs.toolqa import (
    ATTRIBUTES,
    CHAINS,
    COMPANY_SUFFIXES,
    HELD_OUT_CHAINS,
    LEXICON,
    LEXICON_ENTRIES,
    RELATIONS,
    TOOLS,
    CalculationError,
    ToolQAConfig,
    ToolQAEnv,
    calculate,
)
from sparring.errors import ConfigError, InvalidTaskError

#: a hand-written world: two people, two cities, two companies, one country
WORLD = {
    "people": {
        "Alba Venn": ["Korith", "Velor Systems", 1962, 172],  # born_in, works_for, birth_year, height
        "Tor Mela": ["Dunmar", "Tamak Group", 1948, 181],
    },
    "cities": {
        "Korith": ["Drovia", 120000, 1204, 350],  # located_in, population, founded, elevation
        "Dunmar": ["Drovia", 45000, 1650, 12],
    },
    "companies": {
        # headquartered_in, founded_by, founded, employees
        "Velor Systems": ["Dunmar", "Tor Mela", 1990, 1200],
        "Tamak Group": ["Korith", "Alba Venn", 1995, 300],
    },
    "countries": {"Drovia": ["Korith", 50000, 2000000]},  # capital, area, population
    "distractors": 0,
}


def task(kind: str, *operands: tuple[str, list[str]]) -> dict:
    spec = copy.deepcopy(WORLD)
    spec["question"] = {"kind": kind, "operands": [{"start": s, "path": p} for s, p in operands]}
    return spec


POPULATION_OF_BIRTHPLACE = task("single", ("Alba Venn", ["born_in", "population"]))
FOUNDER_OF_EMPLOYER = task("single", ("Alba Venn", ["works_for", "founded_by"]))
YEARS_OLDER = task("difference", ("Tor Mela", ["birth_year"]), ("Tamak Group", ["founded_by", "birth_year"]))


def make(**kwargs) -> gym.Env:
    return gym.make("sparring/ToolQA-v0", **kwargs)


def pinned(spec: dict, **kwargs) -> tuple[gym.Env, str, dict]:
    env = make(**kwargs)
    obs, info = env.reset(options={"task": spec})
    return env, obs, info


# ------------------------------------------------------------------------------------------------
# Scripted episodes
# ------------------------------------------------------------------------------------------------
def test_scripted_single_chain_episode():
    env, obs, info = pinned(POPULATION_OF_BIRTHPLACE)
    assert "Question: What is the population of the city where Alba Venn was born?" in obs
    assert info["instruction"] == "What is the population of the city where Alba Venn was born?"
    assert info["admissible_actions"] == ["search[Alba Venn]"]
    assert (info["score"], info["max_score"]) == (0.0, 3.0)  # two pages to read, then the answer

    obs, reward, terminated, _, info = env.step("search[Alba Venn]")
    assert obs == ("Alba Venn was born in Korith in 1962. Alba Venn has a height of 172 cm. Alba Venn works "
                   "for Velor Systems. Alba Venn founded Tamak Group.")
    assert info["score"] == 1.0 and reward == 0.0 and not terminated
    acts = info["admissible_actions"]
    assert {"search[Korith]", "search[Velor Systems]", "lookup[born]", "lookup[works]", "finish[1962]",
            "finish[172]"} <= set(acts)
    assert "finish[Korith]" not in acts  # the question asks for a number

    obs, *_, info = env.step("lookup[birth]")
    assert obs == "(Result 1 / 1) Alba Venn was born in Korith in 1962." and info["score"] == 1.0
    obs, *_, info = env.step("search[korith]")
    assert obs.startswith("Korith is a city located in Drovia. Korith is the capital of Drovia. Korith has a "
                          "population of 120,000.")
    assert info["score"] == 2.0
    obs, *_ = env.step("lookup[inhabitants]")
    assert obs == "(Result 1 / 1) Korith has a population of 120,000."
    obs, reward, terminated, truncated, info = env.step("finish[120,000]")
    assert obs.startswith("Correct!") and reward == 1.0 and terminated and not truncated
    assert info["won"] and not info["lost"] and info["score"] == info["max_score"] == 3.0


def test_scripted_arithmetic_episode():
    env, obs, info = pinned(YEARS_OLDER)
    assert "How many years older is Tor Mela than the founder of Tamak Group?" in obs
    assert info["admissible_actions"] == ["search[Tor Mela]", "search[Tamak Group]"]
    assert info["max_score"] == 4.0  # Tor Mela, Tamak Group, Alba Venn; then the answer
    for command in ["search[Tor Mela]", "search[Tamak Group]"]:
        *_, info = env.step(command)
    assert not any(a.startswith("calculate[") for a in info["admissible_actions"])  # one birth year read
    *_, info = env.step("search[Alba Venn]")
    assert {"calculate[1962 - 1948]", "calculate[1948 - 1962]"} <= set(info["admissible_actions"])
    assert env.unwrapped.expert_action() == "calculate[1962 - 1948]"
    obs, *_, info = env.step("calculate[1962 - 1948]")
    assert obs == "1962 - 1948 = 14" and "finish[14]" in info["admissible_actions"]
    obs, reward, terminated, _, info = env.step("finish[14 years]")
    assert terminated and info["won"] and reward == 1.0 and info["score"] == 4.0


def test_sum_question_and_its_calculations():
    spec = task("sum", ("Velor Systems", ["employees"]), ("Tor Mela", ["works_for", "employees"]))
    env, obs, info = pinned(spec)
    assert "How many employees do Velor Systems and the company that Tor Mela works for have in total?" in obs
    for command in ["search[Velor Systems]", "search[Tor Mela]", "search[Tamak Group]"]:
        *_, info = env.step(command)
    calculations = [a for a in info["admissible_actions"] if a.startswith("calculate[")]
    assert calculations == ["calculate[1200 + 300]"]  # sums only, each pair once
    env.step(calculations[0])
    *_, info = env.step("finish[1500]")
    assert info["won"]


def test_entity_answers_accept_case_articles_and_short_company_names():
    for answer in ["Tor Mela", "tor mela", "  TOR   MELA ", "the Tor Mela", "'Tor Mela'."]:
        env, _, _ = pinned(FOUNDER_OF_EMPLOYER)
        *_, info = env.step(f"finish[{answer}]")
        assert info["won"], answer
    env, obs, info = pinned(task("single", ("Tor Mela", ["works_for"])))
    assert "Which company does Tor Mela work for?" in obs
    *_, info = env.step("answer[Tamak]")
    assert info["won"]


@pytest.mark.parametrize("answer, right", [
    ("120000", True), ("120,000", True), ("120000.0", True), (" 120000 ", True),
    ("about 120000 people", True), ("1.2e5", True), ("120001", False), ("120000 or 130000", False),
    ("Korith", False), ("one hundred", False),
])
def test_numeric_answers_are_compared_as_numbers(answer, right):
    env, _, _ = pinned(POPULATION_OF_BIRTHPLACE)
    obs, reward, terminated, _, info = env.step(f"finish[{answer}]")
    assert terminated and not info["invalid_action"]
    assert info["won"] is right and info["lost"] is (not right) and reward == float(right)
    if not right:
        assert obs.startswith("Wrong answer") and "The correct answer was 120000." in obs


def test_a_wrong_answer_ends_the_episode_as_a_loss():
    env, _, _ = pinned(FOUNDER_OF_EMPLOYER)
    env.step("search[Alba Venn]")
    obs, reward, terminated, truncated, info = env.step("finish[Alba Venn]")
    assert terminated and not truncated and info["lost"] and not info["won"] and reward == 0.0
    assert "The correct answer was Tor Mela." in obs
    assert info["score"] == 1.0  # the page read still counts


def test_score_counts_distinct_required_pages_and_is_monotone():
    env, _, info = pinned(YEARS_OLDER)
    scores = [info["score"]]
    for command in ["search[Korith]", "search[Tor Mela]", "search[Tor Mela]", "lookup[born]",
                    "search[Tamak Group]", "search[Drovia]", "search[Alba Venn]"]:
        *_, info = env.step(command)
        scores.append(info["score"])
    assert scores == [0.0, 0.0, 1.0, 1.0, 1.0, 2.0, 2.0, 3.0]


def test_truncated_after_max_steps_without_an_answer():
    env, _, _ = pinned(POPULATION_OF_BIRTHPLACE, difficulty="easy")
    limit = env.unwrapped.config.max_steps
    for i in range(limit):
        _, _, terminated, truncated, info = env.step("lookup[born]")
        assert not terminated and truncated is (i == limit - 1)
    assert not info["won"] and not info["lost"]


# ------------------------------------------------------------------------------------------------
# Tools and the parser
# ------------------------------------------------------------------------------------------------
def _after(spec: dict, *commands: str) -> tuple[str, dict]:
    env, obs, info = pinned(spec)
    for command in commands:
        obs, *_, info = env.step(command)
    return obs, info


@pytest.mark.parametrize("command", [
    "Search[Alba Venn]", "SEARCH[ALBA VENN]", "search [ Alba Venn ]", "search: Alba Venn", "search Alba Venn",
    "search['Alba Venn']", "Action 1: Search[Alba Venn]", "search[the Alba Venn].",
])
def test_search_syntaxes_do_what_the_canonical_command_does(command):
    expected, expected_info = _after(POPULATION_OF_BIRTHPLACE, "search[Alba Venn]")
    obs, info = _after(POPULATION_OF_BIRTHPLACE, command)
    assert not info["invalid_action"] and obs == expected
    assert info["admissible_actions"] == expected_info["admissible_actions"] and info["score"] == 1.0


@pytest.mark.parametrize("tool", TOOLS)
def test_every_tool_alias_works_in_place_of_the_tool(tool):
    canonical = {
        "search": ("search[Alba Venn]",),
        "lookup": ("search[Alba Venn]", "lookup[born]"),
        "calculate": ("calculate[2 * (3 + 4)]",),
        "finish": ("finish[120000]",),
    }[tool]
    expected, expected_info = _after(POPULATION_OF_BIRTHPLACE, *canonical)
    for alias in LEXICON_ENTRIES[tool]:
        for syntax in ("{}[{}]", "{} {}"):
            command = syntax.format(alias, canonical[-1].split("[", 1)[1][:-1])
            obs, info = _after(POPULATION_OF_BIRTHPLACE, *canonical[:-1], command)
            assert not info["invalid_action"] and obs == expected, (command, obs)
            assert info["won"] == expected_info["won"]


def test_lookup_keyword_synonyms_find_the_same_sentences():
    pages = {"Alba Venn": ("born", "height", "works", "founded"),
             "Korith": ("located", "capital", "population", "founded", "elevation"),
             "Velor Systems": ("headquartered", "founded", "employees"),
             "Drovia": ("capital", "area", "population")}
    checked = 0
    for page, keywords in pages.items():
        for keyword in keywords:
            expected, _ = _after(POPULATION_OF_BIRTHPLACE, f"search[{page}]", f"lookup[{keyword}]")
            assert expected.startswith("(Result 1 /"), (page, keyword, expected)
            for alias in LEXICON.aliases(keyword):
                obs, info = _after(POPULATION_OF_BIRTHPLACE, f"search[{page}]", f"lookup[{alias}]")
                assert obs == expected and not info["invalid_action"], (page, alias, obs)
                checked += 1
    assert checked > 30


def test_every_alias_normalizes_to_its_canonical_word_inside_a_command():
    for canonical, aliases in LEXICON.entries().items():
        for alias in aliases:
            assert LEXICON.normalize(f"lookup[{alias}]") == f"lookup[{canonical}]", alias
    # the alias "look up" is the English verb (search), not the in-page tool
    assert LEXICON.normalize("look up[Korith]") == "search[korith]"
    assert LEXICON.normalize("lookup[Korith]") == "lookup[korith]"


def test_lookup_pages_through_matches_and_restarts_on_a_new_keyword():
    env, _, _ = pinned(POPULATION_OF_BIRTHPLACE)
    obs, *_ = env.step("lookup[population]")
    assert obs.startswith("No page is open")
    env.step("search[Korith]")
    results = [env.step("lookup[korith]")[0] for _ in range(6)]
    assert [r.split(")")[0] for r in results[:5]] == [f"(Result {i} / 5" for i in range(1, 6)]
    assert results[5] == "No more results for [korith] on the page of Korith."
    assert env.step("lookup[founded]")[0] == "(Result 1 / 1) Korith was founded in 1204."
    assert env.step("lookup[zebra]")[0] == "No results for [zebra] on the page of Korith."


def test_distractor_sentences_come_after_the_facts_and_share_their_keywords():
    spec = copy.deepcopy(POPULATION_OF_BIRTHPLACE)
    spec["distractors"] = 2
    env, _, _ = pinned(spec)
    page = env.step("search[Korith]")[0]
    assert "Korith is twinned with Dunmar." in page
    assert re.search(r"In \d{4}, Korith had a population of", page)
    first, second = env.step("lookup[population]")[0], env.step("lookup[population]")[0]
    assert first == "(Result 1 / 2) Korith has a population of 120,000."
    assert second.startswith("(Result 2 / 2) In ")
    # the same spec always renders the same page
    assert pinned(spec)[0].step("search[Korith]")[0] == page


def test_searches_that_find_nothing_suggest_similar_names():
    obs, info = _after(POPULATION_OF_BIRTHPLACE, "search[Korit]")
    assert obs == "Could not find [Korit]. Similar: [Korith]." and not info["invalid_action"]
    obs, info = _after(POPULATION_OF_BIRTHPLACE, "search[Atlantis]")
    assert obs.startswith("Could not find [Atlantis]. Similar: [].") and info["score"] == 0.0
    obs, _ = _after(POPULATION_OF_BIRTHPLACE, "search[Velor]")  # a company by its short name
    assert obs.startswith("Velor Systems is a company headquartered in Dunmar.")


@pytest.mark.parametrize("command, reason", [
    ("search[Alba Venn]; lookup[born]", "several commands"),
    ("search[Alba Venn] search[Korith]", "several commands"),
    ("search[Alba Venn]\nlookup[born]", "several commands"),
    ("finish[[1962]]", "several commands"),
    ("search[]", "needs an argument"),
    ("finish", "needs an argument"),
    ("teleport[Korith]", "not a command I understand"),
    ("walk to Korith", "not a command I understand"),
])
def test_invalid_commands_change_nothing(command, reason):
    env, _, _ = pinned(POPULATION_OF_BIRTHPLACE)
    _, _, _, _, before = env.step("search[Alba Venn]")
    expert = env.unwrapped.expert_action()
    obs, reward, terminated, _, info = env.step(command)
    assert info["invalid_action"] and reason in obs and obs.startswith("Invalid action")
    assert reward == 0.0 and not terminated and info["score"] == before["score"]
    assert info["admissible_actions"] == before["admissible_actions"]
    assert env.unwrapped.expert_action() == expert
    # the page is still open
    assert env.step("lookup[born]")[0] == "(Result 1 / 1) Alba Venn was born in Korith in 1962."


def test_calculator_results_become_answers_and_errors_are_feedback():
    obs, info = _after(POPULATION_OF_BIRTHPLACE, "calc[(120,000 - 45,000) / 4]")
    assert obs == "(120000 - 45000) / 4 = 18750" and "finish[18750]" in info["admissible_actions"]
    obs, info = _after(POPULATION_OF_BIRTHPLACE, "calculate[1/0]")
    assert obs == "Could not calculate [1/0]: division by zero." and not info["invalid_action"]


def test_admissible_actions_are_bounded_and_all_valid():
    env = make(difficulty="hard")
    rng = random.Random(0)
    longest = 0
    for seed in range(60):
        obs, info = env.reset(seed=seed)
        for _ in range(30):
            acts = info["admissible_actions"]
            longest = max(longest, len(acts))
            assert len(acts) == len(set(acts))
            choices = [a for a in acts if not a.startswith("finish[")] or acts
            obs, _, terminated, truncated, info = env.step(rng.choice(choices))
            assert not info["invalid_action"], obs
            if terminated or truncated:
                break
    assert 10 < longest <= 45


def test_expert_recovers_after_random_exploration():
    env = make(difficulty="hard", max_steps=80)
    rng = random.Random(1)
    for seed in range(40):
        obs, info = env.reset(seed=seed)
        for _ in range(rng.randint(5, 40)):  # fill the recent-names windows with other entities
            exploring = [a for a in info["admissible_actions"] if not a.startswith("finish[")]
            obs, *_, info = env.step(rng.choice(exploring))
        for _ in range(25):
            action = env.unwrapped.expert_action()
            assert action in info["admissible_actions"]
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        assert info["won"], seed


# ------------------------------------------------------------------------------------------------
# The calculator
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("expression, result", [
    ("1962 - 1948", "14"), ("2 * (3 + 4)", "14"), ("7 / 2", "3.5"), ("7 // 2", "3"), ("7 % 4", "3"),
    ("-3 + +5", "2"), ("2 ** 10", "1024"), ("2 ^ 3", "8"), ("1,234 + 1", "1235"), ("10 / 4 * 2", "5"),
    ("1 / 3", "0.3333333333"), ("2 ** -1", "0.5"),
])
def test_calculate_evaluates_arithmetic(expression, result):
    assert calculate(expression)[1] == result


@pytest.mark.parametrize("expression, message", [
    ("1 / 0", "division by zero"), ("5 % 0", "division by zero"), ("0 ** -1", "division by zero"),
    ("10 ** 16", "too large"), ("9" * 20, "too large"), ("1e308 * 10", "too large"),
    ("2 ** 100", "exponents"),
    ("2 ** 0.5", "exponents"), ("__import__('os').system('true')", "only numbers"), ("x + 1", "only numbers"),
    ("'a' * 3", "only numbers"), ("(lambda: 1)()", "only numbers"), ("1 if 1 else 2", "only numbers"),
    ("True + 1", "only numbers"), ("1j", "only numbers"), ("1 +", "not an arithmetic expression"),
    ("((1)", "not an arithmetic expression"), ("1 # comment", "comments"), ("", "empty"),
    ("1+" * 150 + "1", "too long"),
])
def test_calculate_refuses_with_a_reason(expression, message):
    with pytest.raises(CalculationError, match=message):
        calculate(expression)


# ------------------------------------------------------------------------------------------------
# Splits: held-out relation chains
# ------------------------------------------------------------------------------------------------
def _tasks(split: str, difficulty: str, n: int) -> list[dict]:
    env = make(split=split, difficulty=difficulty).unwrapped
    return [env.sample_task(seed)[0] for seed in range(n)]


def _keys(spec: dict) -> list[str]:
    return [">".join(o["path"]) for o in spec["question"]["operands"]]


def test_held_out_chains_have_two_links_or_more_and_cover_both_kinds_of_question():
    assert HELD_OUT_CHAINS and all(k.count(">") >= 1 for k in HELD_OUT_CHAINS)
    two_links = {c for c in CHAINS if c.key in HELD_OUT_CHAINS and len(c.path) == 2}
    assert any(c.attribute for c in two_links) and any(c.attribute is None for c in two_links)
    assert any(len(c.path) == 3 for c in CHAINS if c.key in HELD_OUT_CHAINS)
    assert len(HELD_OUT_CHAINS) < len([c for c in CHAINS if len(c.path) >= 2]) / 2


def test_every_piece_of_a_held_out_chain_is_trained_on_its_own():
    train = _tasks("train", "hard", 1500)
    trained_links = {link for spec in train for key in _keys(spec) if ">" in key for link in key.split(">")}
    single = {key for spec in train for key in _keys(spec) if ">" not in key}
    assert single == set(RELATIONS) | {a for attrs in ATTRIBUTES.values() for a in attrs}
    for key in HELD_OUT_CHAINS:
        assert set(key.split(">")) <= trained_links, key


@pytest.mark.parametrize("difficulty", ["easy", "medium", "hard"])
def test_held_out_chains_never_train_and_every_unseen_task_has_one(difficulty):
    for split in ("train", "valid"):
        assert not any(ToolQAEnv.held_out(t) for t in _tasks(split, difficulty, 800))
    unseen = _tasks("test_unseen", difficulty, 400)
    for spec in unseen:
        found = ToolQAEnv.held_out(spec)
        assert found and all(k.startswith("chain:") and k[6:] in HELD_OUT_CHAINS for k in found)
    longest = ToolQAConfig.preset(difficulty).max_hops
    assert max(len(o["path"]) for t in unseen for o in t["question"]["operands"]) == max(longest, 2)
    assert {t["question"]["kind"] for t in unseen} == {"single", "difference", "sum"}


# ------------------------------------------------------------------------------------------------
# Difficulty knobs and config
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("difficulty", ["easy", "medium", "hard"])
def test_presets_shape_the_world_and_the_questions(difficulty):
    cfg = ToolQAConfig.preset(difficulty)
    tasks = _tasks("train", difficulty, 300)
    spec = tasks[0]
    assert [len(spec[g]) for g in ("people", "companies", "cities", "countries")] == [
        cfg.num_people, cfg.num_companies, cfg.num_cities, cfg.num_countries]
    assert spec["distractors"] == cfg.distractor_facts
    lengths = {len(o["path"]) for t in tasks for o in t["question"]["operands"]}
    assert lengths == set(range(1, cfg.max_hops + 1))
    arithmetic = sum(t["question"]["kind"] != "single" for t in tasks) / len(tasks)
    assert abs(arithmetic - cfg.arithmetic) < 0.1
    env = make(difficulty=difficulty)
    obs, info = env.reset(seed=0)
    obs, *_ = env.step(info["admissible_actions"][0])
    facts = len(re.findall(r"[.!?](?: |$)", obs))
    assert facts >= 3 + cfg.distractor_facts


def test_knobs_can_be_overridden():
    env = make(difficulty="easy", num_people=12, num_companies=3, distractor_facts=2, arithmetic=1.0)
    _, info = env.reset(seed=4)
    spec = env.unwrapped.task
    assert len(spec["people"]) == 12 and spec["distractors"] == 2 and spec["question"]["kind"] != "single"


@pytest.mark.parametrize("knobs, message", [
    ({"max_hops": 4}, "max_hops must be an integer from 1 to 3"),
    ({"max_hops": 0}, "max_hops"),
    ({"arithmetic": 1.5}, "arithmetic must be a share between 0.0 and 1.0"),
    ({"arithmetic": True}, "arithmetic"),
    ({"num_people": 1}, "num_people must be an integer from 2 to 40"),
    ({"num_cities": 2, "num_countries": 3}, "every country needs a capital city"),
    ({"num_people": 2, "num_companies": 5}, "a person founds at most two companies"),
    ({"distractor_facts": 3}, "distractor_facts must be 0, 1 or 2"),
    ({"max_steps": 7, "max_hops": 3}, "max_steps must be at least 8"),
])
def test_config_errors_say_what_to_do(knobs, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        ToolQAConfig.preset("hard", **knobs)


DELETE = object()


def _question(kind: str, *operands: tuple[str, str]) -> dict:
    return {"kind": kind, "operands": [{"start": start, "path": [attr]} for start, attr in operands]}


@pytest.mark.parametrize("where, value, message", [
    (("people", "Alba Venn", 0), "Atlantis", "born_in must name a city"),
    (("people", "Alba Venn", 2), "1962", "birth_year must be an integer"),
    (("people", "Alba Venn"), ["Korith", "Velor Systems", 1962], "must be a list of"),
    (("cities", "Dunmar", 0), "Nowhere", "located_in must name a country"),
    (("countries", "Elsewhere"), ["Dunmar", 1, 1], "the capital of 'Elsewhere', 'Dunmar', is not located in"),
    (("people", "korith"), ["Korith", "Velor Systems", 1, 1], "clash"),
    (("people", "Bad [Name]"), ["Korith", "Velor Systems", 1, 1], "without brackets"),
    (("distractors",), 5, "'distractors' must be 0, 1 or 2"),
    (("countries",), DELETE, "needs the keys ['countries']"),
    (("question", "kind"), "product", "unknown question kind"),
    (("question", "operands", 0, "path"), ["population"], "does not apply to a person"),
    (("question", "operands", 0, "path"), ["born_in", "population", "area"], "does not apply to a city"),
    (("question", "operands", 0, "start"), "Nobody", "not an entity of the task"),
    (("question",), _question("sum", ("Korith", "population"), ("Korith", "population")),
     "reach the same entity"),
    (("question",), _question("sum", ("Korith", "founded"), ("Dunmar", "founded")),
     "a sum question asks for"),
])
def test_bad_task_specs_are_refused_with_a_reason(where, value, message):
    spec = copy.deepcopy(POPULATION_OF_BIRTHPLACE)
    *path, last = where
    target = spec
    for key in path:
        target = target[key]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    with pytest.raises(InvalidTaskError, match=re.escape(message)):
        make().reset(options={"task": spec})


# ------------------------------------------------------------------------------------------------
# Names
# ------------------------------------------------------------------------------------------------
def test_generated_names_are_unique_and_never_contain_parser_words():
    # the parser rewrites lexicon words and drops articles, so a name must hold neither
    phrases = [*LEXICON_ENTRIES, *(a for aliases in LEXICON_ENTRIES.values() for a in aliases),
               "the a an some"]
    reserved = {w for phrase in phrases for w in re.findall(r"[a-z]+", phrase)}
    env = make(difficulty="hard").unwrapped
    for seed in range(200):
        spec, _ = env.sample_task(seed)
        names = [n for g in ("people", "cities", "companies", "countries") for n in spec[g]]
        assert len({n.lower() for n in names}) == len(names)
        words = {w.lower() for n in names for w in n.split()}
        assert not words & reserved, words & reserved
    assert not {s.lower() for s in COMPANY_SUFFIXES} & reserved


def test_a_pinned_world_renders_every_page_as_the_seeded_one():
    env = make(difficulty="hard", max_steps=80)
    _, info = env.reset(seed=12)
    replay = make(difficulty="hard", max_steps=80)
    replay.reset(options={"task": info["task"]})
    spec = env.unwrapped.task
    names = [n for g in ("people", "cities", "companies", "countries") for n in spec[g]]
    assert len(names) == 28
    for name in names:  # distractor sentences included: they are drawn from the spec alone
        page = env.step(f"search[{name}]")[0]
        assert page.startswith(name) and page == replay.step(f"search[{name}]")[0]
