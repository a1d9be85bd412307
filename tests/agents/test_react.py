"""The ReAct agent: prompts, tolerant parsing, prefix-cached scoring, batching, checkpoints."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sparring.agents import run_episodes
from sparring.agents.policy import AgentModel
from sparring.agents.prompting import Turn, build_messages, parse_action
from sparring.agents.react import ReActAgent, left_pad
from sparring.errors import ConfigError

NATIVE = ["sparring/Household-v0", "sparring/Navigation-v0", "sparring/ToolQA-v0", "sparring/Shop-v0"]


def _batch(env_ids, seed=1, steps=0):
    envs = [gym.make(env_id) for env_id in env_ids]
    obs, infos = map(list, zip(*[e.reset(seed=seed + k) for k, e in enumerate(envs)], strict=True))
    for _ in range(steps):
        out = [e.step(e.unwrapped.expert_action()) for e in envs]
        obs, infos = [o[0] for o in out], [o[4] for o in out]
    return obs, infos


# --- parsing ------------------------------------------------------------------------------------
@pytest.mark.parametrize("reply,action,thought", [
    ("Thought: the mug is in the cabinet.\nAction: open cabinet 1", "open cabinet 1", "the mug is in the cabinet."),
    ("**Thought:** go.\n**Action:** `take mug 1 from cabinet 1`", "take mug 1 from cabinet 1", "go."),
    ("Thought 2: hmm\nAction 2: search[Alba Venn]", "search[Alba Venn]", "hmm"),
    ("Action: go to fridge 1.  # because it is cold", "go to fridge 1", ""),
    ('Action：“look”'.replace("“", '"').replace("”", '"'), "look", ""),
    ("go to kitchen", "go to kitchen", ""),
    ("Action: look<|im_end|>", "look", ""),
    ("Thought: I am not sure what to do.", None, "I am not sure what to do."),
    ("", None, ""),
])
def test_parse_action_examples(reply, action, thought):
    assert parse_action(reply) == (action, thought)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_parse_action_never_raises(text):
    action, thought = parse_action(text)
    assert action is None or (isinstance(action, str) and action and "\n" not in action)
    assert isinstance(thought, str)


def test_prompt_window_and_admissible_actions():
    history = [Turn(f"obs {i}", f"act {i}", f"why {i}") for i in range(6)]
    messages = build_messages(family="household", syntax=["look"], instruction="do the thing", history=history,
                              observation="now", admissible=["a", "b"], window=2)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert messages[1]["content"].startswith("Task: do the thing") and "4 earlier turns" in messages[1]["content"]
    assert "obs 4" in messages[1]["content"] and "Action: act 5" in messages[4]["content"]
    assert messages[-1]["content"].endswith("Admissible actions: a | b")


# --- scoring --------------------------------------------------------------------------------------
@pytest.mark.parametrize("normalization", ["sum", "token", "word"])
def test_cached_scoring_equals_naive_scoring(tiny, normalization):
    model, tokenizer = tiny
    agent = ReActAgent(model, tokenizer, mode="score", normalization=normalization, score_chunk=7)
    obs, infos = _batch(NATIVE, steps=2)
    prompts = [agent.prompt(i, o, info) for i, (o, info) in enumerate(zip(obs, infos, strict=True))]
    prompt_ids = [agent._encode(p) for p in prompts]
    assert len({len(p) for p in prompt_ids}) > 1, "prompts of different lengths exercise the padding"
    suffixes = [[agent._suffix_ids(c) for c in info["admissible_actions"]] for info in infos]
    cached, _ = agent.candidate_logprobs(prompt_ids, suffixes)
    naive = agent.candidate_logprobs_naive(prompt_ids, suffixes)
    for c, n in zip(cached, naive, strict=True):
        assert torch.allclose(c, n, atol=1e-4), (c - n).abs().max()
    scored = agent.score(prompts, [info["admissible_actions"] for info in infos])
    for s, n, info in zip(scored, naive, infos, strict=True):
        expected = [agent._normalise(float(t), len(agent._suffix_ids(c)), c)
                    for t, c in zip(n, info["admissible_actions"], strict=True)]
        assert s.scores == pytest.approx(expected, abs=1e-4)
        assert s.chosen == max(range(len(expected)), key=expected.__getitem__)


def test_prefix_cache_reuses_an_episodes_earlier_prompt_and_scores_the_same(tiny):
    """Turn after turn, the kept KV cache of each slot serves the shared prefix: the log-probs and the
    values equal a fresh batched forward, and far fewer tokens are run."""
    from sparring.agents.policy import ValueHead

    model, tokenizer = tiny
    head = ValueHead(model.config.hidden_size)
    torch.nn.init.normal_(head.net[2].weight)  # a non-zero head, so values are compared for real
    cached = ReActAgent(model, tokenizer, mode="score", prefix_cache=True, value_head=head, score_chunk=5)
    fresh = ReActAgent(model, tokenizer, mode="score", prefix_cache=False, value_head=head)
    envs = [gym.make(env_id) for env_id in NATIVE]
    obs, infos = map(list, zip(*[e.reset(seed=3) for e in envs], strict=True))
    for _ in range(6):
        prompts = [cached.prompt(i, o, info) for i, (o, info) in enumerate(zip(obs, infos, strict=True))]
        ids = [cached._encode(p) for p in prompts]
        suffixes = [[cached._suffix_ids(c) for c in info["admissible_actions"]] for info in infos]
        got, got_values = cached.candidate_logprobs(ids, suffixes, with_values=True, keys=range(len(ids)))
        want, want_values = fresh.candidate_logprobs(ids, suffixes, with_values=True)
        for g, w in zip(got, want, strict=True):
            assert torch.allclose(g, w, atol=1e-4), (g - w).abs().max()
        assert torch.allclose(got_values, want_values, atol=1e-4)
        for k, env in enumerate(envs):
            action = env.unwrapped.expert_action()
            cached._record(k, action, "")
            obs[k], _, terminated, truncated, infos[k] = env.step(action)
            if terminated or truncated:  # a new episode on that slot: its prompt shares only the system part
                obs[k], infos[k] = env.reset(seed=4)
    assert cached.stats["forward_tokens"] < 0.8 * fresh.stats["forward_tokens"]
    cached.clear_prefix_cache()
    assert not cached._prefix


def test_prefix_cache_on_and_off_play_the_same_episodes(tiny):
    model, tokenizer = tiny
    runs = {}
    for on in (False, True):
        agent = ReActAgent(model, tokenizer, mode="score", prefix_cache=on)
        actions = []
        run_episodes(agent, "sparring/Household-v0", seeds=range(4), num_envs=2,
                     on_step=lambda r, a=actions: a.append((r.episode, r.action)))
        runs[on] = (sorted(actions), agent.stats)
    assert runs[True][0] == runs[False][0]
    assert runs[True][1]["prompt_tokens"] == runs[False][1]["prompt_tokens"]
    assert runs[True][1]["forward_tokens"] < runs[False][1]["forward_tokens"]


@pytest.mark.parametrize("mode", ["score", "generate"])
def test_batched_actions_equal_one_at_a_time_under_greedy_decoding(tiny, mode):
    model, tokenizer = tiny
    obs, infos = _batch(NATIVE, steps=1)
    batched = ReActAgent(model, tokenizer, mode=mode, max_new_tokens=12).act(obs, infos)
    single = [ReActAgent(model, tokenizer, mode=mode, max_new_tokens=12).act([o], [i])[0]
              for o, i in zip(obs, infos, strict=True)]
    assert batched == single


def test_idle_slots_cost_nothing_and_get_a_placeholder(tiny):
    model, tokenizer = tiny
    obs, infos = _batch(NATIVE[:2])
    agent = ReActAgent(model, tokenizer)
    actions = agent.act([obs[0], None], [infos[0], None])
    assert actions[1] == "" and actions[0] in infos[0]["admissible_actions"]
    assert agent.stats["actions"] == 1


def test_sampling_with_temperature_explores_and_is_seeded(tiny):
    model, tokenizer = tiny
    obs, infos = _batch(["sparring/Household-v0"])
    picks = [ReActAgent(model, tokenizer, temperature=5.0, seed=s).act(obs, infos)[0] for s in range(12)]
    assert len(set(picks)) > 1
    again = [ReActAgent(model, tokenizer, temperature=5.0, seed=s).act(obs, infos)[0] for s in range(12)]
    assert picks == again


def test_a_sampling_agent_draws_each_episode_from_its_own_stream(tiny):
    """An episode's sampled actions depend on the agent's seed, the task and the try, not on the
    episodes played before it or beside it (a resumed collection replays the same episodes)."""
    model, tokenizer = tiny
    short = {"max_steps": 5}

    def played(seeds, num_envs=1, samples=None, seed=3):
        """Each episode's actions, in the order of ``seeds``."""
        agent = ReActAgent(model, tokenizer, temperature=5.0, seed=seed)
        log: list[list[str]] = [[] for _ in seeds]
        run_episodes(agent, "sparring/Household-v0", seeds=seeds, num_envs=num_envs, samples=samples, env_kwargs=short,
                     on_step=lambda r: log[r.episode].append(r.action))
        return log

    alone = played([7])[0]
    assert played([2, 5, 7])[2] == alone  # after two other episodes
    assert played([2, 5, 7], num_envs=3)[2] == alone  # beside two others in a vector
    assert played([7], seed=4)[0] != alone  # another agent seed, another stream
    first, second = played([7, 7], samples=[0, 1])
    assert first == alone and second != alone  # the task's second try draws a new stream


