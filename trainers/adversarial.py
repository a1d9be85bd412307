"""Min-max training: the agent against a learned adversary, round after round.

Each round has an **adversary phase** and an **agent phase**:

1. **Adversary.** The learned adversary (:mod:`sparring.adversary.learned`) takes
   ``adversary_updates`` policy-gradient updates against the current agent — batches of tasks from
   the *train* split of every env, train attacks only — with the discriminator trained in
   alternation. Every ``population_every`` updates a frozen copy joins its population. The adversary
   (network, optimiser, discriminator, population) is kept across rounds in ``adversary/``.
2. **Agent**, against the *population* (one member sampled per episode, so the agent meets the
   adversary's past selves and cannot overfit to the latest one), each step optional:

   * **SFT on adversarial trajectories**: the env's expert plays ``sft_episodes`` fresh training
     tasks per env, ``attack_fraction`` of them under the population; it answers with the text the
     agent was *shown* for its command, so every example teaches the right choice among the
     perturbed candidates. The policy is fine-tuned on them (all weights; TRL's SFT trainer).
   * **DPO on failures under attack**: the agent plays ``dpo_episodes`` tasks per env
     (``attack_fraction`` under the population); each lost episode gives a pair at the first turn where
     its command differs from the expert's — the prompt it saw, the expert's (shown) action chosen,
     its own rejected — and DPO trains on them (a fresh adapter; the policy before DPO is the
     reference).
   * **PPO under the perturbation wrapper**: ``ppo_iterations`` iterations of
     :func:`sparring.trainers.ppo.train_ppo` from the current policy (a fresh LoRA adapter; the policy
     at the start of the round's PPO is its KL reference), ``attack_fraction`` of every iteration's
     episodes played under the population.

   After each step that leaves an adapter, the adapter is merged into the weights, so every step
   starts from one plain checkpoint.
3. **Evaluation** (``eval_episodes`` > 0): greedy success on fixed tasks of the train split, clean,
   under the population, and under the random policy over the same train attack.

``attack_fraction=0`` trains the same way with no adversary at all (no adversary phase; every
episode clean): the clean-trained control with the same budget.

The output directory::

    state.json                  what each finished stage of each round produced (resume reads it)
    adversary/                  the learned adversary (saved after every update)
    adversary.jsonl             one record per adversary update (reward, failure, drop, discriminator accuracy...)
    rounds.jsonl                one record per round (success clean / attacked, adversary reward,
                                discriminator accuracy, the agent steps' own figures)
    tensorboard/                the same, as TensorBoard events
    rounds/round-001/           sft/ (data + train_sft output), dpo/, ppo/ (train_ppo output), policy/
    final/                      the trained policy: ``sparring eval --agent react --model OUT/final``
    summary.json                the report of the run

``resume=True`` skips finished stages and continues an interrupted one from its own checkpoints
(the adversary from its last update, SFT / DPO / PPO from theirs, collection from the episodes it
wrote); every seed derives from ``seed``, the round and the update, so a resumed run plays the same
tasks. SFT examples use the trajectory collector's prompt window (4 turns).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sparring.adversary.edits import FIELDS
from sparring.errors import ConfigError, SparringError
from sparring.fileio import publish_dir, write_json_atomic
from sparring.trainers.metrics import JsonlLog

logger = logging.getLogger(__name__)

FORMAT = 1
STATE = "state.json"
#: the config fields a resumed run must share with the run it continues
_RESUME_FIELDS = ("model", "env_ids", "difficulty", "attack_fraction", "mode", "normalization", "window",
                  "show_admissible", "max_steps", "adversary_operators", "adversary_targets", "adversary_budget",
                  "seed")
#: fields the trainer sets itself in the configs it builds; *_args may not override them
_ADVERSARY_OWN = ("env_ids", "difficulty", "max_steps", "operators", "targets", "budget", "seed", "tasks_per_update",
                  "num_envs", "learning_rate", "discriminator_weight", "population_every")
_SFT_OWN = ("data", "model", "output_dir", "resume", "seed", "lora", "epochs", "learning_rate")
_DPO_OWN = ("pairs", "model", "output_dir", "resume", "seed")
_PPO_OWN = ("model", "env_ids", "difficulty", "output_dir", "resume", "seed", "iterations", "episodes_per_iteration",
            "learning_rate", "kl_coef", "mode", "normalization", "window", "show_admissible", "attack_fraction",
            "num_envs")
#: the first train-split seed of the per-round evaluations (the same tasks every round)
EVAL_SEED = 900_000_000


@dataclasses.dataclass
class AdversarialConfig:
    """Min-max training against a learned adversary (see the module docstring)."""

    model: str = "tiny"  #: the starting policy, usually an SFT checkpoint (sparring train sft's final/)
    env_ids: Sequence[str] = ("sparring/Household-v0", "sparring/Navigation-v0")  #: envs of every phase (their train split)
    difficulty: str = "easy"  #: difficulty preset of the envs ("" for the env's default)
    output_dir: str = "runs/adversarial"  #: where the adversary, every round's policies, logs and the final policy go
    rounds: int = 3  #: adversary phase + agent phase, this many times
    attack_fraction: float = 0.5  #: share of the agent's training episodes played under the adversary (0: clean training, no adversary)
    mode: str = "score"  #: the agent's action mode; "score" (the adversary queries the agent's action scores)
    normalization: str = "token"  #: candidate log-probs per "token", per "word", or "sum"
    window: int = 4  #: earlier turns in the agent's prompt
    show_admissible: bool = True  #: list the admissible actions in the prompt
    max_steps: int = 15  #: step limit of training episodes (adversary, PPO, DPO exploration; 0: the env's own)
    adversary_updates: int = 10  #: adversary updates per round
    adversary_tasks: int = 16  #: tasks (episodes) per adversary update
    adversary_operators: Sequence[str] = ("train",)  #: operators the adversary may use: train attacks only
    adversary_targets: Sequence[str] = FIELDS  #: fields the adversary may perturb
    adversary_budget: int = 2  #: most edit units of one adversary move
    adversary_learning_rate: float = 0.01  #: Adam step size of the adversary's policy network
    discriminator_weight: float = 0.5  #: penalty on the adversary per unit of the discriminator's P(perturbed)
    population_every: int = 5  #: adversary updates between snapshots joining its population
    adversary_args: Sequence[str] = ()  #: more LearnedAdversaryConfig fields as KEY=VALUE (JSON values), e.g. ent_coef=0.02
    sft_episodes: int = 0  #: expert episodes per env id per round for SFT, attack_fraction of them under attack (0: no SFT step)
    sft_epochs: float = 1.0  #: SFT passes over a round's expert steps
    sft_learning_rate: float | None = None  #: SFT learning rate (None: SFT's default for the model)
    sft_args: Sequence[str] = ()  #: more SFTConfig fields as KEY=VALUE (JSON values), e.g. batch_size=16
    dpo_episodes: int = 0  #: agent episodes per env id per round whose failures are paired with the expert for DPO (0: no DPO step)
    dpo_args: Sequence[str] = ()  #: more DPOConfig fields as KEY=VALUE (JSON values), e.g. beta=0.2
    ppo_iterations: int = 2  #: PPO iterations per round (0: no PPO step)
    ppo_episodes_per_iteration: int = 8  #: PPO episodes per env id per iteration
    ppo_learning_rate: float = 1e-4  #: PPO learning rate of the adapter
    ppo_kl_coef: float = 0.05  #: PPO weight of KL(policy || the round's starting policy)
    ppo_args: Sequence[str] = ()  #: more PPOConfig fields as KEY=VALUE (JSON values), e.g. update_epochs=2
    eval_episodes: int = 16  #: greedy episodes per env id after each round, clean and attacked (0: no evaluation)
    num_envs: int = 8  #: envs played side by side in every phase
    seed: int = 0  #: seeds every phase (tasks, adversary, SFT, DPO, PPO)
    tensorboard: bool = True  #: also write TensorBoard events (needs the tensorboard package)
    resume: bool = False  #: skip finished stages and continue an interrupted one

    def __post_init__(self) -> None:
        from sparring.envs.registration import entry

        for name in ("env_ids", "adversary_operators", "adversary_targets", "adversary_args", "sft_args", "dpo_args",
                     "ppo_args"):
            value = getattr(self, name)
            setattr(self, name, (value,) if isinstance(value, str) else tuple(value))
        if not self.env_ids:
            raise ConfigError("expected at least one env id, got none; e.g. env_ids=['sparring/Household-v0']")
        for env_id in self.env_ids:
            entry(env_id)
        if not isinstance(self.model, str) or not self.model:
            raise ConfigError(f"model must be a zoo name, checkpoint, directory or hub id, got {self.model!r}")
        if not isinstance(self.output_dir, (str, os.PathLike)) or not str(self.output_dir):
            raise ConfigError(f"output_dir must be a directory path, got {self.output_dir!r}")
        self.output_dir = str(self.output_dir)
        for name in ("rounds", "adversary_updates", "adversary_tasks", "adversary_budget", "population_every",
                     "ppo_episodes_per_iteration", "num_envs"):
            _integer(self, name, 1)
        for name in ("window", "max_steps", "sft_episodes", "dpo_episodes", "ppo_iterations", "eval_episodes"):
            _integer(self, name, 0)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"seed must be an integer, got {self.seed!r}")
        if not _number(self.attack_fraction) or not 0.0 <= self.attack_fraction <= 1.0:
            raise ConfigError(f"attack_fraction must be a number in [0, 1], got {self.attack_fraction!r}; 0 trains "
                              f"clean (no adversary), 1 only under attack")
        if self.mode != "score":
            raise ConfigError(f"mode must be 'score', got {self.mode!r}: the learned adversary queries the agent's "
                              f"scores of the admissible actions (generate mode has none)")
        for name in ("sft_epochs", "adversary_learning_rate", "ppo_learning_rate"):
            if not _number(getattr(self, name)) or getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be a number > 0, got {getattr(self, name)!r}")
        for name in ("discriminator_weight", "ppo_kl_coef"):
            if not _number(getattr(self, name)) or getattr(self, name) < 0:
                raise ConfigError(f"{name} must be a number >= 0, got {getattr(self, name)!r}")
        if self.sft_learning_rate is not None and (not _number(self.sft_learning_rate) or self.sft_learning_rate <= 0):
            raise ConfigError(f"sft_learning_rate must be a number > 0 or None, got {self.sft_learning_rate!r}")
        if not (self.sft_episodes or self.dpo_episodes or self.ppo_iterations):
            raise ConfigError("no agent step: set at least one of sft_episodes, dpo_episodes, ppo_iterations > 0")
        # the configs every stage builds, checked now rather than after hours of training
        self.adversary_config()
        self.ppo_config(self.model, 0, ".")
        from sparring.trainers.dpo import DPOConfig
        from sparring.trainers.sft import SFTConfig

        self._sft_extra = _parse_args(self.sft_args, SFTConfig, _SFT_OWN, "sft_args")
        self._dpo_extra = _parse_args(self.dpo_args, DPOConfig, _DPO_OWN, "dpo_args")

    # ----------------------------------------------------------------------------------------------
    @property
    def adversarial(self) -> bool:
        """Whether there is an adversary at all (attack_fraction > 0)."""
        return self.attack_fraction > 0

    @property
    def env_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.difficulty:
            kwargs["difficulty"] = self.difficulty
        return kwargs

    @property
    def training_env_kwargs(self) -> dict[str, Any]:
        return {**self.env_kwargs, **({"max_steps": self.max_steps} if self.max_steps else {})}

    def adversary_config(self) -> Any:
        from sparring.adversary.learned import LearnedAdversaryConfig

        extra = _parse_args(self.adversary_args, LearnedAdversaryConfig, _ADVERSARY_OWN, "adversary_args")
        return LearnedAdversaryConfig(
            env_ids=self.env_ids, difficulty=self.difficulty, max_steps=self.max_steps,
            operators=self.adversary_operators, targets=self.adversary_targets, budget=self.adversary_budget,
            tasks_per_update=self.adversary_tasks, num_envs=self.num_envs, learning_rate=self.adversary_learning_rate,
            discriminator_weight=self.discriminator_weight, population_every=self.population_every, seed=self.seed,
            **extra)

    def ppo_config(self, model: str, round_: int, output_dir: str) -> Any:
        from sparring.trainers.ppo import PPOConfig

        extra = _parse_args(self.ppo_args, PPOConfig, _PPO_OWN, "ppo_args")
        settings: dict[str, Any] = {"progress": False, "tensorboard": self.tensorboard}
        if self.max_steps:
            settings["env_args"] = (f"max_steps={self.max_steps}",)
        settings.update(extra)
        return PPOConfig(model=model, env_ids=self.env_ids, difficulty=self.difficulty, output_dir=output_dir,
                         iterations=max(self.ppo_iterations, 1), episodes_per_iteration=self.ppo_episodes_per_iteration,
                         learning_rate=self.ppo_learning_rate, kl_coef=self.ppo_kl_coef, mode=self.mode,
                         normalization=self.normalization, window=self.window, show_admissible=self.show_admissible,
                         attack_fraction=self.attack_fraction, num_envs=self.num_envs,
                         seed=_round_seed(self.seed, "ppo", round_), resume=True, **settings)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
                for f in dataclasses.fields(self)}


def _integer(config: Any, name: str, low: int) -> None:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _parse_args(items: Sequence[str], cls: type, own: Sequence[str], flag: str) -> dict[str, Any]:
    import difflib

    fields = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for item in items:
        key, sep, raw = str(item).partition("=")
        if not sep or not key:
            raise ConfigError(f"expected {flag} as KEY=VALUE, got {item!r}; e.g. {flag}=['learning_rate=1e-4']")
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; the fields are {', '.join(sorted(fields))}"
            raise ConfigError(f"{flag}: {cls.__name__} has no field {key!r}{hint}")
        if key in own:
            raise ConfigError(f"{flag}: {key!r} is set by the min-max trainer itself; use its own option")
        try:
            values[key] = json.loads(raw)
        except json.JSONDecodeError:
            values[key] = raw
    return values


def _round_seed(seed: int, *parts: Any) -> int:
    from sparring.adversary.learned import hash_seed

    return hash_seed("min-max", seed, *parts) % 2**31


# --------------------------------------------------------------------------------------------------
# The expert, answering with what the agent was shown
# --------------------------------------------------------------------------------------------------
class ShownExpert:
    """The env's scripted expert for perturbed envs: it keeps a clean replica of each env (as
    :class:`~sparring.agents.baselines.OracleAgent` does) and answers with the *shown* text of its
    command, so a trajectory collected under attack pairs the perturbed candidates with the right one
    of them (the wrapper maps it back to the env's command)."""

    name = "oracle"

    def __init__(self) -> None:
        self._replicas: dict[int, tuple[Any, list[str]]] = {}

    def act(self, observations: Sequence[str | None], infos: Sequence[Mapping[str, Any] | None]) -> list[str]:
        from sparring.envs.registration import family_class

        actions = []
        for i, info in enumerate(infos):
            if info is None:
                actions.append("")
                continue
            if info["step"] == 0 or i not in self._replicas:
                replica = family_class(info["family"])(split=info["split"], max_steps=10**9)
                _, replica_info = replica.reset(options={"task": info["task"]})
                self._replicas[i] = (replica, list(replica_info["admissible_actions"]))
            replica, clean = self._replicas[i]
            command = replica.expert_action()
            _, _, _, _, replica_info = replica.step(command)
            self._replicas[i] = (replica, list(replica_info["admissible_actions"]))
            shown = list(info["admissible_actions"])
            if command in shown:
                actions.append(command)
            elif len(shown) == len(clean) and command in clean:  # a text edit keeps every action's place
                actions.append(shown[clean.index(command)])
            else:
                actions.append(command)  # sent as typed: the env still reads its own command
        return actions


# --------------------------------------------------------------------------------------------------
# Stages
# --------------------------------------------------------------------------------------------------
def _agent(model: str, config: AdversarialConfig, temperature: float = 0.0) -> Any:
    from sparring.agents import make_agent

    return make_agent("react", model=model, mode=config.mode, normalization=config.normalization,
                      window=config.window, show_admissible=config.show_admissible, temperature=temperature,
                      seed=config.seed)


def _wrapper(adversary: Any, config: AdversarialConfig, seed: int, *, random_policy: bool = False) -> Any:
    from sparring.adversary import PerturbationWrapper, RandomPolicy

    attack = adversary.config.attack(seed) if adversary is not None else config.adversary_config().attack(seed)
    policy = RandomPolicy() if random_policy or adversary is None else adversary.population_policy()
    return PerturbationWrapper.factory(attack, policy=policy)


def _split(seeds: Sequence[int], fraction: float) -> tuple[list[int], list[int]]:
    """(clean seeds, attacked seeds): the last ``round(fraction * n)`` are attacked."""
    attacked = int(round(len(seeds) * fraction))
    return list(seeds[: len(seeds) - attacked]), list(seeds[len(seeds) - attacked:])


def _merge(source: str, target: Path) -> str:
    """``source`` as a plain checkpoint in ``target``: an adapter is merged into the weights."""
    from sparring.agents.zoo import load_agent_model

    if (target / "sparring_agent.json").is_file():
        return str(target)
    policy = load_agent_model(source)
    if policy.has_adapter:
        policy.model = policy.model.merge_and_unload()
    policy.embed_base = False
    policy.save(target)
    return str(target)


def _stage_adversary(adversary: Any, model: str, config: AdversarialConfig, target_updates: int, out: Path,
                     log: JsonlLog, emit: Any, round_: int) -> dict[str, Any]:
    from sparring.adversary import ReActScorer

    agent = _agent(model, config)
    scorer = ReActScorer(agent, batch_size=max(config.num_envs * 2, 8))
    records = []
    while adversary.updates < target_updates:
        record = {"round": round_, **adversary.update(scorer)}
        adversary.save(out / "adversary")  # every update: a resume continues from the last one
        log.write(record)
        emit("adversary", record, adversary.updates)
        records.append(record)
    mine = [r for r in adversary.history if r["update"] > target_updates - config.adversary_updates]
    return {"updates": adversary.updates, "population": len(adversary.population),
            "reward": _mean(r.get("reward") for r in mine), "failure_rate": _mean(r.get("failure_rate") for r in mine),
            "mean_drop": _mean(r.get("mean_drop") for r in mine),
            "discriminator_accuracy": _mean(r.get("discriminator_accuracy") for r in mine),
            "last_reward": mine[-1].get("reward") if mine else None,
            "last_discriminator_accuracy": mine[-1].get("discriminator_accuracy") if mine else None}


def _stage_sft(model: str, adversary: Any, config: AdversarialConfig, round_: int, directory: Path) -> dict[str, Any]:
    from sparring.trainers.collect import collect
    from sparring.trainers.sft import SFTConfig, train_sft

    data = directory / "trajectories.jsonl"
    base = 10_000_000 * (round_ + 1) + 100_000 * (config.seed % 50)
    clean, attacked = _split(range(base, base + config.sft_episodes), config.attack_fraction if adversary else 0.0)
    expert = ShownExpert()
    for seeds, wrappers in ((clean, None), (attacked, [_wrapper(adversary, config, _round_seed(config.seed, "sft",
                                                                                              round_))])):
        if seeds:
            collect(expert, config.env_ids, ["train"], data, episodes=len(seeds), seed_offset=seeds[0],
                    env_kwargs=config.env_kwargs, num_envs=config.num_envs, resume=True, wrappers=wrappers)
    settings: dict[str, Any] = {"epochs": config.sft_epochs, **config._sft_extra}
    if config.sft_learning_rate is not None:
        settings["learning_rate"] = config.sft_learning_rate
    # all weights: the policy is a plain checkpoint (merged), and SFT's LoRA path from a full-weights
    # checkpoint would not keep that checkpoint as its base
    summary = train_sft(SFTConfig(data=[str(data)], model=model, output_dir=str(directory), lora=False,
                                  seed=_round_seed(config.seed, "sft", round_), resume=True, **settings))
    return {"final": summary["final"], "examples": summary["examples"], "episodes": summary["episodes"],
            "attacked_episodes": len(attacked) * len(config.env_ids), "train_loss": summary["train_loss"],
            "first_loss": summary["first_loss"], "last_loss": summary["last_loss"]}


def play_pairs(agent: Any, env_id: str, seeds: Sequence[int], config: AdversarialConfig, wrapper: Any = None,
               *, split: str = "train") -> tuple[list[dict[str, Any]], int, int]:
    """Plays ``agent`` on ``seeds`` (under ``wrapper`` when given, in this process); each lost episode
    gives a DPO row at its first turn whose command differs from the expert's: the prompt it saw,
    the expert's shown action chosen, its own rejected. Returns (rows, episodes, lost)."""
    from sparring.agents.rollout import EnvSlots, play_slots
    from sparring.agents.step import AgentStep, agent_steps
    from sparring.envs.registration import make
    from sparring.trajectory import completion_text

    n = min(config.num_envs, len(seeds))
    if n == 0:
        return [], 0, 0
    envs = []
    for _ in range(n):
        env = make(env_id, split=split, **config.training_env_kwargs)
        envs.append(wrapper(env) if wrapper is not None else env)
    slot: list[dict[str, Any] | None] = [None] * n
    rows: list[dict[str, Any]] = []
    counts = {"played": 0, "lost": 0}

    def start(i: int, k: int, observation: str, info: dict[str, Any]) -> None:
        slot[i] = {"history": [], "pair": None}

    def act(observations: list[str | None], infos: list[dict[str, Any] | None],
            episodes: list[int | None]) -> list[AgentStep | None]:
        steps = agent_steps(agent, observations, infos)
        for i, step in enumerate(steps):
            if episodes[i] is None:
                continue
            env, info, observation, state = envs[i], infos[i], observations[i], slot[i]
            base = env.unwrapped
            expert = base.expert_action()
            sent = env.command(step.action) if hasattr(env, "command") else step.action
            if state["pair"] is None and sent != expert:
                shown_expert = env.shown(expert) if hasattr(env, "shown") else expert
                messages = agent.messages(info["family"], info["instruction"], state["history"], observation,
                                          info["admissible_actions"] if config.show_admissible else None)
                state["pair"] = {"prompt": messages,
                                 "chosen": [{"role": "assistant", "content": completion_text(shown_expert)}],
                                 "rejected": [{"role": "assistant", "content": completion_text(step.action)}],
                                 "meta": {"env_id": env_id, "seed": int(info["seed"]), "turn": int(info["step"]),
                                          "attacked": wrapper is not None}}
            state["history"].append(AgentStep(observation, step.action))  # the pairs' prompts show no thoughts
        return steps

    def stepped(step: AgentStep) -> None:
        if step.done:
            counts["played"] += 1
            if not step.next_info["won"]:
                counts["lost"] += 1
                if slot[step.slot]["pair"] is not None:
                    rows.append(slot[step.slot]["pair"])

    play_slots(EnvSlots(n, lambda i, seed: envs[i]), list(seeds), act, on_start=start, on_step=stepped)
    return rows, counts["played"], counts["lost"]


def _stage_dpo(model: str, adversary: Any, config: AdversarialConfig, round_: int, directory: Path) -> dict[str, Any]:
    from sparring.trainers.dpo import DPOConfig, train_dpo

    pairs_path = directory / "pairs.jsonl"
    if not pairs_path.is_file():
        agent = _agent(model, config)
        base = 20_000_000 * (round_ + 1) + 100_000 * (config.seed % 50)
        clean, attacked = _split(range(base, base + config.dpo_episodes), config.attack_fraction if adversary else 0.0)
        rows, played, lost = [], 0, 0
        for env_id in config.env_ids:
            for seeds, wrapper in ((clean, None), (attacked, _wrapper(adversary, config, _round_seed(
                    config.seed, "dpo", round_)) if attacked else None)):
                r, p, f = play_pairs(agent, env_id, seeds, config, wrapper)
                rows, played, lost = rows + r, played + p, lost + f
        from sparring.fileio import write_text_atomic

        write_text_atomic(pairs_path, "".join(json.dumps(r) + "\n" for r in rows))
        write_json_atomic(directory / "pairs_summary.json", {"episodes": played, "lost": lost, "pairs": len(rows)})
    found = json.loads((directory / "pairs_summary.json").read_text())
    if not found["pairs"]:
        logger.info("round %d: no lost episode to pair; DPO skipped", round_ + 1)
        return {"final": model, "pairs": 0, "episodes": found["episodes"], "lost": found["lost"], "skipped": True}
    summary = train_dpo(DPOConfig(pairs=[str(pairs_path)], model=model, output_dir=str(directory / "train"),
                                  seed=_round_seed(config.seed, "dpo", round_), resume=True, **config._dpo_extra))
    return {"final": summary["final"], "pairs": summary["pairs"], "episodes": found["episodes"], "lost": found["lost"],
            "first_margin": summary["first_margin"], "last_margin": summary["last_margin"]}


def _stage_ppo(model: str, adversary: Any, config: AdversarialConfig, round_: int, directory: Path) -> dict[str, Any]:
    from sparring.trainers.ppo import train_ppo

    ppo = config.ppo_config(model, round_, str(directory))
    wrappers = None
    if adversary is not None:
        def wrappers(iteration: int) -> list[Any]:  # a fresh perturbation seed every iteration
            return [_wrapper(adversary, config, _round_seed(config.seed, "ppo-attack", round_, iteration))]
    report = train_ppo(ppo, env_wrappers=wrappers)
    return {"final": report.final, "iterations": report.iterations, "env_steps": report.env_steps,
            "first_success": report.first.get("success"), "last_success": report.last.get("success"),
            "last_attacked_success": report.last.get("attacked_success"), "kl_ref": report.last.get("kl_ref")}


def evaluate_round(model: str, adversary: Any, config: AdversarialConfig, round_: int) -> dict[str, Any]:
    """Greedy success per env id on fixed train-split tasks: clean, under the population, under the
    random policy over the same train attack."""
    from sparring.agents.rollout import run_episodes

    agent = _agent(model, config)
    seeds = list(range(EVAL_SEED, EVAL_SEED + config.eval_episodes))
    attack_seed = _round_seed(config.seed, "eval")  # the same perturbation streams every round
    conditions: dict[str, Any] = {"clean": None, "random_attack": _wrapper(None, config, attack_seed, random_policy=True)}
    if adversary is not None:
        conditions["population_attack"] = _wrapper(adversary, config, attack_seed)
    record: dict[str, Any] = {}
    for name, wrapper in conditions.items():
        wins = 0
        for env_id in config.env_ids:
            results = run_episodes(agent, env_id, split="train", seeds=seeds, num_envs=min(config.num_envs, len(seeds)),
                                   env_kwargs=config.env_kwargs, wrappers=[wrapper] if wrapper else None)
            record[f"{name}/{env_id.split('/')[-1]}"] = sum(r.won for r in results) / len(results)
            wins += sum(r.won for r in results)
        record[f"{name}_success"] = wins / (len(seeds) * len(config.env_ids))
    return record


def _mean(values: Any) -> float | None:
    kept = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return sum(kept) / len(kept) if kept else None


# --------------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------------
def train_adversarial(config: AdversarialConfig) -> dict[str, Any]:
    """Runs min-max training (see the module docstring); returns the run's summary."""
    from sparring.adversary.learned import LearnedAdversary

    if not isinstance(config, AdversarialConfig):
        raise ConfigError(f"expected an AdversarialConfig, got {type(config).__name__}; call "
                          f"train_adversarial(AdversarialConfig(...))")
    out = Path(config.output_dir).resolve()
    state_path = out / STATE
    if state_path.exists() and not config.resume:
        raise ConfigError(f"{out} holds a min-max run ({STATE}); pass resume=True (--resume) to continue it, or "
                          f"choose another output_dir")
    started = time.perf_counter()
    state: dict[str, Any] = json.loads(state_path.read_text()) if state_path.exists() else {}
    if state:
        if state.get("format") != FORMAT:
            raise SparringError(f"{state_path} has min-max format {state.get('format')}; this sparring reads {FORMAT}")
        changed = {k: (state["config"].get(k), config.to_dict()[k]) for k in _RESUME_FIELDS
                   if json.dumps(state["config"].get(k)) != json.dumps(config.to_dict()[k])}
        if changed:
            raise ConfigError("resuming " + str(out) + " with a different config: " + ", ".join(
                f"{k} was {old!r}, now {new!r}" for k, (old, new) in changed.items())
                + "; use the config of the run you resume, or start a new output_dir")
    else:
        state = {"format": FORMAT, "config": config.to_dict(), "rounds": []}
    resumed_from = len([r for r in state["rounds"] if r.get("done")])
    state["config"] = config.to_dict()

    def save_state() -> None:
        write_json_atomic(state_path, state)

    out.mkdir(parents=True, exist_ok=True)
    save_state()
    adversary = None
    if config.adversarial:
        adversary = (LearnedAdversary.load(out / "adversary") if (out / "adversary").is_dir()
                     else LearnedAdversary(config.adversary_config()))
    adversary_log, rounds_log = JsonlLog(out / "adversary.jsonl"), JsonlLog(out / "rounds.jsonl")
    # a resumed run first drops what the killed run logged after its last saved state
    _truncate(adversary_log, lambda r: adversary is not None and r.get("update", 0) <= adversary.updates)
    _truncate(rounds_log, lambda r: r.get("round", 0) <= resumed_from)
    writer = None
    if config.tensorboard:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise ConfigError("tensorboard=True needs the tensorboard package; install it with "
                              "`pip install 'sparring[train]'` or set tensorboard=False") from exc
        writer = SummaryWriter(str(out / "tensorboard"))

    def emit(prefix: str, record: Mapping[str, Any], step: int) -> None:
        if writer is None:
            return
        for name, value in record.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
                    and name not in ("round", "update"):
                writer.add_scalar(f"{prefix}/{name}", value, step)
        writer.flush()

    current = state["rounds"][-1]["policy"] if state["rounds"] and state["rounds"][-1].get("done") else None
    current = current or config.model
    try:
        for r in range(config.rounds):
            if r < len(state["rounds"]) and state["rounds"][r].get("done"):
                current = state["rounds"][r]["policy"]
                continue
            if r >= len(state["rounds"]):
                state["rounds"].append({"round": r + 1, "start": current, "stages": {}})
            entry = state["rounds"][r]
            stages = entry["stages"]
            directory = out / "rounds" / f"round-{r + 1:03d}"
            t0 = time.perf_counter()
            policy = entry["start"]
            if adversary is not None and "adversary" not in stages:
                stages["adversary"] = _stage_adversary(adversary, policy, config, (r + 1) * config.adversary_updates,
                                                       out, adversary_log, emit, r + 1)
                save_state()
            if config.sft_episodes:
                if "sft" not in stages:
                    stages["sft"] = _stage_sft(policy, adversary, config, r, directory / "sft")
                    save_state()
                policy = stages["sft"]["final"]
            if config.dpo_episodes:
                if "dpo" not in stages:
                    record = _stage_dpo(policy, adversary, config, r, directory / "dpo")
                    if not record.get("skipped"):
                        record["final"] = _merge(record["final"], directory / "dpo" / "merged")
                    stages["dpo"] = record
                    save_state()
                policy = stages["dpo"]["final"]
            if config.ppo_iterations:
                if "ppo" not in stages:
                    record = _stage_ppo(policy, adversary, config, r, directory / "ppo")
                    record["final"] = _merge(record["final"], directory / "ppo" / "merged")
                    stages["ppo"] = record
                    save_state()
                policy = stages["ppo"]["final"]
            if config.eval_episodes and "eval" not in stages:
                stages["eval"] = evaluate_round(policy, adversary, config, r)
                save_state()
            record = {"round": r + 1, **(stages.get("eval") or {})}
            for name in ("adversary", "sft", "dpo", "ppo"):
                for key, value in (stages.get(name) or {}).items():
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        record[f"{name}/{key}"] = value
            record["seconds"] = time.perf_counter() - t0
            entry.update(policy=policy, done=True, record=record)
            save_state()
            rounds_log.write(record)
            emit("round", record, r + 1)
            logger.info("round %d: clean %s, attacked %s", r + 1, record.get("clean_success"),
                        record.get("population_attack_success", record.get("random_attack_success")))
            current = policy
    finally:
        if writer is not None:
            writer.close()

    final = out / "final"
    _copy_policy(current, final)
    rounds = [entry["record"] for entry in state["rounds"] if entry.get("done")]
    summary = {
        "output_dir": str(out), "final": str(final), "rounds": len(rounds), "resumed_from_round": resumed_from or None,
        "adversarial": config.adversarial, "first": rounds[0] if rounds else {}, "last": rounds[-1] if rounds else {},
        "history": rounds, "adversary": None if adversary is None else {
            "updates": adversary.updates, "population": [u for u, _ in adversary.population],
            "directory": str(out / "adversary")},
        "config": config.to_dict(), "seconds": time.perf_counter() - started,
    }
    write_json_atomic(out / "summary.json", _finite(summary))
    return summary


def _truncate(log: JsonlLog, keep: Any) -> None:
    from sparring.fileio import write_text_atomic

    records = log.read()
    kept = [r for r in records if keep(r)]
    if len(kept) != len(records):
        write_text_atomic(log.path, "".join(json.dumps(r) + "\n" for r in kept))


def _copy_policy(source: str, target: Path) -> None:
    """Copies a checkpoint directory into place atomically (a zoo name is saved as it loads)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        if Path(source).is_dir():
            shutil.copytree(source, staging, dirs_exist_ok=True)
        else:
            from sparring.agents.zoo import load_agent_model

            shutil.rmtree(staging)
            load_agent_model(source).save(staging)
        publish_dir(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


__all__ = ["AdversarialConfig", "ShownExpert", "evaluate_round", "play_pairs", "train_adversarial"]
