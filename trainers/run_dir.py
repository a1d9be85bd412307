"""Run directories: what the resumable trainers and results programs keep in their output directory.

* **checkpoint publish**: :func:`save_checkpoint` writes a whole checkpoint into a staging directory
  next to its target, then renames it into place (:func:`sparring.fileio.staged_dir`), so a killed
  run never leaves a half-written checkpoint;
* **the resume check**: :func:`refuse_existing` (a run directory is not started over without
  ``resume``) and :func:`check_resume_config` (nor resumed with a config that differs where it
  matters);
* **JSON-safe floats**: :func:`~sparring.fileio.json_safe` (NaN and infinities as None);
* **stage records**: :class:`StageRecords`, what each finished stage of a resumable run produced,
  so that a resumed run skips it;
* **logs, trackers and clocks**: :class:`RunLog`, ``log.jsonl`` plus the run's :class:`Trackers`
  (TensorBoard events, wandb, trackio), trimmed to the last checkpoint when a run resumes;
  :class:`TrainingClock`, training time that goes on across resumes;
* **Hugging Face trainer runs** (SFT, DPO): ``hf_train`` resumes from ``out/checkpoints``,
  ``hf_save_final`` and ``hf_write_summary`` write ``out/final`` and ``out/summary.json``.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
import time
import uuid
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from sparring.errors import ConfigError
from sparring.fileio import json_safe, staged_dir, write_json_atomic, write_text_atomic
from sparring.trainers.metrics import JsonlLog


# --------------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------------
def save_checkpoint(target: str | os.PathLike, *, models: Mapping[str, Any] | None = None,
                    json_files: Mapping[str, Any] | None = None, tensors: Mapping[str, Any] | None = None,
                    tensors_file: str = "") -> Path:
    """Writes a checkpoint directory all at once: each of ``models`` saved (``model.save(dir / name,
    location=target / name)``: an agent names its embedded base where it will be published),
    each of ``json_files`` as indented JSON (NaN as null), ``tensors`` (torch) in ``tensors_file``
    (safetensors); all into a staging directory next to ``target`` that then replaces it."""
    with staged_dir(target) as staging:
        for name, model in (models or {}).items():
            model.save(staging / name, location=Path(target) / name)
        for name, payload in (json_files or {}).items():
            (staging / name).write_text(json.dumps(json_safe(payload), indent=2) + "\n")
        if tensors:
            from safetensors.torch import save_file

            save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, staging / tensors_file)
    return Path(target)


# --------------------------------------------------------------------------------------------------
# The resume check
# --------------------------------------------------------------------------------------------------
def refuse_existing(output_dir: str | os.PathLike, found: str | None, resume: bool, what: str = "checkpoints") -> None:
    """Refuses to start a run in ``output_dir`` over one it already holds (``found`` names what
    shows it, e.g. its last checkpoint), unless ``resume``."""
    if found and not resume:
        raise ConfigError(f"{output_dir} already holds {what} ({found}); pass resume=True (--resume) to continue "
                          f"that run, or choose another output_dir")


def check_resume_config(saved: Mapping[str, Any], current: Mapping[str, Any], fields: Sequence[str],
                        where: str | os.PathLike) -> None:
    """Refuses to resume the run at ``where`` (saved with config ``saved``) with a ``current`` config
    that differs in any of ``fields`` (compared as JSON), naming every difference."""
    changed = {k: (saved.get(k), current.get(k)) for k in fields
               if json.dumps(saved.get(k)) != json.dumps(current.get(k))}
    if changed:
        raise ConfigError(
            f"resuming {where} with a different config: "
            + ", ".join(f"{k} was {old!r}, now {new!r}" for k, (old, new) in changed.items())
            + "; use the config of the run you resume, or start a new output_dir"
        )


# --------------------------------------------------------------------------------------------------
# Stage records
# --------------------------------------------------------------------------------------------------
class StageRecords:
    """What each finished stage of a resumable run produced: :meth:`run` runs a stage only when it
    has no record yet (or, given a ``key``, none with that key) and keeps what it produced.

    The records are kept either one JSON file per stage (``StageRecords.files(directory)``:
    ``directory/NAME.json``, each written atomically) or in ``records``, a mapping that ``save()``
    writes out after each stage (e.g. a section of the run's state file; under ``accelerate launch``
    ``save`` can write on the main process only and wait for the others)."""

    def __init__(self, records: MutableMapping[str, Any] | None = None, save: Callable[[], None] | None = None, *,
                 directory: str | os.PathLike | None = None) -> None:
        self.records: MutableMapping[str, Any] = {} if records is None else records
        self._save = save
        self.directory = None if directory is None else Path(directory)

    @classmethod
    def files(cls, directory: str | os.PathLike) -> StageRecords:
        return cls(directory=directory)

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    def get(self, name: str) -> Any:
        """The record of stage ``name``, None if it has none."""
        if name not in self.records and self.directory is not None:
            path = self.directory / f"{name}.json"
            if path.exists():
                self.records[name] = json.loads(path.read_text())
        return self.records.get(name)

    def put(self, name: str, record: Any) -> Any:
        """Keeps ``record`` as stage ``name``'s (on disk at once); returns it."""
        self.records[name] = record
        if self.directory is not None:
            write_json_atomic(self.directory / f"{name}.json", record)
        if self._save is not None:
            self._save()
        return record

    def record(self, name: str, body: Callable[[], Any], *, timed: bool = False, **fields: Any) -> Any:
        """Runs ``body()`` and keeps its record: what it returns, or (``timed``) ``{**fields, "result":
        ..., "seconds": wall, "cpu_seconds": CPU time of this process}``."""
        if fields and not timed:
            raise TypeError(f"stage {name!r}: fields {sorted(fields)} need a timed record (timed=True)")
        start, cpu = time.perf_counter(), time.process_time()
        result = body()
        if not timed:
            return self.put(name, result)
        return self.put(name, {**fields, "result": result, "seconds": time.perf_counter() - start,
                               "cpu_seconds": time.process_time() - cpu})

    def run(self, name: str, body: Callable[[], Any], *, timed: bool = False, key: str | None = None,
            **fields: Any) -> Any:
        """Stage ``name``'s record: the one kept (if its ``key`` matches, where one is given), or a new
        one (:meth:`record`; a key is kept in the record, which must be ``timed``)."""
        record = self.get(name)
        if record is not None and (key is None or record.get("key") == key):
            return record
        return self.record(name, body, timed=timed, **({"key": key} if key is not None else {}), **fields)


