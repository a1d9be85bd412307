"""Kept so that ``from sparring.benchmarks.robustness import ...`` still works: the robustness
metrics live in :mod:`sparring.adversary.metrics`, beside the attack report that computes them
(docs/DESIGN.md, Layers)."""

from sparring.adversary.metrics import (
    attack_success_rate,
    mean,
    mean_with_interval,
    normalized_robust_performance,
    paired_bootstrap,
    performance_drop_rate,
    robust_success_rate_at_k,
    robustness_summary,
    success_rate,
    targeted_attack_success_rate,
    validity_rate,
)

__all__ = [
    "attack_success_rate", "mean", "mean_with_interval", "normalized_robust_performance", "paired_bootstrap",
    "performance_drop_rate", "robust_success_rate_at_k", "robustness_summary", "success_rate",
    "targeted_attack_success_rate", "validity_rate",
]
