"""Pictures of a Gather-Trade-Build episode (plotly figures; plotly is imported on demand).

:func:`record_episode` runs one environment of a world and keeps what the pictures need;
:func:`map_figure` shows the map over time with a step slider (water, wood, stone,
houses and workers); :func:`inventory_figure` the workers' coin, wood and stone;
:func:`trades_figure` every trade's price; :func:`tax_figure` the bracket rates by step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from sandbox.worlds.economy.gtb.actions import RESOURCES

#: Tile codes of :attr:`EpisodeRecord.tiles`.
LAND, WOOD, STONE, WATER, HOUSE = 0, 1, 2, 3, 4
_TILE_COLOURS = ("#f2efe6", "#4f8a3c", "#8c8c8c", "#6fa8dc", "#b5651d")


@dataclass
class EpisodeRecord:
    """One environment's episode, step by step (index 0 = the start).

    Attributes:
        tiles: ``[T+1, H, W]`` int tile codes (land, wood lying, stone lying, water, house).
        positions: ``[T+1, N, 2]`` int rows and columns of the workers.
        holdings: ``[T+1, N, 3]`` float wood, stone, coin held (available + escrow).
        rates: ``[T+1, K]`` float marginal rates in force.
        cutoffs: ``[K]`` bracket lower cutoffs, coin.
        trades: ``(step, resource, price)`` of every trade.
    """

    tiles: np.ndarray
    positions: np.ndarray
    holdings: np.ndarray
    rates: np.ndarray
    cutoffs: np.ndarray
    trades: list[tuple[int, str, float]] = field(default_factory=list)


def random_valid_policy(generator: torch.Generator) -> Callable:
    """A policy ``(world, obs, masks) -> actions`` choosing uniformly among valid actions."""
    def act(world, obs, masks):
        mask = masks["workers"]
        noise = torch.rand(mask.shape, generator=generator, device=mask.device)
        actions = {"workers": noise.masked_fill(~mask, -1.0).argmax(-1)}
        if "planner" in world.acting_roles():
            k = world.params.num_brackets
            actions["planner"] = torch.randint(0, 21, (world.num_envs, 1, k),
                                               generator=generator, device=mask.device)
        return actions
    return act


def _snapshot(world, env: int):
    state, setup = world.state, world.setup
    pad, h, w = setup.pad, setup.height, setup.width

    def grid(flat):
        return flat.view(setup.padded_height, setup.padded_width)[pad:pad + h, pad:pad + w]

    tiles = torch.zeros(h, w, dtype=torch.int64)
    tiles[grid(state.resource[env, 0]).cpu() > 0] = WOOD
    tiles[grid(state.resource[env, 1]).cpu() > 0] = STONE
    tiles[grid(state.water[env]).cpu()] = WATER
    tiles[grid(state.owner[env]).cpu() >= 0] = HOUSE
    pos = state.pos[env].cpu()
    rows_cols = torch.stack([pos // setup.padded_width - pad, pos % setup.padded_width - pad], -1)
    held = (state.inventory[env] + state.escrow[env]).cpu()
    return tiles.numpy(), rows_cols.numpy(), held.numpy(), state.rates[env].cpu().numpy()


def record_episode(world, policy: Callable | None = None, *, steps: int | None = None,
                   env: int = 0, seed: int | None = None) -> EpisodeRecord:
    """Reset ``world`` and record environment ``env`` for ``steps`` steps.

    Args:
        world: a :class:`~sandbox.worlds.economy.gtb.world.GatherTradeBuild`.
        policy: ``(world, obs, masks) -> actions``; uniform random valid actions if None.
        steps: steps to record (default: one episode, stopping before the reset).
        env: which environment to record.
        seed: passed to ``world.reset``.
    """
    steps = world.params.episode_length - 1 if steps is None else steps
    policy = policy or random_valid_policy(torch.Generator().manual_seed(0))
    obs, masks = world.reset(seed=seed), world.action_masks()
    frames = [_snapshot(world, env)]
    trades = []
    for t in range(steps):
        result = world.step(policy(world, obs, masks))
        obs, masks = result.obs, result.masks
        log = result.info["log"].trades
        for i in torch.nonzero(log.traded[env]).flatten().tolist():
            trades.append((t + 1, RESOURCES[int(log.resource[env, i])], float(log.price[env, i])))
        frames.append(_snapshot(world, env))
    tiles, positions, holdings, rates = (np.stack(x) for x in zip(*frames))
    return EpisodeRecord(tiles=tiles, positions=positions, holdings=holdings, rates=rates,
                         cutoffs=world.cutoffs.cpu().numpy(), trades=trades)


def map_figure(record: EpisodeRecord, *, every: int = 10):
    """The map over time with a step slider: tiles as a heatmap, workers as markers."""
    import plotly.graph_objects as go

    steps = list(range(0, len(record.tiles), max(1, every)))
    # one flat colour per tile code 0..4
    colourscale = [p for i, c in enumerate(_TILE_COLOURS)
                   for p in ((max(i - 0.5, 0) / 4, c), (min(i + 0.5, 4) / 4, c))]
    labels = [f"worker {i}" for i in range(record.positions.shape[1])]

    def traces(t):
        heat = go.Heatmap(z=record.tiles[t], zmin=0, zmax=4, colorscale=colourscale,
                          showscale=False, hoverinfo="skip")
        pos = record.positions[t]
        workers = go.Scatter(x=pos[:, 1], y=pos[:, 0], mode="markers+text", text=labels,
                             textposition="top center", marker={"size": 12, "color": "black"},
                             name="workers")
        return [heat, workers]

    frames = [go.Frame(data=traces(t), name=str(t)) for t in steps]
    slider = {"steps": [{"args": [[str(t)], {"frame": {"duration": 0, "redraw": True},
                                             "mode": "immediate"}],
                         "label": str(t), "method": "animate"} for t in steps],
              "currentvalue": {"prefix": "step "}}
    figure = go.Figure(data=traces(steps[0]), frames=frames)
    figure.update_layout(
        title="Gather-Trade-Build map (land, wood, stone, water, houses)",
        sliders=[slider], yaxis={"autorange": "reversed", "scaleanchor": "x"},
        updatemenus=[{"type": "buttons", "buttons": [
            {"label": "play", "method": "animate",
             "args": [None, {"frame": {"duration": 100, "redraw": True}}]}]}])
    return figure


def inventory_figure(record: EpisodeRecord):
    """Each worker's coin, wood and stone over the episode (three stacked panels)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figure = make_subplots(rows=3, cols=1, shared_xaxes=True,
                           subplot_titles=("coin", "wood", "stone"))
    steps = np.arange(len(record.holdings))
    for i in range(record.holdings.shape[1]):
        for row, column in ((1, 2), (2, 0), (3, 1)):
            figure.add_trace(go.Scatter(x=steps, y=record.holdings[:, i, column],
                                        name=f"worker {i}", legendgroup=str(i),
                                        showlegend=row == 1), row=row, col=1)
    figure.update_layout(title="Holdings by worker (available + escrowed)")
    figure.update_xaxes(title_text="step", row=3, col=1)
    return figure


def trades_figure(record: EpisodeRecord):
    """Every trade's price by step, one marker series per resource."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for resource in RESOURCES:
        points = [(t, p) for t, r, p in record.trades if r == resource]
        figure.add_trace(go.Scatter(x=[t for t, _ in points], y=[p for _, p in points],
                                    mode="markers", name=resource))
    figure.update_layout(title="Trades (price, coin)", xaxis_title="step",
                         yaxis_title="price")
    return figure


def tax_figure(record: EpisodeRecord):
    """The marginal rate of each bracket by step."""
    import plotly.graph_objects as go

    figure = go.Figure()
    steps = np.arange(len(record.rates))
    for k, cutoff in enumerate(record.cutoffs):
        figure.add_trace(go.Scatter(x=steps, y=record.rates[:, k], mode="lines",
                                    line={"shape": "hv"}, name=f"from {cutoff:g} coin"))
    figure.update_layout(title="Tax schedule in force", xaxis_title="step",
                         yaxis_title="marginal rate", yaxis_range=[0, 1])
    return figure
