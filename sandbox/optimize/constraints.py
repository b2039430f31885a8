"""Named constraint sets of a least-squares QP, and their canonical numeric form.

A problem's constraints come in named sets (``"revenue"``, ``"rate_bounds"``...), so
that diagnostics (residuals, active rows, duals) and errors (which set makes the problem
infeasible) speak the user's words. Each set is turned into one :class:`Block`:

    eq_matrix @ x == eq_rhs,   ineq_matrix @ x <= ineq_rhs,   lower <= x <= upper,

with every row divided by its largest coefficient (``eq_scale``/``ineq_scale`` keep the
factors) so that a revenue row in coin and a rate row near 1 meet the solver on the same
footing. Residuals and duals are reported in the caller's units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cvxpy as cp
import numpy as np

from sandbox.core.errors import ConfigError
from sandbox.optimize.arrays import as_float_array, as_vector

_EMPTY = np.zeros(0)


@dataclass(frozen=True, eq=False)
class Block:
    """One constraint set in canonical form (rows scaled to a largest coefficient of 1).

    Shapes: ``eq_matrix [p, n]``, ``eq_rhs [p]``, ``eq_scale [p]``; ``ineq_matrix
    [q, n]``, ``ineq_rhs [q]``, ``ineq_scale [q]``; ``lower``/``upper`` ``[n]`` with
    ``-inf``/``inf`` where a variable has no bound. All float64, the caller's units
    divided by the row's scale.
    """

    name: str
    kind: str
    eq_matrix: np.ndarray
    eq_rhs: np.ndarray
    eq_scale: np.ndarray
    ineq_matrix: np.ndarray
    ineq_rhs: np.ndarray
    ineq_scale: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    @property
    def signature(self) -> tuple:
        """What fixes the compiled problem's structure (not its numbers)."""
        return (self.name, self.kind, self.eq_matrix.shape[0], self.ineq_matrix.shape[0],
                np.isfinite(self.lower).tobytes(), np.isfinite(self.upper).tobytes())


def _scaled_rows(matrix: np.ndarray, rhs: np.ndarray):
    scale = np.abs(matrix).max(axis=1, initial=0.0)
    scale = np.where(scale > 0, scale, 1.0)
    return matrix / scale[:, None], rhs / scale, scale


