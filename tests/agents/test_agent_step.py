"""One turn record (AgentStep) from the agent's choice to the rollout's callbacks, score_candidates, and
the shared slot-and-refill episode loop."""

from __future__ import annotations

import math
import random

import gymnasium as gym
import pytest
import torch

from sparring.agents import AgentStep, OracleAgent, RandomAgent, StepRecord, play_slots, run_episodes
from sparring.agents.rollout import EnvSlots
from sparring.agents.step import agent_steps
from sparring.errors import ConfigError

HOUSEHOLD = "sparring/Household-v0"


# --- the episode loop -----------------------------------------------------------------------------
class CountdownEnv:
    """Ends after ``seed`` steps (at least one); reward 1 per step; counts its resets and closes."""

    def __init__(self) -> None:
        self.seed, self.t, self.resets, self.closed = 0, 0, 0, 0

    def reset(self, seed: int) -> tuple[str, dict]:
        self.seed, self.t = seed, 0
        self.resets += 1
        return f"start {seed}", {"step": 0, "seed": seed}

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        self.t += 1
        done = self.t >= max(self.seed, 1)
        return f"{self.seed}/{self.t} after {action}", 1.0, done, False, {"step": self.t, "seed": self.seed}

    def close(self) -> None:
        self.closed += 1


def test_play_slots_refills_a_finished_slot_with_the_next_task_and_calls_back_in_order():
    envs = [CountdownEnv(), CountdownEnv()]
    tasks = [3, 1, 2, 1, 2]
    events: list[tuple] = []

    def act(observations, infos, episodes):
        assert all((o is None) == (i is None) == (k is None) for o, i, k in zip(observations, infos, episodes,
                                                                                 strict=True))
        events.append(("act", tuple(episodes)))
        return [None if o is None else AgentStep(o, f"go {k}") for o, k in zip(observations, episodes, strict=True)]

    steps: list[AgentStep] = []

    def on_step(step: AgentStep) -> None:
        steps.append(step)
        events.append(("step", step.episode, step.slot, step.done))

    play_slots(EnvSlots(2, lambda i, seed: envs[i]), tasks, act,
               on_start=lambda slot, k, obs, info: events.append(("start", slot, k, obs)), on_step=on_step)

    # the first two tasks start side by side; every other one takes the first slot that frees up, in order
    starts = [e for e in events if e[0] == "start"]
    assert starts == [("start", 0, 0, "start 3"), ("start", 1, 1, "start 1"), ("start", 1, 2, "start 2"),
                      ("start", 0, 3, "start 1"), ("start", 1, 4, "start 2")]
    # a finished episode's last step is handed over just before its slot starts the next task
    for start in starts[2:]:
        before = events[events.index(start) - 1]
        assert before[0] == "step" and before[2] == start[1] and before[3]
    # every episode is played to its end once, with the env's answer filled into the agent's record
    per_episode = {k: [s for s in steps if s.episode == k] for k in range(len(tasks))}
    assert {k: len(v) for k, v in per_episode.items()} == {0: 3, 1: 1, 2: 2, 3: 1, 4: 2}
    for k, turns in per_episode.items():
        assert [s.done for s in turns] == [False] * (len(turns) - 1) + [True]
        assert all(s.reward == 1.0 and s.action == f"go {k}" for s in turns)
        assert turns[0].observation == f"start {tasks[k]}" and turns[0].info["step"] == 0
        assert turns[-1].next_observation == f"{tasks[k]}/{len(turns)} after go {k}"
        assert turns[-1].next_info["step"] == len(turns)
        for before, after in zip(turns, turns[1:], strict=False):
            assert after.observation == before.next_observation
    # idle slots are not stepped; the loop ends when every slot is idle, and closes each env once
    assert events[-1][0] == "step" and all(env.closed == 1 for env in envs)
    assert sum(env.resets for env in envs) == len(tasks)


def test_play_slots_needs_one_step_per_slot_and_closes_its_envs_on_error():
    env = CountdownEnv()
    with pytest.raises(ConfigError, match="one step for each"):
        play_slots(EnvSlots(1, lambda i, seed: env), [2], lambda obs, infos, episodes: [])
    assert env.closed == 1


def test_run_episodes_hands_the_agents_own_records_to_on_step():
    records: list[AgentStep] = []
    agent = OracleAgent(thoughts=True)
    results = run_episodes(agent, HOUSEHOLD, split="test", episodes=3, num_envs=2, on_step=records.append)
    assert StepRecord is AgentStep
    assert sum(r.steps for r in results) == len(records)
    for step in records:
        assert isinstance(step, AgentStep) and step.thought and step.action
        assert step.action in step.info["admissible_actions"] or not step.info["admissible_actions"]
        assert step.messages is None  # a baseline builds no prompt
    by_episode = {}
    for step in records:
        by_episode.setdefault(step.episode, []).append(step)
    assert all(turns[-1].done and not any(s.done for s in turns[:-1]) for turns in by_episode.values())
    assert [r.won for r in results] == [True] * 3


