"""A ReAct agent whose model runs behind an OpenAI-compatible server (vLLM, SGLang, llama.cpp's
server, TGI, a hosted API): the same prompts as :class:`~sparring.agents.react.ReActAgent` in
generate mode, sent to ``POST {base_url}/chat/completions``, the reply parsed for ``Thought:`` and
``Action:``.

    vllm serve HuggingFaceTB/SmolLM2-1.7B-Instruct --port 8000
    sparring eval --agent openai --model HuggingFaceTB/SmolLM2-1.7B-Instruct \\
        --base-url http://localhost:8000/v1 --env sparring/Household-v0 --num-envs 16
    sparring collect --agent openai --model ... --base-url ... --env ... --out self.jsonl

The envs of a vector are sent as concurrent requests (``concurrency`` at a time), so a server that
batches (vLLM, SGLang) sees them together. Only the standard library is used (no ``openai``
package). Transient failures (connection refused, timeouts, 429, 5xx) are retried with backoff; a
request the server refuses (401, 404: a wrong key or model name) fails at once with what to check.

``base_url`` defaults to ``$OPENAI_BASE_URL`` and the key to ``$OPENAI_API_KEY`` (sent as a bearer
token; none for a local server without one).
"""

from __future__ import annotations

import json
import os
import random
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sparring.agents.base import EpisodeStreams
from sparring.agents.prompting import build_messages, parse_action
from sparring.agents.step import AgentStep
from sparring.errors import ConfigError, SparringError

#: HTTP statuses worth another try: rate limits and server errors
RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class BackendError(SparringError):
    """The server could not be reached, or refused the request, after every retry."""


