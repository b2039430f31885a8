"""Plotly figures of one Gather-Trade-Build episode: map, inventories, trades, taxes.

:func:`record_episode` steps a world with one policy per role and keeps one
environment's trajectory as a :class:`GTBEpisode` (plain numpy arrays); the figure
functions are pure functions of that record, so the app, reports and tests draw the
same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from sandbox.core.errors import ConfigError
from sandbox.core.registry import POLICIES
from sandbox.report.figures import color
from sandbox.worlds.economy.gtb.actions import RESOURCES
from sandbox.worlds.economy.gtb.state import COIN
from sandbox.worlds.economy.gtb.trajectory import (  # noqa: F401  (terrain codes re-exported)
    LAND,
    STONE,
    STONE_SOURCE,
    WATER,
    WOOD,
    WOOD_SOURCE,
    EpisodeRecorder,
)

#: Names and colours of the map heatmap's terrain codes (``trajectory.LAND`` .. ``STONE``).
TERRAIN = (("land", "#f3efe0"), ("water", "#6fa8dc"), ("wood source (empty)", "#cfe2c3"),
           ("wood", "#38761d"), ("stone source (empty)", "#d9d9d9"), ("stone", "#666666"))
RESOURCE_COLORS = {"wood": "#38761d", "stone": "#666666"}
INVENTORY_ROWS = ("wood", "stone", "coin")
#: Most map frames an animation holds by default (longer episodes are strided).
MAX_FRAMES = 200


@dataclass
class GTBEpisode:
    """One environment's trajectory, ``T`` steps (index 0 is the state at the start).

    Attributes:
        height: map rows.
        width: map columns.
        tax_period: steps per tax period.
        terrain: ``[T+1, H, W]`` int8 terrain codes (:data:`TERRAIN`).
        owner: ``[T+1, H, W]`` int8 owner of the house on each tile, -1 where none.
        position: ``[T+1, N, 2]`` int64 (row, column) of each worker.
        inventory: ``[T+1, N, 3]`` float32 wood, stone and coin held (available plus
            escrowed in open orders).
        labour: ``[T+1, N]`` float32 labour spent in the episode so far.
        actions: ``[T, N]`` int64 worker actions.
        trade_step: ``[M]`` int64 step (1..T) of each trade.
        trade_resource: ``[M]`` int64 resource of each trade (0 wood, 1 stone).
        trade_price: ``[M]`` float32 price of each trade, coin.
        cutoffs: ``[K]`` float32 bracket lower cutoffs, coin.
        rates: ``[P, K]`` float32 marginal rates of each tax period begun in the episode.
        period_tax: ``[P, N]`` float32 tax each worker paid at the end of each period
            (NaN for a period the record stops inside).
        payment: ``[N]`` float32 coin per house of each worker (build skill).
        metrics: the world's episode metrics when the record ends with the episode.
        map_step: ``[F]`` steps of the map snapshots when ``terrain`` and ``owner`` hold
            only some steps (``[F, H, W]``, as stored trajectories do); None when they
            hold every step.
    """

    height: int
    width: int
    tax_period: int
    terrain: np.ndarray
    owner: np.ndarray
    position: np.ndarray
    inventory: np.ndarray
    labour: np.ndarray
    actions: np.ndarray
    trade_step: np.ndarray
    trade_resource: np.ndarray
    trade_price: np.ndarray
    cutoffs: np.ndarray
    rates: np.ndarray
    period_tax: np.ndarray
    payment: np.ndarray
    metrics: dict[str, float] = field(default_factory=dict)
    map_step: np.ndarray | None = None

    @property
    def steps(self) -> int:
        """Steps recorded, ``T``."""
        return int(self.actions.shape[0])

    @property
    def num_workers(self) -> int:
        """Workers, ``N``."""
        return int(self.position.shape[1])

    def map_index(self, step: int) -> int:
        """Index into ``terrain`` / ``owner`` of the snapshot at ``step`` (or before it)."""
        if self.map_step is None:
            return step
        return max(0, int(np.searchsorted(self.map_step, step, side="right")) - 1)

    @property
    def final_coin(self) -> np.ndarray:
        """``[N]`` coin held by each worker after the last recorded step."""
        return self.inventory[-1, :, COIN]


# ------------------------------------------------------------------------ recording
def episode_from_arrays(arrays: dict[str, np.ndarray]) -> GTBEpisode:
    """The :class:`GTBEpisode` of a record's arrays.

    ``arrays`` come from ``EpisodeRecorder.arrays()`` or a stored trajectory file
    (``trajectory.read_trajectory``).
    """
    steps = int(arrays["actions"].shape[0])
    map_step = arrays["map_step"].astype(np.int64)
    every_step = len(map_step) == steps + 1
    names = [str(m) for m in arrays["metric_names"].tolist()]
    return GTBEpisode(
        height=int(arrays["height"]), width=int(arrays["width"]),
        tax_period=int(arrays["tax_period"]), terrain=arrays["terrain"].astype(np.int8),
        owner=arrays["owner"].astype(np.int8),
        position=arrays["position"].astype(np.int64),
        inventory=arrays["inventory"].astype(np.float32),
        labour=arrays["labour"].astype(np.float32), actions=arrays["actions"].astype(np.int64),
        trade_step=arrays["trade_step"].astype(np.int64),
        trade_resource=arrays["trade_resource"].astype(np.int64),
        trade_price=arrays["trade_price"].astype(np.float32),
        cutoffs=arrays["cutoffs"].astype(np.float32), rates=arrays["rates"].astype(np.float32),
        period_tax=arrays["period_tax"].astype(np.float32),
        payment=arrays["payment"].astype(np.float32),
        metrics=dict(zip(names, arrays["metric_values"].astype(float).tolist())),
        map_step=None if every_step else map_step)


def record_episode(world, policies: dict, *, steps: int | None = None, seed: int | None = 0,
                   env: int = 0, deterministic: bool = False) -> GTBEpisode:
    """Reset ``world`` and record ``steps`` steps of environment ``env``.

    Args:
        world: a :class:`~sandbox.worlds.economy.gtb.world.GatherTradeBuild`.
        policies: one :class:`~sandbox.core.policy.Policy` per role (``planner``,
            ``workers``).
        steps: steps to record, 1..episode_length (default: the whole episode).
        seed: passed to ``world.reset`` and every policy's ``reset`` (None keeps streams).
        env: which environment of the batch to record.
        deterministic: policies take their most likely actions.
    """
    length = world.params.episode_length
    steps = length if steps is None else steps
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= length:
        raise ConfigError("steps", steps, f"an integer from 1 to the episode length {length}")
    if not isinstance(env, int) or not 0 <= env < world.num_envs:
        raise ConfigError("env", env, f"an environment index from 0 to {world.num_envs - 1}")
    missing = [role for role in world.roles if role not in policies]
    if missing:
        raise ConfigError("policies", sorted(policies), f"a policy for every role: {missing}")
    obs = world.reset(seed)
    for policy in policies.values():
        policy.reset(seed)
    recorder = EpisodeRecorder(world, env=env, steps=steps, map_every=1)
    while not recorder.finished:
        masks = world.action_masks()
        chosen = {role: policies[role].act(obs[role], masks.get(role), deterministic)
                  for role in world.acting_roles()}
        result = world.step(chosen)
        recorder.record(chosen, result)
        obs = result.obs
    return episode_from_arrays(recorder.arrays())


#: Planner and worker policies :func:`run_episode` offers (registry names).
PLANNER_POLICIES = ("free_market", "us_federal", "random", "checkpoint")
WORKER_POLICIES = ("random", "checkpoint")


@dataclass(frozen=True)
class EpisodeSetup:
    """One recorded Gather-Trade-Build episode: world, policies, seed and length."""

    layout: str = "quadrant"
    """Map layout: ``"quadrant"`` or ``"uniform"``."""
    num_workers: int = 4
    """Workers on the map."""
    planner: str = "us_federal"
    """Planner policy, one of :data:`PLANNER_POLICIES`."""
    workers: str = "random"
    """Worker policy, one of :data:`WORKER_POLICIES` (``random``: uniform valid actions)."""
    planner_path: str | None = None
    """Checkpoint file of a learned planner (with ``planner="checkpoint"``)."""
    workers_path: str | None = None
    """Checkpoint file of learned workers (with ``workers="checkpoint"``)."""
    seed: int = 0
    """Seed of the world and the policies."""
    steps: int = 200
    """Steps recorded, 1..``episode_length``."""
    episode_length: int = 1000
    """The world's episode length (the observations' episode phase depends on it)."""
    tax_period: int = 100
    """Steps per tax period."""


def _policy(world, role: str, name: str, path: str | None, known: tuple[str, ...]):
    field = "planner" if role == "planner" else "workers"
    if name not in known:
        raise ConfigError(field, name, f"one of {', '.join(known)}")
    params = {"path": path} if name == "checkpoint" else {}
    if name == "checkpoint" and not path:
        raise ConfigError(f"{field}_path", path, "the path of a policy checkpoint file")
    return POLICIES.get(name, field=field)(world, role, **params)


def run_episode(setup: EpisodeSetup) -> GTBEpisode:
    """Build the world and policies of ``setup`` and record its episode (environment 0)."""
    from sandbox.worlds.economy.gtb import GatherTradeBuild, GTBParams

    params = GTBParams(layout=setup.layout, num_workers=setup.num_workers,
                       episode_length=setup.episode_length, tax_period=setup.tax_period)
    world = GatherTradeBuild(params, num_envs=1, seed=setup.seed)
    policies = {
        "planner": _policy(world, "planner", setup.planner, setup.planner_path,
                           PLANNER_POLICIES),
        "workers": _policy(world, "workers", setup.workers, setup.workers_path,
                           WORKER_POLICIES),
    }
    return record_episode(world, policies, steps=setup.steps, seed=setup.seed)


def agent_table(episode: GTBEpisode) -> dict[str, np.ndarray]:
    """Per-agent columns after the last recorded step, each ``[N]``.

    Build payment, coin, wood and stone held, houses standing and labour spent.
    """
    last = episode.inventory[-1]
    houses = np.bincount(episode.owner[-1][episode.owner[-1] >= 0].astype(np.int64),
                         minlength=episode.num_workers)
    return {"agent": np.arange(episode.num_workers), "build_payment": episode.payment,
            "coin": last[:, COIN], "wood": last[:, 0], "stone": last[:, 1],
            "houses": houses, "labour": episode.labour[-1]}


def episode_summary(episode: GTBEpisode) -> dict[str, float]:
    """Headline numbers after the last recorded step (the world's metric definitions)."""
    from sandbox.worlds.economy import social

    coin = torch.as_tensor(episode.final_coin, dtype=torch.float32)
    equality = float(social.equality(coin))
    return {"productivity": float(coin.sum()), "equality": equality,
            "equality_times_productivity": equality * float(coin.mean()),
            "houses_built": float((episode.owner[-1] >= 0).sum()),
            "trades": float(len(episode.trade_step)),
            "revenue": float(np.nansum(episode.period_tax))}


# -------------------------------------------------------------------------- figures
def frame_steps(episode: GTBEpisode, max_frames: int | None = MAX_FRAMES) -> list[int]:
    """Steps drawn as map frames, strided to ``max_frames``.

    Every step (0..T), or the steps of the stored snapshots; the first and the last
    step are always included.
    """
    shown = (np.arange(episode.steps + 1) if episode.map_step is None
             else np.asarray(episode.map_step))
    if max_frames is None or len(shown) <= max_frames:
        return [int(s) for s in shown]
    picks = np.linspace(0, len(shown) - 1, max(2, max_frames)).round().astype(int)
    return sorted({int(shown[i]) for i in picks})


def _terrain_scale() -> list:
    n = len(TERRAIN)
    scale = []
    for code, (_, shade) in enumerate(TERRAIN):
        scale += [(code / n, shade), ((code + 1) / n, shade)]
    return scale


def _map_data(episode: GTBEpisode, step: int) -> list[dict]:
    """The three changing traces of a map frame: terrain, houses, agents (plain dicts)."""
    owner = episode.owner[episode.map_index(step)]
    rows, cols = np.nonzero(owner >= 0)
    owners = owner[rows, cols].astype(int)
    pos = episode.position[step]
    coin = np.round(episode.inventory[step, :, COIN].astype(float), 2)
    return [
        {"type": "heatmap", "z": episode.terrain[episode.map_index(step)]},
        {"type": "scatter", "x": cols, "y": rows, "customdata": owners,
         "marker": {"color": [color(o) for o in owners]}},
        {"type": "scatter", "x": pos[:, 1], "y": pos[:, 0], "customdata": coin},
    ]


def _map_base(episode: GTBEpisode, step: int) -> list:
    """The map traces with their styles (the frames change only their data)."""
    terrain, houses, agents = _map_data(episode, step)
    n = len(TERRAIN)
    legend = [go.Scatter(x=[None], y=[None], mode="markers", name=name,
                         marker={"symbol": "square", "size": 12, "color": shade,
                                 "line": {"color": "#999999", "width": 1}})
              for name, shade in TERRAIN[1:]]
    legend.append(go.Scatter(x=[None], y=[None], mode="markers", name="house",
                             marker={"symbol": "square", "size": 12, "color": "white",
                                     "line": {"color": "black", "width": 1.5}}))
    return [
        go.Heatmap(z=terrain["z"], zmin=-0.5, zmax=n - 0.5, colorscale=_terrain_scale(),
                   showscale=False, xgap=1, ygap=1, hoverinfo="skip"),
        go.Scatter(x=houses["x"], y=houses["y"], customdata=houses["customdata"],
                   mode="markers",
                   name="houses", showlegend=False,
                   marker={"symbol": "square", "size": 13, "color": houses["marker"]["color"],
                           "line": {"color": "black", "width": 1.5}},
                   hovertemplate="house of agent %{customdata}<extra></extra>"),
        go.Scatter(x=agents["x"], y=agents["y"], customdata=agents["customdata"],
                   mode="markers+text",
                   name="agents", showlegend=False,
                   text=[str(i) for i in range(episode.num_workers)],
                   textfont={"color": "white", "size": 10},
                   marker={"symbol": "circle", "size": 17,
                           "color": [color(i) for i in range(episode.num_workers)],
                           "line": {"color": "white", "width": 1.5}},
                   hovertemplate="agent %{text}: %{customdata:.1f} coin<extra></extra>"),
        *legend,
    ]


def map_figure(episode: GTBEpisode, *, max_frames: int | None = MAX_FRAMES) -> go.Figure:
    """The map over time: a plotly animation with a step slider.

    Tiles are land, water, empty wood / stone sources and sources holding a unit;
    houses are squares and agents numbered circles, in each agent's colour. One frame
    per step of :func:`frame_steps` (every step, ``T + 1`` frames including the start,
    unless strided to ``max_frames``).
    """
    steps = frame_steps(episode, max_frames)
    fig = go.Figure(data=_map_base(episode, steps[0]))
    # Frames are set as plain dicts: validating hundreds of frames trace by trace costs
    # seconds, and they only carry data for traces already validated above.
    fig.frames = [go.Frame(data=_map_data(episode, s), traces=[0, 1, 2], name=str(s))
                  for s in steps]
    slider = {"active": 0, "currentvalue": {"prefix": "step "}, "pad": {"t": 20},
              "x": 0.24, "len": 0.76, "font": {"size": 9}, "ticklen": 3, "minorticklen": 0,
              "steps": [{"label": str(s), "method": "animate",
                         "args": [[str(s)], {"mode": "immediate", "frame": {"duration": 0,
                                                                            "redraw": True},
                                             "transition": {"duration": 0}}]}
                        for s in steps]}
    play = {"type": "buttons", "direction": "left", "x": 0.0, "y": 0.0, "xanchor": "left",
            "yanchor": "top", "pad": {"t": 45, "r": 10}, "showactive": False,
            "buttons": [{"label": "Play", "method": "animate",
                         "args": [None, {"frame": {"duration": 80, "redraw": True},
                                         "fromcurrent": True, "transition": {"duration": 0}}]},
                        {"label": "Pause", "method": "animate",
                         "args": [[None], {"frame": {"duration": 0, "redraw": False},
                                           "mode": "immediate"}]}]}
    fig.update_layout(
        title={"text": "Map over time", "y": 0.98, "yanchor": "top"}, sliders=[slider],
        updatemenus=[play], height=600, margin={"l": 10, "r": 10, "t": 80, "b": 10},
        plot_bgcolor="white",
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0, "xanchor": "left",
                "font": {"size": 11}},
        xaxis={"range": [-0.5, episode.width - 0.5], "showgrid": False, "zeroline": False,
               "constrain": "domain"},
        yaxis={"range": [episode.height - 0.5, -0.5], "showgrid": False, "zeroline": False,
               "scaleanchor": "x"})
    return fig


