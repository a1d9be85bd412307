"""Running one trainer in several processes (``accelerate launch`` / ``torchrun``) without code changes.

The launchers start one copy of the command per device and set ``RANK``, ``LOCAL_RANK`` and
``WORLD_SIZE``. The Hugging Face-based trainers (SFT, DPO) get data parallelism from the Trainer;
the trainers with their own loops use the helpers here: each process takes its share of a batch or
of the env seeds, gradients are summed across processes, and the main process (rank 0) alone writes
checkpoints, logs and output, while the others wait for it at a barrier. In a plain run every helper
is a no-op (one process, rank 0).
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def rank() -> int:
    """This process's index among the launched ones (0 in a plain run)."""
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    """How many processes the launcher started (1 in a plain run)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """True in the process that writes checkpoints and prints."""
    return rank() == 0


def init() -> None:
    """Joins the launcher's process group (NCCL on GPUs, Gloo on CPUs) if there is more than one
    process and nobody (e.g. a Trainer) has joined it yet. The timeout is long because the other
    processes may wait at a barrier while the main one plays episodes."""
    if world_size() <= 1:
        return
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(hours=6))


def device(requested: str | None = None) -> Any:
    """The torch device of this process: ``requested`` if given, else this process's GPU (by
    ``LOCAL_RANK``) when there is one, else the CPU."""
    import torch

    if requested:
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def barrier() -> None:
    """Waits until every process gets here."""
    if world_size() > 1:
        import torch.distributed as dist

        init()
        dist.barrier()


def shard(items: Sequence[T]) -> Sequence[T]:
    """This process's contiguous share of ``items`` (all of them in a plain run); the shares of all
    processes cover ``items`` exactly once, in order."""
    n, size, index = len(items), world_size(), rank()
    start, stop = n * index // size, n * (index + 1) // size
    return items[start:stop]


def all_reduce_sum(value: float) -> float:
    """The sum of ``value`` over all processes."""
    if world_size() <= 1:
        return value
    import torch
    import torch.distributed as dist

    init()
    tensor = torch.tensor([float(value)], dtype=torch.float64, device=_collective_device())
    dist.all_reduce(tensor)
    return float(tensor.item())


def all_reduce_gradients(parameters: Iterable[Any]) -> None:
    """Sums the gradients of ``parameters`` over all processes (a parameter without a gradient here
    counts as zeros, so every process takes part in every reduction)."""
    if world_size() <= 1:
        return
    import torch
    import torch.distributed as dist

    init()
    for parameter in parameters:
        if parameter.grad is None:
            parameter.grad = torch.zeros_like(parameter)
        dist.all_reduce(parameter.grad)


def _collective_device() -> Any:
    import torch
    import torch.distributed as dist

    return device() if dist.get_backend() == "nccl" else torch.device("cpu")
