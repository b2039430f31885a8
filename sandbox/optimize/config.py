"""How a least-squares QP is solved and judged: the solver and its tolerances."""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from functools import cache
from typing import Any

import cvxpy as cp

from sandbox.core.errors import ConfigError, check_range

#: Solvers that take convex QPs through cvxpy; the ones installed here can be chosen.
QP_SOLVERS = ("CLARABEL", "OSQP", "SCS", "PIQP", "PROXQP", "QPALM", "DAQP", "ECOS",
              "GUROBI", "MOSEK", "CPLEX", "XPRESS", "COPT")


def available_solvers() -> list[str]:
    """The QP-capable solvers cvxpy finds installed, in :data:`QP_SOLVERS` order."""
    return list(_installed_qp_solvers())


@cache
def _installed_qp_solvers() -> tuple[str, ...]:
    # cvxpy probes each solver's import on every call (~20 ms): once per process is enough.
    installed = set(cp.installed_solvers())
    return tuple(name for name in QP_SOLVERS if name in installed)


@cache
def _osqp_polish_key() -> str:
    """OSQP 1.0 renamed its ``polish`` option ``polishing``."""
    try:
        major = int(importlib.metadata.version("osqp").split(".")[0])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return "polishing"
    return "polishing" if major >= 1 else "polish"


@dataclass(frozen=True)
class QPConfig:
    """How a least-squares QP is solved and judged."""

    solver: str = "CLARABEL"
    """cvxpy solver name: ``CLARABEL`` (interior point, the default) or ``OSQP`` (ADMM,
    best at warm re-solves) or another of :func:`available_solvers`."""
    tolerance: float = 1e-8
    """Solver's feasibility and optimality tolerance (Clarabel ``tol_feas``/``tol_gap_*``,
    OSQP and SCS ``eps_abs``/``eps_rel``), on the scaled problem."""
    max_iterations: int | None = None
    """Iteration cap passed to the solver; None keeps the solver's default, except OSQP's,
    raised to 100,000 (ADMM needs many iterations at tight tolerances on large problems)."""
    feasibility_tolerance: float = 1e-6
    """Largest violation accepted in a returned point, relative to ``1 + |rhs|`` of each
    row; a point that violates more raises :class:`QPSolverError`."""
    active_tolerance: float = 1e-6
    """A row or bound is active when its slack is at most this times ``1 + |rhs|``."""
    polish: bool = True
    """Refine the solver's point by solving its active set's KKT system exactly, kept only
    when it is a verified optimum (see :mod:`sandbox.optimize.polish`)."""
    polish_max_vars: int = 200
    """Polish only problems with at most this many variables (dense linear algebra)."""
    compress_rows: bool = True
    """Compress a tall dense design by QR (see the module docstring)."""
    diagnose_infeasibility: bool = True
    """On infeasibility, drop constraint sets one at a time to name the sets at fault."""
    solver_options: tuple[tuple[str, Any], ...] = ()
    """Extra keyword options for the solver, as ``(("name", value), ...)``."""
    verbose: bool = False
    """Let the solver print its progress."""

    def __post_init__(self):
        object.__setattr__(self, "solver", str(self.solver).upper())
        check_range("tolerance", self.tolerance, low=0.0, high=1e-2, low_open=True)
        check_range("feasibility_tolerance", self.feasibility_tolerance, low=0.0,
                    high=1.0, low_open=True)
        check_range("active_tolerance", self.active_tolerance, low=0.0, high=1.0)
        if self.max_iterations is not None and (
                not isinstance(self.max_iterations, int) or self.max_iterations < 1):
            raise ConfigError("max_iterations", self.max_iterations, "None or an integer >= 1")
        if not isinstance(self.polish_max_vars, int) or self.polish_max_vars < 0:
            raise ConfigError("polish_max_vars", self.polish_max_vars, "an integer >= 0")

    def options(self) -> dict[str, Any]:
        """Keyword options for ``cvxpy.Problem.solve`` with this solver."""
        tol, cap = self.tolerance, self.max_iterations
        named = {
            "CLARABEL": {"tol_feas": tol, "tol_gap_abs": tol, "tol_gap_rel": tol,
                         "max_iter": cap},
            "OSQP": {"eps_abs": tol, "eps_rel": tol, _osqp_polish_key(): True,
                     "max_iter": 100_000 if cap is None else cap},
            "SCS": {"eps_abs": tol, "eps_rel": tol, "max_iters": cap},
        }.get(self.solver, {})
        named = {key: value for key, value in named.items() if value is not None}
        return {**named, **dict(self.solver_options)}
