"""Plotly figures of policy results.

Tax schedules, the equality-productivity plane, distributions across workers, and a
self-contained page of figures.

Figures draw aggregated data: per-worker samples longer than ``MAX_POINTS`` are thinned
to evenly spaced quantiles, so a page stays small whatever the number of workers.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import torch
from plotly.subplots import make_subplots

from sandbox.worlds.economy.tax_schedule import marginal_rate, tax_owed

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
#: Most points a figure draws per sample.
MAX_POINTS = 2000


def color(i: int) -> str:
    """The colour of the ``i``-th policy (the same in every figure of a report)."""
    return PALETTE[i % len(PALETTE)]


def thin(values, limit: int = MAX_POINTS) -> list[float]:
    """At most ``limit`` values: the sample itself, or its evenly spaced quantiles."""
    array = np.asarray(values, dtype=np.float64)
    array = array[~np.isnan(array)]
    if len(array) > limit:
        array = np.quantile(array, np.linspace(0.0, 1.0, limit))
    return array.tolist()


def thin_rows(columns: dict[str, list], key: str, limit: int = MAX_POINTS) -> dict[str, list]:
    """At most ``limit`` rows of a table, evenly spaced in the order of column ``key``."""
    order = np.argsort(np.asarray(columns[key], dtype=np.float64), kind="stable")
    if len(order) > limit:
        order = order[np.linspace(0, len(order) - 1, limit).round().astype(np.int64)]
    return {name: np.asarray(values)[order].tolist() for name, values in columns.items()}


def _color(colors: dict[str, str] | None, label: str, i: int) -> str:
    return (colors or {}).get(label, color(i))


def tax_schedule_figure(schedules: dict[str, dict[str, list[float]]], *, max_income: float,
                        colors: dict[str, str] | None = None):
    """Marginal and average tax rates against income, one line per policy.

    Args:
        schedules: policy label -> ``{"cutoff": [K], "rate": [K]}`` (coin, fractions).
        max_income: right end of the income axis, coin.
        colors: policy label -> colour (default: the palette in order).
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Marginal rate", "Average rate"))
    income = torch.linspace(0.0, max_income, 400, dtype=torch.float64)
    for i, (label, table) in enumerate(schedules.items()):
        cutoffs = torch.tensor(table["cutoff"], dtype=torch.float64)
        rates = torch.tensor([table["rate"]], dtype=torch.float64)
        z = income.unsqueeze(0)
        marginal = marginal_rate(z, cutoffs, rates)[0]
        average = (tax_owed(z, cutoffs, rates) / z.clamp(min=1e-9))[0]
        shade = _color(colors, label, i)
        fig.add_trace(go.Scatter(x=income.tolist(), y=marginal.tolist(), name=label,
                                 line_shape="hv",
                                 line={"color": shade}, legendgroup=label), 1, 1)
        fig.add_trace(go.Scatter(x=income[1:].tolist(), y=average[1:].tolist(), name=label,
                                 showlegend=False,
                                 line={"color": shade}, legendgroup=label), 1, 2)
    fig.update_xaxes(title_text="pre-tax income (coin)")
    fig.update_yaxes(title_text="rate", range=[0, 1.02], tickformat=".0%")
    fig.update_layout(title="Tax schedules", height=420, margin={"t": 70})
    return fig


def distribution_figure(samples: dict[str, list[float]], *, title: str, axis: str,
                        colors: dict[str, str] | None = None):
    """Overlaid histograms of one quantity, one per policy.

    Args:
        samples: policy label -> values (one per worker).
        title: figure title.
        axis: label of the x axis, with its unit.
        colors: policy label -> colour (default: the palette in order).
    """
    fig = go.Figure()
    for i, (label, values) in enumerate(samples.items()):
        fig.add_trace(go.Histogram(x=thin(values), name=label, opacity=0.55, nbinsx=40,
                                   marker_color=_color(colors, label, i)))
    fig.update_layout(barmode="overlay", title=title, xaxis_title=axis,
                      yaxis_title="workers", height=380)
    return fig


def by_skill_figure(agents: dict[str, dict[str, list[float]]], column: str, *, title: str,
                    colors: dict[str, str] | None = None):
    """A per-worker quantity against skill, one line per policy."""
    fig = go.Figure()
    for i, (label, full) in enumerate(agents.items()):
        table = thin_rows({"skill": full["skill"], column: full[column]}, "skill")
        fig.add_trace(go.Scatter(x=table["skill"], y=table[column], mode="lines+markers",
                                 marker={"size": 4}, name=label,
                                 line={"color": _color(colors, label, i)}))
    fig.update_layout(title=title, xaxis_title="skill (coin per hour)", yaxis_title=column,
                      height=380)
    return fig


