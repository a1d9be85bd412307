"""Rollouts on Ray: actors that each hold a copy of the agent (its policy weights included) and play
their share of an episode list on envs of their own, and a driver that hands out the work, gathers
the results in the list's order, and pushes new weights to every copy after a training step.

    from sparring.agents.ray_actors import RayRollouts

    rollouts = RayRollouts(agent, workers=4)                 # a local Ray, or $RAY_ADDRESS
    rollouts = RayRollouts(agent, workers=16, address="ray://head:10001")
    results, steps = rollouts.run("sparring/Household-v0", split="train", seeds=range(256), num_envs=8,
                                  record_steps=True)
    ...  # train agent.model on the steps
    rollouts.sync_weights(agent.model)                        # the actors play the new policy

The leaderboard runs its cells on Ray actors too (``sparring leaderboard --ray [ADDRESS]``, see
:mod:`sparring.benchmarks.leaderboard`), and ``sparring collect --ray`` collects trajectories on
them. Ray is optional: ``pip install 'sparring[ray]'``. On a cluster, every node needs sparring and
the agent's code installed (or a Ray ``runtime_env`` that ships them).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any

from sparring.errors import ConfigError

#: arguments of ``ray.init`` that keep a library's Ray quiet: no dashboard, worker logs not echoed
_QUIET = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}


def ray_module() -> Any:
    """``import ray``, with an error that says how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("running on Ray needs the ray package: pip install 'sparring[ray]' (or pip install ray)") \
            from exc
    return ray


def init_ray(address: str | None = None, *, num_cpus: int | None = None) -> Any:
    """Connects to Ray (once per process): ``address`` is a cluster (``ray://host:10001``, ``auto``)
    or None / ``local`` for ``$RAY_ADDRESS`` when set, else a Ray started here with ``num_cpus``."""
    ray = ray_module()
    if ray.is_initialized():
        return ray
    if address in (None, "", "local"):
        address = os.environ.get("RAY_ADDRESS") or None
    kwargs: dict[str, Any] = dict(_QUIET)
    if address is None and num_cpus is not None:
        kwargs["num_cpus"] = num_cpus
    # workers start in this process's environment: same interpreter, same import path
    env_vars = {"PYTHONPATH": os.pathsep.join(p for p in [os.getcwd(), os.environ.get("PYTHONPATH", "")] if p),
                "TOKENIZERS_PARALLELISM": "false", "TRANSFORMERS_VERBOSITY": "error"}
    try:
        ray.init(address=address, runtime_env={"env_vars": env_vars}, **kwargs)
    except Exception as exc:  # ConnectionError, a bad address
        raise ConfigError(f"could not start or reach Ray at {address or 'a new local instance'!r}: "
                          f"{type(exc).__name__}: {exc}") from exc
    return ray


def trainable_state(model: Any) -> dict[str, Any]:
    """The tensors that training changes (every parameter that requires grad, e.g. a LoRA adapter's),
    on the CPU, keyed by name: what :meth:`RayRollouts.sync_weights` sends."""
    return {name: p.detach().to("cpu", copy=True) for name, p in model.named_parameters() if p.requires_grad}


class RolloutWorker:
    """A Ray actor's body: one agent copy; plays episode lists with :func:`~sparring.agents.rollout.run_episodes`."""

    def __init__(self, agent: Any, threads: int = 1) -> None:
        import logging
        import warnings

        logging.basicConfig(level=logging.WARNING)
        warnings.simplefilter("ignore", FutureWarning)
        self.agent = agent
        model = getattr(agent, "model", None)
        if model is not None:
            import torch

            torch.set_num_threads(max(1, threads))

    def call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """``function(agent, *args, **kwargs)`` on this actor's agent copy (a module-level function)."""
        return function(self.agent, *args, **kwargs)

    def set_weights(self, state: Mapping[str, Any]) -> int:
        """Loads ``state`` (names from :func:`trainable_state`) into the agent's model; how many tensors."""
        import torch

        params = dict(self.agent.model.named_parameters())
        missing = [name for name in state if name not in params]
        if missing:
            raise ConfigError(f"the actor's model has no parameters {missing[:3]}...; was it built from the same "
                              f"model as the learner's?")
        with torch.no_grad():
            for name, tensor in state.items():
                params[name].copy_(tensor.to(params[name].device, params[name].dtype))
        return len(state)

    def play(self, env_id: str, split: str, seeds: Sequence[int], kwargs: Mapping[str, Any],
             record_steps: bool) -> tuple[list[Any], list[list[dict[str, Any]]], dict[str, Any] | None]:
        from sparring.agents.rollout import run_episodes

        steps: list[list[dict[str, Any]]] = [[] for _ in seeds]

        def record(step: Any) -> None:
            row = dataclasses.asdict(step) if dataclasses.is_dataclass(step) else dict(step)
            steps[row["episode"]].append(row)

        results = run_episodes(self.agent, env_id, split=split, seeds=list(seeds),
                               on_step=record if record_steps else None, **dict(kwargs))
        stats = getattr(self.agent, "stats", None)
        return results, steps if record_steps else [], dict(stats) if isinstance(stats, Mapping) else None