# --------------------------------------------------------------------------------------------------
# Hugging Face trainer runs (SFT, DPO): checkpoints in out/checkpoints, the policy in out/final
# --------------------------------------------------------------------------------------------------
def hf_callbacks(out: Path, tensorboard: bool = True) -> list[Any]:
    """The callbacks that log a Hugging Face trainer into ``out/metrics.jsonl`` and (``tensorboard``)
    ``out/tensorboard``."""
    from sparring.trainers.metrics import hf_callback, tensorboard_callback

    return [hf_callback(out / "metrics.jsonl")] + ([tensorboard_callback(out / "tensorboard")] if tensorboard else [])


def hf_tracking(config: Any, out: Path) -> tuple[dict[str, Any], Trackers]:
    """How an SFT / DPO run reaches the trackers its config's ``report_to`` names: the
    ``TrainingArguments`` fields (``report_to`` for Transformers' own wandb / trackio integrations,
    ``run_name``, ``project``) and the :class:`Trackers` holding its wandb run, started here with
    the run's stable id (``trackers.json``) so that a resumed run continues it (Transformers then
    logs into it); :meth:`Trackers.close` it after training. TensorBoard stays with
    :func:`hf_callbacks` (``out/tensorboard``)."""
    from sparring.trainers.devices import is_main_process
    from sparring.trainers.metrics import check_report_to

    remote = [n for n in check_report_to(config.report_to) if n != "tensorboard"]
    for name in remote:
        import_tracker(name)  # the install hint, before Transformers' own error
    main = is_main_process()
    kwargs: dict[str, Any] = {"report_to": remote}
    if remote and main:
        identity = tracker_identity(out, resume=config.resume)  # Trackers below reads the same one
        kwargs.update(run_name=identity["run_name"], project=tracker_project("trackio"))
    settings = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    trackers = Trackers(out, report_to=[n for n in remote if n == "wandb"], config=settings, main=main, resume=True)
    return kwargs, trackers


