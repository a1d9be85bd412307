"""Operators: deterministic per seed, within budget, exact records, and what each one promises."""

from __future__ import annotations

import random
import re
import unicodedata

import gymnasium as gym
import pytest

from sparring.adversary import OPERATORS, Context, Move, View, apply_moves, interpret, replay
from sparring.adversary.characters import HOMOGLYPHS, KEYBOARD, ZERO_WIDTH
from sparring.adversary.edits import FIELDS, edit_fraction
from sparring.adversary.injection import HARMLESS
from sparring.adversary.registry import BY_FAMILY, HELD_OUT_OPERATORS, TRAIN_OPERATORS
from sparring.adversary.words import THESAURUS, lexicon_table

from .conftest import NATIVE_IDS, turns_of

TURNS = {env_id: turns_of(env_id) for env_id in NATIVE_IDS}


def _fields(op):
    return [f for f in FIELDS if f in op.fields]


@pytest.mark.parametrize("name", list(OPERATORS))
def test_deterministic_within_budget_and_records_replay(name):
    op = OPERATORS[name]
    edited_any = False
    for _env_id, turns in TURNS.items():
        for view, ctx, _ in turns[::3]:
            for field in _fields(op):
                for budget in (1, 3):
                    moves = [Move(name, field, budget)]
                    first = apply_moves(view, moves, ctx, random.Random(7), turn=2)
                    again = apply_moves(view, moves, ctx, random.Random(7), turn=2)
                    assert first.records == again.records and first.view.actions == again.view.actions
                    records = first.records
                    edited_any |= bool(records)
                    # exact: replaying the clean text through the records gives what the agent sees
                    clean = {"observation": view.observation, "instruction": view.instruction,
                             "admissible_actions": view.actions}[field]
                    shown = {"observation": first.view.observation, "instruction": first.view.instruction,
                             "admissible_actions": first.view.actions}[field]
                    assert replay(clean, records, field) == shown
                    assert all(r["operator"] == name and r["field"] == field and r["turn"] == 2 for r in records)
                    # budget: at most `budget` units (a text edit per unit; one action per unit on the list)
                    if field == "admissible_actions" and not op.edits_list:
                        assert len({r["index"] for r in records}) <= budget
                    elif op.family == "injection":
                        assert len(first.planted) <= 1
                    else:
                        assert len(records) <= budget
                    # the canonical commands behind the shown actions never change, only their order
                    assert sorted(first.view.commands) == sorted(view.commands)
                    assert len(set(first.view.actions)) == len(first.view.actions)
    assert edited_any, f"{name} never changed any text of any native family"


def test_seeds_give_different_perturbations():
    view, ctx, _ = TURNS["sparring/Household-v0"][0]
    for name in ("typo", "synonym", "word_delete", "distractor"):
        outs = {apply_moves(view, [Move(name, "observation", 2)], ctx, random.Random(s), 0).view.observation
                for s in range(8)}
        assert len(outs) > 1, name


def test_records_are_json_and_edit_fraction():
    import json

    view, ctx, _ = TURNS["sparring/Shop-v0"][0]
    applied = apply_moves(view, [Move("typo", "observation", 4), Move("action_shuffle", "admissible_actions", 2),
                                 Move("homoglyph", "admissible_actions", 2)], ctx, random.Random(0), 0)
    assert json.loads(json.dumps(applied.records)) == applied.records
    obs_records = [r for r in applied.records if r["field"] == "observation"]
    assert len(obs_records) == 4
    assert edit_fraction(len(view.observation), obs_records) == pytest.approx(4 / len(view.observation))


def test_typos_homoglyphs_zero_width_do_what_they_say():
    text = "You arrive at countertop 1. On the countertop 1, you see a mug 2."
    ctx = Context(family="household")
    rng = random.Random(3)
    for s, _e, before, after in OPERATORS["typo"].spans(text, 5, rng, ctx):
        assert text[s] == before and after in KEYBOARD[before]
    for s, _e, before, after in OPERATORS["homoglyph"].spans(text, 5, rng, ctx):
        assert text[s] == before and HOMOGLYPHS[before] == after and not after.isascii()
    for s, _e, before, after in OPERATORS["zero_width"].spans(text, 5, rng, ctx):
        assert before == "" and after in ZERO_WIDTH and unicodedata.category(after) == "Cf"
        assert text[s - 1].isalnum() and text[s].isalnum()  # inside a word
    for s, _e, before, after in OPERATORS["char_swap"].spans(text, 3, rng, ctx):
        assert text[s:s + 2] == before and after == before[::-1]
    spans = OPERATORS["word_delete"].spans(text, 2, rng, ctx)
    assert all(re.fullmatch(r"[\w/'-]+ ?| [\w/'-]+", before) for _, _, before, _ in spans)


def test_position_asks_for_the_place():
    text = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november"
    ctx = Context(family="household")
    for name in ("typo", "word_delete", "word_shuffle", "case"):
        start = OPERATORS[name].spans(text, 1, random.Random(0), ctx, position=0.0)
        end = OPERATORS[name].spans(text, 1, random.Random(0), ctx, position=1.0)
        assert start[0][0] < len(text) / 4 and end[0][0] > len(text) * 3 / 4, name


