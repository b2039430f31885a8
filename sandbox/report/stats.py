"""Summaries across seeds: means with 95 % confidence intervals, per policy."""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats


@dataclass(frozen=True)
class Estimate:
    """A mean across runs with its 95 % confidence interval (Student t).

    Attributes:
        mean: the sample mean.
        half_width: half the width of the 95 % interval (NaN with one run).
        n: runs averaged.
    """

    mean: float
    half_width: float
    n: int

    @property
    def low(self) -> float:
        """Lower end of the interval."""
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        """Upper end of the interval."""
        return self.mean + self.half_width

    def format(self, digits: int = 4) -> str:
        """``mean ± half-width`` with ``digits`` significant digits."""
        if self.n < 2 or math.isnan(self.half_width):
            return f"{self.mean:.{digits}g}"
        return f"{self.mean:.{digits}g} ± {self.half_width:.2g}"


def estimate(values: list[float], confidence: float = 0.95) -> Estimate:
    """Mean and Student-t confidence half-width of ``values`` (NaNs dropped)."""
    clean = [v for v in values if v is not None and not math.isnan(v)]
    n = len(clean)
    if n == 0:
        return Estimate(float("nan"), float("nan"), 0)
    mean = sum(clean) / n
    if n < 2:
        return Estimate(mean, float("nan"), 1)
    variance = sum((v - mean) ** 2 for v in clean) / (n - 1)
    t = stats.t.ppf(0.5 + confidence / 2, n - 1)
    return Estimate(mean, float(t * math.sqrt(variance / n)), n)


def welch_test(a: list[float], b: list[float]) -> float:
    """Two-sided p-value of Welch's t-test that two samples share a mean (NaN if n < 2).

    Identical constant samples give p = 1; different constant samples give p = 0.
    """
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    spread = max(a) - min(a) + max(b) - min(b)
    if spread == 0:
        return 1.0 if a[0] == b[0] else 0.0
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


@dataclass(frozen=True)
class Difference:
    """The difference of two means, ``mean(sample) - mean(reference)``, with Welch's test.

    Attributes:
        mean: the difference of the sample means.
        half_width: half the width of its 95 % Welch interval (NaN when a side has < 2 runs).
        p_value: two-sided p-value of Welch's t-test (NaN when a side has < 2 runs).
        n: runs in the sample.
        n_reference: runs in the reference sample.
    """

    mean: float
    half_width: float
    p_value: float
    n: int
    n_reference: int

    def significant(self, alpha: float = 0.05) -> bool:
        """Whether the difference is significant at level ``alpha`` (False when untested)."""
        return not math.isnan(self.p_value) and self.p_value < alpha


def _clean(values) -> list[float]:
    return [float(v) for v in values if v is not None and not math.isnan(v)]


def welch_difference(sample, reference, confidence: float = 0.95) -> Difference:
    """``mean(sample) - mean(reference)`` with Welch's interval and p-value (NaNs dropped).

    The degrees of freedom are Welch-Satterthwaite's. Two constant samples have a zero
    half-width and p = 1 when equal, 0 otherwise (as :func:`welch_test`).
    """
    a, b = _clean(sample), _clean(reference)
    na, nb = len(a), len(b)
    if na == 0 or nb == 0:
        return Difference(float("nan"), float("nan"), float("nan"), na, nb)
    mean = sum(a) / na - sum(b) / nb
    if na < 2 or nb < 2:
        return Difference(mean, float("nan"), float("nan"), na, nb)
    va = sum((v - sum(a) / na) ** 2 for v in a) / (na - 1) / na
    vb = sum((v - sum(b) / nb) ** 2 for v in b) / (nb - 1) / nb
    if va + vb == 0:
        return Difference(mean, 0.0, 1.0 if mean == 0 else 0.0, na, nb)
    df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    scale = math.sqrt(va + vb)
    t = stats.t.ppf(0.5 + confidence / 2, df)
    p = 2.0 * stats.t.sf(abs(mean) / scale, df)
    return Difference(mean, float(t * scale), float(p), na, nb)


def pareto_set(points: list[tuple[float, ...]]) -> list[bool]:
    """Which points no other point dominates, every coordinate to be maximised.

    A point dominates another when it is at least as large in every coordinate and
    larger in one. Points with a NaN coordinate are never in the set.

    Args:
        points: one tuple of coordinates per candidate.

    Returns:
        One flag per point, True for the Pareto set.
    """

    def dominates(p, q) -> bool:
        return all(a >= b for a, b in zip(p, q)) and any(a > b for a, b in zip(p, q))

    clean = [not any(math.isnan(c) for c in p) for p in points]
    return [ok and not any(clean[j] and dominates(points[j], p) for j in range(len(points)))
            for p, ok in zip(points, clean)]
