"""Sweeps in a report: each metric against each swept parameter, and which parameters matter.

Two rankings of parameters, per policy and metric:

- **First-order Sobol index** (for a Sobol design): ``S_i = Var(E[Y | X_i]) / Var(Y)``,
  the share of the metric's variance that parameter ``i`` explains alone. It is estimated
  from the sweep's own points ("given data": no extra Saltelli runs needed) by sorting the
  runs on ``X_i`` into ``M`` equal-count bins (``ntile``), taking the between-bin variance
  and removing its small-sample bias with the within-bin mean square:
  ``S_i = (SS_between - (M - 1) MS_within) / SS_total``, clipped to [0, 1]
  (Plischke, Borgonovo & Smith 2013, Eur. J. Oper. Res. 226:536, for the binned estimator;
  the bias correction is the ANOVA epsilon-squared of Kelley 1935).
- **Standardized regression coefficient** (any other design): the slope of the
  standardized metric on the standardized parameters, all regressed together; its sign
  gives the direction and ``R²`` how much of the variance a linear model explains.

Metric-against-parameter curves are aggregated before plotting (a group per distinct
value, or ``CURVE_BINS`` equal-count bins of a continuous parameter), so a 10,000-run
sweep draws a few hundred points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sandbox.report.comparison import Table, metric_label
from sandbox.report.load import ScenarioResults
from sandbox.report.stats import Estimate, estimate

#: Most groups of a metric-against-parameter curve.
CURVE_BINS = 20
#: Fewest runs per bin of a binned curve (fewer make useless t intervals).
MIN_PER_BIN = 10
#: Most runs of one policy drawn as raw points behind a curve.
MAX_RAW_POINTS = 1000
#: Most bins of the first-order Sobol estimator.
MAX_SOBOL_BINS = 50
#: Names of sweep designs the scenario file may give, mapped to the report's names.
_DESIGN_NAMES = {
    "sobol": "sobol", "grid": "grid", "full_grid": "grid", "factorial": "grid",
    "random": "random", "uniform": "random", "monte_carlo": "random",
    "lhs": "lhs", "latin_hypercube": "lhs", "latinhypercube": "lhs",
}
_DESIGN_KEYS = ("design", "method", "kind", "type", "sampler", "strategy")


def sweep_design(sweep: Any) -> str:
    """The design a scenario's ``sweep`` section names: sobol, grid, random, lhs or unknown."""
    if isinstance(sweep, dict):
        for key in _DESIGN_KEYS:
            value = sweep.get(key)
            if isinstance(value, str):
                name = value.strip().lower().replace("-", "_").replace(" ", "_")
                if name in _DESIGN_NAMES:
                    return _DESIGN_NAMES[name]
        for value in sweep.values():
            found = sweep_design(value)
            if found != "unknown":
                return found
    return "unknown"


def parameter_label(column: str) -> str:
    """How figures name a ``param.<path>`` column: its path."""
    return column.removeprefix("param.")


def numeric_parameters(results: ScenarioResults) -> list[str]:
    """Swept parameter columns whose values are numbers (booleans excluded)."""
    out = []
    for column in results.params:
        values = [v for v in results.runs[column] if v is not None]
        if values and all(isinstance(v, int | float | np.number) and not isinstance(v, bool)
                          for v in values):
            out.append(column)
    return out


@dataclass
class Curve:
    """A metric against one swept parameter, for one policy.

    Attributes:
        points: ``[(x position, Estimate of the metric)]`` in increasing ``x``.
        raw: ``(x values, metric values)`` of every run when there are few enough to
            draw, else None.
    """

    points: list[tuple[Any, Estimate]]
    raw: tuple[list, list] | None = None


