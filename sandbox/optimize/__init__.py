"""The quadratic-programming scenario optimizer: weighted least squares over cvxpy.

- :mod:`~sandbox.optimize.qp`: :class:`LeastSquaresQP` (reusable, warm re-solves),
  :func:`solve_least_squares`, :class:`QPResult`; :mod:`~sandbox.optimize.config`:
  :class:`QPConfig`, :func:`available_solvers`.
- :mod:`~sandbox.optimize.constraints`: named constraint sets :class:`LinearEquality`,
  :class:`LinearInequality`, :class:`Bounds`, :class:`Simplex`.
- :mod:`~sandbox.optimize.surrogates`: :func:`combine_surrogates` (adaptive AV testing).
- :mod:`~sandbox.optimize.tax_design`: :func:`design_bracket_rates` (tax schedules).

Infeasible and unbounded problems raise :class:`QPInfeasibleError` /
:class:`QPUnboundedError` (both :class:`~sandbox.core.errors.SandboxError`) naming the
constraint sets at fault. See ``docs/optimize.md``.
"""

from sandbox.optimize.config import QPConfig, available_solvers
from sandbox.optimize.constraints import Bounds, LinearEquality, LinearInequality, Simplex
from sandbox.optimize.errors import QPError, QPInfeasibleError, QPSolverError, QPUnboundedError
from sandbox.optimize.qp import (
    ConstraintReport,
    LeastSquaresQP,
    QPResult,
    solve_least_squares,
)
from sandbox.optimize.surrogates import combine_surrogates, fit_surrogate_combination
from sandbox.optimize.tax_design import RateDesign, bracket_base, design_bracket_rates

__all__ = [
    "Bounds", "ConstraintReport", "LeastSquaresQP", "LinearEquality", "LinearInequality",
    "QPConfig", "QPError", "QPInfeasibleError", "QPResult", "QPSolverError",
    "QPUnboundedError", "RateDesign", "Simplex", "available_solvers", "bracket_base",
    "combine_surrogates", "design_bracket_rates", "fit_surrogate_combination",
    "solve_least_squares",
]
