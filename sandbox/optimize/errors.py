"""Errors of the QP scenario optimizer: each names the constraint sets at fault."""

from __future__ import annotations

from sandbox.core.errors import SandboxError


def _quoted(names: tuple[str, ...]) -> str:
    """``'a'``, ``'a' and 'b'``, ``'a', 'b' and 'c'``."""
    shown = [repr(name) for name in names]
    if len(shown) <= 1:
        return "".join(shown)
    return ", ".join(shown[:-1]) + " and " + shown[-1]


class QPError(SandboxError):
    """Base class: a quadratic program has no answer the optimizer can stand behind."""


class QPInfeasibleError(QPError):
    """No point satisfies the constraints.

    Args:
        constraint_sets: names of the constraint sets that cannot hold together (the
            smallest group found by dropping sets one at a time); every set when no
            diagnosis was run.
        diagnosed: whether ``constraint_sets`` comes from that diagnosis.
    """

    def __init__(self, constraint_sets: tuple[str, ...], *, diagnosed: bool = True):
        self.constraint_sets = tuple(constraint_sets)
        self.diagnosed = diagnosed
        names = _quoted(self.constraint_sets)
        if not diagnosed:
            message = (f"the problem is infeasible: constraint sets {names} cannot all hold "
                       "(not diagnosed further)")
        elif len(self.constraint_sets) == 1:
            message = (f"the problem is infeasible: constraint set {names} cannot hold on "
                       "its own")
        else:
            message = (f"the problem is infeasible: constraint sets {names} cannot hold "
                       "together (dropping any one of them makes the rest feasible)")
        super().__init__(message)


class QPUnboundedError(QPError):
    """The objective decreases without limit over the feasible set.

    Args:
        constraint_sets: names of every constraint set of the problem; none of them stops
            the descent, so one more (bounds, say) is needed.
    """

    def __init__(self, constraint_sets: tuple[str, ...]):
        self.constraint_sets = tuple(constraint_sets)
        held = (f"constraint sets {_quoted(self.constraint_sets)}" if self.constraint_sets
                else "no constraint set")
        super().__init__(
            f"the problem is unbounded: the linear term decreases without limit and "
            f"{held} stop(s) it; add bounds or make the design matrix full column rank"
        )


class QPSolverError(QPError):
    """The solver failed, or returned a point that violates a constraint set."""