def hf_train(trainer: Any, out: Path, resume: bool) -> Any:
    """Runs ``trainer`` (logging through :func:`hf_callbacks`, not to stdout; its progress bar, if
    any, on stderr), from the last
    checkpoint in ``out/checkpoints`` if ``resume`` and there is one; returns its train output."""
    from transformers import PrinterCallback, ProgressCallback

    from sparring.trainers.metrics import progress_callback

    trainer.remove_callback(PrinterCallback)  # logs go to metrics.jsonl and TensorBoard, not stdout
    if trainer.pop_callback(ProgressCallback) is not None:  # progress=True: the bar, with its lines on stderr
        trainer.add_callback(progress_callback())
    resume = resume and any((out / "checkpoints").glob("checkpoint-*"))
    return trainer.train(resume_from_checkpoint=True if resume else None)


def hf_save_final(trainer: Any, policy: Any, out: Path) -> Path:
    """Saves the trained ``policy`` as ``out/final``: under ``accelerate launch`` every process
    trains; one writes the policy, the others wait for it."""
    from sparring.trainers.devices import is_main_process

    trainer.accelerator.wait_for_everyone()
    final = out / "final"
    if is_main_process():
        policy.save(final)
    return final


def hf_write_summary(trainer: Any, out: Path, summary: dict[str, Any]) -> dict[str, Any]:
    """Writes ``out/summary.json`` and the learning curves ``out/curves.png`` (main process) once every
    process is done; returns ``summary``."""
    from sparring.trainers.devices import is_main_process
    from sparring.trainers.metrics import write_curves

    if is_main_process():
        write_text_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
        write_curves(out)
    trainer.accelerator.wait_for_everyone()
    return summary


# --------------------------------------------------------------------------------------------------
# Logs
# --------------------------------------------------------------------------------------------------
def truncate_log(log: JsonlLog, keep: Callable[[dict[str, Any]], bool]) -> None:
    """Drops the records of ``log`` that ``keep`` refuses (what a killed run logged after its last
    checkpoint), rewriting the file atomically; an untouched log is not rewritten."""
    records = log.read()
    kept = [r for r in records if keep(r)]
    if len(kept) != len(records):
        write_text_atomic(log.path, "".join(json.dumps(r) + "\n" for r in kept))


def tensorboard_writer(directory: str | os.PathLike, purge_step: int | None = None) -> Any:
    """A TensorBoard ``SummaryWriter`` into ``directory`` (``purge_step``: events a killed run wrote
    from that step on are dropped), or a clear error without the tensorboard package."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise ConfigError("tensorboard=True needs the tensorboard package; install it with "
                          "`pip install 'sparring[train]'` or set tensorboard=False") from exc
    return SummaryWriter(str(directory), purge_step=purge_step)


def add_scalars(writer: Any, record: Mapping[str, Any], step: int, tag: Callable[[str], str],
                skip: Sequence[str] = ()) -> None:
    """Writes the finite numbers of ``record`` (but those named in ``skip``) as scalars ``tag(name)``."""
    for name, value in record.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and name not in skip \
                and math.isfinite(value):
            writer.add_scalar(tag(name), value, step)
    writer.flush()


class TrainingClock:
    """Wall and CPU time of this process spent training, going on from the figures a resumed run's
    ``state`` saved (``training_seconds``, ``training_cpu_seconds``); what runs through
    :meth:`untimed` (the evaluations) is left out."""

    def __init__(self, state: Mapping[str, Any] | None = None) -> None:
        self.wall = state.get("training_seconds", 0.0) if state else 0.0
        self.cpu = state.get("training_cpu_seconds", 0.0) if state else 0.0
        self.since_wall, self.since_cpu = time.perf_counter(), time.process_time()

    def untimed(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``function(*args, **kwargs)``, its time left out of the clocks."""
        wall, cpu = time.perf_counter(), time.process_time()
        result = function(*args, **kwargs)
        self.since_wall += time.perf_counter() - wall
        self.since_cpu += time.process_time() - cpu
        return result

    def elapsed(self) -> tuple[float, float]:
        """Training seconds so far: ``(wall, cpu)``."""
        return self.wall + time.perf_counter() - self.since_wall, self.cpu + time.process_time() - self.since_cpu

    def out_of_time(self, max_minutes: float, max_cpu_minutes: float) -> bool:
        """Whether the wall or CPU training time passed its budget (0: none)."""
        wall, cpu = self.elapsed()
        return bool((max_minutes and wall > 60 * max_minutes) or (max_cpu_minutes and cpu > 60 * max_cpu_minutes))