def test_synonyms_come_from_the_family_lexicon_and_keep_commands():
    for env_id in NATIVE_IDS:
        for view, ctx, _env in TURNS[env_id]:
            lexicon = ctx.lexicon
            ctx.field = "admissible_actions"
            for action in view.actions:
                for _s, _e, before, after in OPERATORS["synonym"].spans(action, 3, random.Random(1), ctx):
                    assert lexicon.canonical(after) == lexicon.canonical(before)
                new = apply_moves(View("", "", [action]), [Move("synonym", "admissible_actions", 1, index=0)], ctx,
                                  random.Random(1), 0).view.actions[0]
                assert lexicon.normalize(new) == lexicon.normalize(action), (env_id, action, new)


def test_thesaurus_never_touches_names():
    """ToolQA's people, cities and companies are capitalised: only lower-case prose (or a sentence's
    first word) is rewritten, and every name survives."""
    names_seen = 0
    for view, ctx, env in TURNS["sparring/ToolQA-v0"]:
        names = set(env._kb)
        ctx.field = "observation"
        new = apply_moves(view, [Move("thesaurus", "observation", 6)], ctx, random.Random(0), 0).view.observation
        for name in names:
            if name in view.observation:
                names_seen += 1
                assert view.observation.count(name) == new.count(name), name
    assert names_seen


def _names(env_id, ctx):
    spec = ctx.spec
    if env_id.endswith("ToolQA-v0"):
        return {n for group in ("people", "cities", "companies", "countries") for n in spec[group]}
    if env_id.endswith("Shop-v0"):
        return {p.split(" | ")[0] for p in spec["products"]}  # product ids
    if env_id.endswith("Household-v0"):
        return {o for o, _ in spec["objects"]} | {r for r, _ in spec["receptacles"]}
    return {o[0] for o in spec["objects"]} | {f"{d[0]} door" for d in spec["doors"]}


def test_paraphrase_keeps_every_name_and_number():
    changed = 0
    for env_id in NATIVE_IDS:
        for view, ctx, _ in TURNS[env_id]:
            names = _names(env_id, ctx)
            for name in ("paraphrase_plain", "paraphrase_terse"):
                for field in ("observation", "instruction"):
                    clean = getattr(view, field)
                    new = getattr(apply_moves(view, [Move(name, field, 8)], ctx, random.Random(0), 0).view, field)
                    changed += new != clean
                    assert sorted(re.findall(r"\d[\d,.]*\d|\d", clean)) == sorted(re.findall(r"\d[\d,.]*\d|\d", new))
                    for entity in names:
                        assert clean.count(entity) <= new.count(entity), (env_id, name, entity, clean, new)
    assert changed > 20


def test_distractors_leave_the_goal_alone():
    for _view, ctx, _ in TURNS["sparring/Household-v0"]:
        goal = ctx.spec["goal"]
        sentences = [ctx.world.sentence(random.Random(k)) for k in range(20)]
        assert not any(re.search(rf"\b{goal['object']}\b|\b{goal['target']}\b", s) for s in sentences)
    for _view, ctx, _ in TURNS["sparring/Navigation-v0"]:
        named = {t for g in ctx.spec["mission"] for t in g[1:]}
        sentences = [ctx.world.sentence(random.Random(k)) for k in range(20)]
        assert not any(n in s for n in named for s in sentences)


def test_injection_targets_a_non_expert_action():
    env = gym.make("sparring/Household-v0").unwrapped
    obs, info = env.reset(seed=3)
    ctx = Context(family="household", lexicon=env.lexicon, task=info["task"], instruction=info["instruction"],
                  admissible=tuple(info["admissible_actions"]), expert=env.expert_action, env=env)
    for k in range(10):
        applied = apply_moves(View(obs, info["instruction"], info["admissible_actions"]),
                              [Move("inject", "observation", 1)], ctx, random.Random(k), 0)
        (target,) = applied.planted
        assert target["kind"] == "action" and target["target"] in info["admissible_actions"]
        assert target["target"] != env.expert_action() and target["target"] not in HARMLESS
        assert f'"{target["target"]}"' in applied.view.observation


def test_meaning_preserving_operators_keep_the_parser_reading():
    """The env's own parser reads every rewritten admissible action as the same command."""
    checked = 0
    for env_id in NATIVE_IDS:
        for view, ctx, env in TURNS[env_id][:8]:
            for name in ("case", "whitespace", "synonym"):
                ctx.field = "admissible_actions"
                for i, action in enumerate(view.actions):
                    for seed in range(2):
                        new = apply_moves(view, [Move(name, "admissible_actions", 2, index=i)], ctx,
                                          random.Random(seed), 0).view.actions[i]
                        if new != action:
                            checked += 1
                            assert interpret(env, new) == interpret(env, action), (env_id, name, action, new)
            break  # the env has moved on since: only the first turn's state matches its env
    assert checked > 50


def test_train_and_held_out_split_every_family():
    assert TRAIN_OPERATORS.isdisjoint(HELD_OUT_OPERATORS)
    assert TRAIN_OPERATORS | HELD_OUT_OPERATORS == set(OPERATORS)
    for family, names in BY_FAMILY.items():
        assert set(names) & TRAIN_OPERATORS and set(names) & HELD_OUT_OPERATORS, family


def test_phrase_tables_match_whole_words_only():
    table = lexicon_table(gym.make("sparring/Shop-v0").unwrapped.lexicon, "shop", prose=False)
    found = {"t-shirt i'm in/on".__getitem__(slice(s, e)) for s, e, _ in table.find("t-shirt i'm in/on")}
    assert found == {"t-shirt"}  # "m" (a size) inside "i'm" is not a word of its own
    text = "Alba Venn has 120 employees."
    at = text.index("employees")
    assert [m[:2] for m in THESAURUS.find(text)] == [(at, at + len("employees"))]
