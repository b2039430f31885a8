"""Tax design: bracket rates closest to a target schedule that still raise the revenue.

Given bracket cutoffs ``c`` (coin), a target schedule ``t`` (e.g. Saez's bracket rates,
:mod:`sandbox.worlds.economy.saez`) and the incomes ``z_i`` of the workers, find rates

    minimise    sum_k w_k (rate_k - t_k)^2
    subject to  base @ rate >= revenue_required        ("revenue")
                lower_k <= rate_k <= upper_k            ("rate_bounds")
                rate_k <= rate_{k+1}                    ("non_decreasing", optional)

where ``base_k = sum_i income_in_brackets(z_i, c)_k`` is the coin all workers earn in
bracket ``k``, so revenue is linear in the rates.

Incomes are static: the design takes them as given and ignores how workers would change
their labour under the new rates (no behavioural response). The revenue it reports is
the mechanical revenue at those incomes; a world simulated under the designed rates will
raise less when workers respond (the elasticity that Saez's formula accounts for).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sandbox.core.errors import ConfigError
from sandbox.optimize.arrays import as_float_array, as_vector, as_weights
from sandbox.optimize.config import QPConfig
from sandbox.optimize.constraints import Bounds, LinearInequality
from sandbox.optimize.qp import LeastSquaresQP, QPResult

#: Names of the constraint sets in the diagnostics and errors.
REVENUE, RATE_BOUNDS, NON_DECREASING = "revenue", "rate_bounds", "non_decreasing"


@dataclass(frozen=True, eq=False)
class RateDesign:
    """Designed bracket rates and what they raise."""

    rates: np.ndarray
    """``[K]`` float64 marginal rates, one per bracket (0.37 means 37 %)."""
    revenue: float
    """Revenue the rates raise at the given (static) incomes, coin."""
    revenue_required: float
    """The revenue asked for, coin."""
    revenue_binding: bool
    """Whether the revenue constraint is active (the target schedule raises too little)."""
    bracket_base: np.ndarray
    """``[K]`` coin earned in each bracket over all workers: revenue = base @ rates."""
    qp: QPResult
    """The QP's diagnostics (status, residuals, active sets, duals, times)."""


def bracket_base(incomes: Any, cutoffs: Any) -> np.ndarray:
    """Coin earned in each bracket, summed over workers: ``[K]`` float64.

    Args:
        incomes: ``[N]`` pre-tax incomes, coin (numpy or torch; negative counts as 0).
        cutoffs: ``[K]`` bracket lower cutoffs, coin, starting at 0.
    """
    # Imported here so that ``import sandbox.optimize`` (the traffic harness's surrogate
    # mix) does not load the whole economy family.
    from sandbox.worlds.economy.tax_schedule import income_in_brackets, validate_cutoffs

    cuts = validate_cutoffs(cutoffs.tolist() if hasattr(cutoffs, "tolist") else cutoffs)
    income = as_float_array("incomes", incomes, ndim=1,
                            expected="a [N] array of finite incomes (one population)")
    if income.size == 0:
        raise ConfigError("incomes", "an empty array", "at least one income")
    in_brackets = income_in_brackets(torch.from_numpy(income),
                                     torch.tensor(cuts, dtype=torch.float64))
    return in_brackets.sum(dim=0).numpy()


def design_bracket_rates(
    target_rates: Any,
    *,
    cutoffs: Any,
    incomes: Any,
    revenue_required: float,
    weights: Any = None,
    lower: Any = 0.0,
    upper: Any = 1.0,
    non_decreasing: bool = False,
    problem: LeastSquaresQP | None = None,
) -> RateDesign:
    """Bracket rates closest (weighted least squares) to a target that raise the revenue.

    Incomes are held fixed (no behavioural response): see the module docstring.

    Args:
        target_rates: ``[K]`` rates to stay close to (e.g. Saez's bracket rates).
        cutoffs: ``[K]`` bracket lower cutoffs, coin, starting at 0, increasing.
        incomes: ``[N]`` pre-tax incomes, coin (numpy or torch).
        revenue_required: least total revenue over the ``N`` incomes, coin.
        weights: ``[K]`` weights ``>= 0`` of each bracket's squared gap; None for ones.
        lower: least rate, a number or ``[K]``.
        upper: largest rate, a number or ``[K]``.
        non_decreasing: also require ``rate_k <= rate_{k+1}``.
        problem: a :class:`LeastSquaresQP` to reuse (warm start); None for a fresh one.

    Returns:
        A :class:`RateDesign`.

    Raises:
        ConfigError: bad shapes or values, naming the argument.
        QPInfeasibleError: e.g. the revenue exceeds what the highest allowed rates raise
            (names ``"revenue"`` and ``"rate_bounds"``).
    """
    base = bracket_base(incomes, cutoffs)
    k = base.shape[0]
    target = as_vector("target_rates", target_rates, k, what="brackets")
    required = float(as_float_array("revenue_required", revenue_required, ndim=0,
                                    expected="a finite number of coin"))
    constraints = [LinearInequality(REVENUE, -base[None, :], [-required]),
                   Bounds(RATE_BOUNDS, as_vector("lower", lower, k, what="brackets"),
                          as_vector("upper", upper, k, what="brackets"))]
    if non_decreasing and k > 1:
        steps = np.eye(k)[:-1] - np.eye(k, k=1)[:-1]   # rate_k - rate_{k+1} <= 0
        constraints.append(LinearInequality(NON_DECREASING, steps, np.zeros(k - 1)))
    problem = problem if problem is not None else LeastSquaresQP(QPConfig())
    result = problem.solve(np.eye(k), target, weights=as_weights("weights", weights, k,
                                                                 what="brackets"),
                           constraints=constraints)
    # The solver's point meets every row to ~1e-16; clear that so the schedule is exactly
    # within its bounds and, when asked, exactly non-decreasing.
    rates = np.clip(result.x, constraints[1].lower, constraints[1].upper)
    if non_decreasing:
        rates = np.maximum.accumulate(rates)
    return RateDesign(rates=rates, revenue=float(base @ rates),
                      revenue_required=required, revenue_binding=result.is_active(REVENUE),
                      bracket_base=base, qp=result)