class OpenAIChatAgent:
    """Generate-mode ReAct through an OpenAI-compatible chat-completions endpoint; see the module
    docstring. ``model`` is the name the server serves the model under."""

    mode = "generate"

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_tokens: int = 96,
        window: int = 4,
        show_admissible: bool = True,
        concurrency: int = 16,
        timeout: float = 60.0,
        max_retries: int = 4,
        backoff: float = 0.5,
        seed: int = 0,
        name: str | None = None,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise ConfigError("the openai agent needs model: the name the server serves the model under "
                              "(GET {base_url}/models lists them)")
        base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        if not base_url:
            raise ConfigError("the openai agent needs base_url (e.g. http://localhost:8000/v1 for `vllm serve`), "
                              "or $OPENAI_BASE_URL set")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base_url must start with http:// or https://, got {base_url!r}")
        if temperature < 0:
            raise ConfigError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
        for key, value, least in (("max_tokens", max_tokens, 1), ("concurrency", concurrency, 1),
                                  ("window", window, 0), ("max_retries", max_retries, 0)):
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ConfigError(f"{key} must be an integer >= {least}, got {value!r}")
        self.model, self.base_url = model, base_url.rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.temperature, self.top_p, self.max_tokens = float(temperature), float(top_p), max_tokens
        self.window, self.show_admissible = window, show_admissible
        self.concurrency, self.timeout, self.max_retries, self.backoff = concurrency, timeout, max_retries, backoff
        self.name = name or f"openai:{model}"
        self.episodes = EpisodeStreams(seed)
        self.stats = {"actions": 0, "unparseable": 0, "requests": 0, "retries": 0, "prompt_tokens": 0,
                      "completion_tokens": 0}
        self._slots: dict[int, dict[str, Any]] = {}
        self._pool: ThreadPoolExecutor | None = None

    # ----------------------------------------------------------------------------------------------
    # The agent interface
    # ----------------------------------------------------------------------------------------------
    def act(self, observations: Sequence[str | None], infos: Sequence[Mapping[str, Any] | None]) -> list[str]:
        active = [i for i, info in enumerate(infos) if info is not None]
        actions = [""] * len(infos)
        #: this call's record of each turn (None for idle entries), read by the rollout loop
        self.last_steps: list[AgentStep | None] = [None] * len(infos)
        if not active:
            return actions
        requests = [self._request(i, observations[i] or "", infos[i]) for i in active]
        if len(requests) == 1:
            replies = [self._complete(requests[0])]
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="sparring-openai")
            replies = list(self._pool.map(self._complete, requests))
        for slot, reply, request in zip(active, replies, requests, strict=True):
            action, thought = parse_action(reply)
            if action is None:  # the env answers it as an invalid action
                self.stats["unparseable"] += 1
                action = next((line.strip() for line in reply.splitlines() if line.strip()), "")[:200]
            state = self._slots[slot]
            state["pending"] = AgentStep(state["observation"], action, thought, messages=request["messages"])
            self.last_steps[slot] = state["pending"]
            actions[slot] = action
        self.stats["actions"] += len(active)
        return actions

    def thought(self, slot: int) -> str:
        """The thought behind the last action of env ``slot`` (collection stores it)."""
        state = self._slots.get(slot)
        return state["pending"].thought if state and state["pending"] else ""

    def messages(self, slot: int, observation: str, info: Mapping[str, Any]) -> list[dict[str, str]]:
        """The chat of env ``slot``'s next turn (advances the slot's history, like ReActAgent.prompt)."""
        from sparring.envs.registration import family_class

        state = self._slots.get(slot)
        if info["step"] == 0 or state is None:
            state = {"history": [], "pending": None, "rng": self.episodes.new(info)}
            self._slots[slot] = state
        elif state["pending"] is not None:
            state["history"].append(state["pending"])
        state["observation"] = observation
        return build_messages(
            family=info["family"], syntax=family_class(info["family"]).syntax, instruction=info["instruction"],
            history=state["history"], observation=observation,
            admissible=info["admissible_actions"] if self.show_admissible else None, window=self.window,
            with_thought=True,
        )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    # ----------------------------------------------------------------------------------------------
    # HTTP
    # ----------------------------------------------------------------------------------------------
    def _request(self, slot: int, observation: str, info: Mapping[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": self.messages(slot, observation, info),
                                "temperature": self.temperature, "max_tokens": self.max_tokens}
        if self.top_p < 1.0:
            body["top_p"] = self.top_p
        if self.temperature > 0:  # each episode's stream seeds its samples (servers that honour seed)
            body["seed"] = self._slots[slot]["rng"].randrange(2**31)
        return body

    def _complete(self, body: dict[str, Any]) -> str:
        data = self.post("/chat/completions", body)
        try:
            reply = data["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as exc:
            raise BackendError(f"{self.base_url}/chat/completions answered without choices[0].message.content: "
                               f"{json.dumps(data)[:300]}") from exc
        usage = data.get("usage") or {}
        self.stats["prompt_tokens"] += int(usage.get("prompt_tokens") or 0)
        self.stats["completion_tokens"] += int(usage.get("completion_tokens") or 0)
        return reply

    def post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POSTs JSON to ``base_url + path`` with retries; the decoded JSON answer."""
        url = self.base_url + path
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        payload = json.dumps(body).encode()
        jitter = random.Random(len(payload))
        for attempt in range(self.max_retries + 1):
            self.stats["requests"] += 1
            request = urllib.request.Request(url, data=payload, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read().decode("utf-8"))
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode("utf-8", "replace")[:300]
                if exc.code not in RETRY_STATUSES:
                    hint = {401: "check the API key ($OPENAI_API_KEY or api_key)",
                            403: "check the API key ($OPENAI_API_KEY or api_key)",
                            404: f"check base_url (it usually ends in /v1) and the model name {self.model!r} "
                                 f"(GET {self.base_url}/models lists the served ones)"}.get(exc.code, "check the request")
                    raise BackendError(f"{url} refused the request: HTTP {exc.code} {detail!r}; {hint}") from exc
                failure = f"HTTP {exc.code} {detail!r}"
            except (urllib.error.URLError, TimeoutError, ConnectionError, json.JSONDecodeError) as exc:
                failure = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
            if attempt == self.max_retries:
                raise BackendError(f"{url} failed {self.max_retries + 1} times (last: {failure}); is the server "
                                   f"running and reachable at {self.base_url}?")
            self.stats["retries"] += 1
            time.sleep(self.backoff * 2**attempt * (0.5 + jitter.random()))
        raise AssertionError("unreachable")

    def served_models(self) -> list[str]:
        """The model names the server lists at ``GET {base_url}/models``."""
        request = urllib.request.Request(self.base_url + "/models", headers={"Authorization": f"Bearer {self.api_key}"}
                                         if self.api_key else {})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                data = json.loads(response.read().decode("utf-8"))
        except (urllib.error.URLError, TimeoutError, ConnectionError, json.JSONDecodeError) as exc:
            raise BackendError(f"could not list the models at {self.base_url}/models: {exc}") from exc
        return [m.get("id", "") for m in data.get("data", []) if isinstance(m, Mapping)]


__all__ = ["BackendError", "OpenAIChatAgent", "RETRY_STATUSES"]
