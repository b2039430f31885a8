"""Plotly figures of sweeps and training.

Metrics against swept parameters, the sensitivity ranking, and training curves.

Figures with one panel per metric would be a wall of charts; these keep one figure and
a drop-down menu that picks the metric (every metric's traces are in the figure, the
menu toggles their visibility).
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sandbox.report.figures import MAX_POINTS, color

#: Columns a training log may use for its horizontal axis, in order of preference.
TRAINING_X = ("env_steps", "environment_steps", "steps", "step", "update", "iteration")


def _label(name: str) -> str:
    """A metric's or log column's name for people; a parameter keeps its dotted path."""
    if name.startswith("param."):
        return name.removeprefix("param.")
    return name.replace("_", " ")


def _menu(metrics: list[str], owners: list[str], titles: dict[str, str]) -> list[dict]:
    """A drop-down that shows the traces of one metric (``owners[i]``: trace i's metric)."""
    buttons = [{"label": _label(m), "method": "update",
                "args": [{"visible": [o == m for o in owners]}, {"title": titles[m]}]}
               for m in metrics]
    return [{"buttons": buttons, "direction": "down", "x": 1.0, "xanchor": "right",
             "y": 1.32, "yanchor": "top", "showactive": True}]


def sweep_figure(curves: dict, *, variants: list[str], colors: dict[str, str] | None = None):
    """Each metric against each swept parameter: mean and 95 % interval per policy.

    Args:
        curves: ``{metric: {param column: {variant: Curve}}}`` (aggregated; a curve's raw
            runs, when it has them, are drawn as faint points behind it).
        variants: policies in the report's order.
        colors: policy label -> colour.
    """
    metrics = list(curves)
    params = list(curves[metrics[0]])
    fig = make_subplots(rows=1, cols=len(params), shared_yaxes=True,
                        subplot_titles=[_label(p) for p in params])
    owners, titles = [], {m: f"{_label(m)} against the swept parameters" for m in metrics}
    for metric in metrics:
        for col, param in enumerate(params, start=1):
            for i, variant in enumerate(variants):
                found = curves[metric][param].get(variant)
                points = found.points if found else []
                shade = (colors or {}).get(variant, color(i))
                if found and found.raw:
                    fig.add_trace(go.Scatter(
                        x=found.raw[0], y=found.raw[1], mode="markers", name=variant,
                        legendgroup=variant, showlegend=False, hoverinfo="skip",
                        marker={"size": 4, "color": shade, "opacity": 0.25},
                        visible=metric == metrics[0]), 1, col)
                    owners.append(metric)
                fig.add_trace(go.Scatter(
                    x=[p[0] for p in points], y=[p[1].mean for p in points],
                    error_y={"type": "data", "visible": True,
                             "array": [0.0 if math.isnan(p[1].half_width) else p[1].half_width
                                       for p in points]},
                    # single runs per x (a small continuous design): no line to zigzag
                    mode="lines+markers" if any(p[1].n > 1 for p in points) else "markers",
                    name=variant, legendgroup=variant,
                    showlegend=col == 1, line={"color": shade}, marker={"size": 5},
                    visible=metric == metrics[0]), 1, col)
                owners.append(metric)
    fig.update_layout(title=titles[metrics[0]], height=440, margin={"t": 130},
                      updatemenus=_menu(metrics, owners, titles))
    return fig


def sensitivity_figure(records: list[dict], *, metrics: list[str], variants: list[str],
                       colors: dict[str, str] | None = None):
    """The sensitivity ranking as horizontal bars, one bar per policy and parameter.

    Args:
        records: the report's sensitivity records (``policy``, ``metric``, ``parameter``,
            ``index``).
        metrics: metrics in the menu's order (the first is shown).
        variants: policies in the report's order.
        colors: policy label -> colour.
    """
    fig = go.Figure()
    owners = []
    titles = {m: f"Sensitivity of {_label(m)} to the swept parameters" for m in metrics}
    for metric in metrics:
        for i, variant in enumerate(variants):
            rows = [r for r in records if r["metric"] == metric and r["policy"] == variant]
            fig.add_trace(go.Bar(
                y=[_label(r["parameter"]) for r in rows],
                x=[None if math.isnan(r["index"]) else r["index"] for r in rows],
                orientation="h", name=variant, legendgroup=variant,
                marker_color=(colors or {}).get(variant, color(i)),
                visible=metric == metrics[0]))
            owners.append(metric)
    fig.update_layout(title=titles[metrics[0]], barmode="group", height=380,
                      margin={"t": 130}, xaxis_title="index",
                      updatemenus=_menu(metrics, owners, titles))
    return fig


def _downsample(values: list, limit: int) -> list:
    if len(values) <= limit:
        return list(values)
    keep = np.linspace(0, len(values) - 1, limit).round().astype(np.int64)
    return [values[i] for i in keep]


def training_axis(log: dict[str, list]) -> str | None:
    """The column of a training log that counts progress (None: use the row index)."""
    return next((c for c in TRAINING_X if c in log), None)


def training_figure(logs: dict[str, dict[str, list]], *, colors: dict[str, str] | None = None):
    """Training curves: every logged quantity against environment steps, one line per run.

    Args:
        logs: run label (e.g. ``"Learned planner, seed 0"``) -> column -> values per update.
        colors: run label -> colour.
    """
    series = sorted({c for log in logs.values() for c, v in log.items()
                     if c not in TRAINING_X and v and isinstance(v[0], int | float)})
    cols = 2 if len(series) > 1 else 1
    rows = math.ceil(len(series) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[_label(s) for s in series])
    for i, (label, log) in enumerate(logs.items()):
        axis = training_axis(log)
        length = max(len(v) for v in log.values())
        x = _downsample(log[axis] if axis else list(range(length)), MAX_POINTS // 2)
        for j, name in enumerate(series):
            if name not in log:
                continue
            fig.add_trace(go.Scatter(x=x, y=_downsample(log[name], MAX_POINTS // 2),
                                     mode="lines", name=label, legendgroup=label,
                                     showlegend=j == 0,
                                     line={"color": (colors or {}).get(label, color(i))}),
                          j // cols + 1, j % cols + 1)
    axis = next((training_axis(log) for log in logs.values() if training_axis(log)), None)
    fig.update_xaxes(title_text=_label(axis) if axis else "update")
    fig.update_layout(title="Training curves", height=300 * rows + 80)
    return fig
