"""Programs that train and evaluate, and write the results an issue asks to show (curves, JSON)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def run_once(out: Path, name: str, run: Callable[[], Any]) -> dict[str, Any]:
    """Runs ``run()`` once: its record — ``{"result", "seconds", "cpu_seconds"}`` — is kept in
    ``out/stages/name.json`` (written atomically) and returned as it is by later calls, so an
    interrupted program resumes at the first stage it had not finished."""
    from sparring.fileio import write_json_atomic

    path = out / "stages" / f"{name}.json"
    if path.exists():
        return json.loads(path.read_text())
    start, cpu = time.perf_counter(), time.process_time()
    result = run()
    record = {"result": result, "seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu}
    write_json_atomic(path, record)
    return record
