"""Metrics logs: every trainer writes JSON Lines (one record per logging step) beside TensorBoard and
the trackers its ``report_to`` names (:data:`TRACKERS`, validated by :func:`check_report_to`), and
draws its learning curves into ``curves.png`` when it finishes (:func:`plot_run`)."""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sparring.fileio import json_safe

logger = logging.getLogger(__name__)


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


def progress_callback() -> Any:
    """Hugging Face's progress bar over the steps (on stderr), with each log record as one compact
    line on stderr too (Transformers' own writes them to stdout, where the command line prints its
    JSON result)."""
    import sys

    from transformers import ProgressCallback

    class _StderrProgress(ProgressCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
                   **_: Any) -> None:
            if state.is_world_process_zero and self.training_bar is not None and logs:
                shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in logs.items()
                                  if k != "total_flos" and not isinstance(v, (str, dict, list)))
                self.training_bar.write(f"step {state.global_step}/{state.max_steps}: {shown}", file=sys.stderr)

    return _StderrProgress()


def tensorboard_callback(directory: str | os.PathLike) -> Any:
    """A Trainer callback writing TensorBoard events into ``directory`` (not under the checkpoints)."""
    from torch.utils.tensorboard import SummaryWriter
    from transformers import TrainerCallback
    from transformers.integrations import TensorBoardCallback

    from sparring.trainers.devices import is_main_process

    if not is_main_process():  # one process writes the events
        return TrainerCallback()
    return TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(directory)))


# --------------------------------------------------------------------------------------------------
# Trackers: where a run's numbers go besides its JSON Lines log (see run_dir.Trackers)
# --------------------------------------------------------------------------------------------------
#: the experiment trackers a trainer's ``report_to`` may name ("none": no tracker)
TRACKERS = ("tensorboard", "wandb", "trackio")

REPORT_TO_HELP = ("experiment trackers to send the metrics to: any of tensorboard, wandb, trackio, or none "
                  "(TensorBoard is also written while tensorboard is on); wandb and trackio need their "
                  "package; the project is 'sparring' unless WANDB_PROJECT / TRACKIO_PROJECT says otherwise")


def check_report_to(value: Any) -> tuple[str, ...]:
    """``report_to`` as a tuple of tracker names from :data:`TRACKERS` (a string may list several,
    comma-separated; ``"none"`` alone stands for no tracker), or a clear :class:`ConfigError`."""
    from sparring.errors import ConfigError

    items = [value] if isinstance(value, str) else list(value or ())
    names: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(f"report_to must hold tracker names, got {item!r}; e.g. report_to=['wandb']")
        names += [part.strip().lower() for part in item.split(",") if part.strip()]
    if "none" in names:
        if len(names) > 1:
            raise ConfigError(f"report_to lists 'none' with trackers {names}; pass either none or trackers")
        return ()
    unknown = [n for n in names if n not in TRACKERS]
    if unknown:
        raise ConfigError(f"unknown tracker(s) {unknown} in report_to; expected any of {list(TRACKERS)} or 'none'")
    return tuple(dict.fromkeys(names))


def writes_tensorboard(config: Any) -> bool:
    """Whether a trainer's config asks for TensorBoard events: its ``tensorboard`` field (on by
    default) or ``"tensorboard"`` in its ``report_to``."""
    return bool(getattr(config, "tensorboard", False)) or "tensorboard" in getattr(config, "report_to", ())


# --------------------------------------------------------------------------------------------------
# Learning curves of a run directory
# --------------------------------------------------------------------------------------------------
#: the logs trainers write into their output_dir, in the order their curves are drawn: SFT / DPO
#: (metrics.jsonl), PPO / GRPO / reward model (log.jsonl), ETO (rounds.jsonl), min-max (rounds.jsonl, then
#: adversary.jsonl)
RUN_LOGS = ("metrics.jsonl", "log.jsonl", "rounds.jsonl", "adversary.jsonl")
#: the keys that count steps (the x axis of a curve), the first one a record has
STEP_KEYS = ("iteration", "step", "update", "round", "epoch")
#: Hugging Face's end-of-training record (one point: not a curve)
_SUMMARY_KEYS = ("train_runtime", "total_flos")


