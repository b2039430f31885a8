"""Which constraint sets make a problem infeasible: a deletion filter over named sets.

Starting from every set, each set in turn is dropped for good if the others are still
infeasible without it. What remains is an irreducible infeasible group of sets: together
they admit no point, and dropping any one of them admits one (Chinneck's deletion filter,
applied to whole sets rather than rows). It costs one feasibility solve per set.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from sandbox.optimize.constraints import Block

_FEASIBLE = {cp.OPTIMAL, cp.OPTIMAL_INACCURATE}
_INFEASIBLE = {cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE}


def _constant_constraints(block: Block, x: cp.Variable) -> list:
    rows = []
    if block.eq_rhs.size:
        rows.append(block.eq_matrix @ x == block.eq_rhs)
    if block.ineq_rhs.size:
        rows.append(block.ineq_matrix @ x <= block.ineq_rhs)
    lower, upper = np.isfinite(block.lower), np.isfinite(block.upper)
    if lower.any():
        rows.append(x[lower] >= block.lower[lower])
    if upper.any():
        rows.append(x[upper] <= block.upper[upper])
    return rows


def is_feasible(blocks: list[Block], n: int, *, solver: str) -> bool | None:
    """Whether some ``x`` (``[n]``) satisfies every block: True, False, or None (unknown).

    Args:
        blocks: canonical constraint blocks.
        n: number of variables.
        solver: cvxpy solver name.
    """
    if not blocks:
        return True
    x = cp.Variable(n)
    problem = cp.Problem(cp.Minimize(0), [c for b in blocks for c in _constant_constraints(b, x)])
    try:
        problem.solve(solver=solver)
    except cp.error.SolverError:
        return None
    if problem.status in _FEASIBLE:
        return True
    return False if problem.status in _INFEASIBLE else None


def conflicting_sets(blocks: list[Block], n: int, *, solver: str) -> tuple[str, ...]:
    """Names of an irreducible group of blocks that cannot hold together.

    Args:
        blocks: canonical constraint blocks of an infeasible problem.
        n: number of variables.
        solver: cvxpy solver name used for the feasibility checks.

    Returns:
        The group's names in the order given; empty when the blocks are in fact
        feasible together (the solver's infeasibility claim was not confirmed).
    """
    if is_feasible(blocks, n, solver=solver) is not False:
        return ()
    kept = list(blocks)
    for block in blocks:
        without = [b for b in kept if b is not block]
        if is_feasible(without, n, solver=solver) is False:
            kept = without
    return tuple(b.name for b in kept)
