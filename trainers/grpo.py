"""GRPO and RLOO for LLM agents: critic-free policy optimisation with group baselines, on whole episodes.

Read it top to bottom, beside :mod:`sparring.trainers.ppo`, whose rollout, packed log-prob forward,
clipped surrogate, KL term and checkpoints it uses as they are. What changes is where the baseline
comes from: no value head is trained; each task is played several times and every episode is
measured against the others of its group. One iteration:

1. **Rollout in groups.** For each env id, ``tasks_per_iteration`` train tasks (fresh seeds every
   iteration) are each played ``group_size`` (G) times by the sampling ReAct agent: the same seed, the
   tries numbered ``0..G-1`` (``run_episodes(samples=...)``) so that every try draws from its own
   sampling stream. The policy is PPO's: ``mode="score"`` a softmax over the admissible actions'
   normalised log-probabilities, ``mode="generate"`` free text sampled at ``temperature``. The reward
   is the env's (any ``reward=`` source) minus ``invalid_penalty`` per rejected action.

2. **Group advantages** (:func:`group_advantages`). An episode's return R is the sum of its rewards.
   Within each group:

   * ``estimator="grpo"`` (Shao et al., 2024, DeepSeekMath): ``A = (R - mean) / (std + eps)`` with the
     group's sample standard deviation (n - 1, as TRL); ``scale_rewards=False`` drops the division
     (Dr. GRPO, Liu et al., 2025), so groups with a small spread are not blown up.
   * ``estimator="rloo"`` (Kool et al., 2019; Ahmadian et al., 2024): ``A = R - mean of the other
     G - 1 returns`` — an unbiased leave-one-out baseline.

   ``turn_credit="episode"`` gives every turn of an episode the episode's advantage.
   ``turn_credit="return_to_go"`` gives turn t its own discounted return-to-go
   ``G_t = r_t + γ r_{t+1} + …`` minus the same baseline (and over the same scale), both taken from
   the group's discounted episode returns ``G_0``: a turn is credited only with what came after it.
   With ``gamma=1`` and a reward only at the end, the two agree.

   A group whose returns are all equal carries no signal: its advantages are 0. Their share is
   logged (``zero_std_groups``); ``skip_zero_std_groups`` leaves their turns out of the update,
   where they would add only the KL term and dilute the mean over turns.

3. **Reference.** As PPO's: the LoRA adapter disabled (a checkpoint to start from becomes the frozen
   base under a fresh adapter, so the reference is the starting policy), or with ``lora=False`` a
   frozen copy of the starting model, made only when a KL term or report is asked for.

4. **Update.** ``update_epochs`` passes over the turns in shuffled minibatches of ``minibatch_size``
   turns (all processes together), each in micro-batches of ``micro_batch_size`` turns whose
   gradients accumulate: PPO's clipped surrogate on the group advantages (per action in score mode;
   per token, averaged over the action's tokens, in generate mode), minus ``ent_coef`` × entropy,
   plus ``kl_coef`` × KL(policy ‖ reference) (exact over the candidates in score mode; the k3 estimate
   summed over the action's tokens in generate mode). Gradients are clipped to ``max_grad_norm``.
   With ``update_epochs=1`` and one minibatch the ratio is 1 and the loss is the plain policy
   gradient of the group advantages, as in DeepSeekMath's ``μ = 1``.

5. **Guards, checkpoints, logs** as PPO's: a non-finite log-probability, advantage, loss or gradient
   stops training (:class:`~sparring.errors.TrainingDivergedError`) before anything of that iteration
   is saved; every ``save_every`` iterations a checkpoint holds the policy, the optimizer and the RNG
   states; ``resume=True`` continues from the last one. Seeds and sampling streams come from ``seed``
   and the iteration, so a run killed mid-iteration loses that iteration only and, resumed, reaches
   the same weights as an uninterrupted one.

The output directory::

    log.jsonl                  one record per iteration (and per evaluation)
    tensorboard/               the same, as TensorBoard events
    checkpoints/iter-000004/   policy/ (AgentModel.save), trainer_state.json + trainer_state.safetensors
    final/                     the trained policy: ``sparring eval --agent react --model OUT/final``
    summary.json               the report of the run

Several devices work as PPO's do (``torchrun --nproc_per_node 4 -m sparring.cli train grpo ...``):
each process plays whole groups (its share of the tasks), so a group's statistics never cross
processes; gradients and the logged sums are reduced over processes, and the main process writes.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparring.errors import ConfigError, TrainingDivergedError
from sparring.fileio import json_safe
from sparring.trainers import distributed
from sparring.trainers.grpo_config import ESTIMATORS, TURN_CREDITS, GRPOConfig
from sparring.trainers.ppo import (
    Decision,
    _checkpoint_iteration,
    _checkpoints,
    _diverged_message,
    _evaluate,
    _finish_run,
    _forward,
    _iteration_done,
    _length,
    _load_checkpoint,
    _restore_trainer_state,
    _short,
    _start_policy,
    hash_seed,
    parse_env_args,
    policy_loss_terms,
    reward_spec,
    rollout,
    rollout_agent,
    score_batch,
)
from sparring.trainers.run_dir import RunLog, TrainingClock, refuse_existing

if TYPE_CHECKING:
    from sparring.agents.policy import AgentModel

logger = logging.getLogger(__name__)

#: added to the group's standard deviation before dividing by it (estimator "grpo")
STD_EPS = 1e-4
#: returns closer than this count as equal: the group carries no signal
ZERO_SPREAD = 1e-9
#: the config fields a resumed run must share with the run it continues
_RESUME_FIELDS = ("model", "env_ids", "difficulty", "mode", "normalization", "lora", "lora_r", "lora_alpha",
                  "tasks_per_iteration", "group_size", "seed", "window", "show_admissible")


@dataclasses.dataclass
class GRPOReport:
    """What a GRPO / RLOO run did."""

    output_dir: str
    final: str  #: the trained policy (a sparring checkpoint)
    iterations: int  #: iterations trained in all (including those of a run this one resumed)
    env_steps: int  #: turns played in all
    episodes: int  #: episodes played in all
    resumed_from_iteration: int | None
    first: dict[str, Any]  #: the first iteration's record
    last: dict[str, Any]  #: the last iteration's record
    kl_diverging_iterations: list[int]  #: iterations whose KL to the reference passed kl_limit
    evaluations: list[dict[str, Any]] = dataclasses.field(default_factory=list)  #: the greedy evaluations
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)  #: one record per iteration

    def to_dict(self) -> dict[str, Any]:
        return json_safe(dataclasses.asdict(self))


# --------------------------------------------------------------------------------------------------
# Group advantages
# --------------------------------------------------------------------------------------------------
def returns_to_go(rewards: Sequence[float], gamma: float) -> list[float]:
    """``G_t = r_t + γ G_{t+1}`` for every turn of one episode."""
    out, running = [0.0] * len(rewards), 0.0
    for t in reversed(range(len(rewards))):
        running = rewards[t] + gamma * running
        out[t] = running
    return out


def group_advantages(rewards: Sequence[Sequence[float]], *, estimator: str = "grpo", scale_rewards: bool = True,
                     turn_credit: str = "episode", gamma: float = 1.0) -> list[list[float]]:
    """Every turn's advantage for one group: ``rewards[i][t]`` is the reward of turn ``t`` of the
    group's episode ``i`` (the same task, played ``len(rewards)`` times).

    Each turn's credited return ``c[i][t]`` is its episode's return (``turn_credit="episode"``) or its
    discounted return-to-go (``"return_to_go"``); the group's returns are those of the first turns.
    ``"grpo"``: ``A = (c - mean) / (std + STD_EPS)`` (the sample std; no division with
    ``scale_rewards=False``); ``"rloo"``: ``A = c - mean of the other episodes' returns``. A group
    whose returns are all equal gets advantage 0 everywhere.
    """
    if estimator not in ESTIMATORS:
        raise ConfigError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    if turn_credit not in TURN_CREDITS:
        raise ConfigError(f"turn_credit must be one of {TURN_CREDITS}, got {turn_credit!r}")
    n = len(rewards)
    if n < 2:
        raise ConfigError(f"expected a group of at least 2 episodes, got {n}; a group baseline needs several tries")
    if any(len(episode) == 0 for episode in rewards):
        raise ConfigError("expected at least one turn in every episode of the group, got an empty one")
    if turn_credit == "episode":
        credited = [[float(sum(episode))] * len(episode) for episode in rewards]
    else:
        credited = [returns_to_go([float(r) for r in episode], gamma) for episode in rewards]
    returns = [c[0] for c in credited]
    if max(returns) - min(returns) <= ZERO_SPREAD:  # no signal (a nan fails the test and reaches the guards)
        return [[0.0] * len(c) for c in credited]
    total = sum(returns)
    mean = total / n
    if estimator == "rloo":
        baselines, scale = [(total - r) / (n - 1) for r in returns], 1.0
    else:
        std = math.sqrt(sum((r - mean) ** 2 for r in returns) / (n - 1))
        baselines, scale = [mean] * n, (std + STD_EPS) if scale_rewards else 1.0
    return [[(c - b) / scale for c in cs] for cs, b in zip(credited, baselines, strict=True)]


def _group_std(returns: Sequence[float]) -> float:
    mean = sum(returns) / len(returns)
    return math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1))


# --------------------------------------------------------------------------------------------------
# The update
# --------------------------------------------------------------------------------------------------
def update(policy: AgentModel, optimizer: Any, parameters: Sequence[Any], decisions: Sequence[Decision],
           config: GRPOConfig, *, with_kl: bool, generator: Any, where: str, last_good: str) -> dict[str, float]:
    """``update_epochs`` passes of shuffled minibatches (the same number in every process; each
    process takes its share of a minibatch from its own turns): the clipped surrogate on the group
    advantages, the entropy bonus and the KL term, gradients summed over micro-batches and
    processes, clipped, one optimizer step per minibatch. Returns the statistics summed over all
    processes."""
    import torch

    sums = dict.fromkeys(("policy", "entropy", "kl", "turns", "approx_kl", "clipped", "units", "grad_norm",
                          "steps"), 0.0)
    count = distributed.all_reduce_sum(len(decisions))
    if not count:  # every group of the iteration carried no signal and was skipped
        return sums
    num_minibatches = max(1, math.ceil(count / config.minibatch_size))
    for epoch in range(config.update_epochs):
        order = torch.randperm(len(decisions), generator=generator).tolist()
        for m in range(num_minibatches):
            indices = order[len(order) * m // num_minibatches: len(order) * (m + 1) // num_minibatches]
            indices.sort(key=lambda i: _length(decisions[i]))  # similar lengths per micro-batch: less padding
            minibatch_turns = distributed.all_reduce_sum(len(indices))
            bad_loss = 0.0
            for at in range(0, len(indices), config.micro_batch_size):
                chunk = [decisions[i] for i in indices[at:at + config.micro_batch_size]]
                out = _forward(policy, policy.model, chunk, config, False)
                terms = policy_loss_terms(out, chunk, mode=config.mode, clip_coef=config.clip_coef, with_kl=with_kl)
                per_turn = terms["policy"] - config.ent_coef * terms["entropy"]
                if with_kl:
                    per_turn = per_turn + config.kl_coef * terms["kl"]
                loss = per_turn.sum() / minibatch_turns  # summed over processes: the minibatch mean
                if not bool(torch.isfinite(loss)):
                    bad_loss = 1.0
                    break
                loss.backward()
                for name in ("policy", "entropy") + (("kl",) if with_kl else ()):
                    sums[name] += float(terms[name].detach().sum())
                sums["turns"] += len(chunk)
                sums["clipped"] += float(terms["clipped"].sum())
                sums["approx_kl"] += float(terms["approx_kl"].sum())
                sums["units"] += terms["approx_kl"].numel()
            place = f"{where}, epoch {epoch + 1}, minibatch {m + 1}"
            if distributed.all_reduce_sum(bad_loss):  # every process stops, not only the one that saw it
                raise TrainingDivergedError(_diverged_message("loss", place, last_good))
            distributed.all_reduce_gradients(parameters)
            norm = torch.nn.utils.clip_grad_norm_(parameters, config.max_grad_norm or math.inf)
            if not bool(torch.isfinite(norm)):
                raise TrainingDivergedError(_diverged_message("gradients", place, last_good))
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            sums["grad_norm"] += float(norm)
            sums["steps"] += 1
    return {k: distributed.all_reduce_sum(v) for k, v in sums.items()}


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------
def _needs_reference(config: GRPOConfig) -> bool:
    return config.kl_coef > 0 or config.kl_limit > 0


def train_grpo(config: GRPOConfig, *,
               on_iteration: Callable[[dict[str, Any], AgentModel], None] | None = None) -> GRPOReport:
    """Trains a policy with GRPO or RLOO (see the module docstring) and returns the run's report.

    ``on_iteration(record, policy)`` is called after every iteration, once its checkpoint is written
    (the main process's record; every process calls it). Without ``config.resume`` an output
    directory that already holds checkpoints is refused rather than overwritten.
    """
    import torch
    from tqdm.auto import tqdm

    from sparring.agents.base import EpisodeStreams

    if not isinstance(config, GRPOConfig):
        raise ConfigError(f"expected a GRPOConfig, got {type(config).__name__}; call train_grpo(GRPOConfig(...))")
    output_dir = Path(config.output_dir)
    found = _checkpoints(output_dir)
    refuse_existing(output_dir, found[-1].name if found else None, config.resume)
    distributed.init()  # under accelerate launch / torchrun: one share of the tasks per process
    device = distributed.device(config.device)
    main, world, rank = distributed.is_main_process(), distributed.world_size(), distributed.rank()
    started = time.perf_counter()
    group_size = config.group_size

    # the policy, the reference, the optimizer (no value head: the baseline is the group's)
    state: dict[str, Any] | None = None
    if config.resume and found:
        policy, reference, state = _load_checkpoint(found[-1], config, device, trainer="grpo",
                                                    resume_fields=_RESUME_FIELDS,
                                                    needs_reference=_needs_reference(config))
        logger.info("resuming %s after iteration %d", output_dir, state["iteration"])
    else:
        if config.resume:
            logger.info("nothing to resume in %s; starting a new run", output_dir)
        policy, reference = _start_policy(config, device, value_head=False, needs_reference=_needs_reference(config))
    parameters = [p for p in policy.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=0.0)
    start, env_steps, episodes_done = 0, 0, 0
    history: list[dict[str, Any]] = []
    evaluations: list[dict[str, Any]] = []
    if state is not None:
        _restore_trainer_state(found[-1], optimizer, state, device)
        start, env_steps, episodes_done = state["iteration"], state["env_steps"], state["episodes"]
        history, evaluations = state["history"], state.get("evaluations", [])
    last_good = str(found[-1]) if state is not None else ""

    # logs: a resumed run first drops what the killed run logged after its last checkpoint
    emit = RunLog(output_dir, prefix="grpo", tensorboard=config.tensorboard, main=main,
                  resumed_at=start if state is not None else None, report_to=config.report_to,
                  config=config.to_dict())

    env_kwargs: dict[str, Any] = {"reward": reward_spec(config.reward), **parse_env_args(config.env_args)}
    if config.difficulty:
        env_kwargs["difficulty"] = config.difficulty
    actor = rollout_agent(policy, config, name=config.estimator)
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

    bar = tqdm(total=config.iterations, initial=start, desc=config.estimator,
               disable=None if (config.progress and main) else True, dynamic_ncols=True, leave=False)
    try:
        for iteration in range(start, config.iterations):
            t0 = time.perf_counter()
            where = f"iteration {iteration + 1}"

            # 1. rollout: this process's share of the iteration's tasks, each played group_size times
            policy.model.eval()
            if hasattr(actor, "clear_prefix_cache"):  # KV caches kept from before the last update are stale
                actor.clear_prefix_cache()
            # keyed by task and try, not by process: a task plays the same whatever the number of processes
            actor.episodes = EpisodeStreams(f"grpo/{config.seed}/{iteration}")
            groups: list[list[list[Decision]]] = []
            stats = dict.fromkeys(("episodes", "wins", "return"), 0.0)
            per_env: dict[str, dict[str, float]] = {}
            for e, env_id in enumerate(config.env_ids):
                base = (config.seed * len(config.env_ids) + e) * 1_000_003 + iteration * config.tasks_per_iteration
                tasks = list(distributed.shard(range(base, base + config.tasks_per_iteration)))
                seeds = [seed for seed in tasks for _ in range(group_size)]
                played, results = rollout(actor, env_id, seeds, num_envs=min(config.num_envs, max(len(seeds), 1)),
                                          vectorization_mode=config.vectorization_mode, env_kwargs=env_kwargs,
                                          invalid_penalty=config.invalid_penalty,
                                          samples=[k for _ in tasks for k in range(group_size)])
                groups += [played[g * group_size:(g + 1) * group_size] for g in range(len(tasks))]
                episodes_here = config.tasks_per_iteration * group_size
                wins = distributed.all_reduce_sum(sum(r.won for r in results))
                returns = distributed.all_reduce_sum(sum(r.episode_return for r in results))
                per_env[_short(env_id)] = {"success": wins / episodes_here, "return": returns / episodes_here}
                stats["wins"] += wins
                stats["return"] += returns
                stats["episodes"] += episodes_here
            decisions = [d for group in groups for episode in group for d in episode]
            rollout_seconds = distributed.all_reduce_sum(time.perf_counter() - t0) / world
            t1 = time.perf_counter()

            # 2. group advantages: every episode against the other tries of its task
            zero_groups, std_sum = 0, 0.0
            trained: list[Decision] = []
            for group in groups:
                rewards = [[d.reward for d in episode] for episode in group]
                advantages = group_advantages(rewards, estimator=config.estimator, scale_rewards=config.scale_rewards,
                                              turn_credit=config.turn_credit, gamma=config.gamma)
                for episode, values in zip(group, advantages, strict=True):
                    for d, a in zip(episode, values, strict=True):
                        d.advantage = a
                std_sum += _group_std([sum(r) for r in rewards])
                silent = all(a == 0.0 for values in advantages for a in values)
                zero_groups += silent
                if not (silent and config.skip_zero_std_groups):
                    trained += [d for episode in group for d in episode]

            if distributed.all_reduce_sum(0.0 if all(math.isfinite(d.advantage) for d in decisions) else 1.0):
                raise TrainingDivergedError(_diverged_message("advantages (rewards)", where, last_good))

            # 3. the log-probs the ratio starts from (generate mode) and the reference's
            score_batch(policy, reference, trained, config, with_kl=with_kl, with_values=False)
            sampled = [lp for d in trained for lp in d.old_logprobs]
            if distributed.all_reduce_sum(0.0 if all(math.isfinite(x) for x in sampled) else 1.0):
                raise TrainingDivergedError(_diverged_message("log-probs of the sampled actions", where, last_good))

            # 4. the update
            policy.model.train()
            generator = torch.Generator().manual_seed(hash_seed("grpo", config.seed, iteration, rank))
            total = update(policy, optimizer, parameters, trained, config, with_kl=with_kl, generator=generator,
                           where=where, last_good=last_good)
            turns_seen, units_seen = max(total["turns"], 1.0), max(total["units"], 1.0)
            kl_ref = total["kl"] / turns_seen if with_kl and total["turns"] else math.nan
            kl_diverging = bool(with_kl and config.kl_limit and kl_ref > config.kl_limit)
            if kl_diverging:
                logger.warning("iteration %d: KL to the reference is %.3f nats per action (kl_limit %.3f): the policy "
                               "is drifting from the reference; lower learning_rate or raise kl_coef",
                               iteration + 1, kl_ref, config.kl_limit)

            # 5. the record
            turns = distributed.all_reduce_sum(len(decisions))
            num_groups = distributed.all_reduce_sum(len(groups))
            env_steps += int(turns)
            episodes_done += int(stats["episodes"])
            update_seconds = distributed.all_reduce_sum(time.perf_counter() - t1) / world
            all_advantages = [d.advantage for d in decisions]
            record: dict[str, Any] = {
                "iteration": iteration + 1, "env_steps": env_steps, "episodes": episodes_done,
                "return": stats["return"] / stats["episodes"], "success": stats["wins"] / stats["episodes"],
                "trained_return": distributed.all_reduce_sum(sum(d.reward for d in decisions)) / stats["episodes"],
                "episode_length": turns / stats["episodes"],
                "invalid_rate": distributed.all_reduce_sum(sum(d.invalid for d in decisions)) / turns,
                "group_reward_std": distributed.all_reduce_sum(std_sum) / num_groups,
                "zero_std_groups": distributed.all_reduce_sum(zero_groups) / num_groups,
                "trained_turns": int(distributed.all_reduce_sum(len(trained))),
                "advantage_abs_mean": distributed.all_reduce_sum(sum(abs(a) for a in all_advantages)) / turns,
                "policy_loss": total["policy"] / turns_seen, "entropy": total["entropy"] / turns_seen,
                "kl_ref": kl_ref, "approx_kl": total["approx_kl"] / units_seen,
                "clip_frac": total["clipped"] / units_seen, "grad_norm": total["grad_norm"] / max(total["steps"], 1.0),
                "learning_rate": config.learning_rate, "optimizer_steps": int(total["steps"] / world),
                "kl_diverging": kl_diverging, "env_steps_per_second": turns / max(rollout_seconds, 1e-9),
                "rollout_seconds": rollout_seconds, "update_seconds": update_seconds,
                "iteration_seconds": rollout_seconds + update_seconds,
            }
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
                        "trainer": "grpo", "iteration": iteration + 1, "env_steps": env_steps,
                        "episodes": episodes_done, "history": history, "evaluations": evaluations,
                        "training_seconds": training_wall, "training_cpu_seconds": training_cpu,
                        "config": config.to_dict()}, config.keep_checkpoints)
                distributed.barrier()
            if main:
                emit(record)
            logger.info("iteration %d: return %.3f, success %.3f, %.0f%% zero-std groups, KL %.4f, entropy %.3f, "
                        "%.1f env steps/s", iteration + 1, record["return"], record["success"],
                        100 * record["zero_std_groups"], kl_ref, record["entropy"], record["env_steps_per_second"])
            if _iteration_done(record, policy, bar, kl_ref, on_iteration,
                               out_of_budget=last_iteration and iteration + 1 < config.iterations,
                               training_wall=training_wall, training_cpu=training_cpu):
                break
    finally:
        bar.close()
        emit.close()

    policy.model.eval()
    final = output_dir / "final"
    report = GRPOReport(
        output_dir=str(output_dir), final=str(final), iterations=len(history), env_steps=env_steps,
        episodes=episodes_done, resumed_from_iteration=start if state is not None else None,
        first=history[0] if history else {}, last=history[-1] if history else {},
        kl_diverging_iterations=[r["iteration"] for r in history if r.get("kl_diverging")],
        evaluations=evaluations, history=history,
    )
    _finish_run(policy, output_dir, report, config, started, main)
    return report


__all__ = ["ESTIMATORS", "GRPOConfig", "GRPOReport", "TURN_CREDITS", "group_advantages", "returns_to_go",
           "train_grpo", "update"]