def inventory_figure(episode: GTBEpisode) -> go.Figure:
    """Wood, stone and coin held per agent over time (one panel each)."""
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=[f"{name} held" for name in INVENTORY_ROWS])
    t = np.arange(episode.steps + 1)
    for row, name in enumerate(INVENTORY_ROWS):
        for i in range(episode.num_workers):
            fig.add_trace(go.Scatter(
                x=t, y=episode.inventory[:, i, row], mode="lines", name=f"agent {i}",
                legendgroup=f"agent {i}", showlegend=row == 0,
                line={"color": color(i), "width": 1.6},
                hovertemplate=f"agent {i}, step %{{x}}: %{{y:.2f}} {name}<extra></extra>"),
                row=row + 1, col=1)
        fig.update_yaxes(title_text="coin" if name == "coin" else "units", rangemode="tozero",
                         row=row + 1, col=1)
    fig.update_xaxes(title_text="step", row=3, col=1)
    fig.update_layout(title="Inventories over time", height=620,
                      margin={"l": 60, "r": 20, "t": 60, "b": 40})
    return fig


def trade_volume(episode: GTBEpisode, bin_steps: int | None = None) -> dict[str, np.ndarray]:
    """Trades per resource in bins of ``bin_steps`` (default the tax period).

    Returns:
        ``{"start": [bins] first step of each bin, "wood": [bins], "stone": [bins]}``.
    """
    size = bin_steps or episode.tax_period
    bins = max(1, -(-episode.steps // size))
    out = {"start": np.arange(bins) * size + 1}
    which = (episode.trade_step - 1) // size
    for r, name in enumerate(RESOURCES):
        out[name] = np.bincount(which[episode.trade_resource == r], minlength=bins)[:bins]
    return out


def trades_figure(episode: GTBEpisode, *, bin_steps: int | None = None) -> go.Figure:
    """Trade prices (one marker per trade) and volumes per bin, for wood and stone."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.1,
                        subplot_titles=["Trade prices", "Trade volume"])
    volume = trade_volume(episode, bin_steps)
    size = bin_steps or episode.tax_period
    for r, name in enumerate(RESOURCES):
        hit = episode.trade_resource == r
        shade = RESOURCE_COLORS[name]
        fig.add_trace(go.Scatter(
            x=episode.trade_step[hit], y=episode.trade_price[hit], mode="markers", name=name,
            legendgroup=name, marker={"color": shade, "size": 7, "opacity": 0.7},
            hovertemplate=f"{name}: %{{y:.0f}} coin at step %{{x}}<extra></extra>"), row=1, col=1)
        fig.add_trace(go.Bar(
            x=volume["start"] + (size - 1) / 2, y=volume[name], width=size * 0.4,
            offset=-size * 0.4 if r == 0 else 0.0, name=f"{name} trades", legendgroup=name,
            showlegend=False, marker={"color": shade},
            hovertemplate=f"{name}: %{{y}} trades<extra></extra>"), row=2, col=1)
    fig.update_yaxes(title_text="coin per unit", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text=f"trades per {size} steps", row=2, col=1)
    fig.update_xaxes(title_text="step", range=[0, episode.steps + 1], row=2, col=1)
    title = "Trades" if len(episode.trade_step) else "Trades (none in this episode)"
    fig.update_layout(title=title, height=480, margin={"l": 60, "r": 20, "t": 60, "b": 40})
    return fig


def tax_figure(episode: GTBEpisode) -> go.Figure:
    """The marginal-rate schedule of each tax period (rate against period income)."""
    fig = go.Figure()
    cutoffs = episode.cutoffs.astype(np.float64)
    top = max(cutoffs[-1] * 1.25, 1.0) if len(cutoffs) else 1.0
    edges = np.append(cutoffs, top)
    for k, rates in enumerate(episode.rates):
        start = k * episode.tax_period
        fig.add_trace(go.Scatter(
            x=edges, y=np.append(rates, rates[-1]) * 100, mode="lines", line_shape="hv",
            name=f"period {k + 1} (steps {start + 1}-{start + episode.tax_period})",
            line={"color": color(k), "width": 2},
            hovertemplate="income %{x:.0f} coin: %{y:.0f} %<extra></extra>"))
    fig.update_layout(title="Tax schedule per period", height=420,
                      xaxis={"title": "income over the period (coin)"},
                      yaxis={"title": "marginal rate (%)", "range": [-2, 102]},
                      margin={"l": 60, "r": 20, "t": 60, "b": 40})
    return fig


def episode_figures(episode: GTBEpisode, *, max_frames: int | None = MAX_FRAMES) -> dict:
    """All four figures by name: ``map``, ``inventory``, ``trades``, ``tax``."""
    return {"map": map_figure(episode, max_frames=max_frames),
            "inventory": inventory_figure(episode), "trades": trades_figure(episode),
            "tax": tax_figure(episode)}
