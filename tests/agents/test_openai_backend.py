"""The agent backend for OpenAI-compatible servers, against a small local stub server: the prompts it
sends, the replies it parses, concurrency over a vector of envs, retries and clear errors,
collection with thoughts, and a leaderboard cell."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import gymnasium as gym
import pytest

from sparring.agents import make_agent, run_episodes
from sparring.agents.openai_backend import BackendError, OpenAIChatAgent
from sparring.benchmarks.agent_specs import build_agent, parse_agent, spec_from_table, with_fingerprint
from sparring.errors import ConfigError


class Stub:
    """An OpenAI-compatible chat server that plays a fixed policy: the admissible action the env's
    expert would take is not known to it, so it picks by a rule from the listed admissible actions
    (``pick``), answering in the ReAct format. ``fail`` makes the next N requests answer 503."""

    def __init__(self, pick=lambda admissible: admissible[0], model="stub-model", key=None):
        self.pick, self.model, self.key = pick, model, key
        self.requests: list[dict] = []
        self.fail = 0
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code, data):
                body = json.dumps(data).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": stub.model, "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with stub.lock:
                    stub.requests.append({"body": body, "auth": self.headers.get("Authorization")})
                    failing = stub.fail > 0
                    stub.fail -= failing
                if failing:
                    return self._send(503, {"error": {"message": "overloaded"}})
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                if stub.key and self.headers.get("Authorization") != f"Bearer {stub.key}":
                    return self._send(401, {"error": {"message": "bad key"}})
                if body["model"] != stub.model:
                    return self._send(404, {"error": {"message": f"model {body['model']} does not exist"}})
                last = body["messages"][-1]["content"]
                admissible = last.split("Admissible actions: ")[-1].split(" | ") if "Admissible" in last else ["look"]
                reply = f"Thought: step {len(body['messages']) // 2}.\nAction: {stub.pick(admissible)}"
                self._send(200, {"id": "x", "object": "chat.completion", "model": stub.model,
                                 "choices": [{"index": 0, "message": {"role": "assistant", "content": reply},
                                              "finish_reason": "stop"}],
                                 "usage": {"prompt_tokens": len(json.dumps(body["messages"])) // 4,
                                           "completion_tokens": 9}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub():
    with Stub() as server:
        yield server


def test_it_sends_the_react_prompt_and_plays_the_parsed_action(stub):
    agent = OpenAIChatAgent("stub-model", base_url=stub.url, window=2)
    env = gym.make("sparring/Navigation-v0", difficulty="easy")
    obs, info = env.reset(seed=0)
    actions = []
    for _ in range(4):
        action = agent.act([obs], [info])[0]
        assert action == info["admissible_actions"][0]  # the stub's pick, parsed out of "Thought/Action"
        actions.append(action)
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    assert agent.thought(0).startswith("step")
    first, last = stub.requests[0]["body"], stub.requests[-1]["body"]
    assert first["model"] == "stub-model" and first["temperature"] == 0.0 and "seed" not in first
    assert first["messages"][0]["role"] == "system" and "Thought:" in first["messages"][0]["content"]
    assert first["messages"][1]["content"].startswith("Task: ")
    # the window: the system message, 2 earlier turns (user + assistant each) and the current observation
    assert len(last["messages"]) == 1 + 2 * 2 + 1
    assert last["messages"][-2]["content"] == f"Thought: step {len(stub.requests[-2]['body']['messages']) // 2}." \
                                              f"\nAction: {actions[-2]}"
    assert agent.stats["actions"] == len(actions) and agent.stats["completion_tokens"] == 9 * len(actions)


def test_a_vector_of_envs_is_sent_as_concurrent_requests_and_evaluates(stub):
    agent = make_agent("openai", model="stub-model", base_url=stub.url, concurrency=4)
    results = run_episodes(agent, "sparring/Navigation-v0", split="test", episodes=6, num_envs=3,
                           env_kwargs={"difficulty": "easy", "max_steps": 6})
    assert len(results) == 6 and all(r.steps >= 1 for r in results)
    assert len(stub.requests) == agent.stats["requests"] == sum(r.steps for r in results)


def test_transient_failures_are_retried_and_lasting_ones_fail_clearly(stub):
    agent = OpenAIChatAgent("stub-model", base_url=stub.url, backoff=0.001, max_retries=2)
    env = gym.make("sparring/Navigation-v0", difficulty="easy")
    obs, info = env.reset(seed=1)
    stub.fail = 2
    assert agent.act([obs], [info]) == [info["admissible_actions"][0]]
    assert agent.stats["retries"] == 2
    stub.fail = 3
    with pytest.raises(BackendError, match="failed 3 times .*HTTP 503.*is the server running"):
        agent.act([obs], [info])
    wrong = OpenAIChatAgent("no-such-model", base_url=stub.url, backoff=0.001)
    with pytest.raises(BackendError, match="HTTP 404.*model name 'no-such-model'"):
        wrong.act([obs], [info])
    assert wrong.stats["requests"] == 1  # a refusal is not retried
    with pytest.raises(BackendError, match="is the server running"):
        OpenAIChatAgent("m", base_url="http://127.0.0.1:9/v1", backoff=0.001, max_retries=1).act([obs], [info])
    with pytest.raises(ConfigError, match="needs base_url"):
        OpenAIChatAgent("m", base_url="")
    assert OpenAIChatAgent("m", base_url=stub.url).served_models() == ["stub-model"]


def test_the_key_is_sent_and_a_wrong_one_says_so():
    with Stub(key="sekret") as server:
        env = gym.make("sparring/Navigation-v0", difficulty="easy")
        obs, info = env.reset(seed=0)
        OpenAIChatAgent("stub-model", base_url=server.url, api_key="sekret").act([obs], [info])
        assert server.requests[-1]["auth"] == "Bearer sekret"
        with pytest.raises(BackendError, match="HTTP 401.*API key"):
            OpenAIChatAgent("stub-model", base_url=server.url, api_key="wrong").act([obs], [info])


def test_sampling_seeds_each_request_from_the_episode(stub):
    agent = OpenAIChatAgent("stub-model", base_url=stub.url, temperature=0.7)
    env = gym.make("sparring/Navigation-v0", difficulty="easy")
    obs, info = env.reset(seed=0)
    agent.act([obs], [info])
    again = OpenAIChatAgent("stub-model", base_url=stub.url, temperature=0.7)
    again.act([obs], [info])
    seeds = [r["body"]["seed"] for r in stub.requests]
    assert stub.requests[0]["body"]["temperature"] == 0.7 and seeds[0] == seeds[1]


def test_collection_through_the_server_keeps_the_thoughts(stub, tmp_path):
    from sparring.trainers.collect import collect
    from sparring.trajectory import read_episodes

    agent = OpenAIChatAgent("stub-model", base_url=stub.url)
    out = tmp_path / "self.jsonl"
    stats = collect(agent, ["sparring/Navigation-v0"], ["train"], out, episodes=3, num_envs=3,
                    env_kwargs={"difficulty": "easy", "max_steps": 5})
    episodes = read_episodes(out)
    assert stats.written == len(episodes) == 3
    steps = [step for episode in episodes for step in episode.steps]
    assert steps and all(step.thought.startswith("step") for step in steps)
    assert all(step.completion.startswith("Thought: step") and "\nAction: " in step.completion for step in steps)
    assert all(step.action == step.admissible[0] for step in steps)


def test_suites_and_the_command_line_declare_an_openai_agent(stub, monkeypatch):
    spec = spec_from_table("served", {"kind": "openai", "model": "stub-model", "base_url": stub.url,
                                      "api_key_env": "STUB_KEY", "concurrency": 2})
    assert spec == parse_agent(f"served=openai,model=stub-model,base_url={stub.url},api_key_env=STUB_KEY,concurrency=2")
    printed = with_fingerprint(spec)
    assert printed.fingerprint.startswith("openai:")
    assert printed.identity()["options"]["api_key_env"] == "STUB_KEY"  # the variable's name, never the key
    with pytest.raises(ConfigError, match="api_key_env names \\$STUB_KEY, which is not set"):
        build_agent(printed, 0)
    monkeypatch.setenv("STUB_KEY", "k")
    agent = build_agent(printed, 0)
    assert agent.api_key == "k" and agent.name == "served" and agent.concurrency == 2
    with pytest.raises(ConfigError, match="needs base_url"):
        spec_from_table("x", {"kind": "openai", "model": "m"})
    with pytest.raises(ConfigError, match="needs model"):
        spec_from_table("x", {"kind": "openai", "base_url": stub.url})


def test_a_served_model_is_ranked_on_the_leaderboard(stub, tmp_path):
    from sparring.benchmarks.leaderboard import run_leaderboard

    suite = tmp_path / "served.toml"
    suite.write_text(f"""
name = "served"
description = "A model behind an OpenAI-compatible server beside random."
envs = ["sparring/Navigation-v0"]

[evaluation]
splits = ["test"]
episodes = 3
task_seed = 0
seeds = [0]
num_envs = 3
resamples = 100
env_kwargs = {{ difficulty = "easy", max_steps = 6 }}

[agents.random]
kind = "random"

[agents.served]
kind = "openai"
model = "stub-model"
base_url = "{stub.url}"
""", encoding="utf-8")
    data = run_leaderboard(suite, None, tmp_path / "out", workers=1)
    assert {row["agent"] for row in data["leaderboard"]} == {"random", "served"}
    cell = next(c for c in data["cells"] if c["agent"] == "served")
    assert cell["agent_stats"]["actions"] >= 3 and cell["agent_stats"]["requests"] == len(stub.requests)