class RayRollouts:
    """``workers`` Ray actors, each with a copy of ``agent``; see the module docstring.

    ``cpus_per_worker`` is what each actor reserves (and its torch threads); ``address`` as in
    :func:`init_ray`. Results do not depend on ``workers``: each episode is pinned to its seed, and a
    sampling agent draws from one stream per episode (:class:`~sparring.agents.base.EpisodeStreams`)."""

    def __init__(self, agent: Any, *, workers: int = 2, cpus_per_worker: float = 1.0, address: str | None = None,
                 num_cpus: int | None = None) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"workers must be a positive integer, got {workers!r}")
        self.ray = init_ray(address, num_cpus=num_cpus)
        actor = self.ray.remote(num_cpus=cpus_per_worker)(RolloutWorker)
        shared = self.ray.put(agent)  # one copy in the object store, one per actor
        self.actors = [actor.remote(shared, max(1, int(cpus_per_worker))) for _ in range(workers)]
        self.stats: list[dict[str, Any] | None] = [None] * workers

    def run(self, env_id: str, *, split: str = "train", seeds: Sequence[int], num_envs: int = 1,
            env_kwargs: Mapping[str, Any] | None = None, samples: Sequence[int] | None = None,
            wrappers: Sequence[Any] | None = None, record_steps: bool = False) -> tuple[list[Any], list[list[dict]]]:
        """Plays one episode per seed, the list dealt out to the actors in contiguous shares; returns the
        results in the seeds' order and, with ``record_steps``, each episode's steps (the
        :class:`~sparring.agents.rollout.StepRecord` fields as dicts, ``episode`` renumbered to the
        list)."""
        seeds = [int(s) for s in seeds]
        if samples is not None and len(samples) != len(seeds):
            raise ConfigError(f"expected one sample number per seed ({len(seeds)}), got {len(samples)}")
        if not seeds:
            return [], []
        shares = _shares(len(seeds), len(self.actors))
        calls = []
        for actor, (start, stop) in zip(self.actors, shares, strict=False):
            kwargs: dict[str, Any] = {"num_envs": num_envs, "env_kwargs": dict(env_kwargs or {})}
            if samples is not None:
                kwargs["samples"] = list(samples[start:stop])
            if wrappers:
                kwargs["wrappers"] = list(wrappers)
            calls.append((start, actor.play.remote(env_id, split, seeds[start:stop], kwargs, record_steps)))
        results: list[Any] = []
        steps: list[list[dict]] = []
        for index, (start, call) in enumerate(calls):
            share_results, share_steps, stats = self.ray.get(call)
            self.stats[index] = stats
            results.extend(share_results)
            for episode_steps in share_steps:
                steps.append([{**row, "episode": row["episode"] + start} for row in episode_steps])
        return results, steps

    def map_unordered(self, function: Any, calls: Sequence[tuple[Any, ...]]) -> Any:
        """Runs ``function(agent, *args)`` for each ``args`` of ``calls`` on the actors (each given its next
        call when it is free) and yields ``(index, result)`` as they finish, so a caller can keep each
        result (append it to a file) before the others are done."""
        queue = list(enumerate(calls))
        running: dict[Any, tuple[int, Any]] = {}

        def submit(actor: Any) -> None:
            index, args = queue.pop(0)
            running[actor.call.remote(function, *args)] = (index, actor)

        for actor in self.actors:
            if queue:
                submit(actor)
        while running:
            finished, _ = self.ray.wait(list(running), num_returns=1)
            index, actor = running.pop(finished[0])
            result = self.ray.get(finished[0])
            if queue:
                submit(actor)
            yield index, result

    def sync_weights(self, model: Any) -> int:
        """Sends ``model``'s trainable tensors to every actor; returns how many tensors each loaded."""
        state = self.ray.put(trainable_state(model))
        loaded = self.ray.get([actor.set_weights.remote(state) for actor in self.actors])
        return int(loaded[0]) if loaded else 0

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []


def _shares(n: int, parts: int) -> list[tuple[int, int]]:
    """``n`` items in at most ``parts`` contiguous, near-equal ``(start, stop)`` shares."""
    parts = max(1, min(parts, n))
    size, extra = divmod(n, parts)
    bounds, start = [], 0
    for k in range(parts):
        stop = start + size + (k < extra)
        bounds.append((start, stop))
        start = stop
    return bounds


__all__ = ["RayRollouts", "RolloutWorker", "init_ray", "ray_module", "trainable_state"]