def plane_figure(points: list[dict], *, x: str, y: str, colors: dict[str, str] | None = None):
    """Each policy's point on a plane of two metrics, with 95 % error bars.

    The Pareto set is drawn filled and joined by a dashed line, dominated policies hollow.

    Args:
        points: records with ``policy``, ``<x>``, ``<x>_half_width``, ``<y>``,
            ``<y>_half_width`` and ``pareto`` (the report's plane table).
        x: metric on the horizontal axis.
        y: metric on the vertical axis.
        colors: policy label -> colour.
    """
    fig = go.Figure()
    front = sorted((p for p in points if p["pareto"]), key=lambda p: p[x])
    if len(front) > 1:
        fig.add_trace(go.Scatter(x=[p[x] for p in front], y=[p[y] for p in front],
                                 mode="lines", line={"dash": "dash", "color": "#555"},
                                 name="Pareto set", hoverinfo="skip"))
    for i, point in enumerate(points):
        shade = _color(colors, point["policy"], i)
        errors = {axis: {"type": "data", "array": [point[f"{m}_half_width"]], "visible": True,
                         "thickness": 1.5}
                  for axis, m in (("error_x", x), ("error_y", y))}
        fig.add_trace(go.Scatter(
            x=[point[x]], y=[point[y]], mode="markers", name=point["policy"],
            marker={"size": 15 if point["pareto"] else 12, "color": shade,
                    "symbol": "circle" if point["pareto"] else "circle-open",
                    "line": {"width": 2, "color": shade}}, **errors))
    fig.update_layout(title=f"{y.replace('_', ' ').capitalize()} against "
                            f"{x.replace('_', ' ')} (filled: Pareto set)",
                      xaxis_title=x.replace("_", " "), yaxis_title=y.replace("_", " "),
                      height=440)
    return fig


def before_after_figure(agents: dict[str, dict[str, list[float]]]):
    """Workers' income before and after tax and transfer, one split violin per policy.

    Left halves: pre-tax income; right halves: consumption (after tax and transfer).

    Args:
        agents: policy label -> ``{"income": [N], "consumption": [N]}``, coin.
    """
    fig = go.Figure()
    sides = (("income", "negative", "before tax (pre-tax income)", "#4c72b0"),
             ("consumption", "positive", "after tax and transfer (consumption)", "#dd8452"))
    for i, (label, table) in enumerate(agents.items()):
        for column, side, name, shade in sides:
            fig.add_trace(go.Violin(
                x0=label, y=thin(table[column]), side=side, name=name, legendgroup=column,
                showlegend=i == 0, line_color=shade, fillcolor=shade, opacity=0.6,
                points=False, meanline_visible=True, scalemode="width", width=0.9))
    fig.update_layout(title="Income before and after tax, across workers", violinmode="overlay",
                      violingap=0.1, yaxis_title="coin", height=440)
    return fig


def utility_figure(agents: dict[str, dict[str, list[float]]], *,
                   colors: dict[str, str] | None = None):
    """Workers' utility under each policy, one violin per policy.

    Args:
        agents: policy label -> ``{"utility": [N]}``, utils.
        colors: policy label -> colour.
    """
    fig = go.Figure()
    for i, (label, table) in enumerate(agents.items()):
        shade = _color(colors, label, i)
        fig.add_trace(go.Violin(x0=label, y=thin(table["utility"]), name=label, points=False,
                                line_color=shade, meanline_visible=True, box_visible=True))
    fig.update_layout(title="Utility across workers", yaxis_title="utils", showlegend=False,
                      height=400)
    return fig


def write_page(path: str | Path, figures: list, *, title: str, intro: str = "") -> Path:
    """Write figures into one HTML file that opens offline (plotly.js embedded once)."""
    parts = []
    for i, fig in enumerate(figures):
        parts.append(pio.to_html(fig, include_plotlyjs=(i == 0), full_html=False,
                                 config={"displaylogo": False}))
    body = "\n".join(f'<div class="figure">{p}</div>' for p in parts)
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;"
        "color:#222}.figure{margin:1.5em 0}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(intro)}</p>{body}</body></html>"
    )
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path
