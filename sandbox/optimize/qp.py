"""Weighted least squares with named linear constraint sets, solved through cvxpy.

The problem, for ``x`` in R^n::

    minimise    sum_i w_i (design @ x - target)_i^2  +  linear @ x
    subject to  every constraint set (LinearEquality, LinearInequality, Bounds, Simplex)

:class:`LeastSquaresQP` compiles the problem once per *structure* (sizes, constraint
names and kinds, which bounds are finite) with every number held in a cvxpy Parameter,
so re-solving with new numbers of the same structure skips cvxpy's compilation and lets
the solver reuse its set-up (OSQP also starts from the previous solution): a warm start.

Numerics: when the design is dense and taller than wide (``m > n``), its weighted rows are
compressed by a thin QR (``sqrt(w) * design = Q R``; the objective becomes
``||R x - Q^T sqrt(w) target||^2`` plus a constant), so the compiled problem has ``n``
rows whatever ``m`` is, and a problem that gains rows keeps its structure. The objective
is divided by the square of its largest coefficient and every constraint row by its
largest coefficient, so data in 1e-7 (crash rates) or 1e6 (coin) solve alike. Reported
objective, residuals and duals are in the caller's units.

A scipy sparse design is compiled as a constant (cvxpy reads sparse Parameters densely,
which costs n^2 memory): new targets, weights and constraint numbers re-solve warm, a new
design matrix compiles again.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from sandbox.core.errors import ConfigError
from sandbox.optimize.arrays import as_float_array, as_vector, as_weights
from sandbox.optimize.config import QPConfig, available_solvers
from sandbox.optimize.constraints import (
    Block,
    CompiledBlock,
    active_indices,
    to_blocks,
    violation,
)
from sandbox.optimize.diagnose import conflicting_sets, is_feasible
from sandbox.optimize.errors import QPInfeasibleError, QPSolverError, QPUnboundedError
from sandbox.optimize.polish import polish


@dataclass(frozen=True, eq=False)
class ConstraintReport:
    """Diagnostics of one constraint set at the solution."""

    name: str
    """The set's name."""
    kind: str
    """``equality``, ``inequality``, ``bounds`` or ``simplex``."""
    residual: float
    """Largest violation of any of its rows or bounds, in the caller's units (>= 0)."""
    active: np.ndarray
    """int64 indices of active rows (equality: all rows; inequality: rows with ~zero
    slack) or, for bounds and simplex sets, of variables at a bound."""
    dual: np.ndarray | None
    """Multipliers of its equality or inequality rows in the caller's units (cvxpy
    signs; for a simplex, of its sum row), None for bounds."""


@dataclass(frozen=True, eq=False)
class QPResult:
    """A solved least-squares QP: the point and how it was found."""

    x: np.ndarray
    """``[n_vars]`` float64 solution."""
    objective: float
    """``sum w (design @ x - target)^2 + linear @ x`` at ``x``, the caller's units."""
    status: str
    """cvxpy status (``optimal`` or ``optimal_inaccurate``; others raise)."""
    solver: str
    """Solver that produced ``x``."""
    warm: bool
    """Whether the compiled problem of an earlier solve was reused."""
    solve_time: float
    """Wall-clock seconds of the whole ``solve`` call (checks, compilation, solver)."""
    solver_time: float | None
    """Seconds the solver itself reported, if it did."""
    iterations: int | None
    """Solver iterations, if reported."""
    polished: bool
    """Whether ``x`` comes from polishing (an exact solve of the active set)."""
    constraints: dict[str, ConstraintReport] = field(default_factory=dict)
    """Diagnostics per constraint set, by name."""

    @property
    def residuals(self) -> dict[str, float]:
        """Largest violation of each constraint set, by name."""
        return {name: report.residual for name, report in self.constraints.items()}

    @property
    def active(self) -> dict[str, np.ndarray]:
        """Indices of the active rows or bounds of each constraint set, by name."""
        return {name: report.active for name, report in self.constraints.items()}

    def is_active(self, name: str) -> bool:
        """Whether any row or bound of the set called ``name`` is active."""
        return self.constraints[name].active.size > 0


@dataclass(frozen=True, eq=False)
class _Objective:
    """The objective's numbers, scaled, ready for the compiled problem's Parameters."""

    matrix: Any          # dense [r, n] scaled (and compressed), or the sparse design [m, n]
    target: np.ndarray   # [r] or [m], scaled
    row_weights: np.ndarray | None  # sparse only: [m] sqrt(w) / scale
    linear: np.ndarray | None       # [n] divided by scale^2
    scale: float                    # the objective was divided by this
    signature: tuple


