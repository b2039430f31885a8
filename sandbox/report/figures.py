"""Plotly figures of results: tax schedules, distributions, and a self-contained page."""

from __future__ import annotations

import html
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio
import torch
from plotly.subplots import make_subplots

from sandbox.worlds.economy.tax_schedule import marginal_rate, tax_owed

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


def tax_schedule_figure(schedules: dict[str, dict[str, list[float]]], *, max_income: float):
    """Marginal and average tax rates against income, one line per policy.

    Args:
        schedules: policy label -> ``{"cutoff": [K], "rate": [K]}`` (coin, fractions).
        max_income: right end of the income axis, coin.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Marginal rate", "Average rate"))
    income = torch.linspace(0.0, max_income, 400, dtype=torch.float64)
    for i, (label, table) in enumerate(schedules.items()):
        cutoffs = torch.tensor(table["cutoff"], dtype=torch.float64)
        rates = torch.tensor([table["rate"]], dtype=torch.float64)
        z = income.unsqueeze(0)
        marginal = marginal_rate(z, cutoffs, rates)[0]
        average = (tax_owed(z, cutoffs, rates) / z.clamp(min=1e-9))[0]
        color = PALETTE[i % len(PALETTE)]
        fig.add_trace(go.Scatter(x=income.tolist(), y=marginal.tolist(), name=label,
                                 line_shape="hv",
                                 line={"color": color}, legendgroup=label), 1, 1)
        fig.add_trace(go.Scatter(x=income[1:].tolist(), y=average[1:].tolist(), name=label,
                                 showlegend=False,
                                 line={"color": color}, legendgroup=label), 1, 2)
    fig.update_xaxes(title_text="pre-tax income (coin)")
    fig.update_yaxes(title_text="rate", range=[0, 1.02], tickformat=".0%")
    fig.update_layout(title="Tax schedules", height=420, margin={"t": 70})
    return fig


def distribution_figure(samples: dict[str, list[float]], *, title: str, axis: str):
    """Overlaid histograms of one quantity, one per policy.

    Args:
        samples: policy label -> values (one per worker).
        title: figure title.
        axis: label of the x axis, with its unit.
    """
    fig = go.Figure()
    for i, (label, values) in enumerate(samples.items()):
        fig.add_trace(go.Histogram(x=values, name=label, opacity=0.55, nbinsx=40,
                                   marker_color=PALETTE[i % len(PALETTE)]))
    fig.update_layout(barmode="overlay", title=title, xaxis_title=axis,
                      yaxis_title="workers", height=380)
    return fig


def by_skill_figure(agents: dict[str, dict[str, list[float]]], column: str, *, title: str):
    """A per-worker quantity against skill, one line per policy."""
    fig = go.Figure()
    for i, (label, table) in enumerate(agents.items()):
        fig.add_trace(go.Scatter(x=table["skill"], y=table[column], mode="lines+markers",
                                 marker={"size": 4}, name=label,
                                 line={"color": PALETTE[i % len(PALETTE)]}))
    fig.update_layout(title=title, xaxis_title="skill (coin per hour)", yaxis_title=column,
                      height=380)
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
