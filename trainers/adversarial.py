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
    tensorboard/                the same, as TensorBoard events (and to wandb / trackio with report_to: the
                                stages' own runs keep theirs in TensorBoard and their logs)
    curves.png                  the learning curves of adversary.jsonl and rounds.jsonl
    rounds/round-001/           sft/ (data + train_sft output), dpo/, ppo/ (train_ppo output), policy/
    final/                      the trained policy: ``sparring eval --agent react --model OUT/final``
    summary.json                the report of the run

``resume=True`` skips finished stages and continues an interrupted one from its own checkpoints
(the adversary from its last update, SFT / DPO / PPO from theirs, collection from the episodes it
wrote); every seed derives from ``seed``, the round and the update, so a resumed run plays the same
tasks. SFT examples use the trajectory collector's prompt window (4 turns).
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from sparring.errors import ConfigError, SparringError
from sparring.fileio import json_safe, staged_dir, write_json_atomic
from sparring.trainers.adversarial_config import AdversarialConfig, _round_seed
from sparring.trainers.metrics import JsonlLog, write_curves
from sparring.trainers.run_dir import (
    StageRecords,
    Trackers,
    check_resume_config,
    refuse_existing,
    truncate_log,
)

logger = logging.getLogger(__name__)

FORMAT = 1
STATE = "state.json"
#: the config fields a resumed run must share with the run it continues
_RESUME_FIELDS = ("model", "env_ids", "difficulty", "attack_fraction", "mode", "normalization", "window",
                  "show_admissible", "max_steps", "adversary_operators", "adversary_targets", "adversary_budget",
                  "seed")
#: the first train-split seed of the per-round evaluations (the same tasks every round)
EVAL_SEED = 900_000_000


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


def _merged(stage: Any, model: str, adversary: Any, config: AdversarialConfig, round_: int,
            directory: Path) -> dict[str, Any]:
    """A DPO or PPO stage's record, its adapter merged into ``directory/merged`` (unless it was skipped)."""
    record = stage(model, adversary, config, round_, directory)
    if not record.get("skipped"):
        record["final"] = _merge(record["final"], directory / "merged")
    return record


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
    settings: dict[str, Any] = {"epochs": config.sft_epochs, **config.stage_logging, **config._sft_extra}
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
                                  seed=_round_seed(config.seed, "dpo", round_), resume=True,
                                  **{**config.stage_logging, **config._dpo_extra}))
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
    from tqdm.auto import tqdm

    from sparring.adversary.learned import LearnedAdversary

    if not isinstance(config, AdversarialConfig):
        raise ConfigError(f"expected an AdversarialConfig, got {type(config).__name__}; call "
                          f"train_adversarial(AdversarialConfig(...))")
    out = Path(config.output_dir).resolve()
    state_path = out / STATE
    refuse_existing(out, STATE if state_path.exists() else None, config.resume, "a min-max run")
    started = time.perf_counter()
    state: dict[str, Any] = json.loads(state_path.read_text()) if state_path.exists() else {}
    if state:
        if state.get("format") != FORMAT:
            raise SparringError(f"{state_path} has min-max format {state.get('format')}; this sparring reads {FORMAT}")
        check_resume_config(state["config"], config.to_dict(), _RESUME_FIELDS, out)
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
    truncate_log(adversary_log, lambda r: adversary is not None and r.get("update", 0) <= adversary.updates)
    truncate_log(rounds_log, lambda r: r.get("round", 0) <= resumed_from)
    trackers = Trackers(out, report_to=config.report_to, tensorboard=config.tensorboard, config=config.to_dict(),
                        resume=config.resume)

    def emit(prefix: str, record: Mapping[str, Any], step: int) -> None:
        trackers.log(record, step, lambda name: f"{prefix}/{name}", skip=("round", "update"))

    current = state["rounds"][-1]["policy"] if state["rounds"] and state["rounds"][-1].get("done") else None
    current = current or config.model
    bar = tqdm(total=config.rounds, initial=resumed_from, desc="min-max", disable=None if config.progress else True,
               dynamic_ncols=True, leave=False)
    try:
        for r in range(config.rounds):
            if r < len(state["rounds"]) and state["rounds"][r].get("done"):
                current = state["rounds"][r]["policy"]
                continue
            if r >= len(state["rounds"]):
                state["rounds"].append({"round": r + 1, "start": current, "stages": {}})
            entry = state["rounds"][r]
            stages = StageRecords(entry["stages"], save_state)  # each stage saved as it finishes
            directory = out / "rounds" / f"round-{r + 1:03d}"
            t0 = time.perf_counter()
            policy = entry["start"]

            def stage(name: str, round_: int = r + 1) -> None:
                bar.set_postfix_str(f"round {round_}: {name}")  # which stage the bar's round is in

            if adversary is not None:
                stage("adversary")
                stages.run("adversary", partial(_stage_adversary, adversary, policy, config,
                                                (r + 1) * config.adversary_updates, out, adversary_log, emit, r + 1))
            if config.sft_episodes:
                stage("sft")
                policy = stages.run("sft", partial(_stage_sft, policy, adversary, config, r,
                                                   directory / "sft"))["final"]
            if config.dpo_episodes:
                stage("dpo")
                policy = stages.run("dpo", partial(_merged, _stage_dpo, policy, adversary, config, r,
                                                   directory / "dpo"))["final"]
            if config.ppo_iterations:
                stage("ppo")
                policy = stages.run("ppo", partial(_merged, _stage_ppo, policy, adversary, config, r,
                                                   directory / "ppo"))["final"]
            if config.eval_episodes:
                stage("eval")
                stages.run("eval", partial(evaluate_round, policy, adversary, config, r))
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
            bar.update(1)
    finally:
        bar.close()
        trackers.close()

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
    write_json_atomic(out / "summary.json", json_safe(summary))
    write_curves(out)
    return summary


def _copy_policy(source: str, target: Path) -> None:
    """Copies a checkpoint directory into place atomically (a zoo name is saved as it loads)."""
    with staged_dir(target) as staging:
        if Path(source).is_dir():
            from sparring.agents.policy import is_checkpoint, relocate

            shutil.copytree(source, staging, dirs_exist_ok=True)
            if is_checkpoint(staging):
                relocate(staging, location=target)  # an embedded base: named where the copy will live
        else:
            from sparring.agents.zoo import load_agent_model

            shutil.rmtree(staging)
            load_agent_model(source).save(staging, location=target)


__all__ = ["AdversarialConfig", "ShownExpert", "evaluate_round", "play_pairs", "train_adversarial"]
