"""Benchmarks: evaluation with fixed seeds and confidence intervals, and performance programs (``perf``)."""

from sparring.agents.evaluate import (
    bootstrap_interval,
    evaluate,
    format_table,
    summarize,
    wilson_interval,
)

__all__ = ["bootstrap_interval", "evaluate", "format_table", "summarize", "wilson_interval"]