class Trackers:
    """Sends a run's records to the experiment trackers it asked for, each record's finite numbers
    as ``tag(name)`` at its step: TensorBoard events in ``output_dir/tensorboard`` (``tensorboard``,
    or ``"tensorboard"`` in ``report_to``), a wandb run and a trackio run (named in ``report_to``;
    each imported only then, with a ``pip install`` hint when missing). Nothing off the main process.

    wandb and trackio runs go into project ``project`` (default: ``$WANDB_PROJECT`` /
    ``$TRACKIO_PROJECT``, else ``"sparring"``), named ``name`` (default: the output directory's last
    two parts), with ``config`` as their config. A stable id kept in ``output_dir/trackers.json``
    (wandb's run id; trackio's run name ends with it) lets a resumed run (``resume``) continue the same
    tracker run. Their steps never go down (both drop records logged below the last step): a record
    whose step is lower than the last one sent (another series, e.g. min-max's rounds after its
    adversary updates) goes to them at the last step; TensorBoard gets its own step.
    ``purge_step``: TensorBoard events a killed run wrote from that step on are dropped.
    """

    STATE = "trackers.json"

    def __init__(self, output_dir: str | os.PathLike, *, report_to: Sequence[str] = (), tensorboard: bool = False,
                 config: Mapping[str, Any] | None = None, main: bool = True, resume: bool = False,
                 purge_step: int | None = None, name: str | None = None, project: str | None = None) -> None:
        from sparring.trainers.metrics import check_report_to

        names = check_report_to(report_to)
        output_dir = Path(output_dir)
        self.writer: Any = None
        self.wandb_run: Any = None
        self.trackio: Any = None
        self._last_step: float | None = None
        if not main:
            return
        if tensorboard or "tensorboard" in names:
            self.writer = tensorboard_writer(output_dir / "tensorboard", purge_step=purge_step)
        remote = [n for n in names if n != "tensorboard"]
        if not remote:
            return
        modules = {n: import_tracker(n) for n in remote}  # every missing package named before any run starts
        identity = tracker_identity(output_dir, resume=resume, name=name)
        config = json_safe(dict(config or {}))
        if "wandb" in modules:
            self.wandb_run = modules["wandb"].init(project=tracker_project("wandb", project), name=identity["name"],
                                                   dir=str(output_dir), config=config, id=identity["id"],
                                                   resume="allow")
        if "trackio" in modules:
            self.trackio = modules["trackio"]
            self.trackio.init(project=tracker_project("trackio", project), name=identity["run_name"], config=config,
                              resume="allow")

    def log(self, record: Mapping[str, Any], step: int, tag: Callable[[str], str] = str,
            skip: Sequence[str] = ()) -> None:
        """Sends the finite numbers of ``record`` (but those named in ``skip``) as ``tag(name)`` at ``step``."""
        if self.writer is not None:
            add_scalars(self.writer, record, step, tag, skip=skip)
        if self.wandb_run is None and self.trackio is None:
            return
        scalars = {tag(name): value for name, value in record.items()
                   if isinstance(value, (int, float)) and not isinstance(value, bool) and name not in skip
                   and math.isfinite(value)}
        if not scalars:
            return
        self._last_step = step if self._last_step is None else max(step, self._last_step)
        if self.wandb_run is not None:
            self.wandb_run.log(scalars, step=self._last_step)
        if self.trackio is not None:
            self.trackio.log(scalars, step=self._last_step)

    def close(self) -> None:
        """Closes the TensorBoard writer and finishes the wandb and trackio runs (once)."""
        if self.writer is not None:
            self.writer.close()
        if self.wandb_run is not None:
            self.wandb_run.finish()
        if self.trackio is not None:
            self.trackio.finish()
        self.writer = self.wandb_run = self.trackio = None