def test_generate_mode_counts_unparseable_replies(tiny):
    model, tokenizer = tiny
    agent = ReActAgent(model, tokenizer, mode="generate", max_new_tokens=8)
    obs, infos = _batch(["sparring/Household-v0"])
    agent.act(obs, infos)
    assert agent.stats["actions"] == 1 and 0 <= agent.stats["unparseable"] <= 1


def test_bad_options_are_clear(tiny):
    model, tokenizer = tiny
    with pytest.raises(ConfigError, match="mode"):
        ReActAgent(model, tokenizer, mode="sample")
    with pytest.raises(ConfigError, match="normalization"):
        ReActAgent(model, tokenizer, normalization="mean")


def test_left_pad_positions():
    ids, mask, pos = left_pad([[5, 6, 7], [8]], 0, torch.device("cpu"))
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert pos.tolist() == [[0, 1, 2], [0, 0, 0]]


# --- end to end -------------------------------------------------------------------------------------
@pytest.mark.parametrize("env_id", NATIVE)
def test_react_agent_plays_every_native_family(tiny, env_id):
    model, tokenizer = tiny
    agent = ReActAgent(model, tokenizer, mode="score", window=2)
    results = run_episodes(agent, env_id, episodes=2, num_envs=2, env_kwargs={"max_steps": 10})
    assert len(results) == 2 and all(r.steps >= 1 for r in results)
    assert all(r.invalid_actions == 0 for r in results), "score mode only picks admissible actions"


