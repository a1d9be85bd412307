"""Kept so that ``from sparring.benchmarks.evaluate import ...`` still works: evaluation lives in
:mod:`sparring.agents.evaluate`, below the trainers that use it (docs/DESIGN.md, Layers)."""

from sparring.agents.evaluate import (
    bootstrap_interval,
    evaluate,
    format_table,
    summarize,
    wilson_interval,
)

__all__ = ["bootstrap_interval", "evaluate", "format_table", "summarize", "wilson_interval"]
