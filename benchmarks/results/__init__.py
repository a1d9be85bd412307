"""Programs that train and evaluate, and write the results an issue asks to show (curves, JSON)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any


def run_once(out: Path, name: str, run: Callable[[], Any]) -> dict[str, Any]:
    """Runs ``run()`` once: its record — ``{"result", "seconds", "cpu_seconds"}`` — is kept in
    ``out/stages/name.json`` (written atomically) and returned as it is by later calls, so an
    interrupted program resumes at the first stage it had not finished."""
    from sparring.trainers.run_dir import StageRecords

    return StageRecords.files(out / "stages").run(name, run, timed=True)


def results_parser(doc: str, out: str) -> argparse.ArgumentParser:
    """A program's argument parser (its description: the first paragraph of ``doc``) with the options
    every program has: ``--out`` (default ``out``) and ``--quick``."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=out, help=f"results directory (default {out})")
    parser.add_argument("--quick", action="store_true", help="small budgets: a smoke run of every stage")
    return parser


def quiet_libraries() -> None:
    """Silences the Hugging Face libraries' warnings and progress bars (the programs print their own)."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    import datasets

    datasets.disable_progress_bars()


def provenance(command: Any = None) -> dict[str, Any]:
    """What every summary starts with: versions, commit, ``command`` (default: this process's), machine."""
    import platform
    import sys

    import sparring
    from sparring.benchmarks.leaderboard import git_commit

    return {"sparring_version": sparring.__version__, "git_commit": git_commit()[0],
            "command": [sys.executable, *sys.argv] if command is None else command,
            "python": platform.python_version(), "machine": platform.machine()}


def save_figure(fig: Any, target: Path) -> None:
    """Lays out a matplotlib figure and writes it to ``target`` (PNG, 110 dpi) through a temporary
    file and a rename, then closes it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(target)
