"""Surrogate combination for adaptive AV testing (Yang et al., arXiv 2402.19275, 2024).

Adaptive testing scores each candidate maneuver with several surrogate models of the AV
under test and mixes their criticalities with coefficients ``c``: the combined
criticality of a state is ``surrogate_criticality @ c``. The coefficients are re-fitted,
as tests accumulate, to the criticality observed (or learned) on critical states:

    minimise    sum_s w_s (surrogate_criticality[s] @ c - target[s])^2
    subject to  c >= 0,  sum(c) == 1

a least-squares QP on the probability simplex. The problem compresses to
``n_surrogates`` rows (see :mod:`sandbox.optimize.qp`), so a :class:`LeastSquaresQP` kept
between re-fits starts warm however many states have accumulated.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sandbox.core.errors import ConfigError
from sandbox.optimize.arrays import as_float_array
from sandbox.optimize.config import QPConfig
from sandbox.optimize.constraints import Simplex
from sandbox.optimize.qp import LeastSquaresQP, QPResult

#: Name of the simplex constraint set in the fit's diagnostics.
SIMPLEX = "coefficients_simplex"


def fit_surrogate_combination(
    surrogate_criticality: Any,
    target: Any,
    weights: Any = None,
    *,
    problem: LeastSquaresQP | None = None,
) -> QPResult:
    """Fit the surrogate mix and return the full QP result (diagnostics included).

    Args:
        surrogate_criticality: ``[n_states, n_surrogates]`` criticality each surrogate
            gives each critical state (numpy or torch; e.g. crash probabilities).
        target: ``[n_states]`` criticality observed or learned for the AV under test.
        weights: ``[n_states]`` non-negative weights (e.g. importance weights or
            visit counts); None for equal weights.
        problem: a :class:`LeastSquaresQP` to reuse between re-fits (warm start; its
            config picks the solver); None builds a fresh one with the defaults.

    Returns:
        A :class:`QPResult`; ``x`` is the ``[n_surrogates]`` coefficient vector, its
        simplex diagnostics under :data:`SIMPLEX` (``active``: surrogates given 0).
    """
    criticality = as_float_array(
        "surrogate_criticality", surrogate_criticality, ndim=2,
        expected="a [n_states, n_surrogates] array of finite numbers")
    n_states, n_surrogates = criticality.shape
    if n_states < 1 or n_surrogates < 1:
        raise ConfigError("surrogate_criticality", f"array of shape {criticality.shape}",
                          "at least one state and one surrogate")
    target = as_float_array("target", target, ndim=1,
                            expected=f"a [n_states] = [{n_states}] array of finite numbers")
    if target.shape[0] != n_states:
        raise ConfigError("target", f"array of shape {target.shape}",
                          f"a [n_states] = [{n_states}] array, one value per state")
    problem = problem if problem is not None else LeastSquaresQP(QPConfig())
    return problem.solve(criticality, target, weights=weights,
                         constraints=[Simplex(SIMPLEX, total=1.0)])


def combine_surrogates(
    surrogate_criticality: Any,
    target: Any,
    weights: Any = None,
    *,
    problem: LeastSquaresQP | None = None,
) -> np.ndarray:
    """Coefficients (``>= 0``, summing to 1) that best mix surrogates into the target.

    Minimises ``sum_s weights[s] * (surrogate_criticality[s] @ c - target[s])**2`` over
    the probability simplex. When several mixes fit equally well (collinear surrogates)
    the solver returns one of them.

    Args:
        surrogate_criticality: ``[n_states, n_surrogates]`` float criticality per
            state and surrogate (numpy or torch, any device).
        target: ``[n_states]`` float criticality of the AV under test.
        weights: ``[n_states]`` float weights ``>= 0``; None for equal weights.
        problem: a :class:`LeastSquaresQP` kept between re-fits for warm starts.

    Returns:
        ``[n_surrogates]`` float64 numpy coefficients.

    Raises:
        ConfigError: bad shapes or values, naming the argument.

    Example:
        >>> import numpy as np
        >>> s = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> np.round(combine_surrogates(s, s @ np.array([0.25, 0.75])), 6)
        array([0.25, 0.75])
    """
    result = fit_surrogate_combination(surrogate_criticality, target, weights,
                                       problem=problem)
    # Clear the solver's ~1e-10 excursions so callers get an exact distribution.
    coefficients = np.clip(result.x, 0.0, None)
    return coefficients / coefficients.sum()
