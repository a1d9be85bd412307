"""The Reflexion agent: the rule-written summary, lessons in the next trial's prompt (summary and
model-written), lessons kept per slot and task, a run of the tiny model through the trials wrapper,
and that reflection helps a policy that reads its lessons where plain retries do not."""

from __future__ import annotations

import pytest

from sparring.agents import run_episodes
from sparring.agents.prompting import REFLECTIONS_HEADER, Turn
from sparring.agents.react import ReActAgent, Scored
from sparring.agents.reflexion import ReflexionAgent, summarize_trial
from sparring.envs import TrialsWrapper, make
from sparring.errors import ConfigError

ENV = "sparring/Navigation-v0"
EASY = {"difficulty": "easy", "max_steps": 4}


@pytest.fixture(scope="module")
def one_thread():
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_the_summary_names_loops_invalid_commands_the_ending_and_what_to_avoid():
    turns = [Turn("o", a) for a in ("look", "look", "look", "open door", "go north")]
    text = summarize_trial(turns, [False, False, False, True, False],
                           {"truncated": True, "steps": 5, "score": 0.0, "max_score": 1.0,
                            "final_observation": "You are in the east room."}, trial=1)
    assert text.startswith("Trial 1 ran out of steps after 5 steps (score 0 of 1).")
    assert "It repeated 'look' 3 times." in text and "Invalid commands: 'open door'." in text
    assert "It ended with: 'You are in the east room.'" in text
    assert text.endswith("Next time, try something different from 'look', 'open door'.")
    plain = summarize_trial([Turn("o", "a"), Turn("o", "b")], [False, False], {"lost": True, "steps": 2}, trial=2)
    assert plain.startswith("Trial 2 lost after 2 steps.") and "different from 'a', 'b'" in plain


def _play_two_trials(agent, seed: int = 4):
    """Drives ``agent`` by hand on one env with two trials; returns each prompt it was given, by trial."""
    prompts: dict[int, list[str]] = {}
    real = agent.prompt

    def spy(slot, observation, info):
        text = real(slot, observation, info)
        prompts.setdefault(info["trial"], []).append(text)
        return text

    agent.prompt = spy
    env = TrialsWrapper(make(ENV, split="test", **EASY), trials=2)
    obs, info = env.reset(seed=seed)
    done = False
    while not done:
        (action,) = agent.act([obs], [info])
        obs, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
    return prompts, info


@pytest.mark.parametrize("reflection", ["summary", "model"])
def test_the_second_trials_prompt_holds_the_reflection_on_the_first(tiny, one_thread, reflection):
    model, tokenizer = tiny
    agent = ReflexionAgent(model, tokenizer, trials=2, reflection=reflection, reflection_tokens=16)
    prompts, last = _play_two_trials(agent)
    assert not last["won"] and last["trial"] == 1, "the untrained tiny model fails both trials"
    assert all(REFLECTIONS_HEADER not in p for p in prompts[0])
    (lesson,) = agent.reflections[0][1]
    assert lesson.startswith("Trial 1 ") and "Next time, try something different from" in lesson
    if reflection == "summary":
        assert "Reflection:" not in lesson  # the model's words come after the summary's facts, in model mode only
    assert all(REFLECTIONS_HEADER in p and lesson.split(" Reflection:")[0] in p for p in prompts[1])
    assert agent.stats["reflections"] == 1 and agent.name == "react-reflexion (2 trials)" and agent.trials == 2


def test_lessons_are_kept_per_slot_and_task_and_a_new_episode_clears_them(tiny, one_thread):
    model, tokenizer = tiny
    agent = ReflexionAgent(model, tokenizer, trials=2, reflection="summary", max_reflections=1)
    _play_two_trials(agent, seed=4)
    task = agent.reflections[0][0]
    assert agent.episode_reflections(0, {"task": task}) and not agent.episode_reflections(0, {"task": "other"})
    assert not agent.episode_reflections(1, {"task": task})
    env = make(ENV, split="test", **EASY)
    obs, info = env.reset(seed=5)  # a new task on slot 0
    agent.act([obs], [{**info, "trial": 0}])
    assert agent.reflections[0] == (info["task"], [])
    with pytest.raises(ConfigError, match="reflection must be one of"):
        ReflexionAgent(model, tokenizer, reflection="dream")
    with pytest.raises(ConfigError, match="trials must be a positive integer"):
        ReflexionAgent(model, tokenizer, trials=0)


def test_the_tiny_model_plays_its_trials_through_run_episodes(tiny, one_thread):
    model, tokenizer = tiny
    agent = ReflexionAgent(model, tokenizer, trials=3, reflection="model", reflection_tokens=8)
    results = run_episodes(agent, ENV, split="test", seeds=[0, 1, 2], num_envs=2, env_kwargs=EASY)
    assert [r.seed for r in results] == [0, 1, 2]
    for r in results:
        assert r.won or (r.trials == 3 and r.steps == 3 * EASY["max_steps"])
    assert agent.stats["reflections"] == sum(r.trials - 1 for r in results)


# --- does reflecting help? ---------------------------------------------------------------------------
class _Habit:
    """A stand-in policy with a bad habit: it sends ``look`` whenever that is admissible, unless its
    prompt holds a lesson that says to try something different from it; otherwise it plays the env's
    expert (read from a replica of the env it keeps). No model runs: ``score`` is replaced."""

    def _prepare(self, infos):
        from sparring.agents.baselines import _family_env

        self._infos = infos
        self._replicas = getattr(self, "_replicas", {})
        for slot, info in enumerate(infos):
            if info is not None and info["step"] == 0:
                self._replicas[slot] = _family_env(info["family"], info["split"])
                self._replicas[slot].reset(options={"task": info["task"]})

    def score(self, prompts, candidates, rngs=None, keys=None):
        out = []
        for prompt, cands, slot in zip(prompts, candidates, keys, strict=True):
            warned = "try something different from 'look'" in prompt
            pick = "look" if "look" in cands and not warned else self._replicas[slot].expert_action()
            self._replicas[slot].step(pick)
            out.append(Scored(list(cands), [0.0] * len(cands), [0.0] * len(cands), list(cands).index(pick)))
        return out


class HabitReflexion(_Habit, ReflexionAgent):
    def act(self, observations, infos):
        self._prepare(infos)
        return super().act(observations, infos)


class HabitRetrier(_Habit, ReActAgent):
    """The same habit with retries but no reflections."""

    trials = 3

    def act(self, observations, infos):
        self._prepare(infos)
        return super().act(observations, infos)


def test_reflection_helps_a_policy_that_reads_its_lessons_where_plain_retries_do_not(tiny):
    model, tokenizer = tiny
    seeds, kwargs = list(range(6)), {"difficulty": "easy", "max_steps": 15}
    reflecting = run_episodes(HabitReflexion(model, tokenizer, trials=3, reflection="summary"), ENV, split="test",
                              seeds=seeds, num_envs=3, env_kwargs=kwargs)
    retrying = run_episodes(HabitRetrier(model, tokenizer), ENV, split="test", seeds=seeds, num_envs=3,
                            env_kwargs=kwargs)
    at_first = sum(r.won and r.trials == 1 for r in reflecting) / len(seeds)
    within_three = sum(r.won for r in reflecting) / len(seeds)
    assert at_first == 0.0, "the habit loses every first trial (by construction)"
    assert within_three >= at_first and within_three == 1.0, "the lesson of trial 1 breaks the habit on trial 2"
    assert all(r.trials == 2 for r in reflecting)
    assert sum(r.won for r in retrying) == 0 and all(r.trials == 3 for r in retrying), \
        "retries without a lesson replay the same failure"
