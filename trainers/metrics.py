"""Metrics logs: every trainer writes JSON Lines (one record per logging step) beside TensorBoard."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sparring.fileio import json_safe


class JsonlLog:
    """Appends one JSON record per call, flushed, so a killed run keeps everything logged so far."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: dict[str, Any]) -> None:
        clean = json_safe(record)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(clean, sort_keys=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        records = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                break  # a partial last line from a killed writer
        return records


def hf_callback(path: str | os.PathLike) -> Any:
    """A ``transformers.TrainerCallback`` that copies the trainer's logs into a :class:`JsonlLog`."""
    from transformers import TrainerCallback

    log = JsonlLog(path)

    class _JsonlCallback(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **_: Any) -> None:
            if logs and state.is_world_process_zero:
                log.write({"step": state.global_step, "epoch": state.epoch, **logs})

    return _JsonlCallback()


def tensorboard_callback(directory: str | os.PathLike) -> Any:
    """A Trainer callback writing TensorBoard events into ``directory`` (not under the checkpoints)."""
    from torch.utils.tensorboard import SummaryWriter
    from transformers import TrainerCallback
    from transformers.integrations import TensorBoardCallback

    from sparring.trainers.devices import is_main_process

    if not is_main_process():  # one process writes the events
        return TrainerCallback()
    return TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(directory)))
