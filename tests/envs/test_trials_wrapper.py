"""The trials wrapper: K tries of the same task in one episode, a win ends it, steps and returns add
up; the env checker, vector envs (sync and async), the perturbation wrapper outside it, and the
rollouts that wrap envs for an agent that declares ``trials``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

from sparring.adversary import PerturbationWrapper
from sparring.agents import OracleAgent, run_episodes
from sparring.envs import TrialsWrapper, make, make_vec
from sparring.errors import ConfigError

ENV = "sparring/Navigation-v0"
KWARGS = {"difficulty": "easy", "max_steps": 3}  # "look" three times fails a trial; the expert needs more


def _env(trials: int = 3, **kwargs):
    return TrialsWrapper(make(ENV, split="test", **{**KWARGS, **kwargs}), trials=trials)


def _expert(env) -> str:
    return env.unwrapped.expert_action()


def test_a_failing_agent_gets_exactly_k_trials_of_the_same_task():
    env = _env(trials=3)
    first, info = env.reset(seed=5)
    task, starts, trials_seen = info["task"], [(first, info)], [info["trial"]]
    assert (info["trial"], info["trials"], info["step"], info["total_steps"]) == (0, 3, 0, 0)
    assert "last_trial" not in info
    rewards, done = [], False
    while not done:
        obs, reward, terminated, truncated, info = env.step("look")
        rewards.append(reward)
        done = terminated or truncated
        assert info["task"] == task and info["seed"] == 5  # always the same task
        if info["step"] == 0:
            starts.append((obs, info))
        trials_seen.append(info["trial"])
    assert len(starts) == 3, "three trials, each starting from a fresh first observation"
    for obs, start in starts[1:]:
        assert obs == first and start["admissible_actions"] == starts[0][1]["admissible_actions"]
        assert start["last_trial"]["steps"] == 3 and start["last_trial"]["truncated"]
        assert not start["last_trial"]["won"] and start["last_trial"]["final_observation"]
    assert [s[1]["trial"] for s in starts] == [0, 1, 2] and sorted(set(trials_seen)) == [0, 1, 2]
    assert truncated and not terminated and not info["won"]
    assert info["total_steps"] == 9 and info["step"] == 3 and len(rewards) == 9
    with pytest.raises(Exception, match="episode has ended"):
        env.step("look")  # the outer episode is over: no fourth trial


def test_a_won_trial_ends_the_outer_episode_and_steps_and_returns_add_up():
    env = _env(trials=3, max_steps=12)
    obs, info = env.reset(seed=2)
    total, steps = 0.0, 0
    for _ in range(12):  # the first trial wastes every step
        obs, reward, terminated, truncated, info = env.step("xyzzy")
        total, steps = total + reward, steps + 1
    assert info["trial"] == 1 and info["step"] == 0 and not (terminated or truncated)
    assert info["invalid_action"], "the step that ended a trial still reports its own action"
    assert info["last_trial"]["num_invalid"] == 12
    while not (terminated or truncated):
        obs, reward, terminated, truncated, info = env.step(_expert(env))
        total, steps = total + reward, steps + 1
    assert terminated and info["won"] and info["trial"] == 1, "a win ends the outer episode at once"
    assert info["total_steps"] == steps == 12 + info["step"]
    assert info["total_invalid"] == 12 and info["num_invalid"] == 0
    assert total > 0


def test_one_trial_is_the_plain_env_and_bad_counts_are_refused():
    env, bare = _env(trials=1), make(ENV, split="test", **KWARGS)
    obs, info = env.reset(seed=1)
    assert obs == bare.reset(seed=1)[0] and info["trial"] == 0 and info["trials"] == 1
    for _ in range(3):
        _, _, terminated, truncated, info = env.step("look")
    assert truncated and info["total_steps"] == 3
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ConfigError, match="trials must be a positive integer"):
            TrialsWrapper(make(ENV), trials=bad)


def test_the_wrapped_env_passes_the_env_checker():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is different from the unwrapped version.*")
        check_env(_env(trials=2), skip_render_check=True)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_trials_in_a_vector_env(mode):
    seeds, n = [3, 4], 2
    firsts = [make(ENV, split="test", **KWARGS).reset(seed=s)[0] for s in seeds]
    envs = make_vec(ENV, num_envs=n, vectorization_mode=mode, vector_kwargs={"autoreset_mode": AutoresetMode.DISABLED},
                    wrappers=[TrialsWrapper.factory(2)], split="test", **KWARGS)
    try:
        obs, infos = envs.reset(seed=seeds)
        assert list(obs) == firsts and list(infos["trial"]) == [0, 0]
        for _ in range(3):
            obs, _, terminated, truncated, infos = envs.step(("look",) * n)
        # the first trials ended: each env shows its own task's first observation again
        assert list(obs) == firsts and not terminated.any() and not truncated.any()
        assert list(infos["trial"]) == [1, 1] and list(infos["step"]) == [0, 0]
        assert list(infos["last_trial"]["steps"]) == [3, 3] and all(infos["last_trial"]["_steps"])
        assert all(isinstance(o, str) and o for o in infos["last_trial"]["final_observation"])
        for _ in range(3):
            obs, _, terminated, truncated, infos = envs.step(("look",) * n)
        assert truncated.all() and list(infos["total_steps"]) == [6, 6] and not np.any(infos["won"])
    finally:
        envs.close()


def test_under_the_perturbation_wrapper_every_trial_is_attacked():
    env = PerturbationWrapper(_env(trials=2, max_steps=12), "typo", budget=3, targets=["observation"], schedule="all",
                              seed=0)
    obs, info = env.reset(seed=5)
    clean_first = env.clean.observation
    assert obs != clean_first and env.turn_records(), "the first trial's first observation is attacked"
    task = info["task"]
    for _ in range(12):
        obs, _, terminated, truncated, info = env.step("look")
    assert info["trial"] == 1 and info["step"] == 0 and info["task"] == task
    assert env.clean.observation == clean_first and obs != clean_first, "so is the second trial's"
    now = env.turn_records()
    assert now and all(r["trial"] == 1 and r["turn"] == 0 for r in now), "this turn's edits only, not trial 0's"
    assert {r["trial"] for r in info["perturbations"]} == {0, 1} and env.history == []
    while not (terminated or truncated):  # the expert, through the attacked text, still wins the retry
        obs, _, terminated, truncated, info = env.step(env.shown(env.unwrapped.expert_action()))
    assert terminated and info["won"] and info["trial"] == 1


def test_rollouts_wrap_the_envs_of_an_agent_that_declares_trials():
    class LateOracle:
        """Wastes its first trial, then plays the expert."""

        name, trials = "late-oracle", 3

        def __init__(self):
            self.oracle = OracleAgent()

        def act(self, observations, infos):
            late = [info if info is not None and info.get("trial", 0) >= 1 else None for info in infos]
            expert = self.oracle.act(observations, late)
            return [a if late[i] is not None else "look" for i, a in enumerate(expert)]

    agent = LateOracle()
    results = run_episodes(agent, ENV, split="test", seeds=[0, 1, 2], num_envs=2,
                           env_kwargs={**KWARGS, "max_steps": 12})
    assert [r.won for r in results] == [True] * 3 and [r.trials for r in results] == [2] * 3
    assert all(r.steps > 12 for r in results), "steps count both trials"
    once = run_episodes(agent, ENV, split="test", seeds=[0, 1, 2], env_kwargs={**KWARGS, "max_steps": 12}, trials=1)
    assert [r.won for r in once] == [False] * 3 and [r.trials for r in once] == [1] * 3

    from sparring.adversary.config import AttackConfig
    from sparring.adversary.play import play

    logs = play(LateOracle(), ENV, [0, 1], attack=AttackConfig.coerce("typo", budget=2), split="test",
                env_kwargs={**KWARGS, "max_steps": 12}, num_envs=2)
    assert [log.won for log in logs] == [True, True] and [log.trials for log in logs] == [2, 2]
    assert all(log.steps > 12 and log.perturbed_turns > 12 for log in logs), "both trials were played and attacked"


def test_a_state_hijack_reached_on_a_failed_trials_last_step_is_judged_before_the_reset(monkeypatch):
    import sparring.adversary.wrapper as wrapper

    env = PerturbationWrapper(_env(trials=2), "typo", budget=1, targets=["observation"], seed=0)
    env.reset(seed=5)
    target = {"kind": "state", "target": "the end of a trial", "achieved": False}
    env._state_targets.append(target)
    # reached only in the state the first trial ends in (step 3), which the retry's reset wipes out
    monkeypatch.setattr(wrapper, "state_reached", lambda base, _: base._steps == 3)
    for _ in range(3):
        _, _, _, _, info = env.step("look")
    assert info["trial"] == 1 and info["step"] == 0
    assert target["achieved"] and target["achieved_turn"] == 3
