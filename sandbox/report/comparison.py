"""The policy comparison of a report: estimates per policy, differences, the headline.

Every number here is a statistic of the successful runs' metric columns, grouped by
variant (the compared policy combination): a mean with its Student-t 95 % interval
across runs, and Welch's test of each policy against a reference policy. The records
of each :class:`Table` are what the report shows and what its JSON sidecar holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sandbox.core.errors import ConfigError
from sandbox.core.metrics import MetricSpec
from sandbox.report.format import format_estimate, p_phrase
from sandbox.report.load import ScenarioResults
from sandbox.report.stats import Difference, Estimate, estimate, pareto_set, welch_difference

#: Significance level of the differences' markers.
ALPHA = 0.05
#: The equality-productivity plane: (x metric, y metric).
PLANE = ("productivity", "equality")


@dataclass
class Table:
    """A table of the report.

    Attributes:
        id: short identifier (HTML cells point to it with ``data-table``).
        title: caption shown above the table.
        records: one mapping per record; the sidecar holds them as they are.
        note: sentence shown under the table.
    """

    id: str
    title: str
    records: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""

    def find(self, **keys) -> dict[str, Any] | None:
        """The first record whose fields equal ``keys``."""
        return next((r for r in self.records if all(r.get(k) == v for k, v in keys.items())),
                    None)


def metric_label(metric: str) -> str:
    """How tables and figures name a metric column."""
    return metric.replace("_", " ")


def estimates(results: ScenarioResults) -> dict[str, dict[str, Estimate]]:
    """``{variant: {metric: Estimate}}`` over each variant's successful runs."""
    return {v: {m: estimate(results.sample(m, v).tolist()) for m in results.metrics}
            for v in results.variants}


def comparison_table(results: ScenarioResults, found: dict[str, dict[str, Estimate]]) -> Table:
    """Each metric per policy: mean, 95 % interval and runs."""
    records = []
    for variant in results.variants:
        for metric in results.metrics:
            est = found[variant][metric]
            records.append({"policy": variant, "metric": metric, "mean": est.mean,
                            "half_width": est.half_width, "low": est.low, "high": est.high,
                            "n": est.n})
    return Table("comparison", "Metrics by policy (mean ± 95 % interval across runs)", records)


def choose_reference(results: ScenarioResults, reference: str | None) -> str:
    """The policy the differences are taken against (default: the first compared).

    Raises:
        ConfigError: ``reference`` is not one of the scenario's policies.
    """
    if reference is None:
        return results.variants[0]
    if reference not in results.variants:
        raise ConfigError("--reference", reference,
                          f"one of the policies compared: {', '.join(results.variants)}")
    return reference


def differences_table(results: ScenarioResults, reference: str) -> Table:
    """Each policy minus the reference, per metric, with Welch's interval and p-value."""
    records = []
    for variant in results.variants:
        if variant == reference:
            continue
        for metric in results.metrics:
            diff = welch_difference(results.sample(metric, variant).tolist(),
                                    results.sample(metric, reference).tolist())
            records.append({"policy": variant, "reference": reference, "metric": metric,
                            "difference": diff.mean, "half_width": diff.half_width,
                            "p_value": diff.p_value, "significant": diff.significant(ALPHA)})
    note = (f"Welch's t-test, two-sided, not adjusted for multiple comparisons; "
            f"n.s.: not significant at the {ALPHA * 100:g} % level (or fewer than two runs).")
    return Table("differences", f"Differences from {reference} (policy − {reference})",
                 records, note)


def headline_metric(results: ScenarioResults, specs: dict[str, MetricSpec], *,
                    preferred: str | None = None, objective: str | None = None) -> str | None:
    """The metric the headline speaks about.

    In order: ``preferred`` (the user's choice), the world's planner objective when it is a
    metric, the first metric the world says should be raised, the first metric.

    Raises:
        ConfigError: ``preferred`` is not a metric of the runs.
    """
    if preferred is not None:
        if preferred not in results.metrics:
            raise ConfigError("--headline", preferred,
                              f"one of the metrics: {', '.join(results.metrics)}")
        return preferred
    if objective in results.metrics:
        return objective
    better = [m for m in results.metrics if m in specs and specs[m].higher_is_better]
    return (better or list(results.metrics) or [None])[0]