# --- checkpoints --------------------------------------------------------------------------------------
def test_policy_value_head_and_adapter_round_trip(tiny, tmp_path):
    from sparring.agents.zoo import load_agent_model

    policy = load_agent_model("tiny")
    policy.add_lora(r=4)
    policy.add_value_head()
    with torch.no_grad():
        for name, p in policy.model.named_parameters():
            if "lora_B" in name:
                p.add_(0.05)
        policy.value_head.net[2].weight.normal_()
    path = policy.save(tmp_path / "ckpt")
    loaded = AgentModel.load(path)
    assert loaded.has_adapter and loaded.base_model == "tiny" and loaded.value_head is not None
    ids = torch.randint(0, len(tiny[1]), (2, 12))
    with torch.no_grad():
        a = policy.model(ids, output_hidden_states=True)
        b = loaded.model(ids, output_hidden_states=True)
        base = tiny[0](ids)
    assert torch.equal(a.logits, b.logits) and not torch.allclose(a.logits, base.logits)
    assert torch.equal(policy.value_head(a.hidden_states[-1]), loaded.value_head(b.hidden_states[-1]))
    # the reference policy is the same model with the adapter disabled
    with torch.no_grad(), loaded.model.disable_adapter():
        assert torch.allclose(loaded.model(ids).logits, base.logits, atol=1e-5)
    # overwriting a checkpoint is atomic and leaves no temporary directories behind
    policy.save(tmp_path / "ckpt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_tiny_model_is_deterministic_for_a_seed_and_small(tiny, tmp_path):
    from sparring.agents.zoo import build_tiny

    model, tokenizer = tiny
    assert sum(p.numel() for p in model.parameters()) <= 5_000_000
    build_tiny(tmp_path, seed=0)
    again = type(model).from_pretrained(tmp_path)
    for (n1, p1), (_, p2) in zip(model.state_dict().items(), again.state_dict().items(), strict=True):
        assert torch.equal(p1, p2), n1
    assert (tmp_path / "tokenizer.json").read_text() == (tokenizer.name_or_path and
                                                         open(f"{tokenizer.name_or_path}/tokenizer.json").read())


@pytest.mark.slow
def test_smollm2_loader_converts_once_and_plays():
    import time

    from sparring.agents.zoo import load_model

    start = time.perf_counter()
    model, tokenizer = load_model("smollm2-135m")
    first = time.perf_counter() - start
    start = time.perf_counter()
    model, tokenizer = load_model("smollm2-135m")
    assert time.perf_counter() - start < first  # the second load reads the cached safetensors
    assert model.config.model_type == "llama" and tokenizer.chat_template
    # plain weights: a config still marked GGUF-quantised makes the Trainer refuse to fine-tune it
    assert getattr(model.config, "quantization_config", None) is None
    agent = ReActAgent(model, tokenizer, mode="score")
    results = run_episodes(agent, "sparring/Household-v0", episodes=1, env_kwargs={"max_steps": 2})
    assert results[0].steps == 2 and results[0].invalid_actions == 0


def test_few_shot_prompt_shows_an_expert_example(tiny):
    model, tokenizer = tiny
    obs, infos = _batch(["sparring/Shop-v0"])
    agent = ReActAgent(model, tokenizer, few_shot=True)
    prompt = agent.prompt(0, obs[0], infos[0])
    assert "Example of a finished task:" in prompt and "Action: search[" in prompt
    assert agent.name == "react-fewshot"
