"""The leaderboard: agents × envs × splits × attacks of a suite, evaluated with fixed seeds in
parallel worker processes, cached cell by cell, and reported with 95% bootstrap intervals.

    from sparring.benchmarks.leaderboard import run_leaderboard
    results = run_leaderboard("quick", ["random", "oracle", "ppo=react,model=runs/ppo/final"],
                              "results/leaderboard", workers=2)

What happens, in order:

1. The suite (a name or a TOML file, :mod:`sparring.benchmarks.suite`) and the agents
   (:mod:`sparring.benchmarks.agent_specs`) are checked in full: a bad key, env id, split,
   operator, option or agent stops the run before any cell is played.
2. Each model agent's weights are fingerprinted; the cells (:mod:`sparring.benchmarks.cells`) are
   planned and looked up in the cache (``OUT/cells/`` unless ``cache_dir`` is given).
3. The missing cells run, longest first, in ``workers`` spawned processes (one process: in this
   one), each worker loading a model agent once; every finished cell is written at once, so an
   interrupted run resumes where it stopped.
4. The figures (:mod:`sparring.benchmarks.scoreboard`) are computed and written to ``OUT``:
   ``leaderboard.json`` (versioned: schema, package version, git commit, the command, the seeds,
   the suite), ``leaderboard.md``, ``success_by_split.png``, ``pdr_by_family.png`` (with attacks) and
   ``index.html`` (one self-contained page with sortable tables), each written atomically.
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import json
import logging
import multiprocessing
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from sparring.benchmarks.agent_specs import AgentSpec, environment_threads, select_agents, with_fingerprint
from sparring.benchmarks.cells import Cell, CellCache, evaluate_and_store
from sparring.benchmarks.suite import Suite, load_suite
from sparring.errors import ConfigError, SparringError
from sparring.fileio import json_safe, write_bytes_atomic, write_text_atomic

logger = logging.getLogger(__name__)

#: bump when the layout of leaderboard.json changes
SCHEMA_VERSION = 1
FILES = {"json": "leaderboard.json", "markdown": "leaderboard.md", "html": "index.html",
         "success_plot": "success_by_split.png", "pdr_plot": "pdr_by_family.png"}


def plan_cells(suite: Suite, agents: Sequence[AgentSpec]) -> list[Cell]:
    """Every cell of the suite for the agents: clean on each env and split, attacked on each env's
    attack splits."""
    cells = []
    for agent in agents:
        for env in suite.envs:
            common = {"agent": agent, "env_id": env.id, "env_kwargs": env.kwargs, "task_seeds": suite.task_seeds(env),
                      "eval_seeds": suite.seeds, "num_envs": suite.num_envs}
            cells += [Cell(split=split, **common) for split in env.splits]
            cells += [Cell(split=split, attack=attack, **common)
                      for split in suite.attack_splits_of(env) for attack in suite.attacks]
    return cells


def check_agents_against_attacks(suite: Suite, agents: Sequence[AgentSpec]) -> None:
    """The greedy adversary queries the agent's action scores: only ReAct agents in score mode have them."""
    greedy = [a.name for a in suite.attacks if a.config.policy == "greedy"]
    if not greedy:
        return
    for agent in agents:
        if not agent.uses_model or dict(agent.options).get("mode", "score") != "score":
            raise ConfigError(f"attack {greedy[0]!r} uses the greedy policy, which queries the agent's action scores; "
                              f"agent {agent.name!r} ({agent.kind}) has none. Use policy = \"random\" for that attack "
                              f"or compare only react agents in score mode")