def _rows(name: str, matrix: Any, rhs: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    where = f"constraints[{name!r}]"
    matrix = as_float_array(f"{where}.matrix", matrix, ndim=2,
                            expected=f"a [rows, n_vars] = [rows, {n}] array")
    if matrix.shape[1] != n:
        raise ConfigError(f"{where}.matrix", f"array of shape {matrix.shape}",
                          f"a [rows, n_vars] = [rows, {n}] array")
    rhs = as_vector(f"{where}.rhs", rhs, matrix.shape[0], what="rows")
    return matrix, rhs


def _block(name: str, kind: str, n: int, *, eq=None, ineq=None, lower=None, upper=None):
    empty_rows = (np.zeros((0, n)), _EMPTY)
    eq_matrix, eq_rhs, eq_scale = _scaled_rows(*(eq or empty_rows))
    ineq_matrix, ineq_rhs, ineq_scale = _scaled_rows(*(ineq or empty_rows))
    return Block(name, kind, eq_matrix, eq_rhs, eq_scale, ineq_matrix, ineq_rhs, ineq_scale,
                 np.full(n, -np.inf) if lower is None else lower,
                 np.full(n, np.inf) if upper is None else upper)


@dataclass(frozen=True, eq=False)
class LinearEquality:
    """Rows ``matrix @ x == rhs``."""

    name: str
    """Name used in diagnostics and errors."""
    matrix: Any
    """``[rows, n_vars]`` coefficients (numpy, torch or list)."""
    rhs: Any
    """``[rows]`` right-hand side, or a number for every row."""

    def to_block(self, n: int) -> Block:
        """Canonical form for ``n`` variables (raises ConfigError on bad shapes)."""
        return _block(self.name, "equality", n, eq=_rows(self.name, self.matrix, self.rhs, n))


@dataclass(frozen=True, eq=False)
class LinearInequality:
    """Rows ``matrix @ x <= rhs`` (write ``>=`` rows with both sides negated)."""

    name: str
    """Name used in diagnostics and errors."""
    matrix: Any
    """``[rows, n_vars]`` coefficients (numpy, torch or list)."""
    rhs: Any
    """``[rows]`` right-hand side, or a number for every row."""

    def to_block(self, n: int) -> Block:
        """Canonical form for ``n`` variables (raises ConfigError on bad shapes)."""
        return _block(self.name, "inequality", n,
                      ineq=_rows(self.name, self.matrix, self.rhs, n))


@dataclass(frozen=True, eq=False)
class Bounds:
    """Box ``lower <= x <= upper``, per variable or one number for all (inf: no bound)."""

    name: str = "bounds"
    """Name used in diagnostics and errors."""
    lower: Any = -np.inf
    """Lower bound: a number or ``[n_vars]``; ``-inf`` for none."""
    upper: Any = np.inf
    """Upper bound: a number or ``[n_vars]``; ``inf`` for none."""

    def to_block(self, n: int) -> Block:
        """Canonical form for ``n`` variables (raises ConfigError on bad bounds)."""
        where = f"constraints[{self.name!r}]"
        lower = as_vector(f"{where}.lower", self.lower, n, allow_inf=True, what="n_vars")
        upper = as_vector(f"{where}.upper", self.upper, n, allow_inf=True, what="n_vars")
        if (lower > upper).any() or (lower == np.inf).any() or (upper == -np.inf).any():
            raise ConfigError(f"{where}.lower", "bounds with lower > upper somewhere",
                              "lower <= upper for every variable, lower < inf, upper > -inf")
        return _block(self.name, "bounds", n, lower=lower, upper=upper)


@dataclass(frozen=True, eq=False)
class Simplex:
    """``x[indices] >= 0`` and ``sum(x[indices]) == total`` (all variables by default)."""

    name: str = "simplex"
    """Name used in diagnostics and errors."""
    total: float = 1.0
    """What the variables sum to (> 0)."""
    indices: Any = field(default=None)
    """Integer indices of the variables on the simplex, or None for all of them."""

    def to_block(self, n: int) -> Block:
        """Canonical form for ``n`` variables (raises ConfigError on bad indices)."""
        where = f"constraints[{self.name!r}]"
        total = float(as_float_array(f"{where}.total", self.total, ndim=0))
        if not total > 0:
            raise ConfigError(f"{where}.total", self.total, "a number > 0")
        chosen = np.arange(n) if self.indices is None else np.asarray(self.indices)
        if (chosen.ndim != 1 or chosen.size == 0 or chosen.dtype.kind not in "iu"
                or chosen.min() < 0 or chosen.max() >= n or np.unique(chosen).size != chosen.size):
            raise ConfigError(f"{where}.indices", self.indices,
                              f"distinct integer indices in [0, {n})")
        row = np.zeros((1, n))
        row[0, chosen] = 1.0
        lower = np.full(n, -np.inf)
        lower[chosen] = 0.0
        return _block(self.name, "simplex", n, eq=(row, np.array([total])), lower=lower)


ConstraintSet = LinearEquality | LinearInequality | Bounds | Simplex


def to_blocks(constraints, n: int) -> list[Block]:
    """Canonical blocks of a sequence of constraint sets; names must be distinct."""
    if not isinstance(constraints, list | tuple):
        raise ConfigError("constraints", constraints, "a list or tuple of constraint sets")
    blocks, seen = [], set()
    for item in constraints:
        if not isinstance(item, ConstraintSet):
            raise ConfigError("constraints", item, "LinearEquality, LinearInequality, "
                              "Bounds or Simplex instances")
        if not isinstance(item.name, str) or not item.name or item.name in seen:
            raise ConfigError("constraints", item.name, "distinct, non-empty names")
        seen.add(item.name)
        blocks.append(item.to_block(n))
    return blocks


def violation(block: Block, x: np.ndarray) -> tuple[float, float]:
    """Largest violation of a block at ``x``: (absolute, relative to ``1 + |rhs|``).

    Absolute figures are in the caller's units (row scaling undone).
    """
    parts = [
        (np.abs(block.eq_matrix @ x - block.eq_rhs) * block.eq_scale,
         np.abs(block.eq_rhs) * block.eq_scale),
        (np.maximum(block.ineq_matrix @ x - block.ineq_rhs, 0.0) * block.ineq_scale,
         np.abs(block.ineq_rhs) * block.ineq_scale),
        (np.maximum(block.lower - x, 0.0), np.abs(np.where(np.isfinite(block.lower),
                                                           block.lower, 0.0))),
        (np.maximum(x - block.upper, 0.0), np.abs(np.where(np.isfinite(block.upper),
                                                           block.upper, 0.0))),
    ]
    absolute = max((float(gap.max(initial=0.0)) for gap, _ in parts), default=0.0)
    relative = max((float((gap / (1.0 + size)).max(initial=0.0)) for gap, size in parts),
                   default=0.0)
    return absolute, relative


def active_indices(block: Block, x: np.ndarray, tolerance: float) -> np.ndarray:
    """Indices of a block's active constraints at ``x``.

    Equality sets: every row. Inequality sets: rows whose slack is at most ``tolerance *
    (1 + |rhs|)``. Bounds and simplex sets: variables at one of their bounds (within the
    same relative tolerance).
    """
    if block.kind == "equality":
        return np.arange(block.eq_rhs.shape[0])
    if block.kind == "inequality":
        slack = (block.ineq_rhs - block.ineq_matrix @ x) * block.ineq_scale
        size = np.abs(block.ineq_rhs) * block.ineq_scale
        return np.flatnonzero(slack <= tolerance * (1.0 + size))
    with np.errstate(invalid="ignore"):
        at_lower = (x - block.lower) <= tolerance * (1.0 + np.abs(block.lower))
        at_upper = (block.upper - x) <= tolerance * (1.0 + np.abs(block.upper))
    at_lower &= np.isfinite(block.lower)
    at_upper &= np.isfinite(block.upper)
    return np.flatnonzero(at_lower | at_upper)


class CompiledBlock:
    """The cvxpy side of a block: Parameters for its numbers, handles for its duals.

    Args:
        block: the block whose structure (row counts, finite bounds) is compiled.
        x: the problem's ``[n]`` cvxpy Variable.
    """

    def __init__(self, block: Block, x: cp.Variable):
        p, q = block.eq_matrix.shape[0], block.ineq_matrix.shape[0]
        n = x.shape[0]
        self.constraints: list = []
        self.eq = self.ineq = None
        self._lower_idx = np.flatnonzero(np.isfinite(block.lower))
        self._upper_idx = np.flatnonzero(np.isfinite(block.upper))
        if p:
            self._eq_params = (cp.Parameter((p, n)), cp.Parameter(p))
            self.eq = self._eq_params[0] @ x == self._eq_params[1]
            self.constraints.append(self.eq)
        if q:
            self._ineq_params = (cp.Parameter((q, n)), cp.Parameter(q))
            self.ineq = self._ineq_params[0] @ x <= self._ineq_params[1]
            self.constraints.append(self.ineq)
        if self._lower_idx.size:
            self._lower = cp.Parameter(self._lower_idx.size)
            self.constraints.append(x[self._lower_idx] >= self._lower)
        if self._upper_idx.size:
            self._upper = cp.Parameter(self._upper_idx.size)
            self.constraints.append(x[self._upper_idx] <= self._upper)

    def assign(self, block: Block) -> None:
        """Set the Parameters to a block of the same structure."""
        if self.eq is not None:
            self._eq_params[0].value, self._eq_params[1].value = block.eq_matrix, block.eq_rhs
        if self.ineq is not None:
            self._ineq_params[0].value = block.ineq_matrix
            self._ineq_params[1].value = block.ineq_rhs
        if self._lower_idx.size:
            self._lower.value = block.lower[self._lower_idx]
        if self._upper_idx.size:
            self._upper.value = block.upper[self._upper_idx]

    def dual(self, block: Block, objective_scale: float) -> np.ndarray | None:
        """Multipliers of the equality or inequality rows in the caller's units, or None.

        ``objective_scale`` is the factor the objective was divided by before solving.
        Signs follow cvxpy (``>= 0`` for ``<=`` rows).
        """
        handle, scale = (self.eq, block.eq_scale) if self.eq is not None else (
            self.ineq, block.ineq_scale)
        if handle is None or handle.dual_value is None:
            return None
        return np.atleast_1d(np.asarray(handle.dual_value, dtype=np.float64)) * (
            objective_scale / scale)
