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