def _design(design: Any) -> np.ndarray | sp.csr_array:
    expected = "a 2-D [n_rows, n_vars] array (numpy, torch or scipy sparse), n_rows >= 1"
    if sp.issparse(design):
        matrix = sp.csr_array(design, dtype=np.float64)
        if matrix.ndim != 2 or not np.isfinite(matrix.data).all():
            raise ConfigError("design", "a sparse matrix with non-finite entries", expected)
    else:
        matrix = as_float_array("design", design, ndim=2, expected=expected)
    if min(matrix.shape) < 1:
        raise ConfigError("design", f"array of shape {matrix.shape}", expected)
    return matrix


def _objective(design, target, weights, linear, *, compress: bool) -> _Objective:
    m, n = design.shape
    target = as_vector("target", target, m, what="n_rows")
    root = np.sqrt(as_weights("weights", weights, m))
    linear = None if linear is None else as_vector("linear", linear, n, what="n_vars")
    weighted_target = root * target
    if sp.issparse(design):
        row_max = np.asarray(abs(design).max(axis=1).todense()).ravel()
        size = max(float((root * row_max).max()), float(np.abs(weighted_target).max())) or 1.0
        digest = hashlib.blake2b(b"".join(a.tobytes() for a in (
            design.indptr, design.indices, design.data)), digest_size=16).hexdigest()
        return _Objective(design, weighted_target / size, root / size,
                          None if linear is None else linear / size**2, size**2,
                          ("sparse", m, n, digest, linear is not None))
    weighted = root[:, None] * design
    size = max(float(np.abs(weighted).max()), float(np.abs(weighted_target).max())) or 1.0
    if compress and m > n:
        q, weighted = np.linalg.qr(weighted, mode="reduced")
        weighted_target = q.T @ weighted_target
    return _Objective(weighted / size, weighted_target / size, None,
                      None if linear is None else linear / size**2, size**2,
                      ("dense", weighted.shape[0], n, linear is not None))


class _Compiled:
    """One compiled cvxpy problem and its Parameters, for one structure."""

    def __init__(self, objective: _Objective, blocks: list[Block], n: int, signature: tuple):
        self.signature = signature
        self.x = cp.Variable(n)
        r = objective.target.shape[0]
        self.target = cp.Parameter(r)
        if objective.row_weights is None:
            self.matrix = cp.Parameter((r, n))
            residual = self.matrix @ self.x - self.target
        else:
            self.row_weights = cp.Parameter(r, nonneg=True)
            residual = cp.multiply(self.row_weights, objective.matrix @ self.x) - self.target
        expression = cp.sum_squares(residual)
        if objective.linear is not None:
            self.linear = cp.Parameter(n)
            expression = expression + self.linear @ self.x
        self.blocks = [CompiledBlock(block, self.x) for block in blocks]
        self.problem = cp.Problem(cp.Minimize(expression),
                                  [c for b in self.blocks for c in b.constraints])

    def assign(self, objective: _Objective, blocks: list[Block]) -> None:
        self.target.value = objective.target
        if objective.row_weights is None:
            self.matrix.value = objective.matrix
        else:
            self.row_weights.value = objective.row_weights
        if objective.linear is not None:
            self.linear.value = objective.linear
        for compiled, block in zip(self.blocks, blocks):
            compiled.assign(block)

    def run(self, config: QPConfig) -> None:
        """Solve with the current Parameter values (warm when compiled before)."""
        try:
            with warnings.catch_warnings():
                # Inaccurate solutions are judged by the caller (status, residual checks).
                warnings.filterwarnings("ignore", message="Solution may be inaccurate")
                self.problem.solve(solver=config.solver, warm_start=True,
                                   verbose=config.verbose, **config.options())
        except cp.error.SolverError as error:
            raise QPSolverError(f"solver {config.solver} failed: {error}") from None


