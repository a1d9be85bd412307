"""A learned reward model: will this episode be won, judged from where it stands now?

The model is a causal LM backbone (the ``tiny`` zoo model by default; any zoo name, checkpoint, path
or hub id) with a scalar head on the last token's hidden state (:class:`~sparring.agents.policy.ValueHead`
on an :class:`~sparring.agents.policy.AgentModel`), trained with binary cross-entropy on *partial*
trajectories: every prefix of every episode, labelled with whether the episode was won. A prefix is
rendered as text by :func:`render` — the last ``history_turns`` turns, the latest action and what it
led to, the instruction and the turn number — in training and in :meth:`LearnedRewardModel.score`
alike.

Episodes are split into train and held-out by *task* (env id, split, task spec), so prefixes of one
episode, or two samples of one task, never land on both sides. Training is reproducible for a seed
(shuffles are drawn from the seed and the epoch), logs to TensorBoard and to a JSON Lines file, and
writes a checkpoint after every epoch; ``resume=True`` in the config continues from the last one.
Under ``accelerate launch`` / ``torchrun`` each process takes its share of every batch and the
gradients are summed (:mod:`sparring.trainers.distributed`), so the run matches a one-process run;
the main process writes. The output directory::

    log.jsonl                       one record per logging step and per evaluation
    tensorboard/                    the same, as TensorBoard events (and to wandb / trackio with report_to)
    curves.png                      the learning curves of log.jsonl
    checkpoints/epoch-0003/         model/ (AgentModel.save), reward_model.json,
                                    trainer_state.json + trainer_state.safetensors (optimizer, RNG)
    reward_model/                   the final model: model/, reward_model.json, report.json

Every directory is written under a temporary name and renamed into place, so a killed run never
leaves a half-written checkpoint. :meth:`LearnedRewardModel.load` reads the final model or any
checkpoint and implements the :class:`~sparring.envs.rewards.RewardModel` protocol, so it plugs
into ``gym.make(id, reward=[("env", 1.0), (model, 0.5)])`` and into
:func:`~sparring.trainers.filters.min_reward_model_score`.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import logging
import math
import os
import random
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparring.envs.rewards import Transition
from sparring.errors import ConfigError, SparringError
from sparring.fileio import json_safe
from sparring.trainers import distributed
from sparring.trainers.filters import episode_transitions, task_key
from sparring.trainers.metrics import JsonlLog, write_curves
from sparring.trainers.reward_model_config import RewardModelConfig
from sparring.trainers.run_dir import (
    Trackers,
    check_resume_config,
    refuse_existing,
    save_checkpoint,
)
from sparring.trajectory import Episode

if TYPE_CHECKING:  # PyTorch is imported when a model is trained or loaded, not with the config
    import torch

    from sparring.agents.policy import AgentModel

logger = logging.getLogger(__name__)

FORMAT = 1
METADATA = "reward_model.json"
STATE = "trainer_state.json"
STATE_TENSORS = "trainer_state.safetensors"
#: the config fields a resumed run must share with the run it continues
_RESUME_FIELDS = ("base_model", "history_turns", "max_length", "valid_fraction", "seed", "lora_r", "head_size",
                  "balance_classes", "batch_size")


@dataclasses.dataclass
class RewardModelReport:
    """What a training run did and how well the model predicts success on held-out tasks."""

    model_dir: str  #: the final model (load it with LearnedRewardModel.load)
    epochs: int  #: epochs trained in all (including those of the run a resumed run continued)
    steps: int  #: optimizer steps in all
    resumed_from_epoch: int | None
    train_tasks: int
    valid_tasks: int
    train_examples: int  #: prefixes
    valid_examples: int
    train_positive_share: float  #: share of training prefixes from won episodes
    train_loss: float  #: mean loss over the last epoch
    valid_loss: float
    valid_accuracy: float  #: at probability 0.5
    valid_auc: float  #: ROC AUC (nan when the held-out tasks have one class only)
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)  #: per-epoch metrics

    def to_dict(self) -> dict[str, Any]:
        return json_safe(dataclasses.asdict(self))


# --------------------------------------------------------------------------------------------------
# The text a prefix is judged on
# --------------------------------------------------------------------------------------------------
def render(prefix: Sequence[Transition], history_turns: int) -> str:
    """The text of a partial trajectory: the last ``history_turns`` turns before the latest, the
    latest action and the observation it led to, then the instruction and the turn number.

    ``prefix`` holds the episode's transitions so far, oldest first (only the last ``history_turns +
    1`` are read). The instruction and the turn number come last so that cutting a long text from
    the left (see ``max_length``) drops the oldest turns first. The turn number is the env's
    ``info["step"]`` when the transition has it, so a prefix whose early turns were dropped still says
    how far into the episode it is."""
    if not prefix:
        raise ConfigError("expected at least one transition to render, got none")
    last = prefix[-1]
    shown = list(prefix)[-(history_turns + 1):]
    step = last.info.get("step") if last.info else None
    turn = int(step) if isinstance(step, int) and step >= len(shown) else len(prefix)
    lines = [f"({turn - len(shown)} earlier turns not shown)"] if turn > len(shown) else []
    for transition in shown:
        lines.append(f"Observation: {transition.observation}")
        lines.append(f"Action: {transition.action}")
    lines.append(f"Result: {last.next_observation}")
    lines.append(f"Task: {last.instruction}")
    lines.append(f"Turn: {turn}")
    lines.append("Success:")  # a fixed last token: the head always reads the same position
    return "\n".join(lines)


def _encode(tokenizer: Any, text: str, max_length: int) -> list[int]:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return ids[-max_length:]  # keep the end: the latest action and its result decide most


def _logits(agent: AgentModel, batch: Sequence[Sequence[int]], device: torch.device) -> torch.Tensor:
    """The head's logit for each sequence, from the last token's hidden state (left padding puts every
    sequence's last token in the last column)."""
    from sparring.agents.react import left_pad

    input_ids, attention, positions = left_pad(batch, agent.tokenizer.pad_token_id, device)
    out = agent.model(input_ids=input_ids, attention_mask=attention, position_ids=positions, use_cache=False,
                      output_hidden_states=True, logits_to_keep=1)  # the LM logits are not needed
    return agent.value_head(out.hidden_states[-1][:, -1, :]).squeeze(-1).float()


def _device(agent: AgentModel) -> torch.device:
    return next(agent.model.parameters()).device


# --------------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------------
def roc_auc(labels: Sequence[int | bool], scores: Sequence[float]) -> float:
    """ROC AUC by ranks (Mann-Whitney U), tied scores sharing their average rank; nan when only one
    class is present."""
    if len(labels) != len(scores):
        raise ConfigError(f"expected as many labels as scores, got {len(labels)} and {len(scores)}")
    positives = sum(1 for y in labels if y)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return math.nan
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        average = (i + j) / 2 + 1  # ranks are 1-based
        for k in range(i, j + 1):
            ranks[order[k]] = average
        i = j + 1
    positive_rank_sum = sum(r for r, y in zip(ranks, labels, strict=True) if y)
    return (positive_rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


# --------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class _Split:
    train: list[tuple[list[int], float]]
    valid: list[tuple[list[int], float]]
    train_tasks: int
    valid_tasks: int
    fingerprint: str  #: identifies the held-out tasks and the data, so a resume can check them


def prefix_texts(episode: Episode, history_turns: int) -> list[str]:
    """The rendered text of every prefix of an episode (one per step), as the model is trained on."""
    transitions = episode_transitions(episode)
    return [render(transitions[max(0, i - history_turns):i + 1], history_turns) for i in range(len(transitions))]


def _split(episodes: Sequence[Episode], config: RewardModelConfig, tokenizer: Any) -> _Split:
    by_task: dict[tuple[str, str, str], list[Episode]] = {}
    for episode in episodes:
        if episode.steps:
            by_task.setdefault(task_key(episode), []).append(episode)
    tasks = sorted(by_task)
    if not tasks:
        raise ConfigError("expected episodes with steps to train a reward model on, got none")
    n_valid = 0
    if config.valid_fraction > 0:
        if len(tasks) < 2:
            raise ConfigError(
                f"valid_fraction={config.valid_fraction} holds out whole tasks, but the episodes cover 1 task; "
                f"collect more tasks or set valid_fraction=0"
            )
        n_valid = min(len(tasks) - 1, max(1, round(config.valid_fraction * len(tasks))))
    shuffled = list(tasks)
    random.Random(config.seed).shuffle(shuffled)
    held_out = set(shuffled[:n_valid])
    train, valid = [], []
    digest = hashlib.sha256()
    for task in tasks:
        side = valid if task in held_out else train
        digest.update(json.dumps([list(task), task in held_out]).encode())
        for episode in by_task[task]:
            label = 1.0 if episode.won else 0.0
            digest.update(json.dumps([list(episode.key), label, len(episode.steps)]).encode())
            side.extend((_encode(tokenizer, text, config.max_length), label)
                        for text in prefix_texts(episode, config.history_turns))
    return _Split(train, valid, len(tasks) - n_valid, n_valid, digest.hexdigest()[:16])


# --------------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------------
def _write_model_dir(agent: AgentModel, config: RewardModelConfig, target: Path,
                     extra: dict[str, Any] | None = None, tensors: dict[str, torch.Tensor] | None = None) -> None:
    """Writes ``model/`` and ``reward_model.json`` (plus trainer state or a report) atomically."""
    meta = {"format": FORMAT, "base_model": config.base_model, "history_turns": config.history_turns,
            "max_length": config.max_length}
    save_checkpoint(target, models={"model": agent}, json_files={METADATA: meta, **(extra or {})}, tensors=tensors,
                    tensors_file=STATE_TENSORS)


def _optimizer_state(optimizer: torch.optim.Optimizer) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The optimizer's state as JSON plus named tensors (safetensors, never pickle)."""
    import torch

    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{name}"] = value
            else:
                scalars.setdefault(str(index), {})[name] = value
    return {"param_groups": state["param_groups"], "scalars": scalars}, tensors


def _load_optimizer_state(optimizer: torch.optim.Optimizer, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    for index, values in meta["scalars"].items():
        state.setdefault(int(index), {}).update(values)
    groups = [{**g, "betas": tuple(g["betas"])} if "betas" in g else g for g in meta["param_groups"]]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def _rng_state() -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    import torch

    version, internal, gauss = random.getstate()
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, cuda_state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = cuda_state
    return {"python": [version, list(internal), gauss]}, tensors


def _restore_rng(meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    import torch

    version, internal, gauss = meta["python"]
    random.setstate((version, tuple(internal), gauss))
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)


def _checkpoints(output_dir: Path) -> list[Path]:
    folder = output_dir / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name.startswith("epoch-") and (p / STATE).is_file())


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------
def _evaluate(agent: AgentModel, examples: Sequence[tuple[list[int], float]], batch_size: int,
              device: torch.device, pos_weight: torch.Tensor) -> dict[str, float]:
    import torch

    if not examples:
        return {"valid_loss": math.nan, "valid_accuracy": math.nan, "valid_auc": math.nan}
    agent.model.eval()
    probabilities: list[float] = []
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(examples), batch_size):
            chunk = examples[start:start + batch_size]
            logits = _logits(agent, [ids for ids, _ in chunk], device)
            labels = torch.tensor([y for _, y in chunk], device=device)
            total += float(torch.nn.functional.binary_cross_entropy_with_logits(
                logits, labels, pos_weight=pos_weight, reduction="sum"))
            probabilities += torch.sigmoid(logits).tolist()
    agent.model.train()
    labels = [int(y) for _, y in examples]
    correct = sum((p >= 0.5) == bool(y) for p, y in zip(probabilities, labels, strict=True))
    return {"valid_loss": total / len(examples), "valid_accuracy": correct / len(examples),
            "valid_auc": roc_auc(labels, probabilities)}


def train_reward_model(config: RewardModelConfig, episodes: Iterable[Episode] | None = None) -> RewardModelReport:
    """Trains a reward model on ``episodes`` (any mix of won and failed ones; default: those in the
    files ``config.data``) and returns its report.

    With ``config.resume`` the run continues from the last epoch checkpoint in ``config.output_dir``
    (the same episodes and config are expected; ``epochs`` may be raised). Without it, an output
    directory that already holds checkpoints is refused rather than overwritten.
    """
    import torch
    from tqdm.auto import tqdm

    from sparring.agents.policy import AgentModel
    from sparring.agents.zoo import load_agent_model

    if not isinstance(config, RewardModelConfig):
        raise ConfigError(f"expected a RewardModelConfig, got {type(config).__name__}; call "
                          f"train_reward_model(RewardModelConfig(...), episodes)")
    resume = config.resume
    if episodes is None:
        if not config.data:
            raise ConfigError("no episodes to learn from: pass episodes, or set data to trajectory files "
                              "(`sparring collect` writes them), e.g. --data oracle.jsonl explored.jsonl")
        from sparring.trajectory import read_episodes

        episodes = [e for path in config.data for e in read_episodes(path)]
    episodes = list(episodes)
    output_dir = Path(config.output_dir)
    found = _checkpoints(output_dir)
    refuse_existing(output_dir, found[-1].name if found else None, resume)
    distributed.init()  # under accelerate launch / torchrun: one share of every batch per process
    device = distributed.device(config.device)
    main = distributed.is_main_process()
    state: dict[str, Any] | None = None
    if resume and found:
        last = found[-1]
        state = json.loads((last / STATE).read_text())
        check_resume_config(state["config"], config.to_dict(), _RESUME_FIELDS, last)
        agent = AgentModel.load(last / "model", trainable=True, device=str(device))
        logger.info("resuming %s after epoch %d", output_dir, state["epoch"])
    else:
        if resume:
            logger.info("nothing to resume in %s; starting a new run", output_dir)
        agent = load_agent_model(config.base_model, device=str(device), trainable=True)
        if config.lora_r:
            agent.add_lora(r=config.lora_r, alpha=2 * config.lora_r)
        torch.manual_seed(config.seed)  # the head's initialisation
        agent.add_value_head(config.head_size)
    agent.model.train()

    data = _split(episodes, config, agent.tokenizer)
    if state is not None and state["data"] != data.fingerprint:
        raise ConfigError(
            f"resuming {output_dir} with other episodes than the run it continues (data fingerprint "
            f"{data.fingerprint}, the checkpoint has {state['data']}); pass the same episodes"
        )
    positives = sum(y for _, y in data.train)
    negatives = len(data.train) - positives
    if positives == 0 or negatives == 0:
        raise ConfigError(
            f"expected training prefixes of both won and failed episodes, got {int(positives)} won and "
            f"{int(negatives)} failed; add episodes of the missing kind (e.g. oracle and random agents)"
        )
    weight = negatives / positives if config.balance_classes else 1.0
    pos_weight = torch.tensor(weight, device=device)
    logger.info("reward model: %d train prefixes (%d tasks, %.0f%% won), %d held-out (%d tasks)",
                len(data.train), data.train_tasks, 100 * positives / len(data.train), len(data.valid),
                data.valid_tasks)

    parameters = [p for p in agent.model.parameters() if p.requires_grad] + list(agent.value_head.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=config.weight_decay)
    start_epoch, global_step, history = 0, 0, []
    if state is not None:
        from safetensors.torch import load_file

        tensors = load_file(found[-1] / STATE_TENSORS, device=str(device))
        _load_optimizer_state(optimizer, state["optimizer"], tensors)
        _restore_rng(state["rng"], {k: v.cpu() for k, v in tensors.items() if k.startswith("rng.")})
        start_epoch, global_step, history = state["epoch"], state["global_step"], state["history"]

    log = JsonlLog(output_dir / "log.jsonl") if main else None
    # purge_step drops the TensorBoard events a killed run logged after its last checkpoint
    trackers = Trackers(output_dir, report_to=config.report_to, tensorboard=config.tensorboard,
                        config=config.to_dict(), main=main, resume=state is not None,
                        purge_step=global_step if state else None)
    batches = (len(data.train) + config.batch_size - 1) // config.batch_size
    bar = tqdm(total=config.epochs * batches, initial=start_epoch * batches, desc="reward model",
               disable=None if (config.progress and main) else True, dynamic_ncols=True, leave=False)
    train_loss = math.nan
    try:
        for epoch in range(start_epoch, config.epochs):
            # the shuffle depends on the seed and the epoch only, so a resumed run draws the same batches
            order = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(config.seed * 100_003 + epoch))
            epoch_loss, recent = 0.0, []
            for start in range(0, len(order), config.batch_size):
                chunk = [data.train[i] for i in order[start:start + config.batch_size].tolist()]
                local = distributed.shard(chunk)  # all of it in a plain run
                loss = torch.zeros((), device=device)
                if local:
                    logits = _logits(agent, [ids for ids, _ in local], device)
                    labels = torch.tensor([y for _, y in local], device=device)
                    # summed over this process's share and divided by the whole batch: the gradients
                    # summed across processes are those of the batch's mean loss
                    loss = torch.nn.functional.binary_cross_entropy_with_logits(
                        logits, labels, pos_weight=pos_weight, reduction="sum") / len(chunk)
                    loss.backward()
                distributed.all_reduce_gradients(parameters)
                if config.max_grad_norm:
                    torch.nn.utils.clip_grad_norm_(parameters, config.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                global_step += 1
                value = distributed.all_reduce_sum(float(loss.detach()))
                epoch_loss += value * len(chunk)
                recent.append(value)
                if global_step % config.logging_steps == 0 and log is not None:
                    record = {"step": global_step, "epoch": epoch + (start + len(chunk)) / len(order),
                              "loss": sum(recent) / len(recent), "learning_rate": config.learning_rate}
                    log.write(record)
                    trackers.log({"loss": record["loss"]}, global_step, lambda name: f"train/{name}")
                    recent = []
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{value:.4f}")
            train_loss = epoch_loss / len(data.train)
            metrics = {"epoch": epoch + 1, "step": global_step, "train_loss": train_loss,
                       **_evaluate(agent, data.valid, config.batch_size, device, pos_weight)}
            history.append(metrics)
            if log is not None:
                log.write(metrics)
            if main:
                trackers.log(metrics, global_step, lambda name: name.replace("_", "/", 1), skip=("epoch", "step"))
            logger.info("epoch %d: train loss %.4f, held-out loss %.4f, accuracy %.3f, AUC %.3f", epoch + 1,
                        train_loss, metrics["valid_loss"], metrics["valid_accuracy"], metrics["valid_auc"])
            if main:
                optimizer_meta, optimizer_tensors = _optimizer_state(optimizer)
                rng_meta, rng_tensors = _rng_state()
                trainer_state = {"epoch": epoch + 1, "global_step": global_step, "history": history,
                                 "config": config.to_dict(), "data": data.fingerprint, "optimizer": optimizer_meta,
                                 "rng": rng_meta}
                _write_model_dir(agent, config, output_dir / "checkpoints" / f"epoch-{epoch + 1:04d}",
                                 extra={STATE: trainer_state}, tensors={**optimizer_tensors, **rng_tensors})
                for stale in _checkpoints(output_dir)[:-config.keep_checkpoints]:
                    shutil.rmtree(stale, ignore_errors=True)
            distributed.barrier()
    finally:
        bar.close()
        trackers.close()

    last_metrics = history[-1] if history else {}
    report = RewardModelReport(
        model_dir=str(output_dir / "reward_model"), epochs=len(history), steps=global_step,
        resumed_from_epoch=start_epoch if state is not None else None, train_tasks=data.train_tasks,
        valid_tasks=data.valid_tasks, train_examples=len(data.train), valid_examples=len(data.valid),
        train_positive_share=positives / len(data.train),
        train_loss=last_metrics.get("train_loss", train_loss),
        valid_loss=last_metrics.get("valid_loss", math.nan),
        valid_accuracy=last_metrics.get("valid_accuracy", math.nan),
        valid_auc=last_metrics.get("valid_auc", math.nan), history=history,
    )
    agent.model.eval()
    if main:
        _write_model_dir(agent, config, output_dir / "reward_model", extra={"report.json": report.to_dict()})
        write_curves(output_dir)
    distributed.barrier()
    return report


# --------------------------------------------------------------------------------------------------
# The model as a reward source
# --------------------------------------------------------------------------------------------------
def _identity(info: Any) -> tuple[Any, ...] | None:
    if not info or "task" not in info:
        return None
    return tuple(str(info.get(k)) for k in ("family", "split", "seed", "task"))


class LearnedRewardModel:
    """The trained model behind the :class:`~sparring.envs.rewards.RewardModel` protocol:
    ``score(transitions)`` returns, for each transition, the predicted probability that its episode
    will be won, judged from the prefix that ends with it.

    A transition holds one step only, so the model follows each running episode itself: a
    transition whose ``info`` names the task and step (every sparring env's does, and so do
    :func:`~sparring.trainers.filters.episode_transitions`) continues the episode whose last
    transition, one step earlier on the same task, led to its observation; step 1 starts a new one.
    Episodes are forgotten when they end (or, past ``max_open_episodes``, oldest first). Transitions
    without that identity are judged on their own. Call it with an episode's transitions in order.
    """

    def __init__(self, agent: AgentModel, *, history_turns: int = 2, max_length: int = 512, batch_size: int = 32,
                 max_open_episodes: int = 10_000) -> None:
        if agent.value_head is None:
            raise ConfigError("expected an AgentModel with a value head (the reward head), got one without; "
                              "train one with train_reward_model or call agent.add_value_head()")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.agent, self.history_turns, self.max_length = agent, history_turns, max_length
        self.batch_size, self.max_open_episodes = batch_size, max_open_episodes
        self.agent.model.eval()
        self._open: collections.OrderedDict[tuple[Any, ...], list[list[Transition]]] = collections.OrderedDict()

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str | None = None, batch_size: int = 32) -> LearnedRewardModel:
        """Loads a trained model: the final ``reward_model/`` directory, a run's ``output_dir`` (its
        final model), or an epoch checkpoint."""
        from sparring.agents.policy import AgentModel

        root = Path(path)
        if not (root / METADATA).is_file() and (root / "reward_model" / METADATA).is_file():
            root = root / "reward_model"
        try:
            meta = json.loads((root / METADATA).read_text())
        except (OSError, ValueError) as exc:
            raise SparringError(
                f"{path} is not a sparring reward model ({exc}); pass the output_dir of train_reward_model, its "
                f"reward_model/ directory or a checkpoint"
            ) from exc
        if meta.get("format") != FORMAT:
            raise SparringError(f"{root} has reward model format {meta.get('format')}; this sparring reads {FORMAT}")
        agent = AgentModel.load(root / "model", device=device)
        return cls(agent, history_turns=int(meta["history_turns"]), max_length=int(meta["max_length"]),
                   batch_size=batch_size)

    def reset(self) -> None:
        """Forgets every running episode."""
        self._open.clear()

    def _prefix(self, transition: Transition) -> list[Transition]:
        identity, step = _identity(transition.info), (transition.info or {}).get("step")
        if identity is None or not isinstance(step, int):
            return [transition]
        history: list[Transition] = []
        if step > 1:
            waiting = self._open.get((identity, step - 1, transition.observation))
            if waiting:
                history = waiting.pop(0)
                if not waiting:
                    del self._open[(identity, step - 1, transition.observation)]
        prefix = (history + [transition])[-(self.history_turns + 1):]
        if not (transition.terminated or transition.truncated):
            key = (identity, step, transition.next_observation)
            self._open.setdefault(key, []).append(prefix)
            self._open.move_to_end(key)
            while len(self._open) > self.max_open_episodes:
                self._open.popitem(last=False)
        return prefix

    def predict(self, texts: Sequence[str]) -> list[float]:
        """The probability of success for already rendered prefixes (see :func:`render`)."""
        import torch

        device = _device(self.agent)
        ids = [_encode(self.agent.tokenizer, text, self.max_length) for text in texts]
        out: list[float] = []
        with torch.no_grad():
            for start in range(0, len(ids), self.batch_size):
                out += torch.sigmoid(_logits(self.agent, ids[start:start + self.batch_size], device)).tolist()
        return out

    def score(self, transitions: Sequence[Transition]) -> list[float]:
        texts = [render(self._prefix(t), self.history_turns) for t in transitions]
        return self.predict(texts)


__all__ = ["LearnedRewardModel", "RewardModelConfig", "RewardModelReport", "prefix_texts", "render", "roc_auc",
           "train_reward_model"]