def test_agent_steps_makes_a_minimal_record_for_an_agent_that_keeps_none():
    class Plain:
        name = "plain"

        def act(self, observations, infos):
            return ["look" if i is not None else "" for i in infos]

        def thought(self, slot):
            return f"why {slot}"

    steps = agent_steps(Plain(), ["a", None, "c"], [{"step": 0}, None, {"step": 1}])
    assert steps[1] is None
    assert (steps[0].observation, steps[0].action, steps[0].thought) == ("a", "look", "why 0")
    assert (steps[2].observation, steps[2].action, steps[2].thought) == ("c", "look", "why 2")
    random_agent = RandomAgent(seed=3)
    env = gym.make(HOUSEHOLD)
    obs, info = env.reset(seed=0)
    [step] = agent_steps(random_agent, [obs], [info])
    assert step is random_agent.last_steps[0] and step.action in info["admissible_actions"]


# --- the ReAct agent's records and score_candidates -----------------------------------------------
def _first_turns(env_ids, seed=2):
    envs = [gym.make(env_id) for env_id in env_ids]
    obs, infos = map(list, zip(*[e.reset(seed=seed) for e in envs], strict=True))
    return envs, obs, infos


def test_a_score_mode_turn_records_its_prompt_candidates_scores_and_choice(tiny):
    from sparring.agents.policy import ValueHead
    from sparring.agents.react import ReActAgent

    model, tokenizer = tiny
    head = ValueHead(model.config.hidden_size)
    torch.nn.init.normal_(head.net[2].weight)
    agent = ReActAgent(model, tokenizer, mode="score", normalization="word", temperature=0.7, value_head=head)
    envs, obs, infos = _first_turns([HOUSEHOLD, "sparring/Navigation-v0"])
    actions = agent.act(obs, infos)
    for i, (o, info) in enumerate(zip(obs, infos, strict=True)):
        step = agent.last_steps[i]
        assert step.action == actions[i] == step.candidates[step.chosen]
        assert step.observation == o and step.candidates == list(info["admissible_actions"])
        # the recorded prompt is the one the agent was given
        expected = agent.messages(info["family"], info["instruction"], [], o, info["admissible_actions"])
        assert step.messages == expected
        assert step.prompt_ids == agent._encode(agent.render(expected))
        assert step.action_ids == [agent._suffix_ids(c) for c in step.candidates]
        assert step.divisors == [float(max(len(c.split()), 1)) for c in step.candidates]
        assert step.scores == pytest.approx([t / d for t, d in zip(step.logprobs, step.divisors, strict=True)])
        assert step.value is not None and math.isfinite(step.value)
        z = torch.log_softmax(torch.tensor(step.scores, dtype=torch.float64) / 0.7, dim=0)
        assert step.logprob == pytest.approx(float(z[step.chosen]))
    # the next turn's prompt shows this turn as history
    nxt, _, _, _, info1 = envs[0].step(actions[0])
    agent.act([nxt, None], [info1, None])
    assert agent.last_steps[1] is None
    assert {"role": "assistant", "content": f"Action: {actions[0]}"} in agent.last_steps[0].messages


def test_score_candidates_scores_without_choosing_or_drawing(tiny):
    from sparring.agents.react import ReActAgent, score_candidates

    model, tokenizer = tiny
    agent = ReActAgent(model, tokenizer, mode="score", normalization="token", temperature=1.0)
    _, obs, infos = _first_turns([HOUSEHOLD, "sparring/Shop-v0"])
    prompts = [agent.render(agent.messages(i["family"], i["instruction"], [], o, i["admissible_actions"]))
               for o, i in zip(obs, infos, strict=True)]
    candidates = [list(i["admissible_actions"]) for i in infos]
    state = agent.rng.getstate()
    scored = score_candidates(agent, prompts, candidates)
    assert agent.rng.getstate() == state
    naive = agent.candidate_logprobs_naive([agent._encode(p) for p in prompts],
                                           [[agent._suffix_ids(c) for c in cands] for cands in candidates])
    for s, n, cands in zip(scored, naive, candidates, strict=True):
        assert s.chosen == -1 and s.value is None and s.candidates == cands
        assert s.logprobs == pytest.approx([float(t) for t in n], abs=1e-4)
        assert s.scores == pytest.approx([float(t) / len(agent._suffix_ids(c)) for t, c in zip(n, cands, strict=True)],
                                         abs=1e-4)
    # the agent's own pick is made from the same scores
    picked = agent.score(prompts, candidates, rngs=[random.Random(0), random.Random(0)])
    for p, s in zip(picked, scored, strict=True):
        assert p.scores == pytest.approx(s.scores, abs=1e-5)
        assert p.chosen in range(len(p.candidates))


def test_a_generate_mode_turn_records_the_reply_tokens_and_thought(tiny):
    from sparring.agents.react import ReActAgent

    model, tokenizer = tiny
    agent = ReActAgent(model, tokenizer, mode="generate", max_new_tokens=10, temperature=1.0, top_p=1.0, top_k=0)
    _, obs, infos = _first_turns([HOUSEHOLD])
    agent.act(obs, infos)
    step = agent.last_steps[0]
    assert step.candidates is None and step.prompt_ids == agent._encode(agent.render(step.messages))
    [reply] = step.action_ids
    assert 0 < len(reply) <= 10
    assert tokenizer.eos_token_id not in reply[:-1]
    assert step.thought == agent.thought(0)