def _basis(results: ScenarioResults, n: int) -> str:
    if results.params:
        return f"mean ± 95 % interval over {n:,} runs across the sweep"
    return f"mean ± 95 % interval over {n} seeds" if n > 1 else "one seed, so no interval"


def headline(results: ScenarioResults, found: dict[str, dict[str, Estimate]], metric: str,
             *, lower_is_better: bool = False) -> dict[str, Any]:
    """The headline result in one sentence, with its uncertainty.

    Returns:
        ``{"text", "metric", "best", "mean", "half_width", "n", "runner_up",
        "difference", "difference_half_width", "p_value", "significant"}`` (the last five
        None with a single policy).
    """
    ranked = [v for v in results.variants if not math.isnan(found[v][metric].mean)]
    ranked.sort(key=lambda v: found[v][metric].mean, reverse=not lower_is_better)
    if not ranked:
        return {"text": f"No finished run recorded {metric_label(metric)}.", "metric": metric,
                "best": None, "mean": None, "half_width": None, "n": 0, "runner_up": None,
                "difference": None, "difference_half_width": None, "p_value": None,
                "significant": None}
    best = ranked[0]
    est = found[best][metric]
    name = metric_label(metric)
    out: dict[str, Any] = {"metric": metric, "best": best, "mean": est.mean,
                           "half_width": est.half_width, "n": est.n, "runner_up": None,
                           "difference": None, "difference_half_width": None,
                           "p_value": None, "significant": None}
    shown = f"{format_estimate(est.mean, est.half_width)} ({_basis(results, est.n)})"
    if len(ranked) == 1:
        out["text"] = f"{best}: {name} {shown}."
        return out
    second = ranked[1]
    diff: Difference = welch_difference(results.sample(metric, best).tolist(),
                                        results.sample(metric, second).tolist())
    word = "lowest" if lower_is_better else "highest"
    gap = format_estimate(abs(diff.mean), diff.half_width)
    more = "less" if lower_is_better else "more"
    if diff.significant(ALPHA):
        tail = f", {gap} {more} than {second}, the next best (Welch {p_phrase(diff.p_value)})."
    elif math.isnan(diff.p_value):
        runner = format_estimate(found[second][metric].mean)
        tail = f"; {second} is next at {runner} (no test: one run)."
    else:
        tail = (f", but its lead over {second} ({gap}) is not significant at the "
                f"{ALPHA * 100:g} % level (Welch {p_phrase(diff.p_value)}).")
    out.update(text=f"{best} gives the {word} {name}, {shown}{tail}", runner_up=second,
               difference=diff.mean, difference_half_width=diff.half_width,
               p_value=diff.p_value, significant=diff.significant(ALPHA))
    return out


def plane_table(results: ScenarioResults, found: dict[str, dict[str, Estimate]],
                specs: dict[str, MetricSpec]) -> Table | None:
    """Each policy's point on the equality-productivity plane and its Pareto flag.

    Returns None unless the runs hold both metrics. A metric the world says should be
    lowered counts negated for the Pareto set.
    """
    if not all(m in results.metrics for m in PLANE):
        return None
    signs = [-1.0 if m in specs and specs[m].higher_is_better is False else 1.0 for m in PLANE]
    shown = [v for v in results.variants if found[v][PLANE[0]].n]
    front = pareto_set([tuple(s * found[v][m].mean for s, m in zip(signs, PLANE))
                        for v in shown])
    records = []
    for variant, on_front in zip(shown, front):
        x, y = (found[variant][m] for m in PLANE)
        records.append({"policy": variant, PLANE[0]: x.mean, f"{PLANE[0]}_half_width":
                        x.half_width, PLANE[1]: y.mean, f"{PLANE[1]}_half_width": y.half_width,
                        "pareto": on_front})
    return Table("plane", "Equality and productivity (Pareto set: no policy is better in both)",
                 records)
