"""Multi-turn PPO for LLM agents: an actor-critic on one backbone, trained on whole episodes.

Read it top to bottom, as cleanrl's ``ppo.py``: the config, the advantages (GAE over turns), the
rollout, the log-probabilities of actions, the loss, the checkpoints, the phases of an iteration
(reference pass, advantages, update), then :func:`train_ppo`, the loop. One iteration:

1. **Rollout.** The ReAct agent plays ``episodes_per_iteration`` whole episodes per env id on a
   Gymnasium vector env (train split, fresh seeds every iteration), sampling its actions.

   * ``mode="score"`` (GLAM, TWOSOME): the policy is a distribution over the *admissible actions*:
     each candidate's log-probability after the prompt ``… Action:`` is normalised (``"token"``:
     per token, ``"word"``: per word, ``"sum"``: none) and the policy is the softmax of those scores
     over the candidates at ``temperature``. The prompt runs once and its KV cache is shared by all
     candidates (:meth:`~sparring.agents.react.ReActAgent.candidate_logprobs`); the log-probability
     of the chosen action and the value come from that same forward.
   * ``mode="generate"``: the model writes ``Thought: … Action: …``, sampled from the full
     distribution at ``temperature`` (no top-k / top-p, so what is sampled is the policy that is
     trained); the action's probability is the product of its tokens' probabilities. The
     log-probabilities the ratio starts from are recomputed after the rollout by the training
     forward itself, so the first ratio is exactly 1 (generation runs another numerical path).

   The reward is the env's: whatever reward source it was made with (``reward=``: the env's
   outcome, dense ``progress``, a learned reward model, a custom function, a weighted mix), minus
   ``invalid_penalty`` for every action the env rejects. The step limit is part of the task (win
   within ``max_steps``), so a timed-out episode ends with no bootstrap value.

2. **Advantages.** The value head (an MLP on the hidden state of the prompt's last token, on the
   policy's own backbone) estimates each turn's value; :func:`gae` turns rewards and values into
   advantages and returns over the turns of each episode (``gamma``, ``gae_lambda``). Advantages are
   normalised over the whole batch (all processes).

3. **Reference.** The reference policy is the same model with its LoRA adapter disabled
   (peft's ``disable_adapter()``): no second copy of the weights. Starting from a checkpoint (an SFT
   policy), the checkpoint is frozen as the base and a fresh adapter goes on top, so the reference
   *is* the starting policy. With ``lora=False`` (full fine-tuning) the reference is an explicit
   frozen copy of the starting model, made only when a KL term is asked for.

4. **Update.** ``update_epochs`` passes over the batch in shuffled minibatches of
   ``minibatch_size`` turns (all processes together), each in micro-batches of
   ``micro_batch_size`` turns whose gradients accumulate: the clipped policy loss (per action in
   score mode; per token, averaged over the action's tokens, in generate mode), the clipped value
   loss, an entropy bonus and ``kl_coef`` × KL(policy ‖ reference) (exact over the candidates in
   score mode; the k3 estimate summed over the action's tokens in generate mode). Gradients are
   clipped to ``max_grad_norm``; the adapter and the value head have their own learning rates, both
   following ``lr_schedule``. The update stops early when the approximate KL between the policy
   before and after the update passes ``early_stop_kl``. With ``kl_target`` the KL coefficient adapts
   after every iteration (Ziegler et al., 2019). An iteration whose KL to the reference passes
   ``kl_limit`` is reported (a warning, and ``kl_diverging`` in the log).

5. **Guards, checkpoints, logs.** A non-finite score, value, advantage, loss or gradient stops
   training with :class:`~sparring.errors.TrainingDivergedError` before anything of that iteration
   is saved, so the last checkpoint on disk is the last good one. After every ``save_every``
   iterations a checkpoint holds the policy (adapter, value head, tokenizer, and the base when it is
   not a zoo model), the optimizer, the RNG states, the KL coefficient and the iteration;
   ``resume=True`` continues from the last one, so a run killed mid-iteration loses at most that
   iteration. Each iteration's seeds and sampling streams are derived from ``seed`` and the
   iteration number, so a resumed run plays the same episodes and reaches the same weights as an
   uninterrupted one.

The output directory::

    log.jsonl                  one record per iteration (and per evaluation)
    tensorboard/               the same, as TensorBoard events
    checkpoints/iter-000004/   policy/ (AgentModel.save), trainer_state.json + trainer_state.safetensors
    final/                     the trained policy: ``sparring eval --agent react --model OUT/final``
    summary.json               the report of the run

Several devices, with no code change (each process plays its share of the seeds, gradients are
summed across processes, the main process writes)::

    accelerate launch --multi_gpu --num_processes 4 -m sparring.cli train ppo --env-ids sparring/Household-v0
    torchrun --nproc_per_node 4 -m sparring.cli train ppo --env-ids sparring/Household-v0
    torchrun --nproc_per_node 2 -m sparring.cli train ppo --device cpu ...     # CPU processes (Gloo)

(``accelerate launch --cpu`` starts one process unless accelerate is configured for MPI; torchrun
starts several CPU processes as it is.)
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparring.errors import ConfigError, SparringError, TrainingDivergedError
from sparring.fileio import json_safe, write_json_atomic
from sparring.trainers import distributed
from sparring.trainers.metrics import write_curves
from sparring.trainers.ppo_config import PPOConfig
from sparring.trainers.run_dir import (
    RunLog,
    TrainingClock,
    check_resume_config,
    refuse_existing,
    save_checkpoint,
)

if TYPE_CHECKING:  # PyTorch is imported when training starts, not with the config
    import torch

    from sparring.agents.policy import AgentModel
    from sparring.agents.step import AgentStep

logger = logging.getLogger(__name__)

FORMAT = 1
STATE = "trainer_state.json"
STATE_TENSORS = "trainer_state.safetensors"
#: the config fields a resumed run must share with the run it continues
_RESUME_FIELDS = ("model", "env_ids", "difficulty", "mode", "normalization", "lora", "lora_r", "lora_alpha",
                  "episodes_per_iteration", "seed", "window", "show_admissible")


# --------------------------------------------------------------------------------------------------
# Env args and reward sources (the config itself is in ppo_config.py)
# --------------------------------------------------------------------------------------------------
def parse_env_args(items: Sequence[str]) -> dict[str, Any]:
    """``{key: value}`` from ``KEY=VALUE`` strings (JSON values where they parse, else text)."""
    from sparring.keyvalues import parse_key_values

    return parse_key_values(items, what="env args", example="max_steps=20")


def _parse_reward_item(item: str) -> tuple[str, float]:
    name, sep, raw = item.rpartition("=") if "=" in item else (item, "", "")
    if not sep:
        return item, 1.0
    try:
        weight = float(raw)
    except ValueError:
        raise ConfigError(f"expected a reward as NAME or NAME=WEIGHT, got {item!r}; e.g. progress=0.2") from None
    if not math.isfinite(weight):
        raise ConfigError(f"expected a finite reward weight, got {item!r}")
    return name, weight


def reward_spec(reward: Sequence[Any] | Mapping[str, float]) -> Any:
    """What ``gym.make(reward=...)`` gets: names stay names, a directory becomes its trained reward
    model (:class:`~sparring.trainers.reward_model.LearnedRewardModel`), anything else passes through."""
    if isinstance(reward, Mapping):
        return dict(reward)
    pairs: list[Any] = []
    for item in reward:
        if not isinstance(item, str):
            pairs.append(item)
            continue
        name, weight = _parse_reward_item(item)
        if name in ("env", "progress"):
            pairs.append((name, weight))
        elif Path(name).is_dir():
            from sparring.trainers.reward_model import LearnedRewardModel

            pairs.append((LearnedRewardModel.load(name), weight))
        else:
            raise ConfigError(f"expected a reward source 'env', 'progress' or a trained reward model's directory, "
                              f"got {name!r}; train one with `sparring train reward`")
    return pairs


@dataclasses.dataclass
class PPOReport:
    """What a PPO run did."""

    output_dir: str
    final: str  #: the trained policy (a sparring checkpoint)
    iterations: int  #: iterations trained in all (including those of a run this one resumed)
    env_steps: int  #: turns played in all
    episodes: int  #: episodes played in all
    resumed_from_iteration: int | None
    first: dict[str, Any]  #: the first iteration's record
    last: dict[str, Any]  #: the last iteration's record
    kl_diverging_iterations: list[int]  #: iterations whose KL to the reference passed kl_limit
    early_stopped_iterations: list[int]  #: iterations whose update stopped at early_stop_kl
    evaluations: list[dict[str, Any]] = dataclasses.field(default_factory=list)  #: the greedy evaluations
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)  #: one record per iteration

    def to_dict(self) -> dict[str, Any]:
        return json_safe(dataclasses.asdict(self))


# --------------------------------------------------------------------------------------------------
# Advantages
# --------------------------------------------------------------------------------------------------
def gae(rewards: Sequence[float], values: Sequence[float], dones: Sequence[bool], *, gamma: float,
        lam: float, last_value: float = 0.0) -> tuple[list[float], list[float]]:
    """Generalised advantage estimates and returns over a time-ordered sequence of turns.

    ``dones[t]`` says that the episode ends with turn ``t``: nothing after it is bootstrapped into
    it. The sequence may hold several episodes back to back; ``last_value`` is the value after the
    final turn when that turn does not end its episode. Returns ``(advantages, returns)`` with
    ``returns[t] = advantages[t] + values[t]``.
    """
    if not len(rewards) == len(values) == len(dones):
        raise ConfigError(f"expected as many rewards, values and done flags, got {len(rewards)}, {len(values)} "
                          f"and {len(dones)}")
    advantages = [0.0] * len(rewards)
    running, next_value = 0.0, float(last_value)
    for t in reversed(range(len(rewards))):
        if dones[t]:
            running, next_value = 0.0, 0.0
        delta = rewards[t] + gamma * next_value - values[t]
        running = delta + gamma * lam * running
        advantages[t] = running
        next_value = values[t]
    return advantages, [a + v for a, v in zip(advantages, values, strict=True)]


# --------------------------------------------------------------------------------------------------
# Rollout
# --------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Decision:
    """One turn as PPO trains on it."""

    prompt_ids: list[int]
    #: score mode: every candidate's tokens (each ends with the end-of-turn token); generate: the reply's
    action_ids: list[list[int]]
    chosen: int  #: which entry of action_ids was taken (0 in generate mode)
    divisors: list[float]  #: score mode: what each candidate's total log-prob is divided by (normalization)
    old_logprobs: list[float] = dataclasses.field(default_factory=list)  #: per unit: the action, or each token
    old_value: float = math.nan
    ref_logprobs: list[float] = dataclasses.field(default_factory=list)  #: score: every candidate; generate: tokens
    reward: float = 0.0
    done: bool = False
    invalid: bool = False
    advantage: float = 0.0
    ret: float = 0.0

    @classmethod
    def from_step(cls, step: AgentStep, invalid_penalty: float = 0.0) -> Decision:
        """The decision of a played turn (the rollout agent's record, with the env's answer): score mode
        (the record has candidates) trains on every candidate's tokens and starts the ratio from the
        sampled pick's log-prob; generate mode on the reply's tokens. An invalid action's reward loses
        ``invalid_penalty``."""
        if step.prompt_ids is None or step.action_ids is None:
            raise ConfigError("PPO needs turns recorded with their token ids: play them with rollout_agent()")
        if step.candidates is not None:
            decision = cls(list(step.prompt_ids), step.action_ids, step.chosen, list(step.divisors),
                           [step.logprob], step.value)
        else:
            decision = cls(list(step.prompt_ids), step.action_ids, 0, [1.0])
        decision.invalid = step.invalid
        decision.reward = step.reward - (invalid_penalty if decision.invalid else 0.0)
        decision.done = step.done
        return decision


def rollout_agent(policy: AgentModel, config: Any, *, name: str, with_value: bool = False) -> Any:
    """The ReAct agent that plays PPO's and GRPO's rollouts: sampling at the temperature from the full
    distribution (no top-k, no top-p: the policy that is trained); each turn's record
    (:class:`~sparring.agents.step.AgentStep`) keeps what :meth:`Decision.from_step` needs."""
    from sparring.agents.react import ReActAgent

    return ReActAgent(
        policy.model, policy.tokenizer, mode=config.mode, normalization=config.normalization, window=config.window,
        show_admissible=config.show_admissible, temperature=config.temperature, top_p=1.0, top_k=0,
        max_new_tokens=config.max_new_tokens, value_head=policy.value_head if with_value else None, name=name,
    )


def hash_seed(*parts: Any) -> int:
    """A 63-bit seed from its parts, the same in every process and every Python run."""
    import hashlib

    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:8], "big") >> 1


def rollout(actor: Any, env_id: str, seeds: Sequence[int], *, num_envs: int, vectorization_mode: str,
            env_kwargs: Mapping[str, Any], invalid_penalty: float,
            wrappers: Sequence[Callable[[Any], Any]] | None = None,
            samples: Sequence[int] | None = None) -> tuple[list[list[Decision]], list[Any]]:
    """Plays one episode per seed (each env wrapped in ``wrappers``, e.g. a perturbation wrapper);
    returns each episode's decisions (in turn order, the last one done) and the episode results.
    ``actor`` is a :func:`rollout_agent`. ``samples`` numbers repeated tries of one seed (GRPO's
    groups), so each try samples its own stream."""
    from sparring.agents.rollout import run_episodes

    episodes: dict[int, list[Decision]] = {}

    def on_step(step: AgentStep) -> None:
        episodes.setdefault(step.episode, []).append(Decision.from_step(step, invalid_penalty))

    if not seeds:
        return [], []
    results = run_episodes(actor, env_id, split="train", seeds=seeds, num_envs=num_envs,
                           vectorization_mode=vectorization_mode, env_kwargs=env_kwargs, on_step=on_step,
                           wrappers=wrappers, samples=samples)
    return [episodes[k] for k in sorted(episodes)], results


# --------------------------------------------------------------------------------------------------
# Log-probabilities of actions, with gradients
# --------------------------------------------------------------------------------------------------
def _backbone_and_head(model: Any) -> tuple[Any, Any, float | None]:
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    softcap = getattr(inner.config, "final_logit_softcapping", None)
    return inner.get_decoder(), inner.get_output_embeddings(), softcap


def action_logprobs(model: Any, value_head: Any, decisions: Sequence[Decision], *, mode: str, temperature: float,
                    pad_id: int, with_values: bool = True) -> dict[str, torch.Tensor]:
    """One forward over a micro-batch of turns: the log-probabilities PPO needs, and the values.

    Each row is the prompt followed by its action segments (score mode: every candidate; generate
    mode: the reply), packed side by side: a 4D attention mask lets a segment's tokens see the
    prompt and the earlier tokens of their own segment only, and position ids restart after the
    prompt for every segment, so each candidate is scored exactly as if it followed the prompt
    alone. The LM head runs only on the positions that predict action tokens.

    Returns ``units`` (the log-probability of each unit the ratio is taken on: one per turn in score
    mode, one per action token in generate mode), ``unit_turn`` (the turn of each unit), ``policy``
    (score mode: log π over each turn's candidates, padded with -inf; generate mode: the action
    tokens' log-probs, as ``units``), ``entropy`` (per turn: exact over the candidates, or the mean
    over the action's tokens of the full distribution) and ``values`` (per turn).
    """
    import torch

    device = next(model.parameters()).device
    backbone, head, softcap = _backbone_and_head(model)
    rows = [d.prompt_ids + [t for segment in d.action_ids for t in segment] for d in decisions]
    batch, width = len(rows), max(len(r) for r in rows)
    tokens = torch.full((batch, width), pad_id, dtype=torch.long)
    segment = torch.full((batch, width), -1, dtype=torch.long)  # 0: prompt, k + 1: segment k, -1: padding
    positions = torch.zeros((batch, width), dtype=torch.long)
    predictor, target, turn_of, segment_of = [], [], [], []  # per action token
    segment_base = 0
    for b, (d, row) in enumerate(zip(decisions, rows, strict=True)):
        n_prompt = len(d.prompt_ids)
        tokens[b, : len(row)] = torch.tensor(row)
        segment[b, :n_prompt] = 0
        positions[b, :n_prompt] = torch.arange(n_prompt)
        at = n_prompt
        for k, ids in enumerate(d.action_ids):
            segment[b, at:at + len(ids)] = k + 1
            positions[b, at:at + len(ids)] = n_prompt + torch.arange(len(ids))
            for j, token in enumerate(ids):
                predictor.append(b * width + (n_prompt - 1 if j == 0 else at + j - 1))
                target.append(token)
                turn_of.append(b)
                segment_of.append(segment_base + k)
            at += len(ids)
        segment_base += len(d.action_ids)
    q, k_ = segment[:, :, None], segment[:, None, :]
    causal = torch.ones((width, width), dtype=torch.bool).tril()[None]
    allowed = causal & (((k_ == 0) & (q >= 0)) | ((q == k_) & (q > 0)))
    allowed |= torch.eye(width, dtype=torch.bool)[None]  # padding rows see themselves: no empty softmax
    dtype = next(backbone.parameters()).dtype
    mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)[:, None]
    hidden = backbone(input_ids=tokens.to(device), attention_mask=mask.to(device),
                      position_ids=positions.to(device), use_cache=False).last_hidden_state
    flat = hidden.reshape(batch * width, -1)
    logits = head(flat[torch.tensor(predictor, device=device)]).float()
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    # generate mode samples tokens at the temperature; score mode scores candidates with the model's own
    # log-probs and applies the temperature to the normalised scores (the distribution it samples from)
    logp_all = torch.log_softmax(logits / temperature if mode == "generate" else logits, dim=-1)
    token_logp = logp_all.gather(1, torch.tensor(target, device=device)[:, None]).squeeze(1)
    unit_turn = torch.tensor(turn_of, device=device)
    out: dict[str, torch.Tensor] = {}
    if with_values:
        last = torch.tensor([b * width + len(d.prompt_ids) - 1 for b, d in enumerate(decisions)], device=device)
        out["values"] = value_head(flat[last]).squeeze(-1).float()
    if mode == "generate":
        counts = torch.zeros(batch, device=device).index_add_(0, unit_turn, torch.ones_like(token_logp))
        token_entropy = -(logp_all.exp() * logp_all).sum(-1)
        out.update(units=token_logp, unit_turn=unit_turn, policy=token_logp,
                   entropy=torch.zeros(batch, device=device).index_add_(0, unit_turn, token_entropy) / counts)
        return out
    # score mode: total log-prob per candidate, normalised, then a softmax over each turn's candidates
    totals = torch.zeros(segment_base, device=device).index_add_(0, torch.tensor(segment_of, device=device), token_logp)
    kmax = max(len(d.action_ids) for d in decisions)
    scores = torch.full((batch, kmax), -math.inf, device=device)
    at = 0
    for b, d in enumerate(decisions):
        n = len(d.action_ids)
        scores[b, :n] = totals[at:at + n] / torch.tensor(d.divisors, device=device) / temperature
        at += n
    policy = torch.log_softmax(scores, dim=-1)
    probs = policy.exp()
    chosen = torch.tensor([d.chosen for d in decisions], device=device)
    out.update(units=policy.gather(1, chosen[:, None]).squeeze(1), unit_turn=torch.arange(batch, device=device),
               policy=policy, entropy=-(probs * policy.masked_fill(probs == 0, 0.0)).sum(-1))
    return out


# --------------------------------------------------------------------------------------------------
# The loss
# --------------------------------------------------------------------------------------------------
def ppo_loss_terms(out: Mapping[str, torch.Tensor], decisions: Sequence[Decision], *, mode: str, clip_coef: float,
                   value_clip: float, with_kl: bool) -> dict[str, torch.Tensor]:
    """Per-turn loss terms of a micro-batch (sum them, weighted, over the minibatch):

    ``policy`` — the clipped surrogate ``max(-A·r, -A·clip(r, 1 ± ε))``, averaged over the turn's
    units; ``value`` — ``½ max((V - R)², (V_clip - R)²)`` with ``V_clip`` within ``value_clip`` of
    the rollout's value; ``entropy``; ``kl`` — KL(π ‖ π_ref) of the turn. Plus per-unit statistics:
    ``approx_kl`` (the k3 estimate of KL(π_old ‖ π), cleanrl's ``approx_kl``) and ``clipped``."""
    import torch

    terms = policy_loss_terms(out, decisions, mode=mode, clip_coef=clip_coef, with_kl=with_kl)
    device = out["units"].device
    returns = torch.tensor([d.ret for d in decisions], device=device)
    old_values = torch.tensor([d.old_value for d in decisions], device=device)
    values = out["values"]
    unclipped = (values - returns) ** 2
    if value_clip > 0:
        clipped_values = old_values + (values - old_values).clamp(-value_clip, value_clip)
        terms["value"] = 0.5 * torch.max(unclipped, (clipped_values - returns) ** 2)
    else:
        terms["value"] = 0.5 * unclipped
    return terms


def policy_loss_terms(out: Mapping[str, torch.Tensor], decisions: Sequence[Decision], *, mode: str,
                      clip_coef: float, with_kl: bool) -> dict[str, torch.Tensor]:
    """The policy's share of :func:`ppo_loss_terms` (everything but the value loss), per turn:
    ``policy``, ``entropy``, ``kl`` (with ``with_kl``), and per unit ``approx_kl`` and ``clipped``.
    The critic-free trainers (GRPO, RLOO) use it as it is."""
    import torch

    device = out["units"].device
    turns = len(decisions)
    unit_turn = out["unit_turn"]
    old = torch.tensor([lp for d in decisions for lp in d.old_logprobs], device=device)
    advantages = torch.tensor([d.advantage for d in decisions], device=device)
    log_ratio = out["units"] - old
    ratio = log_ratio.exp()
    unit_adv = advantages[unit_turn]
    surrogate = torch.max(-unit_adv * ratio, -unit_adv * ratio.clamp(1 - clip_coef, 1 + clip_coef))
    counts = torch.zeros(turns, device=device).index_add_(0, unit_turn, torch.ones_like(surrogate))
    policy_loss = torch.zeros(turns, device=device).index_add_(0, unit_turn, surrogate) / counts
    terms = {"policy": policy_loss, "entropy": out["entropy"],
             "approx_kl": ((ratio - 1) - log_ratio).detach(), "clipped": ((ratio - 1).abs() > clip_coef).float()}
    if with_kl:
        if mode == "score":
            policy = out["policy"]
            ref = torch.full_like(policy, -math.inf)
            for b, d in enumerate(decisions):
                ref[b, : len(d.ref_logprobs)] = torch.tensor(d.ref_logprobs, device=device)
            probs = policy.exp()
            diff = (policy - ref).masked_fill(probs == 0, 0.0)
            terms["kl"] = (probs * diff).sum(-1)
        else:
            ref = torch.tensor([lp for d in decisions for lp in d.ref_logprobs], device=device)
            log_r = ref - out["units"]
            k3 = log_r.exp() - 1 - log_r  # >= 0, unbiased for KL(pi || ref) on tokens sampled from pi
            terms["kl"] = torch.zeros(turns, device=device).index_add_(0, unit_turn, k3)
    return terms


def _diverged_message(name: str, where: str, last_good: str) -> str:
    kept = (f"the last good checkpoint is {last_good} (resume=True continues from it)" if last_good
            else "no checkpoint was written yet")
    return (f"expected finite {name}, got nan or inf ({where}); the update was stopped and nothing of this "
            f"iteration was saved, {kept}; lower learning_rate, keep max_grad_norm on, or check the reward source")


# --------------------------------------------------------------------------------------------------
# The policy, the reference, checkpoints
# --------------------------------------------------------------------------------------------------
def _torch_dtype(name: str | None) -> Any:
    import torch

    return None if name is None else getattr(torch, name)


def _start_policy(config: PPOConfig, device: Any, *, value_head: bool = True,
                  needs_reference: bool | None = None) -> tuple[AgentModel, Any]:
    """The policy to train (a fresh adapter, and a value head unless ``value_head=False``, on the
    starting model) and the reference (None: the adapter disabled; a frozen copy with full
    fine-tuning and a KL term; False: none). ``needs_reference`` defaults to PPO's rule."""
    import torch

    from sparring.agents.policy import is_checkpoint
    from sparring.agents.zoo import ZOO, load_agent_model

    policy = load_agent_model(config.model, trainable=True, dtype=_torch_dtype(config.dtype))
    from_checkpoint = config.model not in ZOO and is_checkpoint(config.model)
    torch.manual_seed(config.seed)  # the adapter and the head start the same in every process
    if config.lora:
        if from_checkpoint or policy.has_adapter:
            policy.freeze_as_base()  # the starting policy becomes the base: reference = adapter disabled
        policy.add_lora(r=config.lora_r, alpha=config.lora_alpha)
        reference: Any = None
    else:
        if policy.has_adapter:
            policy.freeze_as_base()
        elif from_checkpoint:
            policy.embed_base = True
        for parameter in policy.model.parameters():
            parameter.requires_grad_(True)
        needs = _needs_reference(config) if needs_reference is None else needs_reference
        reference = _frozen_copy(policy.model) if needs else False
    if value_head and policy.value_head is None:
        policy.add_value_head(config.value_head_size)
    policy.model.to(device)
    if policy.value_head is not None:
        policy.value_head.to(device)
    if reference:
        reference.to(device)
    return policy, reference


def _needs_reference(config: PPOConfig) -> bool:
    return config.kl_coef > 0 or config.kl_target > 0 or config.kl_limit > 0


def _frozen_copy(model: Any) -> Any:
    reference = copy.deepcopy(model)
    reference.eval()
    for parameter in reference.parameters():
        parameter.requires_grad_(False)
    return reference


def _checkpoints(output_dir: Path) -> list[Path]:
    folder = output_dir / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name.startswith("iter-") and (p / STATE).is_file())


def _save_checkpoint(target: Path, policy: AgentModel, optimizer: Any, state: dict[str, Any]) -> None:
    """Writes policy/, the trainer state and its tensors under a temporary name, then renames."""
    from sparring.trainers.reward_model import _optimizer_state, _rng_state

    optimizer_meta, optimizer_tensors = _optimizer_state(optimizer)
    rng_meta, rng_tensors = _rng_state()
    payload = {**state, "format": FORMAT, "optimizer": optimizer_meta, "rng": rng_meta}
    save_checkpoint(target, models={"policy": policy}, json_files={STATE: payload},
                    tensors={**optimizer_tensors, **rng_tensors}, tensors_file=STATE_TENSORS)


def _checkpoint_iteration(output_dir: Path, policy: AgentModel, optimizer: Any, state: dict[str, Any],
                          keep: int) -> str:
    """Writes the checkpoint of the iteration ``state`` ends (``checkpoints/iter-NNNNNN``), deletes all
    but the newest ``keep``, and returns its path (an on-policy trainer's step 6, main process)."""
    target = output_dir / "checkpoints" / f"iter-{state['iteration']:06d}"
    _save_checkpoint(target, policy, optimizer, state)
    for stale in _checkpoints(output_dir)[:-keep]:
        shutil.rmtree(stale, ignore_errors=True)
    return str(target)


def _iteration_done(record: dict[str, Any], policy: AgentModel, bar: Any, kl_ref: float,
                    on_iteration: Callable[[dict[str, Any], AgentModel], None] | None, *, out_of_budget: bool,
                    training_wall: float, training_cpu: float) -> bool:
    """The end of an on-policy iteration after its log line: the progress bar, the caller's
    ``on_iteration``; True when the time budget stops the run here."""
    bar.update(1)
    bar.set_postfix(success=f"{record['success']:.2f}", ret=f"{record['return']:.2f}", kl=f"{kl_ref:.3f}")
    if on_iteration is not None:
        on_iteration(record, policy)
    if out_of_budget:
        logger.info("stopping after iteration %d: the time budget is spent (%.1f min wall, %.1f min CPU)",
                    record["iteration"], training_wall / 60, training_cpu / 60)
    return out_of_budget


def _finish_run(policy: AgentModel, output_dir: Path, report: Any, config: Any, started: float, main: bool) -> None:
    """Publishes an on-policy run: final/ (the policy), summary.json (the report, the config and the
    seconds) and curves.png, then waits for every process."""
    if main:
        policy.save(output_dir / "final")
        write_json_atomic(output_dir / "summary.json", {**report.to_dict(), "config": config.to_dict(),
                                                         "seconds": time.perf_counter() - started})
        write_curves(output_dir)
    distributed.barrier()


def _load_checkpoint(path: Path, config: PPOConfig, device: Any, *, trainer: str = "ppo",
                     resume_fields: Sequence[str] = _RESUME_FIELDS,
                     needs_reference: bool | None = None) -> tuple[AgentModel, Any, dict[str, Any]]:
    """The policy, the reference and the trainer state of a checkpoint that ``trainer`` wrote (PPO's
    states carry no trainer name), refusing a config that differs in ``resume_fields``."""
    from sparring.agents.policy import AgentModel

    state = json.loads((path / STATE).read_text())
    written_by = state.get("trainer", "ppo")
    if written_by != trainer:
        raise ConfigError(f"{path} is a {written_by} checkpoint, expected a {trainer} one; resume it with "
                          f"`sparring train {written_by}`, or choose another output_dir")
    if state.get("format") != FORMAT:
        raise SparringError(f"{path} has {trainer.upper()} checkpoint format {state.get('format')}; "
                            f"this sparring reads {FORMAT}")
    check_resume_config(state["config"], config.to_dict(), resume_fields, path)
    policy = AgentModel.load(path / "policy", trainable=True, device=str(device), dtype=_torch_dtype(config.dtype))
    if not config.lora:
        for parameter in policy.model.parameters():
            parameter.requires_grad_(True)
    policy.model.train()
    reference: Any = None
    if not config.lora:  # the reference is the starting model, not the checkpoint
        reference = False
        if _needs_reference(config) if needs_reference is None else needs_reference:
            from sparring.agents.zoo import load_agent_model

            start = load_agent_model(config.model, dtype=_torch_dtype(config.dtype))
            if start.has_adapter:
                start.model = start.model.merge_and_unload()
            reference = _frozen_copy(start.model).to(device)
    return policy, reference, state


def _restore_trainer_state(path: Path, optimizer: Any, state: dict[str, Any], device: Any) -> None:
    from safetensors.torch import load_file

    from sparring.trainers.reward_model import _load_optimizer_state, _restore_rng

    tensors = load_file(path / STATE_TENSORS, device=str(device))
    _load_optimizer_state(optimizer, state["optimizer"], tensors)
    _restore_rng(state["rng"], {k: v.cpu() for k, v in tensors.items() if k.startswith("rng.")})


# --------------------------------------------------------------------------------------------------
# The phases of an iteration after the rollout
# --------------------------------------------------------------------------------------------------
def _forward(policy: AgentModel, model: Any, batch: Sequence[Decision], config: PPOConfig,
             with_values: bool) -> dict[str, torch.Tensor]:
    return action_logprobs(model, policy.value_head, batch, mode=config.mode, temperature=config.temperature,
                           pad_id=policy.tokenizer.pad_token_id, with_values=with_values)


def _length(decision: Decision) -> int:
    return len(decision.prompt_ids) + sum(len(ids) for ids in decision.action_ids)


def score_batch(policy: AgentModel, reference: Any, decisions: Sequence[Decision], config: PPOConfig, *,
                with_kl: bool, with_values: bool = True) -> None:
    """Fills in, without gradients: in generate mode the log-probs of the sampled tokens and (with
    ``with_values``) the values, by the training forward itself, so the first ratio is exactly 1; the
    reference's log-probs (the adapter disabled, or the frozen copy) when there is a KL term."""
    import torch

    by_length = sorted(decisions, key=_length)  # similar lengths side by side: less padding
    with torch.no_grad():
        for at in range(0, len(by_length), config.micro_batch_size):
            chunk = by_length[at:at + config.micro_batch_size]
            if config.mode == "generate":
                out = _forward(policy, policy.model, chunk, config, with_values)
                units, at_unit = out["units"].tolist(), 0
                values = out["values"].tolist() if with_values else [math.nan] * len(chunk)
                for d, v in zip(chunk, values, strict=True):
                    n = len(d.action_ids[0])
                    d.old_logprobs, d.old_value = units[at_unit:at_unit + n], v
                    at_unit += n
            if not with_kl:
                continue
            if reference is None:
                with policy.model.disable_adapter():
                    ref = _forward(policy, policy.model, chunk, config, False)
            else:
                ref = _forward(policy, reference, chunk, config, False)
            if config.mode == "score":
                for d, row in zip(chunk, ref["policy"].tolist(), strict=True):
                    d.ref_logprobs = row[: len(d.action_ids)]
            else:
                units, at_unit = ref["units"].tolist(), 0
                for d in chunk:
                    n = len(d.action_ids[0])
                    d.ref_logprobs = units[at_unit:at_unit + n]
                    at_unit += n


def advantages_and_returns(episodes: Sequence[Sequence[Decision]], decisions: Sequence[Decision],
                           config: PPOConfig, *, where: str, last_good: str) -> dict[str, float]:
    """GAE per episode into every decision (normalised over all processes' turns when asked); returns
    the advantages' mean and std and the value head's explained variance. Stops on non-finite
    log-probs, values or advantages."""
    import torch

    for episode in episodes:
        adv, ret = gae([d.reward for d in episode], [d.old_value for d in episode], [d.done for d in episode],
                       gamma=config.gamma, lam=config.gae_lambda)
        for d, a, r in zip(episode, adv, ret, strict=True):
            d.advantage, d.ret = a, r
    advantages = torch.tensor([d.advantage for d in decisions], dtype=torch.float64)
    sampled = torch.tensor([lp for d in decisions for lp in d.old_logprobs], dtype=torch.float64)
    bad_rollout = distributed.all_reduce_sum(0.0 if bool(torch.isfinite(sampled).all()) else 1.0)
    bad_advantages = distributed.all_reduce_sum(0.0 if bool(torch.isfinite(advantages).all()) else 1.0)
    if bad_rollout:  # every process raises, not only the one that saw it
        raise TrainingDivergedError(_diverged_message("log-probs of the sampled actions", where, last_good))
    if bad_advantages:
        raise TrainingDivergedError(_diverged_message("advantages (values or rewards)", where, last_good))
    count = distributed.all_reduce_sum(len(decisions))
    mean = distributed.all_reduce_sum(float(advantages.sum())) / count
    std = math.sqrt(distributed.all_reduce_sum(float(((advantages - mean) ** 2).sum())) / count)
    if config.normalize_advantages:
        for d in decisions:
            d.advantage = (d.advantage - mean) / (std + 1e-8)
    returns = torch.tensor([d.ret for d in decisions], dtype=torch.float64)
    residual = returns - torch.tensor([d.old_value for d in decisions], dtype=torch.float64)

    def variance(x: torch.Tensor) -> float:
        centre = distributed.all_reduce_sum(float(x.sum())) / count
        return distributed.all_reduce_sum(float(((x - centre) ** 2).sum())) / count

    returns_var = variance(returns)
    explained = 1.0 - variance(residual) / returns_var if returns_var > 0 else math.nan
    return {"advantage_mean": mean, "advantage_std": std, "explained_variance": explained}


def update(policy: AgentModel, optimizer: Any, parameters: Sequence[Any], decisions: Sequence[Decision],
           config: PPOConfig, *, kl_coef: float, with_kl: bool, generator: Any, where: str,
           last_good: str) -> tuple[dict[str, float], int | None]:
    """The PPO update: ``update_epochs`` passes of shuffled minibatches (the same number in every
    process; each process takes its share of a minibatch from its own turns), gradients summed over
    micro-batches and processes, clipped, one optimizer step per minibatch. Returns the statistics
    summed over all processes and the epoch the update stopped at (early_stop_kl), if it did."""
    import torch

    count = distributed.all_reduce_sum(len(decisions))
    num_minibatches = max(1, math.ceil(count / config.minibatch_size))
    sums = dict.fromkeys(("policy", "value", "entropy", "kl", "turns", "approx_kl", "clipped", "units",
                          "grad_norm", "steps"), 0.0)
    for epoch in range(config.update_epochs):
        order = torch.randperm(len(decisions), generator=generator).tolist()
        for m in range(num_minibatches):
            indices = order[len(order) * m // num_minibatches: len(order) * (m + 1) // num_minibatches]
            # the minibatch is random; its micro-batches group similar lengths (less padding, same gradient)
            indices.sort(key=lambda i: _length(decisions[i]))
            minibatch_turns = distributed.all_reduce_sum(len(indices))
            mb_kl = mb_units = bad_loss = 0.0
            for at in range(0, len(indices), config.micro_batch_size):
                chunk = [decisions[i] for i in indices[at:at + config.micro_batch_size]]
                out = _forward(policy, policy.model, chunk, config, True)
                terms = ppo_loss_terms(out, chunk, mode=config.mode, clip_coef=config.clip_coef,
                                       value_clip=config.value_clip, with_kl=with_kl)
                per_turn = terms["policy"] + config.vf_coef * terms["value"] - config.ent_coef * terms["entropy"]
                if with_kl:
                    per_turn = per_turn + kl_coef * terms["kl"]
                loss = per_turn.sum() / minibatch_turns  # summed over processes: the minibatch mean
                if not bool(torch.isfinite(loss)):
                    bad_loss = 1.0
                    break
                loss.backward()
                for name in ("policy", "value", "entropy") + (("kl",) if with_kl else ()):
                    sums[name] += float(terms[name].detach().sum())
                sums["turns"] += len(chunk)
                sums["clipped"] += float(terms["clipped"].sum())
                mb_kl += float(terms["approx_kl"].sum())
                mb_units += terms["approx_kl"].numel()
            place = f"{where}, epoch {epoch + 1}, minibatch {m + 1}"
            if distributed.all_reduce_sum(bad_loss):  # every process stops, not only the one that saw it
                raise TrainingDivergedError(_diverged_message("loss", place, last_good))
            distributed.all_reduce_gradients(parameters)
            grads = [p.grad for p in parameters if p.grad is not None]
            if config.max_grad_norm:
                norm = torch.nn.utils.clip_grad_norm_(parameters, config.max_grad_norm)
            else:
                # no gradient at all (every turn of the minibatch masked out) is a norm of 0, not an error
                norm = (torch.linalg.vector_norm(torch.stack([g.detach().norm() for g in grads])) if grads
                        else torch.zeros(()))
            if not bool(torch.isfinite(norm)):
                raise TrainingDivergedError(_diverged_message("gradients", place, last_good))
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            sums["grad_norm"] += float(norm)
            sums["steps"] += 1
            sums["approx_kl"] += mb_kl
            sums["units"] += mb_units
            approx_kl = distributed.all_reduce_sum(mb_kl) / max(distributed.all_reduce_sum(mb_units), 1.0)
            if config.early_stop_kl and approx_kl > config.early_stop_kl:
                return {k: distributed.all_reduce_sum(v) for k, v in sums.items()}, epoch + 1
    return {k: distributed.all_reduce_sum(v) for k, v in sums.items()}, None


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------
def _lr_factor(config: PPOConfig, iteration: int) -> float:
    """The learning-rate multiplier of an iteration (0-based)."""
    if iteration < config.warmup_iterations:
        return (iteration + 1) / (config.warmup_iterations + 1)
    span = max(config.iterations - config.warmup_iterations, 1)
    progress = (iteration - config.warmup_iterations) / span
    if config.lr_schedule == "linear":
        return 1.0 - progress
    if config.lr_schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0


def _short(env_id: str) -> str:
    return env_id.split("/")[-1]


def _evaluate(policy: AgentModel, config: PPOConfig, env_kwargs: Mapping[str, Any]) -> dict[str, float]:
    """Greedy success and return per env id on the evaluation split (seeds 0..eval_episodes-1, shared
    among processes), and their means."""
    from sparring.agents.react import ReActAgent
    from sparring.agents.rollout import run_episodes

    agent = ReActAgent(policy.model, policy.tokenizer, mode=config.mode, normalization=config.normalization,
                       window=config.window, show_admissible=config.show_admissible, temperature=0.0,
                       max_new_tokens=config.max_new_tokens)
    record: dict[str, float] = {}
    policy.model.eval()
    for env_id in config.env_ids:
        seeds = list(distributed.shard(range(config.eval_episodes)))
        results = run_episodes(agent, env_id, split=config.eval_split, seeds=seeds,
                               num_envs=min(config.num_envs, max(len(seeds), 1)),
                               vectorization_mode=config.vectorization_mode, env_kwargs=env_kwargs) if seeds else []
        wins = distributed.all_reduce_sum(sum(r.won for r in results))
        returns = distributed.all_reduce_sum(sum(r.episode_return for r in results))
        record[f"eval/{_short(env_id)}/success"] = wins / config.eval_episodes
        record[f"eval/{_short(env_id)}/return"] = returns / config.eval_episodes
    record["eval/success"] = sum(record[f"eval/{_short(e)}/success"] for e in config.env_ids) / len(config.env_ids)
    return record


def train_ppo(config: PPOConfig, *,
              on_iteration: Callable[[dict[str, Any], AgentModel], None] | None = None,
              env_wrappers: Callable[[int], Sequence[Callable[[Any], Any]]] | None = None) -> PPOReport:
    """Trains a policy with PPO (see the module docstring) and returns the run's report.

    ``on_iteration(record, policy)`` is called after every iteration, once its checkpoint is written
    (the main process's record; every process calls it). ``env_wrappers(iteration)`` gives the env
    wrappers of that iteration's perturbed episodes (e.g. ``[PerturbationWrapper.factory(...)]``, as
    the min-max trainer passes): the last ``attack_fraction`` of each env id's episodes are played
    under them, the others bare. Without ``config.resume`` an output
    directory that already holds checkpoints is refused rather than overwritten.
    """
    import torch
    from tqdm.auto import tqdm

    from sparring.agents.base import EpisodeStreams

    if not isinstance(config, PPOConfig):
        raise ConfigError(f"expected a PPOConfig, got {type(config).__name__}; call train_ppo(PPOConfig(...))")
    output_dir = Path(config.output_dir)
    found = _checkpoints(output_dir)
    refuse_existing(output_dir, found[-1].name if found else None, config.resume)
    distributed.init()  # under accelerate launch / torchrun: one share of the episodes per process
    device = distributed.device(config.device)
    main, world, rank = distributed.is_main_process(), distributed.world_size(), distributed.rank()
    started = time.perf_counter()

    # the policy, the reference, the optimizer
    state: dict[str, Any] | None = None
    if config.resume and found:
        policy, reference, state = _load_checkpoint(found[-1], config, device)
        logger.info("resuming %s after iteration %d", output_dir, state["iteration"])
    else:
        if config.resume:
            logger.info("nothing to resume in %s; starting a new run", output_dir)
        policy, reference = _start_policy(config, device)
    policy_params = [p for p in policy.model.parameters() if p.requires_grad]
    value_params = list(policy.value_head.parameters())
    parameters = policy_params + value_params
    optimizer = torch.optim.AdamW([{"params": policy_params, "lr": config.learning_rate},
                                   {"params": value_params, "lr": config.value_learning_rate}], weight_decay=0.0)
    start, env_steps, episodes_done, kl_coef = 0, 0, 0, config.kl_coef
    history: list[dict[str, Any]] = []
    evaluations: list[dict[str, Any]] = []
    if state is not None:
        _restore_trainer_state(found[-1], optimizer, state, device)
        start, env_steps, episodes_done = state["iteration"], state["env_steps"], state["episodes"]
        kl_coef, history, evaluations = state["kl_coef"], state["history"], state.get("evaluations", [])
    last_good = str(found[-1]) if state is not None else ""

    # logs: a resumed run first drops what the killed run logged after its last checkpoint
    emit = RunLog(output_dir, prefix="ppo", tensorboard=config.tensorboard, main=main,
                  resumed_at=start if state is not None else None, report_to=config.report_to,
                  config=config.to_dict())

    env_kwargs: dict[str, Any] = {"reward": reward_spec(config.reward), **parse_env_args(config.env_args)}
    if config.difficulty:
        env_kwargs["difficulty"] = config.difficulty
    actor = rollout_agent(policy, config, name="ppo", with_value=config.mode == "score")
    with_kl = _needs_reference(config) and reference is not False

    if config.eval_every and state is None:
        record = {"iteration": 0, "env_steps": 0, **_evaluate(policy, config, env_kwargs)}
        evaluations.append(record)
        if main:
            emit(record)

    # the training clocks (wall and CPU) leave the evaluations out and go on from the run a resumed one continues
    clock = TrainingClock(state)

    def evaluate_untimed() -> dict[str, float]:
        return clock.untimed(_evaluate, policy, config, env_kwargs)

    bar = tqdm(total=config.iterations, initial=start, desc="ppo", disable=None if (config.progress and main) else True,
               dynamic_ncols=True, leave=False)
    try:
        for iteration in range(start, config.iterations):
            t0 = time.perf_counter()
            factor = _lr_factor(config, iteration)
            optimizer.param_groups[0]["lr"] = config.learning_rate * factor
            optimizer.param_groups[1]["lr"] = config.value_learning_rate * factor
            where = f"iteration {iteration + 1}"

            # 1. rollout: this process's share of the iteration's seeds, on every env id
            policy.model.eval()
            if hasattr(actor, "clear_prefix_cache"):  # KV caches kept from before the last update are stale
                actor.clear_prefix_cache()
            actor.episodes = EpisodeStreams(f"ppo/{config.seed}/{iteration}/{rank}")  # draws replay on resume
            episodes: list[list[Decision]] = []
            stats = {"episodes": 0.0, "wins": 0.0, "return": 0.0, "turns": 0.0, "invalid": 0.0, "attacked": 0.0,
                     "attacked_wins": 0.0}
            wrappers = list(env_wrappers(iteration)) if env_wrappers is not None else []
            per_env: dict[str, dict[str, float]] = {}
            for e, env_id in enumerate(config.env_ids):
                base = (config.seed * len(config.env_ids) + e) * 1_000_003 + iteration * config.episodes_per_iteration
                seeds = list(distributed.shard(range(base, base + config.episodes_per_iteration)))
                attacked = int(round(len(seeds) * config.attack_fraction)) if wrappers else 0
                played, results = [], []
                for part, part_wrappers in ((seeds[:len(seeds) - attacked], None), (seeds[len(seeds) - attacked:],
                                                                                     wrappers)):
                    if not part:
                        continue
                    more, more_results = rollout(actor, env_id, part, num_envs=min(config.num_envs, len(part)),
                                                 vectorization_mode=config.vectorization_mode, env_kwargs=env_kwargs,
                                                 invalid_penalty=config.invalid_penalty, wrappers=part_wrappers)
                    played, results = played + more, results + more_results
                stats["attacked"] += distributed.all_reduce_sum(attacked)
                stats["attacked_wins"] += distributed.all_reduce_sum(sum(r.won for r in results[len(results) - attacked:]))
                episodes += played
                wins = distributed.all_reduce_sum(sum(r.won for r in results))
                returns = distributed.all_reduce_sum(sum(r.episode_return for r in results))
                per_env[_short(env_id)] = {"success": wins / config.episodes_per_iteration,
                                           "return": returns / config.episodes_per_iteration}
                stats["wins"] += wins
                stats["return"] += returns
                stats["episodes"] += config.episodes_per_iteration
            decisions = [d for episode in episodes for d in episode]
            stats["turns"] = distributed.all_reduce_sum(len(decisions))
            stats["invalid"] = distributed.all_reduce_sum(sum(d.invalid for d in decisions))
            stats["trained_return"] = distributed.all_reduce_sum(sum(d.reward for d in decisions))
            rollout_seconds = distributed.all_reduce_sum(time.perf_counter() - t0) / world
            t1 = time.perf_counter()

            # 2. the log-probs the ratio starts from (generate mode), the reference's, and the values
            score_batch(policy, reference, decisions, config, with_kl=with_kl)

            # 3. advantages: GAE over the turns of each episode, normalised over the whole batch
            advantage_stats = advantages_and_returns(episodes, decisions, config, where=where, last_good=last_good)

            # 4. the update: epochs of shuffled minibatches, micro-batches accumulating gradients
            policy.model.train()
            generator = torch.Generator().manual_seed(hash_seed(config.seed, iteration, rank))
            total, stopped_at = update(policy, optimizer, parameters, decisions, config, kl_coef=kl_coef,
                                       with_kl=with_kl, generator=generator, where=where, last_good=last_good)
            turns_seen, units_seen = max(total["turns"], 1.0), max(total["units"], 1.0)
            kl_ref = total["kl"] / turns_seen if with_kl else math.nan

            # 5. KL control and divergence report
            kl_diverging = bool(with_kl and config.kl_limit and kl_ref > config.kl_limit)
            if kl_diverging:
                logger.warning("iteration %d: KL to the reference is %.3f nats per action (kl_limit %.3f): the policy "
                               "is drifting from the reference; lower learning_rate or raise kl_coef / set kl_target",
                               iteration + 1, kl_ref, config.kl_limit)
            coef_used = kl_coef
            if config.kl_target and with_kl:
                kl_coef = max(kl_coef * (1.0 + min(max(kl_ref / config.kl_target - 1.0, -0.2), 0.2)), 1e-6)

            env_steps += int(stats["turns"])
            episodes_done += int(stats["episodes"])
            update_seconds = distributed.all_reduce_sum(time.perf_counter() - t1) / world
            record: dict[str, Any] = {
                "iteration": iteration + 1, "env_steps": env_steps, "episodes": episodes_done,
                "return": stats["return"] / stats["episodes"], "success": stats["wins"] / stats["episodes"],
                "trained_return": stats["trained_return"] / stats["episodes"],  # with the invalid-action penalty
                "episode_length": stats["turns"] / stats["episodes"], "invalid_rate": stats["invalid"] / stats["turns"],
                "policy_loss": total["policy"] / turns_seen, "value_loss": total["value"] / turns_seen,
                "entropy": total["entropy"] / turns_seen, "kl_ref": kl_ref, "kl_coef": coef_used,
                "approx_kl": total["approx_kl"] / units_seen, "clip_frac": total["clipped"] / units_seen,
                **advantage_stats,
                "grad_norm": total["grad_norm"] / max(total["steps"], 1.0),
                "learning_rate": optimizer.param_groups[0]["lr"], "optimizer_steps": int(total["steps"] / world),
                "early_stopped_epoch": stopped_at, "kl_diverging": kl_diverging,
                "env_steps_per_second": stats["turns"] / max(rollout_seconds, 1e-9),
                "rollout_seconds": rollout_seconds, "update_seconds": update_seconds,
                "iteration_seconds": rollout_seconds + update_seconds,
            }
            record["attacked_episodes"] = int(stats["attacked"])
            if stats["attacked"]:
                record["attacked_success"] = stats["attacked_wins"] / stats["attacked"]
            for name, values in per_env.items():
                record.update({f"{name}/success": values["success"], f"{name}/return": values["return"]})
            training_wall, training_cpu = clock.elapsed()
            record.update(training_seconds=training_wall, training_cpu_seconds=training_cpu)
            out_of_time = clock.out_of_time(config.max_minutes, config.max_cpu_minutes)
            # the main process's clock decides, so every process stops after the same iteration
            last_iteration = iteration + 1 == config.iterations or distributed.all_reduce_sum(
                1.0 if out_of_time and main else 0.0) > 0
            if config.eval_every and ((iteration + 1) % config.eval_every == 0 or last_iteration):
                evaluation = {"iteration": iteration + 1, "env_steps": env_steps, **evaluate_untimed()}
                evaluations.append(evaluation)
                record.update({k: v for k, v in evaluation.items() if k.startswith("eval/")})
            history.append(record)

            # 6. checkpoint, then the log (a resumed run drops the records after its checkpoint)
            if (iteration + 1) % config.save_every == 0 or last_iteration:
                if main:
                    last_good = _checkpoint_iteration(output_dir, policy, optimizer, {
                        "iteration": iteration + 1, "env_steps": env_steps, "episodes": episodes_done,
                        "kl_coef": kl_coef, "history": history, "evaluations": evaluations,
                        "training_seconds": training_wall, "training_cpu_seconds": training_cpu,
                        "config": config.to_dict()}, config.keep_checkpoints)
                distributed.barrier()
            if main:
                emit(record)
            logger.info("iteration %d: return %.3f, success %.3f, %.1f turns/episode, KL %.4f, entropy %.3f, "
                        "%.1f env steps/s", iteration + 1, record["return"], record["success"],
                        record["episode_length"], kl_ref, record["entropy"], record["env_steps_per_second"])
            if _iteration_done(record, policy, bar, kl_ref, on_iteration,
                               out_of_budget=last_iteration and iteration + 1 < config.iterations,
                               training_wall=training_wall, training_cpu=training_cpu):
                break
    finally:
        bar.close()
        emit.close()

    policy.model.eval()
    final = output_dir / "final"
    report = PPOReport(
        output_dir=str(output_dir), final=str(final), iterations=len(history), env_steps=env_steps,
        episodes=episodes_done, resumed_from_iteration=start if state is not None else None,
        first=history[0] if history else {}, last=history[-1] if history else {},
        kl_diverging_iterations=[r["iteration"] for r in history if r.get("kl_diverging")],
        early_stopped_iterations=[r["iteration"] for r in history if r.get("early_stopped_epoch")],
        evaluations=evaluations, history=history,
    )
    _finish_run(policy, output_dir, report, config, started, main)
    return report


__all__ = ["Decision", "PPOConfig", "PPOReport", "action_logprobs", "gae", "parse_env_args", "policy_loss_terms",
           "ppo_loss_terms", "reward_spec", "rollout", "rollout_agent", "train_ppo"]
