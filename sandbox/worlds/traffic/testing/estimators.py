"""Crash-rate estimators and the stopping rule, as the NADE and D2RL analyses define them.

Per test ``i``: ``X_i = 1[crash_i] * W_i`` with ``W_i`` the product over modified steps of
``p(u|s) / q(u|s)`` (``W_i = 1`` in the naturalistic environment). The estimate is the
mean of ``X``; its 90 % half-width ``h = z s / sqrt(n)`` with ``z = 1.645`` and ``s`` the
sample standard deviation; the relative half-width is ``h / mean``; the estimate has
converged at the first ``n`` after which the relative half-width stays at or below 0.3.
Crude Monte Carlo needs ``n = z^2 (1 - mu) / (0.3^2 mu)``, about ``30.1 / mu`` tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from sandbox.core.errors import check_range

#: Two-sided 90 % normal quantile used by NADE and D2RL.
Z_90 = 1.645
#: Relative half-width at which an estimate counts as converged.
TARGET_RHW = 0.3


@dataclass(frozen=True)
class Estimate:
    """A crash-rate estimate from ``n`` tests.

    Attributes:
        n: number of tests.
        mean: estimated crash rate per test.
        std: sample standard deviation of ``X_i``.
        half_width: ``z * std / sqrt(n)``.
        relative_half_width: ``half_width / mean`` (``inf`` when the mean is 0).
        crashes: tests that ended in a crash.
    """

    n: int
    mean: float
    std: float
    half_width: float
    relative_half_width: float
    crashes: int

    @property
    def interval(self) -> tuple[float, float]:
        """The 90 % confidence interval ``mean -+ half_width``."""
        return self.mean - self.half_width, self.mean + self.half_width


def crash_samples(crash: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``X_i = 1[crash_i] * W_i``.

    Args:
        crash: ``[n]`` bool (or 0/1), the test ended in a crash of the AV.
        weight: ``[n]`` float64 likelihood ratios.

    Returns:
        ``[n]`` float64.
    """
    return crash.to(torch.float64) * weight.to(torch.float64)


def estimate(samples: torch.Tensor, *, z: float = Z_90) -> Estimate:
    """Mean, half-width and relative half-width of per-test samples ``X_i``.

    Args:
        samples: ``[n]`` float64 values ``X_i`` (n >= 2).
        z: normal quantile of the interval (1.645: 90 %).

    Returns:
        The :class:`Estimate`.
    """
    x = samples.to(torch.float64)
    n = int(x.numel())
    check_range("n", n, low=2)
    mean = float(x.mean())
    std = float(x.std(unbiased=True))
    half = z * std / math.sqrt(n)
    rhw = half / mean if mean > 0 else math.inf
    return Estimate(n, mean, std, half, rhw, int((x > 0).sum()))


def running_relative_half_width(samples: torch.Tensor, *, z: float = Z_90) -> torch.Tensor:
    """Relative half-width after each test, ``[n]`` float64 (``inf`` while the mean is 0).

    Uses running sums of ``X`` and ``X^2`` (sample variance with ``n - 1``); the first
    entry is ``inf``.

    Args:
        samples: ``[n]`` per-test ``X_i`` in the order the tests were run.
        z: normal quantile.
    """
    x = samples.to(torch.float64)
    count = torch.arange(1, x.numel() + 1, dtype=torch.float64)
    total = x.cumsum(0)
    mean = total / count
    square = (x * x).cumsum(0)
    var = (square - count * mean * mean).clamp(min=0) / (count - 1).clamp(min=1)
    half = z * var.sqrt() / count.sqrt()
    rhw = half / mean
    rhw[mean <= 0] = math.inf
    rhw[0] = math.inf
    return rhw


def converged_at(samples: torch.Tensor, *, target: float = TARGET_RHW,
                      z: float = Z_90) -> int | None:
    """The first ``n`` after which the relative half-width stays ``<= target``, or None.

    Args:
        samples: ``[n]`` per-test ``X_i`` in the order the tests were run.
        target: relative half-width to reach (0.3).
        z: normal quantile.

    Returns:
        A test count, or None when the last estimate is still above the target.
    """
    above = running_relative_half_width(samples, z=z) > target
    if bool(above[-1]):
        return None
    if not bool(above.any()):
        return 1
    return int(above.nonzero().max()) + 2


def crude_tests_needed(mu: float, *, target: float = TARGET_RHW, z: float = Z_90) -> float:
    """Tests crude Monte Carlo needs to reach the target: ``z^2 (1 - mu) / (target^2 mu)``.

    Args:
        mu: crash rate per test, in ``(0, 1)``.
        target: relative half-width (0.3).
        z: normal quantile.
    """
    check_range("mu", mu, low=0.0, high=1.0, low_open=True, high_open=True)
    return z * z * (1.0 - mu) / (target * target * mu)