def tracker_identity(output_dir: str | os.PathLike, *, resume: bool, name: str | None = None) -> dict[str, str]:
    """The run's identity at its trackers, kept in ``output_dir/trackers.json``: ``id`` (a stable
    random id, wandb's run id), ``name`` (default: the output directory's last two parts) and
    ``run_name`` (``name-id``, trackio's run). A resumed run (``resume``) keeps the one saved; a new run
    gets a new id."""
    output_dir = Path(output_dir)
    path = output_dir / Trackers.STATE
    identity = json.loads(path.read_text()) if resume and path.is_file() else {}
    identity.setdefault("id", uuid.uuid4().hex[:12])
    identity.setdefault("name", name or "/".join(output_dir.resolve().parts[-2:]))
    identity.setdefault("run_name", f"{identity['name']}-{identity['id']}")
    output_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, identity)
    return identity


def tracker_project(tracker: str, project: str | None = None) -> str:
    """The project a run goes into at ``tracker``: ``project``, else ``$WANDB_PROJECT`` /
    ``$TRACKIO_PROJECT``, else ``"sparring"``."""
    return project or os.environ.get(f"{tracker.upper()}_PROJECT") or "sparring"


def import_tracker(name: str) -> Any:
    """The ``wandb`` or ``trackio`` module, or a :class:`ConfigError` saying how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ConfigError(f"report_to names {name}, which is not installed; install it with `pip install {name}`, "
                          f"or leave {name} out of report_to (--report-to)") from exc


class RunLog:
    """An iterative trainer's log on the main process (none on the others): one JSON record per
    step in ``output_dir/log.jsonl`` and its numbers sent to the run's :class:`Trackers` (TensorBoard
    under ``output_dir/tensorboard`` with ``tensorboard``, and those ``report_to`` names) as
    ``prefix/name`` (unless the name has a ``/`` already), at the record's ``step_key``. A run
    resumed after step ``resumed_at`` first drops what the killed run logged after it, and goes on
    with the same tracker runs."""

    def __init__(self, output_dir: str | os.PathLike, *, prefix: str, tensorboard: bool, main: bool = True,
                 resumed_at: int | None = None, step_key: str = "iteration", report_to: Sequence[str] = (),
                 config: Mapping[str, Any] | None = None) -> None:
        output_dir = Path(output_dir)
        self.prefix, self.step_key = prefix, step_key
        self.log = JsonlLog(output_dir / "log.jsonl") if main else None
        if self.log is not None and resumed_at is not None:
            truncate_log(self.log, lambda r: r.get(step_key, 0) <= resumed_at)
        self.trackers = Trackers(output_dir, report_to=report_to, tensorboard=tensorboard, config=config, main=main,
                                 resume=resumed_at is not None,
                                 purge_step=resumed_at + 1 if resumed_at is not None else None)

    @property
    def writer(self) -> Any:
        return self.trackers.writer

    def __call__(self, record: dict[str, Any]) -> None:
        if self.log is not None:
            self.log.write(record)
        self.trackers.log(record, record[self.step_key],
                          lambda name: name if "/" in name else f"{self.prefix}/{name}", skip=(self.step_key,))

    def close(self) -> None:
        self.trackers.close()


__all__ = ["RunLog", "StageRecords", "Trackers", "TrainingClock", "add_scalars", "check_resume_config",
           "hf_callbacks", "hf_tracking", "hf_save_final", "hf_train", "hf_write_summary", "import_tracker",
           "json_safe", "refuse_existing", "save_checkpoint", "staged_dir", "tensorboard_writer", "tracker_identity",
           "tracker_project", "truncate_log"]
