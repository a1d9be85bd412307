"""Episode filters, preference pairs and oracle corrections, on collected and hand-built episodes (no training)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from sparring.agents import OracleAgent, RandomAgent
from sparring.envs import make
from sparring.errors import ConfigError, SparringError
from sparring.trainers import filters as F
from sparring.trainers.collect import collect, prompt_for
from sparring.trajectory import Episode, Step, read_episodes

ENVS = ["sparring/Household-v0", "sparring/Navigation-v0"]
EASY = {"difficulty": "easy"}


@pytest.fixture(scope="module")
def collected(tmp_path_factory, sparring_cache):
    """Oracle and random episodes on the same 12 tasks of each env (seeds 0..11, easy)."""
    root = tmp_path_factory.mktemp("filters")
    collect(OracleAgent(), ENVS, ["train"], root / "oracle.jsonl", episodes=12, env_kwargs=EASY, num_envs=4)
    collect(RandomAgent(), ENVS, ["train"], root / "random.jsonl", episodes=12, env_kwargs=EASY, num_envs=4)
    oracle, random_ = read_episodes(root / "oracle.jsonl"), read_episodes(root / "random.jsonl")
    assert len(oracle) == len(random_) == 24
    # the tests below need both outcomes among the random episodes, in both envs
    for env_id in ENVS:
        outcomes = {e.won for e in random_ if e.env_id == env_id}
        assert False in outcomes, env_id
    assert any(e.won for e in random_)
    return oracle, random_


def _step(action: str, i: int = 0, *, invalid: bool = False, **kwargs) -> Step:
    return Step(observation=f"observation {i}", admissible=[action, "look"],
                prompt=[{"role": "user", "content": f"observation {i}"}], action=action,
                next_observation=f"observation {i + 1}", invalid=invalid, **kwargs)


def _episode(actions, *, won=False, invalid=(), seed=0, agent="random", task='{"t":0}', sample=0,
             env_id="sparring/Household-v0", split="train", score=0.0, max_score=0.0, **kwargs) -> Episode:
    steps = [_step(a, i, invalid=i in invalid) for i, a in enumerate(actions)]
    if steps:
        steps[-1].terminated = won
    return Episode(env_id=env_id, family=env_id.split("/")[1].split("-")[0].lower(), split=split, seed=seed,
                   task=task, instruction="do the thing", agent=agent, sample=sample, won=won, score=score,
                   max_score=max_score, steps=steps, **kwargs)


def _expected_prompt(episode: Episode, i: int) -> list[dict[str, str]]:
    """The prompt collect() stores for turn ``i`` (no thoughts: scored agents), rebuilt from the episode."""
    from sparring.agents.prompting import Turn

    history = [Turn(s.observation, s.action, s.thought) for s in episode.steps[:i]]
    step = episode.steps[i]
    return prompt_for(episode.family, episode.instruction, history, step.observation, step.admissible,
                      with_thought=False)


# --------------------------------------------------------------------------------------------------
# By the env
# --------------------------------------------------------------------------------------------------
def test_won_keeps_exactly_the_won_episodes(collected):
    oracle, random_ = collected
    episodes = oracle + random_
    kept = [e for e in episodes if F.won()(e)]
    assert kept == [e for e in episodes if e.won]
    assert all(F.won()(e) for e in oracle)
    assert 0 < sum(F.won()(e) for e in random_) < len(random_)


def test_min_score_compares_the_share_of_sub_goals():
    half = _episode(["a"], score=1.0, max_score=2.0)
    assert F.min_score(0.5)(half) and F.min_score(0.0)(half)
    assert not F.min_score(0.51)(half) and not F.min_score(1.0)(half)
    # an env without a score: a won episode counts 1, a failed one 0
    assert F.min_score(1.0)(_episode(["a"], won=True))
    assert not F.min_score(0.01)(_episode(["a"], won=False))
    assert F.min_score(0.0)(_episode(["a"], won=False))


def test_min_score_on_collected_episodes_keeps_won_and_partial_ones(collected):
    oracle, random_ = collected
    episodes = oracle + random_
    assert all(F.min_score(1.0)(e) for e in oracle)
    for share in (0.0, 0.5, 1.0):
        kept = [e for e in episodes if F.min_score(share)(e)]
        assert kept == [e for e in episodes if F.share_of_score(e) >= share]
    # every won episode reached all its sub-goals; min_score(0.5) also keeps failures that got half way
    assert all(F.min_score(1.0)(e) for e in episodes if e.won)
    assert any(F.min_score(0.5)(e) and not e.won for e in episodes)


# --------------------------------------------------------------------------------------------------
# By rules
# --------------------------------------------------------------------------------------------------
def test_max_turns_is_inclusive(collected):
    assert F.max_turns(3)(_episode(["a", "b", "c"]))
    assert not F.max_turns(2)(_episode(["a", "b", "c"]))
    oracle, random_ = collected
    kept = [e for e in oracle + random_ if F.max_turns(10)(e)]
    assert kept == [e for e in oracle + random_ if len(e.steps) <= 10]
    assert 0 < len(kept) < len(oracle + random_)


def test_max_invalid_ratio_counts_rejected_actions():
    one_in_four = _episode(["a", "b", "c", "d"], invalid={2})
    assert one_in_four.num_invalid == 1
    assert F.max_invalid_ratio(0.25)(one_in_four) and F.max_invalid_ratio(1.0)(one_in_four)
    assert not F.max_invalid_ratio(0.2)(one_in_four) and not F.max_invalid_ratio(0.0)(one_in_four)
    assert F.max_invalid_ratio(0.0)(_episode(["a", "b"]))
    assert F.max_invalid_ratio(0.0)(_episode([]))  # no steps, nothing invalid


def test_no_loops_drops_a_repeated_action():
    assert not F.no_loops(3)(_episode(["go to desk 1", "look", "look", "look", "inventory"]))
    assert F.no_loops(4)(_episode(["go to desk 1", "look", "look", "look", "inventory"]))
    # surrounding whitespace does not hide a repetition
    assert not F.no_loops(3)(_episode(["look", " look", "look "]))


def test_no_loops_drops_a_two_cycle_and_keeps_a_non_loop():
    cycle = ["go to drawer 1", "go to shelf 1"] * 3
    assert not F.no_loops(3)(_episode(["look", *cycle, "inventory"]))
    assert F.no_loops(4)(_episode(["look", *cycle, "inventory"]))
    assert F.no_loops(3)(_episode(["look", *cycle[:4], "inventory"]))  # only two rounds
    # a cycle longer than max_period is not a loop
    three = ["go to a", "go to b", "go to c"] * 3
    assert not F.no_loops(3)(_episode(three))
    assert F.no_loops(3, max_period=2)(_episode(three))
    # distinct actions, revisits that are not back to back: no loop
    plain = ["go to sinkbasin 1", "take fork 1 from sinkbasin 1", "go to drawer 1", "open drawer 1",
             "go to sinkbasin 1", "put fork 1 in/on drawer 1"]
    assert F.no_loops(2)(_episode(plain))


def test_no_loops_keeps_the_oracle_and_catches_random_loops(collected):
    oracle, random_ = collected
    assert all(F.no_loops(2)(e) for e in oracle)
    looping = [e for e in random_ if not F.no_loops(3)(e)]
    assert looping, "30 random turns in a small room should repeat themselves somewhere"
    for episode in looping:
        start, period = F.find_loop([s.action.strip() for s in episode.steps], 3)
        block = [s.action for s in episode.steps[start:start + period]]
        assert [s.action for s in episode.steps[start:start + 3 * period]] == block * 3


@pytest.mark.parametrize(
    "actions,repeats,max_period,expected",
    [
        (["a", "b", "a", "b", "a", "b"], 3, 4, (0, 2)),
        (["x", "a", "a", "a"], 3, 4, (1, 1)),
        (["a", "a", "a", "a"], 2, 4, (0, 1)),  # the shortest period is reported
        (["x", "y", "a", "b", "c", "a", "b", "c"], 2, 4, (2, 3)),
        (["a", "b", "c", "a", "b", "c"], 2, 2, None),  # period 3 > max_period
        (["a", "b", "a", "b"], 3, 4, None),
        (["a", "b", "a", "c", "a", "b"], 2, 4, None),
        ([], 2, 4, None),
    ],
)
def test_find_loop(actions, repeats, max_period, expected):
    assert F.find_loop(actions, repeats, max_period) == expected


# --------------------------------------------------------------------------------------------------
# Composition and apply
# --------------------------------------------------------------------------------------------------
def test_all_of_and_any_of_combine_filters(collected):
    oracle, random_ = collected
    episodes = oracle + random_
    both = F.all_of(F.won(), F.max_turns(10))
    either = F.any_of(F.won(), F.max_turns(10))
    assert [e for e in episodes if both(e)] == [e for e in episodes if e.won and len(e.steps) <= 10]
    assert [e for e in episodes if either(e)] == [e for e in episodes if e.won or len(e.steps) <= 10]
    # the data tells the two apart: some won episodes are long
    assert sum(both(e) for e in episodes) < sum(F.won()(e) for e in episodes)
    assert both.name == "all_of(won, max_turns(10))" and either.name == "any_of(won, max_turns(10))"

    def short(episode: Episode) -> bool:  # a plain function is a filter too
        return len(episode.steps) <= 5

    assert "short" in F.all_of(short, F.won()).name
    assert [e for e in episodes if F.any_of(short)(e)] == [e for e in episodes if len(e.steps) <= 5]


def test_apply_counts_each_drop_against_the_first_rejecting_filter():
    episodes = [
        _episode(["a"], won=True, seed=0),                      # kept
        _episode(["a"] * 4, won=False, seed=1),                 # not won (also long, loops): counted once
        _episode(["a", "b", "c", "d"], won=True, seed=2),       # won but too long
        _episode(["a", "b"], won=True, seed=3),                 # kept
        _episode(["a", "a", "a"], won=True, seed=4),            # won, 3 turns, loops
        _episode(["b"], won=False, seed=5),                     # not won
        _episode(["c", "d", "e"], won=True, seed=6),            # kept
    ]
    kept, report = F.apply([F.won(), F.max_turns(3), F.no_loops(3)], iter(episodes))
    assert [e.seed for e in kept] == [0, 3, 6]
    assert report.total == 7 and report.kept == 3
    assert report.dropped == {"won": 2, "max_turns(3)": 1, "no_loops(3)": 1}
    assert report.kept + sum(report.dropped.values()) == report.total
    assert str(report) == "kept 3/7 (won: -2, max_turns(3): -1, no_loops(3): -1)"
    assert report.to_dict() == {"total": 7, "kept": 3, "dropped": report.dropped}
    # the order of the chain decides who is blamed
    _, report = F.apply([F.max_turns(3), F.won()], episodes)
    assert report.dropped == {"max_turns(3)": 2, "won": 1}


def test_apply_on_collected_episodes(collected):
    oracle, random_ = collected
    episodes = random_ + oracle
    kept, report = F.apply([F.won(), F.max_turns(10)], episodes)
    assert kept == [e for e in episodes if e.won and len(e.steps) <= 10]  # same objects, same order
    assert report.dropped["won"] == sum(not e.won for e in episodes) > 0
    assert report.dropped["max_turns(10)"] == sum(e.won and len(e.steps) > 10 for e in episodes) > 0
    assert report.kept == len(kept) and report.total == len(episodes)
    # one filter, not in a list; two filters of one name are counted apart
    kept_one, report_one = F.apply(F.won(), episodes)
    assert report_one.dropped == {"won": report.dropped["won"]} and len(kept_one) == report_one.kept
    _, twice = F.apply([F.max_turns(10), F.max_turns(10)], episodes)
    assert twice.dropped["max_turns(10)#2"] == 0 and twice.dropped["max_turns(10)"] > 0
    # no filters: everything is kept
    kept_all, report_all = F.apply([], episodes)
    assert kept_all == episodes and report_all.kept == report_all.total == len(episodes)


@pytest.mark.parametrize(
    "build,message",
    [
        (lambda: F.max_turns(0), "positive integer"),
        (lambda: F.max_turns(2.5), "positive integer"),
        (lambda: F.max_turns(True), "positive integer"),
        (lambda: F.min_score(1.5), r"\[0, 1\]"),
        (lambda: F.min_score("half"), r"\[0, 1\]"),
        (lambda: F.max_invalid_ratio(-0.1), r"\[0, 1\]"),
        (lambda: F.no_loops(1), "k >= 2"),
        (lambda: F.no_loops(3, max_period=0), "max_period"),
        (lambda: F.apply(F.won, []), r"factory won; call it"),
        (lambda: F.apply([F.won(), F.max_turns], []), r"factory max_turns"),
        (lambda: F.all_of(F.won(), F.no_loops), r"factory no_loops"),
        (lambda: F.any_of(F.won(), "won"), r"call the filter factory"),
        (lambda: F.all_of(), "at least one filter"),
        (lambda: F.any_of(), "at least one filter"),
        (lambda: F.preference_pairs([], [], kind="pairs"), "'step' or 'trajectory'"),
    ],
)
def test_bad_arguments_are_clear_config_errors(build, message):
    with pytest.raises(ConfigError, match=message):
        build()


# --------------------------------------------------------------------------------------------------
# By a model
# --------------------------------------------------------------------------------------------------
class FakeRewardModel:
    """Scores 0 for looking around, 1 for anything else; remembers what it saw."""

    def __init__(self, extra: int = 0) -> None:
        self.extra = extra
        self.seen: list = []

    def score(self, transitions):
        self.seen.append(list(transitions))
        values = [0.0 if t.action in ("look", "inventory") else 1.0 for t in transitions]
        return values + [0.5] * self.extra


def test_min_reward_model_score_reduces_step_scores():
    episode = _episode(["go to desk 1", "look", "take pen 1", "use desklamp 1"], won=True)  # scores 1 0 1 1
    model = FakeRewardModel()
    assert F.min_reward_model_score(model, 0.75)(episode)
    assert not F.min_reward_model_score(model, 0.76)(episode)
    assert F.min_reward_model_score(model, 1.0, reduce="last")(episode)
    assert not F.min_reward_model_score(model, 0.01, reduce="min")(episode)
    assert F.min_reward_model_score(model, 0.0, reduce="min")(episode)
    assert not F.min_reward_model_score(model, 0.0)(_episode([]))  # nothing to score: dropped
    # the model sees the episode's steps in order, as the env would show them
    transitions = model.seen[0]
    assert [t.action for t in transitions] == [s.action for s in episode.steps]
    assert [t.info["step"] for t in transitions] == [1, 2, 3, 4]
    assert [t.outcome for t in transitions] == [0.0, 0.0, 0.0, 1.0]
    assert transitions[-1].info["won"] and not transitions[0].info["won"]
    assert all(t.info["task"] == episode.task for t in transitions)


def test_min_reward_model_score_in_apply(collected):
    oracle, random_ = collected
    episodes = oracle + random_
    kept, report = F.apply([F.min_reward_model_score(FakeRewardModel(), 0.9)], episodes)
    looks = {id(e) for e in episodes
             if sum(s.action in ("look", "inventory") for s in e.steps) / len(e.steps) > 0.1}
    assert [id(e) for e in kept] == [id(e) for e in episodes if id(e) not in looks]
    assert report.dropped["min_reward_model_score(0.9,mean)"] == len(looks) > 0


def test_min_reward_model_score_errors():
    with pytest.raises(SparringError, match=r"returned 5 scores for 3 transitions.*one float per transition"):
        F.min_reward_model_score(FakeRewardModel(extra=2), 0.5)(_episode(["a", "b", "c"]))
    with pytest.raises(ConfigError, match="RewardModel"):
        F.min_reward_model_score(lambda transitions: [1.0], 0.5)
    with pytest.raises(ConfigError, match="reduce must be one of"):
        F.min_reward_model_score(FakeRewardModel(), 0.5, reduce="median")
    with pytest.raises(ConfigError, match="finite"):
        F.min_reward_model_score(FakeRewardModel(), math.nan)


def test_episode_transitions_carry_the_stored_reward_terms(collected):
    oracle, random_ = collected
    for episode in oracle[:3] + random_[:3]:
        transitions = F.episode_transitions(episode)
        assert len(transitions) == len(episode.steps)
        assert [t.outcome for t in transitions] == [s.reward_terms["env"] for s in episode.steps]
        assert sum(t.outcome for t in transitions) == (1.0 if episode.won else 0.0)
        for t, step, following in zip(transitions, episode.steps, episode.steps[1:] + [None], strict=True):
            assert (t.observation, t.action, t.next_observation) == (step.observation, step.action,
                                                                     step.next_observation)
            assert t.info["admissible_actions"] == (following.admissible if following else [])


# --------------------------------------------------------------------------------------------------
# Preference pairs
# --------------------------------------------------------------------------------------------------
def _by_key(episodes):
    return {tuple(str(v) for v in e.key): e for e in episodes}


def test_step_pairs_contrast_expert_and_explored_at_the_divergence(collected):
    oracle, random_ = collected
    rows = F.preference_pairs(oracle, random_, kind="step")
    failed = [e for e in random_ if not e.won]
    # every task has a won oracle episode, and a failure never follows the oracle to its end
    assert len(rows) == len(failed)
    experts, explored = _by_key(oracle), _by_key(random_)
    for row in rows:
        meta = row["meta"]
        chosen, rejected = experts[tuple(meta["chosen_key"])], explored[tuple(meta["rejected_key"])]
        turn = meta["divergence_turn"]
        assert meta["kind"] == "step"
        assert meta["task_key"] == [rejected.env_id, rejected.split, rejected.task]
        assert F.task_key(chosen) == F.task_key(rejected) and chosen.won and not rejected.won
        assert [s.action for s in chosen.steps[:turn]] == [s.action for s in rejected.steps[:turn]]
        assert chosen.steps[turn].action != rejected.steps[turn].action
        assert row["prompt"] == rejected.steps[turn].prompt
        assert row["prompt"][-1]["role"] == "user"
        assert row["chosen"] == [{"role": "assistant", "content": chosen.steps[turn].completion}]
        assert row["rejected"] == [{"role": "assistant", "content": rejected.steps[turn].completion}]
        assert row["chosen"] != row["rejected"]
    assert {tuple(r["meta"]["rejected_key"]) for r in rows} == {tuple(str(v) for v in e.key) for e in failed}


def test_pairs_skip_failures_without_a_won_expert_of_the_same_task(collected):
    oracle, random_ = collected
    household_experts = [e for e in oracle if e.env_id == ENVS[0]]
    rows = F.preference_pairs(household_experts, random_)
    assert rows and all(r["meta"]["task_key"][0] == ENVS[0] for r in rows)
    assert len(rows) == sum(not e.won and e.env_id == ENVS[0] for e in random_)
    # a failed "expert" is no expert; an expert of another split is another task
    assert F.preference_pairs([e for e in random_ if not e.won], random_) == []
    other_split = [dataclasses.replace(e, split="valid") for e in oracle]
    assert F.preference_pairs(other_split, random_) == []
    # won explored episodes are not paired
    assert F.preference_pairs(oracle, [e for e in random_ if e.won]) == []


def test_step_pair_uses_the_expert_that_agrees_longest():
    task = '{"t":1}'
    far = _episode(["a", "b", "c"], won=True, seed=1, agent="oracle", task=task)
    near = _episode(["a", "x", "y"], won=True, seed=1, agent="oracle", task=task, sample=1)
    failed = _episode(["a", "x", "z", "look"], seed=1, task=task)
    (row,) = F.preference_pairs([far, near], [failed])
    assert row["meta"]["divergence_turn"] == 2
    assert row["meta"]["chosen_key"] == [str(v) for v in near.key]
    assert row["chosen"][0]["content"] == "Action: y" and row["rejected"][0]["content"] == "Action: z"
    assert row["prompt"] == failed.steps[2].prompt
    # a failure cut short while still on the expert's path gives no step pair, but a trajectory pair
    short = _episode(["a", "x"], seed=1, task=task)
    assert F.preference_pairs([near], [short]) == []
    assert len(F.preference_pairs([near], [short], kind="trajectory")) == 1


def test_trajectory_pairs_are_alternating_continuations(collected):
    oracle, random_ = collected
    rows = F.preference_pairs(oracle, random_, kind="trajectory")
    assert len(rows) == sum(not e.won for e in random_)
    experts, explored = _by_key(oracle), _by_key(random_)
    for row in rows:
        chosen = experts[tuple(row["meta"]["chosen_key"])]
        rejected = explored[tuple(row["meta"]["rejected_key"])]
        assert row["meta"]["kind"] == "trajectory"
        assert row["prompt"] == rejected.steps[0].prompt
        for messages, episode in ((row["chosen"], chosen), (row["rejected"], rejected)):
            assert len(messages) == 2 * len(episode.steps) - 1
            assert [m["role"] for m in messages] == ["assistant", "user"] * (len(episode.steps) - 1) + ["assistant"]
            assert [m["content"] for m in messages[::2]] == [s.completion for s in episode.steps]
            assert [m["content"] for m in messages[1::2]] == [s.next_observation for s in episode.steps[:-1]]
        assert row["chosen"] != row["rejected"]


# --------------------------------------------------------------------------------------------------
# Oracle corrections
# --------------------------------------------------------------------------------------------------
def _replay(episode: Episode) -> dict:
    """Plays the episode's actions in a fresh env on its pinned task; checks every observation; returns
    the last info."""
    env = make(episode.env_id, split=episode.split, max_steps=10**9)
    observation, info = env.reset(seed=episode.seed, options={"task": episode.task})
    terminated = truncated = False
    for i, step in enumerate(episode.steps):
        assert not (terminated or truncated), f"the episode ended before turn {i}"
        assert observation == step.observation, i
        assert step.action in info["admissible_actions"] or step.invalid
        observation, _, terminated, truncated, info = env.step(step.action)
        assert observation == step.next_observation, i
    env.close()
    assert terminated
    return info


def test_collected_prompts_follow_prompt_for(collected):
    """Calibrates _expected_prompt on collected episodes (it is then applied to corrected ones)."""
    oracle, random_ = collected
    for episode in oracle[:4] + random_[:2]:
        for i in range(len(episode.steps)):
            assert episode.steps[i].prompt == _expected_prompt(episode, i)


def test_correct_with_oracle_finishes_failures_from_their_divergence(collected):
    oracle, random_ = collected
    failed = [e for e in random_ if not e.won]
    experts = {F.task_key(e): e for e in oracle}
    system = {e.family: e.steps[0].prompt[0] for e in oracle}
    prefixes = []
    for episode in failed:
        before = episode.to_dict()
        fixed = F.correct_with_oracle(episode)
        assert episode.to_dict() == before  # the input is left alone
        k = fixed.meta["prefix_steps"]
        prefixes.append(k)
        assert fixed.won and fixed.agent == "corrected" and fixed.score == fixed.max_score
        assert fixed.meta["corrected_from"] == list(episode.key) and fixed.meta["cut"] == "divergence"
        assert fixed.key[:3] == episode.key[:3] and fixed.task == episode.task
        # the failed episode's own turns up to its first off-expert action, then the expert's
        assert [dataclasses.asdict(s) for s in fixed.steps[:k]] == [dataclasses.asdict(s) for s in episode.steps[:k]]
        assert k < len(episode.steps) and fixed.steps[k].action != episode.steps[k].action
        assert len(fixed.steps) > k
        # new steps read like collected ones
        for i in range(len(fixed.steps)):
            assert fixed.steps[i].prompt == _expected_prompt(fixed, i)
            assert fixed.steps[i].prompt[0] == system[fixed.family]
        assert fixed.steps[-1].reward_terms["env"] == 1.0 and fixed.episode_return == 1.0
        assert fixed.steps[-1].terminated
        # replayed in a fresh env, the corrected actions really win
        assert _replay(fixed)["won"]
        # a divergence at turn 0 leaves nothing of the failure: the oracle's own episode
        if k == 0:
            assert [s.action for s in fixed.steps] == [s.action for s in experts[F.task_key(episode)].steps]
    assert len(failed) >= 5
    assert any(k > 0 for k in prefixes), prefixes


def test_correct_with_oracle_with_a_turn_count(collected):
    _, random_ = collected
    episode = next(e for e in random_ if not e.won and e.env_id == ENVS[0] and len(e.steps) > 5)
    fixed = F.correct_with_oracle(episode, cut=3)
    assert fixed.meta["prefix_steps"] == 3 and fixed.meta["cut"] == 3 and fixed.won
    assert [s.action for s in fixed.steps[:3]] == [s.action for s in episode.steps[:3]]
    assert all(fixed.steps[i].prompt == _expected_prompt(fixed, i) for i in range(len(fixed.steps)))
    assert _replay(fixed)["won"]
    # cut=0: the oracle plays the whole task
    fresh = F.correct_with_oracle(episode, cut=0)
    assert fresh.meta["prefix_steps"] == 0 and _replay(fresh)["won"]


def test_correct_with_oracle_refuses_what_it_cannot_correct(collected):
    oracle, random_ = collected
    with pytest.raises(ConfigError, match="won one"):
        F.correct_with_oracle(oracle[0])
    with pytest.raises(ConfigError, match="won one"):
        F.correct_with_oracle(next(e for e in random_ if e.won))
    failed = next(e for e in random_ if not e.won)
    for cut in (-1, len(failed.steps) + 1, True, "middle"):
        with pytest.raises(ConfigError, match="cut must be"):
            F.correct_with_oracle(failed, cut=cut)
    with pytest.raises(ConfigError, match="empty"):
        F.correct_with_oracle(dataclasses.replace(failed, steps=[]))
    # a prefix that already ends the episode leaves nothing to correct (an oracle episode relabelled
    # as failed: its full replay wins)
    relabelled = dataclasses.replace(oracle[0], won=False)
    with pytest.raises(SparringError, match="end the episode"):
        F.correct_with_oracle(relabelled, cut=len(relabelled.steps))
    assert F.correct_with_oracle(relabelled, cut=len(relabelled.steps) - 1).won
    # a replay that does not reproduce the recorded text is refused
    tampered = dataclasses.replace(failed, steps=[dataclasses.replace(failed.steps[0], observation="elsewhere")]
                                   + failed.steps[1:])
    with pytest.raises(SparringError, match="another version of the env"):
        F.correct_with_oracle(tampered)
