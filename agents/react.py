"""The ReAct LLM agent over any Hugging Face causal LM, batched over a vector of envs.

Two ways to act:

* ``mode="generate"`` — the model writes ``Thought: … Action: …`` (greedy, or sampled with a
  temperature) and the action is parsed tolerantly. A reply with no recognisable command is sent to
  the env as it is (the env answers it as an invalid action) and counted in ``agent.stats``.
* ``mode="score"`` — the model ranks the admissible actions by their log-probability after the
  prompt ``… Action:``; ``normalization`` is ``"sum"`` (total log-prob), ``"token"`` (mean per
  token) or ``"word"`` (total divided by the number of words), as in TWOSOME; the agent takes the
  argmax, or samples from the softmax of the normalised scores with a temperature. Each scored
  suffix ends with the end-of-turn token, so a candidate that is a prefix of another is not
  favoured.

A sampling agent draws from one random stream per episode, keyed like the random baseline's (the
agent's seed, the task, the try), so a scoring agent's picks in an episode do not depend on the
episodes played before or beside it; a generating agent seeds each batched ``generate`` call from
the streams of the episodes in the batch.

Scoring K candidates runs the prompt once, keeps its KV cache, and runs the K suffixes packed into
one more forward on that cache (see :meth:`ReActAgent.candidate_logprobs`), rather than K full
forwards. Prompts of several envs are batched with left padding, attention masks and explicit
position ids.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from sparring.agents.base import EpisodeStreams
from sparring.agents.prompting import build_messages, parse_action, render_plain
from sparring.agents.step import AgentStep
from sparring.errors import ConfigError
from sparring.trajectory import ACTION_PREFIX

MODES = ("score", "generate")
NORMALIZATIONS = ("sum", "token", "word")


@functools.cache
def _cache_argument() -> str:
    """The name of the forward argument that takes a KV cache, and of the output field that returns
    it: ``cache`` from transformers 5.24 (which deprecates ``past_key_values``), ``past_key_values``
    before."""
    import transformers

    major, minor = (int(part) for part in transformers.__version__.split(".")[:2])
    return "cache" if (major, minor) >= (5, 24) else "past_key_values"


@dataclasses.dataclass
class Scored:
    """What score mode computed for one prompt (kept for trainers and transcripts)."""

    candidates: list[str]
    logprobs: list[float]  #: total log-probability of each candidate suffix
    scores: list[float]  #: the normalised scores the choice was made from
    chosen: int  #: the candidate taken (-1 from :func:`score_candidates`, which takes none)
    value: float | None = None
    prompt_ids: list[int] | None = None  #: the prompt's tokens
    suffix_ids: list[list[int]] | None = None  #: each candidate's tokens (ending with the end-of-turn token)
    divisors: list[float] | None = None  #: what each total log-prob is divided by (the normalisation)


def score_candidates(agent: ReActAgent, prompts: Sequence[str], candidates: Sequence[Sequence[str]], *,
                     keys: Sequence[Any] | None = None, with_values: bool = False) -> list[Scored]:
    """Scores each prompt's candidate actions with ``agent``'s model: the total log-probability of each
    candidate (with the end-of-turn token) after the prompt, normalised by the agent's
    ``normalization``; higher is more likely chosen. Chooses nothing and draws nothing (``chosen`` is
    -1): the agent's :meth:`~ReActAgent.score` picks from these, the adversary queries them as a
    black box and PPO trains on them. ``keys`` name whose prompts these are (env slots: with the
    agent's prefix cache on, each key's KV cache is kept for its next prompt); ``with_values`` also
    returns the value head's estimate on each prompt."""
    prompt_ids = [agent._encode(p) for p in prompts]
    suffixes = [[agent._suffix_ids(c) for c in cands] for cands in candidates]
    logprobs, values = agent.candidate_logprobs(prompt_ids, suffixes, with_values=with_values, keys=keys)
    results = []
    for b, cands in enumerate(candidates):
        totals = [float(t) for t in logprobs[b]]
        divisors = [agent.divisor(len(s), c) for s, c in zip(suffixes[b], cands, strict=True)]
        scores = [t / d if agent.normalization != "sum" else t for t, d in zip(totals, divisors, strict=True)]
        results.append(Scored(list(cands), totals, scores, -1, None if values is None else float(values[b]),
                              prompt_ids[b], suffixes[b], divisors))
    return results