def curve(x: np.ndarray, y: np.ndarray, *, bins: int = CURVE_BINS) -> list[tuple[Any, Estimate]]:
    """Mean of ``y`` against ``x``: one group per distinct ``x``, or equal-count bins.

    Args:
        x: ``[n]`` parameter values (numbers or labels).
        y: ``[n]`` float64 metric values.
        bins: most groups; a numeric ``x`` with more distinct values is binned by rank
            into ``min(bins, n // MIN_PER_BIN)`` bins (at least 2), each placed at its
            mean ``x``.

    Returns:
        ``[(x position, Estimate of y)]`` in increasing ``x``.
    """
    keep = ~np.isnan(y)
    x, y = x[keep], y[keep]
    distinct = list(dict.fromkeys(x.tolist()))
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in distinct)
    if len(distinct) <= bins or not numeric:
        if numeric:
            distinct.sort()
        return [(v, estimate(y[x == v].tolist())) for v in distinct]
    bins = max(2, min(bins, len(x) // MIN_PER_BIN))
    groups = equal_count_bins(x.astype(np.float64), bins)
    return [(float(x[groups == g].mean()), estimate(y[groups == g].tolist()))
            for g in range(bins)]


def equal_count_bins(x: np.ndarray, bins: int) -> np.ndarray:
    """``[n]`` int64 bin of each value: SQL's ``ntile(bins) OVER (ORDER BY x)``.

    The first ``n mod bins`` bins hold one value more than the others; ties keep their
    order of appearance.
    """
    n = len(x)
    sizes = np.full(bins, n // bins, dtype=np.int64)
    sizes[: n % bins] += 1
    groups = np.empty(n, dtype=np.int64)
    groups[np.argsort(x, kind="stable")] = np.repeat(np.arange(bins), sizes)
    return groups


def sobol_bins(n: int) -> int:
    """Bins of the first-order estimator for ``n`` runs: about ``sqrt(n)``, 2 to 50."""
    return int(max(2, min(MAX_SOBOL_BINS, math.isqrt(max(n, 0)))))


def first_order_index(x: np.ndarray, y: np.ndarray, *, bins: int | None = None) -> float:
    """First-order Sobol index of ``x`` for ``y``, from given data (see the module doc).

    Args:
        x: ``[n]`` float64 parameter values.
        y: ``[n]`` float64 metric values.
        bins: equal-count bins (default :func:`sobol_bins`).

    Returns:
        The index in [0, 1]; NaN with fewer than 4 runs or a constant metric.
    """
    n = len(y)
    bins = bins or sobol_bins(n)
    total = float(((y - y.mean()) ** 2).sum())
    if n < 4 or n <= bins or total == 0.0:
        return float("nan")
    groups = equal_count_bins(x, bins)
    counts = np.bincount(groups, minlength=bins)
    means = np.bincount(groups, weights=y, minlength=bins) / counts
    between = float((counts * (means - y.mean()) ** 2).sum())
    within = (total - between) / (n - bins)
    return float(np.clip((between - (bins - 1) * within) / total, 0.0, 1.0))


def standardized_coefficients(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Standardized regression coefficients of ``y`` on the columns of ``x``, and ``R²``.

    Args:
        x: ``[n, k]`` float64 parameter values (constant columns get NaN).
        y: ``[n]`` float64 metric values.

    Returns:
        ``([k] coefficients, R²)``; all NaN when there are fewer runs than parameters + 2
        or the metric is constant.
    """
    n, k = x.shape
    spread = x.std(axis=0)
    varying = spread > 0
    coefficients = np.full(k, np.nan)
    if n < varying.sum() + 2 or y.std() == 0 or not varying.any():
        return coefficients, float("nan")
    z = (x[:, varying] - x[:, varying].mean(axis=0)) / spread[varying]
    target = (y - y.mean()) / y.std()
    beta, *_ = np.linalg.lstsq(z, target, rcond=None)
    coefficients[varying] = beta
    residual = target - z @ beta
    return coefficients, float(1.0 - (residual**2).sum() / (target**2).sum())


def _rank(records: list[dict]) -> None:
    """Rank records by the size of their index (1 = most influential; NaN last)."""
    order = sorted(records, key=lambda r: -abs(r["index"]) if not math.isnan(r["index"])
                   else math.inf)
    for position, record in enumerate(order, start=1):
        record["rank"] = position


def sensitivity_table(results: ScenarioResults, design: str) -> Table | None:
    """Which swept parameters move each metric, per policy (None without numeric ones)."""
    params = numeric_parameters(results)
    if not params:
        return None
    sobol = design == "sobol"
    records: list[dict] = []
    for variant in results.variants:
        mask = results.mask(variant)
        x = np.column_stack([results.runs[p][mask].astype(np.float64) for p in params])
        for metric in results.metrics:
            y = results.runs[metric][mask]
            keep = ~np.isnan(y)
            group = []
            if sobol:
                bins = sobol_bins(int(keep.sum()))
                for j, column in enumerate(params):
                    group.append({"index": first_order_index(x[keep, j], y[keep], bins=bins),
                                  "r_squared": None, "bins": bins, "parameter": column})
            else:
                coefficients, r2 = standardized_coefficients(x[keep], y[keep])
                group = [{"index": float(c), "r_squared": r2, "bins": None, "parameter": p}
                         for p, c in zip(params, coefficients)]
            for record in group:
                record.update(policy=variant, metric=metric, n=int(keep.sum()))
            _rank(group)
            records.extend(group)
    method = ("first-order Sobol index (given-data estimator, equal-count bins)" if sobol
              else "standardized regression coefficient (all parameters together)")
    note = ("Share of the metric's variance that the parameter explains alone." if sobol else
            "Change of the metric, in standard deviations, per standard deviation of the "
            "parameter; R² says how much of the variance a linear model explains.")
    return Table("sensitivity", f"Sensitivity ranking: {method}", records, note)


def curves(results: ScenarioResults) -> dict[str, dict[str, dict[str, Curve]]]:
    """``{metric: {param column: {variant: Curve}}}`` for every swept parameter."""
    out: dict[str, dict[str, dict[str, Curve]]] = {}
    for metric in results.metrics:
        out[metric] = {}
        for column in results.params:
            out[metric][column] = {}
            for variant in results.variants:
                mask = results.mask(variant)
                x, y = results.runs[column][mask], results.runs[metric][mask]
                raw = (x.tolist(), y.tolist()) if len(x) <= MAX_RAW_POINTS else None
                out[metric][column][variant] = Curve(curve(x, y), raw)
    return out


def describe_ranking(table: Table, metric: str) -> str:
    """One sentence naming the most influential parameter for ``metric``, per policy."""
    parts = []
    for record in table.records:
        if record["metric"] == metric and record["rank"] == 1 and not math.isnan(
                record["index"]):
            parts.append(f"{parameter_label(record['parameter'])} for {record['policy']}")
    if not parts:
        return ""
    return f"The swept parameter that moves {metric_label(metric)} most: " + "; ".join(parts) + "."