class LeastSquaresQP:
    """A reusable weighted least-squares QP; re-solves of one structure start warm.

    Keep one instance per recurring problem (a surrogate mix re-fitted as tests
    accumulate, a tax design re-run at new incomes) and call :meth:`solve` each time.

    Args:
        config: how to solve and judge (solver, tolerances, diagnostics).
    """

    def __init__(self, config: QPConfig | None = None):
        self.config = config or QPConfig()
        if not isinstance(self.config, QPConfig):
            raise ConfigError("config", config, "a QPConfig")
        self._compiled: _Compiled | None = None

    def solve(self, design: Any, target: Any, *, weights: Any = None, linear: Any = None,
              constraints: list | tuple = ()) -> QPResult:
        """Minimise ``sum w (design @ x - target)^2 + linear @ x`` under the constraints.

        Args:
            design: ``[m, n]`` float matrix (numpy, torch on any device, list, or scipy
                sparse).
            target: ``[m]`` values the rows of ``design @ x`` should match.
            weights: ``[m]`` non-negative row weights; None for all ones.
            linear: ``[n]`` linear objective coefficients; None for none.
            constraints: named constraint sets (:class:`LinearEquality`,
                :class:`LinearInequality`, :class:`Bounds`, :class:`Simplex`).

        Returns:
            A :class:`QPResult`; ``x`` is ``[n]`` float64 numpy.

        Raises:
            ConfigError: a bad shape, value or solver name (naming the argument).
            QPInfeasibleError: no point satisfies the constraints (naming the sets).
            QPUnboundedError: the objective has no minimum.
            QPSolverError: the solver failed or its point violates a set.
        """
        start = time.perf_counter()
        solver = self.config.solver
        if solver not in available_solvers():
            raise ConfigError("solver", solver, f"one of {', '.join(available_solvers())}")
        matrix = _design(design)
        n = matrix.shape[1]
        objective = _objective(matrix, target, weights, linear,
                               compress=self.config.compress_rows)
        blocks = to_blocks(constraints, n)
        signature = (objective.signature, tuple(block.signature for block in blocks))
        warm = self._compiled is not None and self._compiled.signature == signature
        if not warm:
            self._compiled = _Compiled(objective, blocks, n, signature)
        compiled = self._compiled
        compiled.assign(objective, blocks)
        compiled.run(self.config)
        self._check_status(compiled.problem.status, blocks, n)
        x = compiled.x.value
        if x is None or not np.isfinite(x).all():
            raise QPSolverError(f"solver {solver} returned no finite point "
                                f"(status {compiled.problem.status})")
        x = np.asarray(x, dtype=np.float64).copy()
        polished = None
        if self.config.polish and n <= self.config.polish_max_vars:
            guesses = (10.0 * np.sqrt(self.config.tolerance), self.config.active_tolerance)
            polished = polish(objective, blocks, x, guesses=guesses)
            x = x if polished is None else polished.x
        reports = self._reports(blocks, compiled, x, objective.scale, polished)
        residual = matrix @ x - as_vector("target", target, matrix.shape[0])
        value = float(as_weights("weights", weights, matrix.shape[0]) @ residual**2)
        if linear is not None:
            value += float(as_vector("linear", linear, n) @ x)
        stats = compiled.problem.solver_stats
        return QPResult(x=x, objective=value, status=compiled.problem.status, solver=solver,
                        warm=warm, solve_time=time.perf_counter() - start,
                        solver_time=stats.solve_time, iterations=stats.num_iters,
                        polished=polished is not None, constraints=reports)

    def _check_status(self, status: str, blocks: list[Block], n: int) -> None:
        if status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            return
        names = tuple(block.name for block in blocks)
        solver = "CLARABEL" if "CLARABEL" in available_solvers() else self.config.solver
        if status in (cp.UNBOUNDED, cp.UNBOUNDED_INACCURATE) or (
                status == cp.settings.INFEASIBLE_OR_UNBOUNDED
                and is_feasible(blocks, n, solver=solver)):
            raise QPUnboundedError(names)
        if status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE, cp.settings.INFEASIBLE_OR_UNBOUNDED):
            if not self.config.diagnose_infeasibility:
                raise QPInfeasibleError(names, diagnosed=False)
            found = conflicting_sets(blocks, n, solver=solver)
            if not found:
                raise QPSolverError(f"solver {self.config.solver} reported {status}, but the "
                                    "constraint sets are feasible together; try another solver")
            raise QPInfeasibleError(found)
        raise QPSolverError(f"solver {self.config.solver} stopped with status {status!r}; "
                            "raise max_iterations or try another solver")

    def _reports(self, blocks, compiled, x, scale, polished) -> dict[str, ConstraintReport]:
        reports = {}
        for number, (block, handles) in enumerate(zip(blocks, compiled.blocks)):
            absolute, relative = violation(block, x)
            if relative > self.config.feasibility_tolerance:
                raise QPSolverError(
                    f"solver {self.config.solver} returned a point violating constraint set "
                    f"{block.name!r} by {absolute:.3g}; tighten tolerance or try another solver")
            if polished is None:
                dual = None if block.kind == "bounds" else handles.dual(block, scale)
            else:
                dual = polished.duals[number]
                row_scale = block.eq_scale if block.eq_rhs.size else block.ineq_scale
                dual = None if dual is None else dual * scale / row_scale
            reports[block.name] = ConstraintReport(
                name=block.name, kind=block.kind, residual=absolute,
                active=active_indices(block, x, self.config.active_tolerance), dual=dual)
        return reports


def solve_least_squares(design: Any, target: Any, *, weights: Any = None, linear: Any = None,
                        constraints: list | tuple = (), config: QPConfig | None = None
                        ) -> QPResult:
    """Solve one weighted least-squares QP (cold); see :meth:`LeastSquaresQP.solve`.

    Args:
        design: ``[m, n]`` matrix (numpy, torch, list or scipy sparse).
        target: ``[m]`` target values.
        weights: ``[m]`` non-negative row weights; None for all ones.
        linear: ``[n]`` linear objective coefficients; None for none.
        constraints: named constraint sets.
        config: solver settings; None for the defaults (Clarabel).

    Returns:
        The :class:`QPResult`.
    """
    return LeastSquaresQP(config).solve(design, target, weights=weights, linear=linear,
                                        constraints=constraints)
