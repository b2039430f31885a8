"""Inputs at the edge: numpy arrays, torch tensors or lists become checked float64 arrays."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from sandbox.core.errors import ConfigError


def _shape_text(value: Any) -> str:
    shape = getattr(value, "shape", None)
    return f"array of shape {tuple(shape)}" if shape is not None else repr(value)


def as_float_array(
    field: str,
    value: Any,
    *,
    ndim: int,
    allow_inf: bool = False,
    expected: str | None = None,
) -> np.ndarray:
    """Convert ``value`` to a float64 numpy array of ``ndim`` dimensions.

    Args:
        field: argument name used in error messages.
        value: numpy array, torch tensor (any device or dtype), scipy sparse matrix
            (densified), list or scalar.
        ndim: required number of dimensions (0 for a scalar).
        allow_inf: accept +-inf (bounds); NaN is always refused.
        expected: words for the error message, e.g. ``"a [n_states] array"``.

    Returns:
        A new float64 array (never a view of a caller's tensor).
    """
    expected = expected or f"a {ndim}-D array of finite numbers"
    if isinstance(value, torch.Tensor):
        array = value.detach().to("cpu", torch.float64).numpy().copy()
    elif sp.issparse(value):
        array = value.toarray().astype(np.float64)
    else:
        try:
            array = np.array(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise ConfigError(field, value, expected) from None
    if array.ndim != ndim:
        raise ConfigError(field, _shape_text(array), expected)
    bad = np.isnan(array) if allow_inf else ~np.isfinite(array)
    if bad.any():
        raise ConfigError(field, "an array with NaN or infinite entries", expected)
    return array


def as_vector(field: str, value: Any, size: int, *, allow_inf: bool = False,
              what: str = "entries") -> np.ndarray:
    """A ``[size]`` float64 vector; a scalar is broadcast to every entry.

    Args:
        field: argument name used in error messages.
        value: scalar or ``[size]`` array-like.
        size: required length.
        allow_inf: accept +-inf.
        what: what the entries are, for the message (``"n_vars"``...).
    """
    expected = f"a number or a [{what}] = [{size}] array"
    if not sp.issparse(value) and np.ndim(value) == 0:
        scalar = as_float_array(field, value, ndim=0, allow_inf=allow_inf, expected=expected)
        return np.full(size, float(scalar))
    array = as_float_array(field, value, ndim=1, allow_inf=allow_inf, expected=expected)
    if array.shape[0] != size:
        raise ConfigError(field, _shape_text(array), expected)
    return array


def as_weights(field: str, value: Any, size: int, *, what: str = "n_rows") -> np.ndarray:
    """Non-negative finite weights, ``[size]``; None means all ones."""
    if value is None:
        return np.ones(size)
    weights = as_vector(field, value, size, what=what)
    if (weights < 0).any():
        raise ConfigError(field, "an array with negative entries", "weights >= 0")
    return weights
