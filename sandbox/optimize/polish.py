"""Polishing: solve the KKT system of the solver's active set exactly.

An interior-point solver stops a small distance inside the feasible set; where the
problem is degenerate (a constraint active with a zero multiplier, e.g. a monotone rate
schedule whose pooled target equals the next rate) that distance is about the square
root of its tolerance. Polishing guesses the active rows from the solver's point, solves

    [H  A^T] [x]   [-g]
    [A   0 ] [y] = [ b]      (objective 1/2 x^T H x + g^T x; active rows A x = b)

and keeps the result only if it is feasible, its inequality multipliers are >= 0 and its
objective is no worse: then it is an exact optimum (OSQP's solution polishing, applied
after any solver). All on the scaled problem of :mod:`sandbox.optimize.qp`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from sandbox.optimize.constraints import Block


def _quadratic(objective) -> tuple[np.ndarray, np.ndarray, float]:
    """``H`` ``[n, n]``, ``g`` ``[n]`` and constant ``c`` of the scaled objective."""
    matrix = objective.matrix
    if sp.issparse(matrix):
        matrix = (sp.diags(objective.row_weights) @ matrix).toarray()
    hessian = 2.0 * matrix.T @ matrix
    gradient = -2.0 * matrix.T @ objective.target
    if objective.linear is not None:
        gradient = gradient + objective.linear
    return hessian, gradient, float(objective.target @ objective.target)


def _active_rows(blocks: list[Block], x: np.ndarray, tolerance: float):
    """Equality rows ``(E, d)`` and guessed-active ``<=`` rows ``(G, h)`` at ``x``.

    Also returns, for each ``G`` row, the ``(block, row)`` it comes from (-1: a bound).
    """
    n = x.shape[0]
    eq = [(b.eq_matrix, b.eq_rhs) for b in blocks]
    ineq, owners = [], []
    for number, b in enumerate(blocks):
        slack = b.ineq_rhs - b.ineq_matrix @ x
        near = np.flatnonzero(slack <= tolerance * (1.0 + np.abs(b.ineq_rhs)))
        ineq.append((b.ineq_matrix[near], b.ineq_rhs[near]))
        owners += [(number, int(row)) for row in near]
        for bound, sign in ((b.upper, 1.0), (b.lower, -1.0)):
            with np.errstate(invalid="ignore"):
                near = np.isfinite(bound) & (sign * (bound - x) <= tolerance * (1 + np.abs(bound)))
            index = np.flatnonzero(near)
            rows = np.zeros((index.size, n))
            rows[np.arange(index.size), index] = sign
            ineq.append((rows, sign * bound[index]))
            owners += [(number, -1)] * index.size
    return _stack(eq, n), _stack(ineq, n), owners


def _stack(parts, n: int) -> tuple[np.ndarray, np.ndarray]:
    """One ``([rows, n], [rows])`` pair from a list of them (possibly empty)."""
    return (np.vstack([rows for rows, _ in parts] + [np.zeros((0, n))]),
            np.concatenate([rhs for _, rhs in parts] + [np.zeros(0)]))


def _block_duals(blocks: list[Block], eq_multipliers, ineq_multipliers, owners):
    """Per block: multipliers of its equality rows or ``<=`` rows, or None for bounds.

    Inactive ``<=`` rows get 0. Scaled units.
    """
    duals, at = [], 0
    for b in blocks:
        p = b.eq_rhs.shape[0]
        duals.append(eq_multipliers[at:at + p] if p else (
            np.zeros(b.ineq_rhs.shape[0]) if b.ineq_rhs.size else None))
        at += p
    for (number, row), value in zip(owners, ineq_multipliers):
        if row >= 0:
            duals[number][row] = value
    return duals


def _kkt_point(hessian, gradient, eq, ineq):
    """``x`` and the equality and ``<=`` rows' multipliers solving the KKT system, or None."""
    rows = np.vstack([eq[0], ineq[0]])
    rhs = np.concatenate([-gradient, eq[1], ineq[1]])
    n, k = hessian.shape[0], rows.shape[0]
    kkt = np.block([[hessian, rows.T], [rows, np.zeros((k, k))]])
    try:
        solution = np.linalg.solve(kkt, rhs)
    except np.linalg.LinAlgError:
        solution = None
    if solution is None or not _solves(kkt, solution, rhs):
        # Singular (degenerate rows, or a design without full column rank): least squares.
        solution = np.linalg.lstsq(kkt, rhs, rcond=None)[0]
    if not _solves(kkt, solution, rhs):
        return None  # inconsistent: the guessed rows cannot all be active
    p = eq[0].shape[0]
    return solution[:n], solution[n:n + p], solution[n + p:]


def _solves(matrix, solution, rhs) -> bool:
    return bool(np.abs(matrix @ solution - rhs).max(initial=0.0)
                <= 1e-9 * (1.0 + np.abs(rhs).max(initial=0.0)))


@dataclass(frozen=True, eq=False)
class Polished:
    """A verified optimum and its multipliers (scaled problem's units)."""

    x: np.ndarray
    """``[n]`` the polished point."""
    duals: list
    """Per block: ``[rows]`` multipliers of its equality rows or of its ``<=`` rows, or
    None for bounds (cvxpy's sign convention)."""


def polish(objective, blocks: list[Block], x: np.ndarray, *, guesses: tuple[float, ...],
           feasibility: float = 1e-9) -> Polished | None:
    """An exact optimum near the solver's ``x``, or None when polishing fails.

    Args:
        objective: the scaled objective (``qp._Objective``).
        blocks: the problem's canonical constraint blocks.
        x: ``[n]`` the solver's point.
        guesses: relative slack tolerances tried in turn to guess the active rows.
        feasibility: largest relative violation a polished point may have.
    """
    hessian, gradient, constant = _quadratic(objective)

    def value(point):
        return 0.5 * point @ hessian @ point + gradient @ point + constant

    for tolerance in guesses:
        eq, ineq, owners = _active_rows(blocks, x, tolerance)
        found = _kkt_point(hessian, gradient, eq, ineq)
        if found is None:
            continue
        point, eq_multipliers, ineq_multipliers = found
        size = 1.0 + np.abs(ineq_multipliers).max(initial=0.0)
        if (ineq_multipliers < -1e-9 * size).any() or not _feasible(blocks, point, feasibility):
            continue
        if value(point) <= value(x) + 1e-6 * (1.0 + abs(value(x))):  # numerical guard
            duals = _block_duals(blocks, eq_multipliers, np.maximum(ineq_multipliers, 0.0),
                                 owners)
            return Polished(point, duals)
    return None


def _feasible(blocks: list[Block], x: np.ndarray, tolerance: float) -> bool:
    for b in blocks:
        gaps = [(np.abs(b.eq_matrix @ x - b.eq_rhs), b.eq_rhs),
                (b.ineq_matrix @ x - b.ineq_rhs, b.ineq_rhs),
                (np.where(np.isfinite(b.lower), b.lower - x, -1.0), b.lower),
                (np.where(np.isfinite(b.upper), x - b.upper, -1.0), b.upper)]
        for gap, size in gaps:
            size = np.where(np.isfinite(size), np.abs(size), 0.0)
            if (gap > tolerance * (1.0 + size)).any():
                return False
    return True