def run_leaderboard(
    suite: Suite | str | os.PathLike,
    agents: Sequence[str | AgentSpec] | None = None,
    out: str | os.PathLike = "results/leaderboard",
    *,
    workers: int = 1,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
    command: str | None = None,
    episodes: int | None = None,
    num_envs: int | None = None,
    seeds: Sequence[int] | None = None,
    samples: int | None = None,
    device: str | None = None,
    ray: str | bool | None = None,
) -> dict[str, Any]:
    """Runs (or resumes) a leaderboard and writes its outputs into ``out``; returns the results
    (what ``leaderboard.json`` holds, with NaN for undefined figures).

    ``agents`` are specs or command-line strings (:func:`~sparring.benchmarks.agent_specs.parse_agent`);
    None runs the suite's own. ``episodes``, ``num_envs``, ``seeds`` and ``samples`` override the
    suite's; ``device`` sets the torch device of every model agent. ``command`` is recorded as the
    command that produced the results (default: this process's command line). ``ray`` runs the cells
    on ``workers`` Ray actors instead of local worker processes: True or ``"local"`` for a local Ray
    (or ``$RAY_ADDRESS``), else a cluster address such as ``ray://head:10001``; each actor loads a
    model once and keeps it for every cell it plays, as a worker process does.
    """
    start = time.perf_counter()
    if not isinstance(suite, Suite):
        suite = load_suite(suite)
    suite = suite.with_overrides(episodes=episodes, num_envs=num_envs, seeds=seeds, samples=samples)
    specs = select_agents(agents, suite.agent_table)
    if device is not None:
        specs = [dataclasses.replace(s, device=device) if s.uses_model else s for s in specs]
    check_agents_against_attacks(suite, specs)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be a positive integer, got {workers!r}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"the results directory {str(out)!r} is a file; pass a directory with --out")
    specs = [with_fingerprint(s) for s in specs]  # builds a zoo model the first time

    cells = plan_cells(suite, specs)
    cache = CellCache(cache_dir if cache_dir is not None else out / "cells")
    results: dict[str, dict[str, Any]] = {}
    for cell in cells:
        found = cache.load(cell)
        if found is not None:
            results[cell.key] = found
    cached = {cell.key for cell in cells if cell.key in results}
    # two labels for one agent (same kind, options and weights) share their cells: each is played once
    todo = sorted({c.key: c for c in cells if c.key not in results}.values(), key=lambda c: -c.cost)
    logger.info("leaderboard %s: %d cells, %d cached, %d to evaluate", suite.name, len(cells), len(cached), len(todo))
    results.update(_execute(todo, cache, workers, progress, total=len(cells), done=len(cached),
                            models=any(c.agent.uses_model for c in todo), ray=ray))

    from sparring.benchmarks.scoreboard import compute_board

    clean = {(c.agent.name, c.env_id, c.split): results[c.key]["episodes"] for c in cells if c.attack is None}
    attacked = {(c.agent.name, c.env_id, c.split, c.attack.name): results[c.key]["episodes"]
                for c in cells if c.attack is not None}
    board = compute_board(suite, specs, clean, attacked)
    data = {
        "schema": "sparring.leaderboard", "schema_version": SCHEMA_VERSION, **provenance(command),
        "suite": {"name": suite.name, "source": suite.source, "resolved": suite.to_dict(), "text": suite.text},
        "seeds": {
            "task_seeds": {e.id: list(suite.task_seeds(e)) for e in suite.envs},
            "evaluation_seeds": list(suite.seeds),
            "attack_seeds": {a.name: list(range(a.samples)) for a in suite.attacks},
            "bootstrap_seed": suite.bootstrap_seed, "bootstrap_resamples": suite.resamples,
        },
        "agents": [s.to_dict() for s in specs],
        "run": {"cells": len(cells), "cached": len(cached), "evaluated": len(todo), "workers": workers,
                "executor": "ray" if ray else "processes" if workers > 1 else "in-process",
                "seconds": time.perf_counter() - start,
                "cell_seconds": sum(float(results[c.key].get("seconds", 0.0)) for c in cells),
                "cache_dir": str(cache.directory)},
        "cells": [{"key": c.key, "agent": c.agent.name, "env_id": c.env_id, "split": c.split,
                   "attack": c.attack.name if c.attack else None, "trials": c.agent.trials, "cached": c.key in cached,
                   "seconds": results[c.key].get("seconds"), "agent_stats": results[c.key].get("agent_stats") or None}
                  for c in cells],
        **board,
    }
    data["run"]["seconds"] = time.perf_counter() - start  # evaluation and figures; writing the files is not counted
    data["outputs"] = write_outputs(data, out)
    return data


# --------------------------------------------------------------------------------------------------
# Running cells
# --------------------------------------------------------------------------------------------------
def init_worker(threads: int, models: bool) -> None:
    """A worker's set-up: its share of the cores for torch, and quiet libraries."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.WARNING)
    import warnings

    # deprecation notices of the model libraries, once per worker, would only interleave with the progress bar
    warnings.simplefilter("ignore", FutureWarning)
    warnings.simplefilter("ignore", DeprecationWarning)
    if models:
        import torch
        from transformers.utils import logging as hf_logging

        torch.set_num_threads(threads)
        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()


class CellActor:
    """A Ray actor's body for leaderboard cells: a worker process that stays up, its models loaded once."""

    def __init__(self, threads: int, models: bool) -> None:
        init_worker(threads, models)

    def evaluate(self, cell: Cell, cache_dir: str) -> dict[str, Any]:
        return evaluate_and_store(cell, cache_dir)