class ReActAgent:
    """A ReAct agent for any causal LM; see the module docstring."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        mode: str = "score",
        normalization: str = "token",
        window: int = 4,
        show_admissible: bool = True,
        temperature: float = 0.0,
        top_p: float = 1.0,
        top_k: int | None = None,
        max_new_tokens: int = 64,
        few_shot: bool = False,
        value_head: Any = None,
        score_chunk: int = 64,
        prefix_cache: bool | None = None,
        seed: int = 0,
        name: str | None = None,
    ) -> None:
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, got {mode!r}")
        if normalization not in NORMALIZATIONS:
            raise ConfigError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
        if temperature < 0 or not math.isfinite(temperature):
            raise ConfigError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
        if window < 0:
            raise ConfigError(f"window must be >= 0 turns, got {window}")
        self.model, self.tokenizer = model, tokenizer
        self.mode, self.normalization = mode, normalization
        self.window, self.show_admissible = window, show_admissible
        self.temperature, self.top_p, self.max_new_tokens = temperature, top_p, max_new_tokens
        #: generate mode, sampling: keep the ``top_k`` most likely tokens (0: all; None: the model's default)
        self.top_k = top_k
        self.few_shot, self.value_head, self.score_chunk = few_shot, value_head, score_chunk
        #: keep each env slot's prompt KV cache and reuse its longest common token prefix next turn
        #: (None: on when the model runs on the CPU, where rows gain nothing from being batched)
        self.prefix_cache = prefix_cache
        self._prefix: dict[Any, tuple[list[int], Any]] = {}
        self.name = name or ("react-fewshot" if few_shot else "react")
        self.rng = random.Random(seed)  #: draws for calls outside an episode (``score`` called directly)
        self.episodes = EpisodeStreams(seed)  #: one stream per episode played through ``act``
        #: prompt_tokens: tokens of every prompt; forward_tokens: those the model actually ran (the rest
        #: came from the prefix cache)
        self.stats = {"actions": 0, "unparseable": 0, "prompt_tokens": 0, "forward_tokens": 0}
        self.last: list[Scored | None] = []
        #: the record of each env's last turn (None for idle envs), made by ``act``
        self.last_steps: list[AgentStep | None] = []
        self._slots: dict[int, dict[str, Any]] = {}
        self._examples: dict[str, list[AgentStep]] = {}
        self._generated: list[list[int]] = []  #: the last generate() call's reply tokens, up to end of turn
        self._generated_prompts: list[list[int]] = []
        self._end = tokenizer.eos_token if tokenizer.chat_template else "\n"

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # ----------------------------------------------------------------------------------------------
    # The agent interface
    # ----------------------------------------------------------------------------------------------
    def act(self, observations: Sequence[str | None], infos: Sequence[Mapping[str, Any] | None]) -> list[str]:
        active = [i for i, info in enumerate(infos) if info is not None]
        actions = [""] * len(infos)
        self.last = [None] * len(infos)
        self.last_steps = [None] * len(infos)
        if not active:
            return actions
        prompts = [self.prompt(i, observations[i], infos[i]) for i in active]
        if self.mode == "score":
            candidate_lists = [list(infos[i]["admissible_actions"]) or ["look"] for i in active]
            scored = self.score(prompts, candidate_lists, rngs=[self._slots[i]["rng"] for i in active], keys=active)
            for slot, result in zip(active, scored, strict=True):
                self.last[slot] = result
                step = self._record(slot, result.candidates[result.chosen], "")
                step.candidates, step.scores, step.logprobs = result.candidates, result.scores, result.logprobs
                step.chosen, step.value, step.prompt_ids = result.chosen, result.value, result.prompt_ids
                step.action_ids, step.divisors = result.suffix_ids, result.divisors
                step.logprob = self._choice_logprob(result.scores, result.chosen)
                actions[slot] = step.action
        else:
            self._generated = []
            replies = self.generate(prompts, rngs=[self._slots[i]["rng"] for i in active])
            for k, (slot, reply) in enumerate(zip(active, replies, strict=True)):
                action, thought = parse_action(reply)
                if action is None:
                    # the env answers it as an invalid action; its first line is enough for that
                    self.stats["unparseable"] += 1
                    action = next((line.strip() for line in reply.splitlines() if line.strip()), "")[:200]
                step = self._record(slot, action, thought)
                if len(self._generated) == len(active):  # generate() was not replaced by one that keeps no ids
                    step.prompt_ids, step.action_ids = self._generated_prompts[k], [self._generated[k]]
                actions[slot] = action
        self.stats["actions"] += len(active)
        return actions

    def _choice_logprob(self, scores: Sequence[float], chosen: int) -> float | None:
        """The log-probability of the pick under the softmax of ``scores`` at the temperature (None when
        greedy)."""
        if self.temperature == 0 or chosen < 0:
            return None
        return float(torch.log_softmax(torch.tensor(scores, dtype=torch.float64) / self.temperature, dim=0)[chosen])

    def prompt(self, slot: int, observation: str, info: Mapping[str, Any]) -> str:
        """The prompt text for env ``slot`` (also advances the slot's history)."""
        state = self._slots.get(slot)
        if info["step"] == 0 or state is None:
            state = {"history": [], "pending": None, "family": info["family"], "rng": self.episodes.new(info)}
            self._slots[slot] = state
            state["example"] = self.episode_example(slot, observation, info)
            state["reflections"] = list(self.episode_reflections(slot, info))
        elif state["pending"] is not None:
            state["history"].append(state["pending"])
        state["observation"] = observation
        messages = self.messages(info["family"], info["instruction"], state["history"], observation,
                                 info["admissible_actions"] if self.show_admissible else None,
                                 example=state.get("example"), reflections=state.get("reflections", ()))
        state["messages"] = messages
        return self.render(messages)

    def messages(self, family: str, instruction: str, history: Sequence[AgentStep], observation: str,
                 admissible: Sequence[str] | None, *, example: Sequence[AgentStep] | str | None = None,
                 reflections: Sequence[str] = ()) -> list[dict[str, str]]:
        """The chat messages of one turn (:func:`~sparring.agents.prompting.build_messages` with the
        agent's window and format); ``example`` (default: the family's worked example when the agent
        is few-shot) and ``reflections`` are the episode's (see :meth:`episode_example`)."""
        if example is None and self.few_shot:
            example = self._example(family)
        return build_messages(
            family=family, instruction=instruction, history=history, observation=observation, admissible=admissible,
            window=self.window, with_thought=self.mode == "generate", example=example, reflections=reflections,
        )

    def episode_example(self, slot: int, observation: str, info: Mapping[str, Any]) -> Sequence[AgentStep] | str | None:
        """The example shown for the whole episode that ``observation`` and ``info`` start on env
        ``slot``: None here (a few-shot agent shows its family's worked example); a memory agent
        retrieves one per episode."""
        return None

    def episode_reflections(self, slot: int, info: Mapping[str, Any]) -> Sequence[str]:
        """Notes on earlier failed tries at the task an episode (a trial) starts: none here; a
        Reflexion agent writes them."""
        return ()

    def render(self, messages: list[dict[str, str]]) -> str:
        if self.tokenizer.chat_template:
            text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:
            text = render_plain(messages)
        return text + ACTION_PREFIX if self.mode == "score" else text

    def thought(self, slot: int) -> str:
        """The thought behind the last action of env ``slot`` (empty in score mode)."""
        state = self._slots.get(slot)
        return state["pending"].thought if state and state["pending"] else ""

    def _record(self, slot: int, action: str, thought: str) -> AgentStep:
        """Makes the record of env ``slot``'s turn (its last prompt, ``action`` and ``thought``): the
        next prompt's history shows it, and ``last_steps`` hands it to the rollout."""
        state = self._slots[slot]
        step = AgentStep(state["observation"], action, thought, messages=state.get("messages"))
        state["pending"] = step
        if slot < len(self.last_steps):
            self.last_steps[slot] = step
        return step

    def _example(self, family: str) -> list[AgentStep]:
        """A fixed worked example: the oracle on the first train task of the family (short turns)."""
        if family not in self._examples:
            from sparring.agents.baselines import _family_env

            env = _family_env(family, "train")
            obs, info = env.reset(seed=0)
            turns = []
            while len(turns) < 8:
                action = env.expert_action()
                turns.append(AgentStep(obs[:300], action, f"This brings me closer to: {info['instruction']}"))
                obs, _, terminated, truncated, info = env.step(action)
                if terminated or truncated:
                    break
            self._examples[family] = turns
        return self._examples[family]

    # ----------------------------------------------------------------------------------------------
    # Scoring admissible actions
    # ----------------------------------------------------------------------------------------------
    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _suffix_ids(self, candidate: str) -> list[int]:
        return self._encode(f" {candidate}{self._end}")

    def divisor(self, n_tokens: int, candidate: str) -> float:
        """What a candidate's total log-probability is divided by: its tokens (``token``), its words
        (``word``) or 1 (``sum``)."""
        if self.normalization == "token":
            return float(max(n_tokens, 1))
        if self.normalization == "word":
            return float(max(len(candidate.split()), 1))
        return 1.0

    def _normalise(self, total: float, n_tokens: int, candidate: str) -> float:
        return total / self.divisor(n_tokens, candidate) if self.normalization != "sum" else total

    def score(self, prompts: Sequence[str], candidates: Sequence[Sequence[str]],
              rngs: Sequence[random.Random] | None = None, keys: Sequence[Any] | None = None) -> list[Scored]:
        """Scores each prompt's candidates (:func:`score_candidates`, prefix-cached) and picks one per
        prompt; a sampling agent draws prompt ``b``'s pick from ``rngs[b]`` (each episode's stream),
        else from ``self.rng``. ``keys`` name whose prompts these are (the env slots): with the prefix
        cache on, each key's KV cache is kept for its next prompt."""
        results = score_candidates(self, prompts, candidates, keys=keys, with_values=self.value_head is not None)
        self.stats["prompt_tokens"] += sum(len(r.prompt_ids) for r in results)
        for b, result in enumerate(results):
            result.chosen = self._choose(result.scores, rngs[b] if rngs else self.rng)
        return results

    def _choose(self, scores: list[float], rng: random.Random) -> int:
        if self.temperature == 0:
            return max(range(len(scores)), key=lambda k: scores[k])
        top = max(scores)
        weights = [math.exp((s - top) / self.temperature) for s in scores]
        return rng.choices(range(len(scores)), weights=weights)[0]

    def uses_prefix_cache(self) -> bool:
        return self.device.type == "cpu" if self.prefix_cache is None else bool(self.prefix_cache)

    def clear_prefix_cache(self) -> None:
        """Forgets the kept KV caches: call it after the weights change (a trainer's update)."""
        self._prefix.clear()

    @torch.no_grad()
    def candidate_logprobs(
        self, prompt_ids: Sequence[Sequence[int]], suffix_ids: Sequence[Sequence[Sequence[int]]], *,
        with_values: bool = False, keys: Sequence[Any] | None = None,
    ) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """Total log-probability of every suffix after its prompt, and the value head's estimate on each
        prompt's last token when asked.

        One forward runs the (left-padded) prompts and keeps their KV cache. Then each prompt's
        candidates are packed side by side into one row and run in one more forward on that cache,
        with a 4D attention mask that lets a candidate's tokens see the prompt and the earlier tokens
        of the same candidate only, and position ids that restart after the prompt for each
        candidate. No copy of the cache is made; rows longer than ``score_chunk`` candidates' worth
        of tokens are split into several passes, cropping the cache back to the prompt in between.

        With ``keys`` and the prefix cache on, prompts run one at a time instead, each on the KV
        cache kept for its key: only the tokens after the longest common prefix with that key's
        last prompt are run (an episode's next prompt repeats most of the last one), then the cache
        is cropped back to the prompt and kept.
        """
        if keys is not None and self.uses_prefix_cache():
            return self._candidate_logprobs_cached(prompt_ids, suffix_ids, with_values=with_values, keys=keys)
        device = self.device
        self.stats["forward_tokens"] += sum(len(p) for p in prompt_ids)
        input_ids, attention, positions = left_pad(prompt_ids, self.tokenizer.pad_token_id, device)
        out = self.model(input_ids=input_ids, attention_mask=attention, position_ids=positions, use_cache=True,
                         output_hidden_states=with_values, logits_to_keep=1)  # only the next-token logits
        first = torch.log_softmax(out.logits[:, -1, :].float(), dim=-1)  # next-token after each prompt
        values = self.value_head(out.hidden_states[-1][:, -1, :]).squeeze(-1) if with_values else None
        cache = getattr(out, _cache_argument())
        prompt_width = input_ids.shape[1]
        lengths = attention.sum(dim=1)
        totals: list[torch.Tensor] = [torch.zeros(len(s)) for s in suffix_ids]
        todo = [list(range(len(s))) for s in suffix_ids]
        while any(todo):
            passes = [rows[: self.score_chunk] for rows in todo]
            todo = [rows[self.score_chunk:] for rows in todo]
            self._score_pass(cache, first, attention, lengths, suffix_ids, passes, totals)
            crop_cache(cache, prompt_width)
        return totals, values

    def _candidate_logprobs_cached(
        self, prompt_ids: Sequence[Sequence[int]], suffix_ids: Sequence[Sequence[Sequence[int]]], *,
        with_values: bool, keys: Sequence[Any],
    ) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        device = self.device
        totals: list[torch.Tensor] = [torch.zeros(len(s)) for s in suffix_ids]
        values = torch.zeros(len(prompt_ids), device=device) if with_values else None
        for b, (ids, key) in enumerate(zip(prompt_ids, keys, strict=True)):
            ids = list(ids)
            kept = self._prefix.pop(key, None)
            reuse = 0
            if kept is not None:
                reuse = min(common_prefix(kept[0], ids), len(ids) - 1)  # run at least the last token
            cache = None
            if reuse > 0:
                cache = kept[1]
                crop_cache(cache, reuse)
            self.stats["forward_tokens"] += len(ids) - reuse
            fresh = torch.tensor([ids[reuse:]], dtype=torch.long, device=device)
            out = self.model(input_ids=fresh, position_ids=torch.arange(reuse, len(ids), device=device)[None],
                             use_cache=True, output_hidden_states=with_values, logits_to_keep=1,
                             **({_cache_argument(): cache} if cache is not None else {}))
            first = torch.log_softmax(out.logits[:, -1, :].float(), dim=-1)
            if values is not None:
                values[b] = self.value_head(out.hidden_states[-1][:, -1, :]).squeeze(-1)[0]
            cache = getattr(out, _cache_argument())
            attention = torch.ones((1, len(ids)), dtype=torch.long, device=device)
            lengths = torch.tensor([len(ids)], device=device)
            todo = list(range(len(suffix_ids[b])))
            row_totals = [totals[b]]
            while todo:
                self._score_pass(cache, first, attention, lengths, [suffix_ids[b]], [todo[: self.score_chunk]],
                                 row_totals)
                todo = todo[self.score_chunk:]
                crop_cache(cache, len(ids))
            self._prefix[key] = (ids, cache)
        return totals, values

    def _score_pass(self, cache: Any, first: torch.Tensor, attention: torch.Tensor, lengths: torch.Tensor,
                    suffix_ids: Sequence[Sequence[Sequence[int]]], passes: list[list[int]],
                    totals: list[torch.Tensor]) -> None:
        device = self.device
        batch = len(passes)
        packed = [[tok for k in ks for tok in suffix_ids[b][k]] for b, ks in enumerate(passes)]
        width = max(1, max(len(p) for p in packed))
        tokens = torch.full((batch, width), self.tokenizer.pad_token_id, dtype=torch.long, device=device)
        segment = torch.full((batch, width), -1, dtype=torch.long, device=device)
        offset = torch.zeros((batch, width), dtype=torch.long, device=device)
        spans: list[list[tuple[int, int, int]]] = []
        for b, ks in enumerate(passes):
            at, row = 0, []
            for k in ks:
                t = suffix_ids[b][k]
                tokens[b, at:at + len(t)] = torch.tensor(t, device=device)
                segment[b, at:at + len(t)] = k
                offset[b, at:at + len(t)] = torch.arange(len(t), device=device)
                row.append((k, at, len(t)))
                at += len(t)
            spans.append(row)
        causal = torch.ones((width, width), dtype=torch.bool, device=device).tril()
        same = (segment[:, :, None] == segment[:, None, :]) & (segment[:, :, None] >= 0) & causal
        sees_prompt = attention.bool()[:, None, :].expand(batch, width, attention.shape[1])
        allowed = torch.cat([sees_prompt, same], dim=2)[:, None]  # [batch, 1, query, prompt + packed]
        dtype = first.dtype if self.model.dtype is None else self.model.dtype
        mask = torch.zeros(allowed.shape, dtype=dtype, device=device).masked_fill(~allowed, torch.finfo(dtype).min)
        logits = self.model(input_ids=tokens, attention_mask=mask, position_ids=lengths[:, None] + offset,
                            use_cache=True, **{_cache_argument(): cache}).logits.float()
        logp = torch.log_softmax(logits, dim=-1)
        for b, row in enumerate(spans):
            for k, at, n in row:
                t = suffix_ids[b][k]
                total = first[b, t[0]]
                if n > 1:
                    total = total + logp[b, torch.arange(at, at + n - 1, device=device),
                                         torch.tensor(t[1:], device=device)].sum()
                totals[b][k] = total.cpu()

    @torch.no_grad()
    def candidate_logprobs_naive(self, prompt_ids: Sequence[Sequence[int]],
                                 suffix_ids: Sequence[Sequence[Sequence[int]]], *,
                                 batch_size: int = 1) -> list[torch.Tensor]:
        """The same quantity with a full forward over every (prompt + suffix) sequence, in batches of
        ``batch_size`` right-padded sequences: the reference the cached path is tested and benchmarked
        against (each candidate pays for the whole prompt again)."""
        device = self.device
        rows = [(b, k) for b in range(len(prompt_ids)) for k in range(len(suffix_ids[b]))]
        totals = [torch.zeros(len(s)) for s in suffix_ids]
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            sequences = [list(prompt_ids[b]) + list(suffix_ids[b][k]) for b, k in chunk]
            width = max(len(s) for s in sequences)
            ids = torch.full((len(chunk), width), self.tokenizer.pad_token_id, dtype=torch.long, device=device)
            mask = torch.zeros_like(ids)
            for r, seq in enumerate(sequences):
                ids[r, : len(seq)] = torch.tensor(seq, device=device)
                mask[r, : len(seq)] = 1
            logp = torch.log_softmax(self.model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
            for r, (b, k) in enumerate(chunk):
                start_at, suffix = len(prompt_ids[b]), suffix_ids[b][k]
                positions = torch.arange(start_at - 1, start_at - 1 + len(suffix), device=device)
                totals[b][k] = logp[r, positions, torch.tensor(suffix, device=device)].sum().cpu()
        return totals

    # ----------------------------------------------------------------------------------------------
    # Generating
    # ----------------------------------------------------------------------------------------------
    def seed_sampling(self, rngs: Sequence[random.Random] | None) -> None:
        """Seeds torch's global generator, which ``model.generate`` samples from, with one draw from
        each prompt's stream: the same episodes batched together sample the same tokens."""
        draws = [rng.randrange(2**31) for rng in rngs] if rngs else [self.rng.randrange(2**31)]
        torch.manual_seed(random.Random("/".join(map(str, draws))).randrange(2**31))

    @torch.no_grad()
    def generate(self, prompts: Sequence[str], rngs: Sequence[random.Random] | None = None, *,
                 max_new_tokens: int | None = None, greedy: bool = False) -> list[str]:
        """The model's replies to a batch of prompts (left-padded, stopping at end of turn); a
        sampling agent seeds the draw from ``rngs`` (one stream per prompt), else from ``self.rng``.
        ``max_new_tokens`` (default the agent's) and ``greedy`` override the agent's settings."""
        prompt_ids = [self._encode(p) for p in prompts]
        self.stats["prompt_tokens"] += sum(len(p) for p in prompt_ids)
        input_ids, attention, _ = left_pad(prompt_ids, self.tokenizer.pad_token_id, self.device)
        sample = self.temperature > 0 and not greedy
        kwargs: dict[str, Any] = {"do_sample": sample}
        if sample:
            kwargs.update(temperature=self.temperature, top_p=self.top_p)
            if self.top_k is not None:
                kwargs["top_k"] = self.top_k
            self.seed_sampling(rngs)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        out = self.model.generate(
            input_ids=input_ids, attention_mask=attention,
            max_new_tokens=self.max_new_tokens if max_new_tokens is None else max_new_tokens,
            pad_token_id=self.tokenizer.pad_token_id, eos_token_id=self.tokenizer.eos_token_id, **kwargs,
        )
        # each reply's tokens up to its end-of-turn token (the rest is padding), kept for the turn's record
        eos = self.tokenizer.eos_token_id
        self._generated = [row[: row.index(eos) + 1] if eos in row else row
                           for row in out[:, input_ids.shape[1]:].tolist()]
        self._generated_prompts = prompt_ids
        return self.tokenizer.batch_decode(out[:, input_ids.shape[1]:], skip_special_tokens=True)


def crop_cache(cache: Any, length: int) -> None:
    """Cuts a KV cache back to its first ``length`` tokens (a negative count removes that many tokens
    in every transformers version; newer ones refuse a positive length)."""
    extra = cache.get_seq_length() - length
    if extra > 0:
        cache.crop(-extra)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens ``a`` and ``b`` share."""
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def left_pad(sequences: Sequence[Sequence[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """``(input_ids, attention_mask, position_ids)`` for a left-padded batch."""
    width = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long, device=device)
    attention = torch.zeros((len(sequences), width), dtype=torch.long, device=device)
    for b, s in enumerate(sequences):
        if s:
            input_ids[b, width - len(s):] = torch.tensor(list(s), dtype=torch.long, device=device)
            attention[b, width - len(s):] = 1
    positions = (attention.cumsum(dim=1) - 1).clamp(min=0)
    return input_ids, attention, positions
