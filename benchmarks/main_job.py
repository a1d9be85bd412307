"""The main job: the whole sparring story in one command, on CPU in minutes.

    sparring main                      # the embedded defaults (tiny model, CPU, about 15 minutes on 2 cores)
    sparring main --model smollm2-135m --device cuda --expert-episodes 500 --ppo-iterations 10 --suite full

Five stages, each kept under ``--out`` (default ``results/main``) and skipped once finished:

1. **expert**: the oracle plays ``expert_episodes`` tasks of the train split of every env (by default
   the four native families the ``quick`` suite evaluates);
2. **sft**: the model is fine-tuned on those trajectories (all weights for ``tiny``, LoRA for a
   larger model), loss on the agent's action tokens only;
3. **ppo-clean**: multi-turn PPO from the SFT policy, every episode clean;
4. **ppo-adversarial**: the same PPO budget from the same SFT policy, min-max: each round a learned
   adversary (train attacks only) is trained against the current agent, then ``attack_fraction`` of
   PPO's episodes are played under the adversary's population;
5. **leaderboard**: the suite (``quick`` by default) over every split, clean and under the
   **held-out** attacks, for random, oracle, SFT, SFT → PPO and SFT → PPO (adversarial); printed as
   a table and written to ``OUT/leaderboard/`` (JSON, Markdown, PNG, HTML).

Each stage's record in ``OUT/stages/NAME.json`` carries a key made of its own settings and the
key of the stage before it: change a setting and that stage and the ones after it run again (their
working directories under ``OUT/work/`` are cleared first); the others are reused. An interrupted
stage resumes from its own checkpoints (collection from the episodes it wrote, SFT and PPO from
theirs, the leaderboard from its cached cells), so a re-run of a finished job only re-reads the
leaderboard cache and prints the table. ``OUT/main.json`` has the whole run: settings, every
stage's figures and times, versions, the command.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sparring.benchmarks.main_job_config import MainJobConfig

STAGES = ("expert", "sft", "ppo-clean", "ppo-adversarial", "leaderboard")
#: the ReAct settings of training and evaluation alike: SFT's prompts (4 earlier turns, actions listed)
AGENT = {"mode": "score", "normalization": "token", "window": 4, "show_admissible": True}


class Stages:
    """Stage records under ``out/stages`` (:class:`~sparring.trainers.run_dir.StageRecords`): a stage
    whose key matches its record is reused."""

    def __init__(self, out: Path) -> None:
        from sparring.trainers.run_dir import StageRecords

        self.out = out
        self.key = ""  # the key of the last stage run or reused: part of the next one's key
        self.stages = StageRecords.files(out / "stages")
        self.records: dict[str, dict[str, Any]] = {}

    def run(self, name: str, settings: dict[str, Any], work: Path | None, body: Callable[[], Any],
            say: Callable[[str], None]) -> Any:
        key = hashlib.sha256(json.dumps([self.key, name, settings], sort_keys=True, default=str).encode()).hexdigest()
        record = self.stages.get(name)
        if record is not None and record.get("key") == key:
            say(f"{name}: finished earlier ({record['seconds']:.0f} s), reused")
        else:
            if record is not None and work is not None and work.exists():
                say(f"{name}: settings changed since the last run; clearing {work} and running it again")
                shutil.rmtree(work) if work.is_dir() else work.unlink()
            say(f"{name}: running")
            record = self.stages.record(name, body, timed=True, key=key, settings=settings)
            say(f"{name}: done in {record['seconds']:.0f} s")
        self.key = key
        self.records[name] = record
        return record["result"]


def run_main_job(config: MainJobConfig, *, command: str | None = None, say: Callable[[str], None] | None = None
                 ) -> dict[str, Any]:
    """Runs (or resumes) the main job; returns what ``OUT/main.json`` holds, plus the leaderboard."""
    import sparring
    from sparring.agents import OracleAgent
    from sparring.benchmarks.agent_specs import AgentSpec
    from sparring.benchmarks.leaderboard import git_commit, run_leaderboard
    from sparring.fileio import write_json_atomic
    from sparring.trainers.adversarial import AdversarialConfig, train_adversarial
    from sparring.trainers.collect import collect
    from sparring.trainers.sft import SFTConfig, train_sft

    say = say or (lambda text: print(f"[main] {text}", flush=True))
    started = time.perf_counter()
    out = Path(config.out).resolve()
    work = out / "work"
    stages = Stages(out)
    env_kwargs = {"difficulty": config.difficulty} if config.difficulty else {}

    expert_path = work / "expert.jsonl"

    def expert() -> dict[str, Any]:
        stats = collect(OracleAgent(), config.env_ids, ["train"], expert_path, episodes=config.expert_episodes,
                        env_kwargs=env_kwargs, num_envs=config.num_envs, seed_offset=config.seed * 1_000_000,
                        resume=True)
        return {"data": str(expert_path), **stats.to_dict()}

    expert_data = stages.run("expert", {"env_ids": config.env_ids, "difficulty": config.difficulty,
                                        "episodes": config.expert_episodes, "seed": config.seed},
                             expert_path, expert, say)

    bf16 = config.use_bf16()

    def sft() -> dict[str, Any]:
        return train_sft(SFTConfig(data=[expert_data["data"]], model=config.model, output_dir=str(work / "sft"),
                                   epochs=config.sft_epochs, learning_rate=config.sft_learning_rate,
                                   device=config.device, seed=config.seed, resume=True, bf16=bf16))

    sft_run = stages.run("sft", {"model": config.model, "epochs": config.sft_epochs,
                                 "learning_rate": config.sft_learning_rate, "device": config.device,
                                 **({"bf16": True} if bf16 else {})},
                         work / "sft", sft, say)

    ppo_args = ["update_epochs=2", "minibatch_size=32", "micro_batch_size=8", "ent_coef=0.0",
                'reward=["env", "progress=0.5"]', "keep_checkpoints=1"]
    if config.device:
        ppo_args.append(f"device={json.dumps(config.device)}")
    training = {"rounds": config.rounds, "ppo_iterations": config.ppo_iterations,
                "ppo_episodes_per_iteration": config.ppo_episodes, "ppo_learning_rate": config.ppo_learning_rate,
                "ppo_kl_coef": 0.05, "ppo_args": ppo_args, "sft_episodes": 0, "dpo_episodes": 0, "eval_episodes": 0,
                "max_steps": 15, "num_envs": config.num_envs, "adversary_updates": config.adversary_updates,
                "adversary_tasks": config.adversary_tasks, "population_every": 1, "adversary_learning_rate": 0.03,
                **AGENT}
    sft_key = stages.key
    runs: dict[str, dict[str, Any]] = {}
    for arm, fraction in (("ppo-clean", 0.0), ("ppo-adversarial", config.attack_fraction)):
        stages.key = sft_key  # both PPO runs hang off the SFT stage, not off each other

        def ppo(arm: str = arm, fraction: float = fraction) -> dict[str, Any]:
            summary = train_adversarial(AdversarialConfig(
                model=sft_run["final"], env_ids=config.env_ids, difficulty=config.difficulty,
                output_dir=str(work / arm), attack_fraction=fraction, seed=config.seed, tensorboard=False,
                resume=True, **training))
            return {"final": summary["final"], "history": summary["history"], "adversary": summary["adversary"]}

        runs[arm] = stages.run(arm, {"attack_fraction": fraction, **training}, work / arm, ppo, say)

    options = tuple(sorted({**AGENT, **({"dtype": "auto"} if bf16 else {})}.items()))
    agents = [AgentSpec("random", "random"), AgentSpec("oracle", "oracle"),
              AgentSpec("sft", "react", model=sft_run["final"], options=options, device=config.device),
              AgentSpec("sft-ppo", "react", model=runs["ppo-clean"]["final"], options=options, device=config.device),
              AgentSpec("sft-ppo-adversarial", "react", model=runs["ppo-adversarial"]["final"], options=options,
                        device=config.device)]
    say(f"leaderboard: suite {config._suite.name!r}, {len(agents)} agents, {config.workers} workers")
    board_start = time.perf_counter()
    board = run_leaderboard(config._suite, agents, out / "leaderboard", workers=config.workers,
                            progress=config.progress, episodes=config.episodes, command=command)
    board_seconds = time.perf_counter() - board_start
    import torch

    summary = {
        "sparring_version": sparring.__version__, "git_commit": git_commit()[0], "command": command,
        "python": platform.python_version(), "torch": torch.__version__, "machine": platform.machine(),
        "config": config.to_dict(), "agent": AGENT,
        "stages": {name: {"seconds": r["seconds"], "result": r["result"]} for name, r in stages.records.items()},
        "leaderboard": {"directory": str(out / "leaderboard"), "seconds": board_seconds,
                        "cells": board["run"]["cells"], "cached": board["run"]["cached"],
                        "rows": board["leaderboard"]},
        "seconds_this_run": time.perf_counter() - started,
    }
    write_json_atomic(out / "main.json", summary)
    return {**summary, "board": board}


__all__ = ["MainJobConfig", "STAGES", "run_main_job"]