def _execute(todo: Sequence[Cell], cache: CellCache, workers: int, progress: bool, *, total: int, done: int,
             models: bool, ray: str | bool | None = None) -> dict[str, dict[str, Any]]:
    from tqdm.auto import tqdm

    results: dict[str, dict[str, Any]] = {}
    if not todo:
        return results
    bar = tqdm(total=total, initial=done, desc="leaderboard", unit="cell", dynamic_ncols=True,
               disable=None if progress else True)  # None: only on a terminal

    def finish(result: Mapping[str, Any]) -> None:
        if "error" in result:
            logger.debug("%s", result.get("traceback", ""))
            raise SparringError(f"cell {result['label']} failed: {result['error']}. The finished cells are cached in "
                                f"{cache.directory}; fix the cause and run the same command again to resume")
        results[result["key"]] = dict(result)
        bar.set_postfix_str(result["label"], refresh=False)
        bar.update(1)

    try:
        if ray:
            _execute_on_ray(todo, str(cache.directory), workers, models, None if ray is True else str(ray), finish)
            return results
        if workers == 1:
            if models:
                _quiet_transformers()
            for cell in todo:
                finish(evaluate_and_store(cell, str(cache.directory)))
            return results
        context = multiprocessing.get_context("spawn")
        pool_size = min(workers, len(todo))
        with ProcessPoolExecutor(max_workers=pool_size, mp_context=context, initializer=init_worker,
                                 initargs=(environment_threads(pool_size), models)) as pool:
            pending = {pool.submit(evaluate_and_store, cell, str(cache.directory)) for cell in todo}
            try:
                while pending:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        finish(future.result())
            except BaseException:
                for future in pending:  # cells already running finish (and are cached) as the pool shuts down
                    future.cancel()
                raise
        return results
    finally:
        bar.close()


def _execute_on_ray(todo: Sequence[Cell], cache_dir: str, workers: int, models: bool, address: str | None,
                    finish: Any) -> None:
    """Plays the cells on ``workers`` Ray actors, each given its next cell as soon as it is free."""
    from sparring.agents.ray_actors import init_ray

    ray = init_ray(address)
    cpus = float(ray.available_resources().get("CPU", 1.0))
    pool_size = min(workers, len(todo))
    per_actor = max(cpus / pool_size, 0.01) if cpus < pool_size else 1.0
    actor_class = ray.remote(num_cpus=per_actor)(CellActor)
    actors = [actor_class.remote(max(1, int(cpus // pool_size)), models) for _ in range(pool_size)]
    queue = list(todo)
    running: dict[Any, Any] = {}
    try:
        for actor in actors:
            if queue:
                running[actor.evaluate.remote(queue.pop(0), cache_dir)] = actor
        while running:
            finished, _ = ray.wait(list(running), num_returns=1)
            actor = running.pop(finished[0])
            finish(ray.get(finished[0]))
            if queue:
                running[actor.evaluate.remote(queue.pop(0), cache_dir)] = actor
    finally:
        for actor in actors:  # cells already stored stay cached; the rest run again on resume
            ray.kill(actor)


def _quiet_transformers() -> None:
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


# --------------------------------------------------------------------------------------------------
# Provenance and outputs
# --------------------------------------------------------------------------------------------------
def git_commit(path: str | os.PathLike | None = None) -> tuple[str | None, bool | None]:
    """The commit of the source tree sparring runs from and whether it has uncommitted changes;
    (None, None) outside a git checkout (an installed wheel)."""
    where = str(path or Path(__file__).resolve().parent)
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return None, None
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                                capture_output=True, text=True, timeout=10)
        return commit.stdout.strip(), bool(status.stdout.strip()) if status.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None, None


def provenance(command: str | None) -> dict[str, Any]:
    import sparring

    commit, dirty = git_commit()
    return {"sparring_version": sparring.__version__, "git_commit": commit, "git_dirty": dirty,
            "command": command if command is not None else shlex.join(sys.orig_argv),
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "python": platform.python_version(), "platform": platform.platform()}


def dumps(data: Mapping[str, Any]) -> str:
    return json.dumps(json_safe(data), indent=2, allow_nan=False) + "\n"


def write_outputs(data: dict[str, Any], out: str | os.PathLike) -> dict[str, str]:
    """Writes the JSON, the Markdown, the plots and the HTML page; returns ``{kind: file name}``."""
    from sparring.benchmarks.leaderboard_plots import pdr_by_family, success_by_split
    from sparring.benchmarks.leaderboard_tables import html_page, markdown

    out = Path(out)
    written: dict[str, str] = {}
    plots: dict[str, bytes] = {}
    for kind, draw in (("success_plot", success_by_split), ("pdr_plot", pdr_by_family)):
        try:
            image = draw(data)
        except ImportError:
            logger.warning("matplotlib is not installed, so the leaderboard has no PNG plots; pip install matplotlib")
            break
        if image is None:  # nothing to plot (no attacks): no stale plot of an earlier run either
            (out / FILES[kind]).unlink(missing_ok=True)
        else:
            buffer = io.BytesIO()
            image.savefig(buffer, format="png", dpi=120, bbox_inches="tight", metadata={"Software": None})
            plots[kind] = buffer.getvalue()
            write_bytes_atomic(out / FILES[kind], plots[kind])
            written[kind] = FILES[kind]
    write_text_atomic(out / FILES["markdown"], markdown(data))
    written["markdown"] = FILES["markdown"]
    write_text_atomic(out / FILES["html"], html_page(data, plots))
    written["html"] = FILES["html"]
    written["json"] = FILES["json"]
    write_text_atomic(out / FILES["json"], dumps({**data, "outputs": written}))
    return written


__all__ = ["FILES", "SCHEMA_VERSION", "check_agents_against_attacks", "dumps", "git_commit", "plan_cells",
           "provenance", "run_leaderboard", "write_outputs"]
