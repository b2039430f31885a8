"""Social metrics and planner objectives, with Foundation's definitions so results compare.

- Equality ``= 1 - Gini``. The Gini is the mean absolute difference over twice the mean,
  ``sum_ij |x_i - x_j| / (2 N^2 mean)``; for fewer than 30 agents Foundation multiplies
  it by ``N/(N-1)`` so that one agent holding everything gives Gini 1
  (``scenarios/utils/social_metrics.py``). Computed here in O(N log N) from sorted values.
- Productivity: total income (coin).
- Equality x productivity: ``equality * sum(c)/N`` (Foundation's planner objective, per
  capita).
- Inverse-income-weighted utility: ``sum_i p_i u_i`` with ``p_i ∝ 1/max(z_i, 1)``.
- Utilitarian welfare: mean utility.
"""

from __future__ import annotations

import torch

from sandbox.core.errors import ConfigError
from sandbox.worlds.economy.utility import inverse_income_weights

#: Agents below this count get Foundation's small-sample Gini correction N/(N-1).
SMALL_SAMPLE = 30

#: Planner objectives by name.
OBJECTIVES = ("inverse_income_weighted_utility", "equality_times_productivity",
              "utilitarian_welfare")


def gini(values: torch.Tensor) -> torch.Tensor:
    """Gini coefficient over the last dimension, Foundation's normalisation.

    Args:
        values: ``[..., N]`` non-negative amounts (e.g. coin).

    Returns:
        ``[...]`` Gini in [0, 1] (0 when everything is equal or all is zero).
    """
    n = values.shape[-1]
    if n < 2:
        return torch.zeros(values.shape[:-1], dtype=values.dtype, device=values.device)
    ordered, _ = torch.sort(values.to(torch.float64), dim=-1)
    rank = torch.arange(1, n + 1, dtype=torch.float64, device=values.device)
    total = ordered.sum(-1)
    # sum_ij |x_i - x_j| = 2 * sum_i (2i - n - 1) x_(i)
    weighted = ((2 * rank - n - 1) * ordered).sum(-1)
    coefficient = torch.where(total > 0, weighted / (n * total.clamp(min=1e-300)), 0.0)
    if n < SMALL_SAMPLE:
        coefficient = coefficient * n / (n - 1)
    return coefficient.to(values.dtype)


def equality(values: torch.Tensor) -> torch.Tensor:
    """``1 - Gini`` over the last dimension (1 = perfectly equal)."""
    return 1.0 - gini(values)


def equality_times_productivity(consumption: torch.Tensor) -> torch.Tensor:
    """Foundation's objective ``equality * mean(c)`` over the last dimension."""
    return equality(consumption) * consumption.mean(-1)


def inverse_income_weighted_utility(utility: torch.Tensor, income: torch.Tensor):
    """``sum_i p_i u_i`` with ``p_i ∝ 1/max(z_i, 1)`` (pre-tax income), last dimension."""
    return (inverse_income_weights(income) * utility).sum(-1)


def social_welfare(objective: str, *, consumption, income, utility) -> torch.Tensor:
    """The named planner objective of an outcome, ``[B]``.

    Args:
        objective: one of :data:`OBJECTIVES`.
        consumption: ``[B, N]`` post-tax, post-transfer income, coin.
        income: ``[B, N]`` pre-tax income, coin.
        utility: ``[B, N]`` worker utility.
    """
    if objective == "inverse_income_weighted_utility":
        return inverse_income_weighted_utility(utility, income)
    if objective == "equality_times_productivity":
        return equality_times_productivity(consumption)
    if objective == "utilitarian_welfare":
        return utility.mean(-1)
    raise ConfigError("planner_objective", objective, f"one of {', '.join(OBJECTIVES)}")