def run_curves(run_dir: str | os.PathLike) -> dict[str, list[tuple[float, float]]]:
    """The learning curves in a run directory's logs (:data:`RUN_LOGS`): ``{metric: [(step, value),
    ...]}`` for every finite number the records hold, against their step key (:data:`STEP_KEYS`;
    the record's position when it has none), nested dicts flattened as ``outer/inner``. With more
    than one log (min-max) each name starts with its log's name (``adversary/reward``)."""
    from sparring.errors import SparringError

    run_dir = Path(run_dir)
    logs = [run_dir / name for name in RUN_LOGS if (run_dir / name).is_file()]
    if not logs:
        raise SparringError(f"{run_dir} holds no training log (expected one of {', '.join(RUN_LOGS)}); pass the "
                            f"output_dir of a sparring trainer")
    curves: dict[str, list[tuple[float, float]]] = {}
    for path in logs:
        prefix = f"{path.stem}/" if len(logs) > 1 else ""
        for position, record in enumerate(JsonlLog(path).read()):
            if any(key in record for key in _SUMMARY_KEYS):
                continue
            step_key = next((k for k in STEP_KEYS if _number(record.get(k))), None)
            x = float(record[step_key]) if step_key else float(position)
            for name, value in _flatten(record):
                if name not in STEP_KEYS and _number(value) and math.isfinite(value):
                    curves.setdefault(prefix + name, []).append((x, float(value)))
    return curves


def plot_run(run_dir: str | os.PathLike, out: str | os.PathLike | None = None, *,
             metrics: Sequence[str] | None = None, max_panels: int = 64) -> Path:
    """Draws the learning curves of a run directory (:func:`run_curves`: loss, reward, success, KL...,
    whatever its logs hold) as a PNG, one panel per metric; returns its path (``out``, by default
    ``run_dir/curves.png``). ``metrics`` picks the panels (default: every metric, in the order the
    logs first show them, up to ``max_panels``). The panels' names are also in the PNG's
    ``Description`` text (``panels: a, b, ...``). Needs matplotlib (``pip install matplotlib``)."""
    import io

    from sparring.errors import ConfigError
    from sparring.fileio import write_bytes_atomic

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ConfigError("plotting learning curves needs matplotlib; install it with `pip install matplotlib` "
                          "(or `pip install 'sparring[train]'`)") from exc
    curves = run_curves(run_dir)
    names = list(metrics) if metrics is not None else list(curves)[:max_panels]
    missing = [n for n in names if n not in curves]
    if missing:
        raise ConfigError(f"no metric {missing} in the logs of {run_dir}; it has {sorted(curves)}")
    if not names:
        raise ConfigError(f"the logs of {run_dir} hold no numbers to plot yet")
    columns = min(4, len(names))
    rows = (len(names) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 2.6 * rows), squeeze=False)
    for index, name in enumerate(names):
        axis = axes[index // columns][index % columns]
        xs, ys = zip(*curves[name], strict=True)
        axis.plot(xs, ys, marker="." if len(xs) < 30 else None, linewidth=1.2)
        axis.set_title(name, fontsize=9)
        axis.tick_params(labelsize=7)
        axis.grid(alpha=0.3)
    for index in range(len(names), rows * columns):
        axes[index // columns][index % columns].axis("off")
    figure.suptitle(Path(run_dir).resolve().name, fontsize=11)
    figure.tight_layout()
    target = Path(out) if out is not None else Path(run_dir) / "curves.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, metadata={"Description": "panels: " + ", ".join(names)})
    plt.close(figure)
    write_bytes_atomic(target, buffer.getvalue())
    return target


def write_curves(run_dir: str | os.PathLike) -> Path | None:
    """What a trainer calls when it finishes: :func:`plot_run` into ``run_dir/curves.png``, or, without
    matplotlib or without a log to plot, a log line saying why there is none."""
    from sparring.errors import SparringError

    try:
        return plot_run(run_dir)
    except SparringError as exc:
        logger.info("no curves.png in %s: %s", run_dir, exc)
    except Exception as exc:  # noqa: BLE001 - a finished run is not failed by its plot
        logger.warning("could not draw curves.png in %s: %s: %s", run_dir, type(exc).__name__, exc)
    return None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _flatten(record: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for key, value in record.items():
        if isinstance(value, Mapping):
            items += _flatten(value, f"{prefix}{key}/")
        else:
            items.append((f"{prefix}{key}", value))
    return items
