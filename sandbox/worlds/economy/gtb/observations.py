"""Observations of Gather-Trade-Build, flat float32 vectors (layout below).

Worker ``[B, N, D]``, in this order (``V = 2 view_radius + 1``, ``K`` brackets):

- local view, 6 channels of ``V x V`` tiles centred on the worker, channel-major: wood
  lying, stone lying, water (or off the map), own houses, other workers' houses,
  other workers;
- inventory available (wood, stone, coin), escrowed (wood, stone, coin);
- skills: build payment (coin per house), bonus-gather probability;
- position: row / H, column / W;
- market, per resource (wood then stone): best bid on the book (-1 if none), best ask
  (``max_price + 1`` if none), the worker's open bids, its open asks;
- tax: the period's K marginal rates, period phase ``(t mod period) / period``, episode
  phase ``t / episode_length``, income so far in this period, income of the last period.

Planner ``[B, 1, 5 N + K + 3]``: per worker (in index order) wood, stone and coin held
(available plus escrowed),
income so far in this period, last period's income; then the K rates, period phase,
episode phase and the rate cap.
"""

from __future__ import annotations

import functools

import torch

from sandbox.worlds.economy.gtb.actions import BUY, SELL
from sandbox.worlds.economy.gtb.buffers import BufferPool
from sandbox.worlds.economy.gtb.state import GTBState

VIEW_CHANNELS = ("wood", "stone", "water", "own_house", "other_house", "other_agent")


def view_window(radius: int, padded_width: int, device) -> torch.Tensor:
    """Flat offsets of the ``V x V`` window around a tile, row-major: ``[V*V]`` int64."""
    steps = torch.arange(-radius, radius + 1, device=device)
    return (steps.view(-1, 1) * padded_width + steps.view(1, -1)).reshape(-1)


def worker_dim(num_workers: int, num_brackets: int, radius: int) -> int:
    """Length of a worker's observation."""
    side = 2 * radius + 1
    return len(VIEW_CHANNELS) * side * side + 6 + 2 + 2 + 8 + num_brackets + 4


def planner_dim(num_workers: int, num_brackets: int) -> int:
    """Length of the planner's observation."""
    return 5 * num_workers + num_brackets + 3


def tile_code(resource: torch.Tensor, water: torch.Tensor, owner: torch.Tensor):
    """``[B, P]`` int16 ``wood + 2 stone + 4 water + 8 (owner + 1)`` (``state.tiles``)."""
    code = owner.to(torch.int16).add(1).mul_(8)
    code += water.to(torch.int16) * 4
    code += resource[:, 0]
    code += resource[:, 1] * 2
    return code


@functools.lru_cache(maxsize=16)
def view_table(num_workers: int, device: torch.device) -> torch.Tensor:
    """``[N, 5, 8 (N + 1)]`` float32: channels 0..4 of a tile seen by worker ``i``, by tile code.

    ``table[i, c, code]`` is the value of :data:`VIEW_CHANNELS` ``c`` (wood, stone,
    water, own house, other house) of a tile whose :func:`tile_code` is ``code``, as
    worker ``i`` sees it; the local view is then one gather from this table.
    """
    code = torch.arange(8 * (num_workers + 1), device=device)
    owner_code = (code >> 3).view(1, -1)  # owner + 1, 0 where no house
    me = torch.arange(1, num_workers + 1, device=device).view(-1, 1)
    own = owner_code == me
    bits = [((code >> shift) & 1).bool().view(1, -1).expand(num_workers, -1)
            for shift in range(3)]
    return torch.stack([*bits, own, (owner_code > 0) & ~own], dim=1).float()


def local_views(state: GTBState, window: torch.Tensor, *, radius: int, padded_width: int,
                out: torch.Tensor | None = None, pool: BufferPool | None = None) -> torch.Tensor:
    """``[B, N, 6 * V * V]`` float32 views (channels in :data:`VIEW_CHANNELS` order).

    Args:
        state: the state to observe.
        window: ``[V*V]`` int64 flat offsets from :func:`view_window`.
        radius: view radius, tiles.
        padded_width: width of the padded map, tiles.
        out: optional ``[B, N, >= 6 V V]`` float32 tensor whose leading columns receive
            the views (saves a copy of the whole observation); returned as is.
        pool: optional :class:`BufferPool` for the large temporaries (tile indices).
    """
    b, n = state.pos.shape
    cells = window.numel()
    channels = len(VIEW_CHANNELS)
    width = channels * cells
    if out is None:
        out = torch.empty(b, n, width, device=state.pos.device)
    views = out[..., :width].view(b, n, channels, cells)
    dev = state.pos.device

    def temporary(shape, dtype):
        return (torch.empty(shape, dtype=dtype, device=dev) if pool is None
                else pool.take(shape, dtype=dtype, device=dev))

    index = torch.add(state.pos.unsqueeze(-1), window,
                      out=temporary((b, n, cells), torch.int64)).view(b, n * cells)
    # one gather of the tile code (bit 0 wood, bit 1 stone, bit 2 water, bits 3+ owner
    # + 1), then one gather of the five map channels from the per-worker table, written
    # straight into the observation
    seen = temporary((b, n * cells), torch.int64).copy_(state.tiles.gather(1, index))
    seen = seen.view(b, n, 1, cells)
    table = view_table(n, state.pos.device)
    torch.gather(table.unsqueeze(0).expand(b, -1, -1, -1), 3,
                 seen.expand(-1, -1, channels - 1, -1), out=views[:, :, :channels - 1])
    # other workers, from their positions relative to each worker
    y, x = state.pos // padded_width, state.pos % padded_width
    dy = y.unsqueeze(1) - y.unsqueeze(2)  # [B, i, j]: j relative to i
    dx = x.unsqueeze(1) - x.unsqueeze(2)
    side = 2 * radius + 1
    visible = (dy.abs() <= radius) & (dx.abs() <= radius) & ~torch.eye(n, dtype=torch.bool,
                                                                       device=dy.device)
    cell = ((dy + radius) * side + dx + radius).clamp(0, cells - 1)
    others = views[:, :, channels - 1]
    others.zero_()
    others.scatter_add_(2, cell, visible.float())
    return out


def market_summary(state: GTBState, max_price: int) -> torch.Tensor:
    """``[B, N, 8]``: per resource best bid, best ask, own open bids, own open asks."""
    open_ = state.book_seq >= 0  # [B, 2, 2, N, M]
    bid = torch.where(open_[:, :, BUY], state.book_price[:, :, BUY], -1).amax((-1, -2))
    ask = torch.where(open_[:, :, SELL], state.book_price[:, :, SELL],
                      max_price + 1).amin((-1, -2))
    counts = open_.sum(-1).float()  # [B, 2, 2, N]
    n = state.pos.shape[1]
    best = torch.stack([bid, ask], dim=-1).float().unsqueeze(1).expand(-1, n, -1, -1)
    own = counts.permute(0, 3, 1, 2)  # [B, N, resource, side]
    return torch.cat([best, own], dim=-1).reshape(-1, n, 8)


def observe(state: GTBState, *, window: torch.Tensor, radius: int, padded_width: int,
            map_shape: tuple[int, int], max_price: int, tax_period: int,
            episode_length: int, rate_cap: float,
            pool: BufferPool | None = None) -> dict[str, torch.Tensor]:
    """Observations of both roles for ``state`` (layouts in the module docstring).

    ``pool`` (optional) supplies the workers' observation tensor (see ``buffers.py``).
    """
    b, n = state.pos.shape
    height, width = map_shape
    t = state.t.float().unsqueeze(-1)
    phases = torch.cat([(state.t % tax_period).float().unsqueeze(-1) / tax_period,
                        t / episode_length], dim=-1)  # [B, 2]
    income_now = state.earned - state.period_start
    pad = radius
    y = (state.pos // padded_width - pad).float() / height
    x = (state.pos % padded_width - pad).float() / width
    features = [
        state.inventory, state.escrow,
        state.payment.unsqueeze(-1), state.bonus_prob.unsqueeze(-1),
        y.unsqueeze(-1), x.unsqueeze(-1),
        market_summary(state, max_price),
        state.rates.unsqueeze(1).expand(-1, n, -1),
        phases.unsqueeze(1).expand(-1, n, -1),
        income_now.unsqueeze(-1), state.last_income.unsqueeze(-1),
    ]
    views = len(VIEW_CHANNELS) * window.numel()
    shape = (b, n, views + sum(f.shape[-1] for f in features))
    workers = (torch.empty(shape, device=state.pos.device) if pool is None
               else pool.take(shape, device=state.pos.device))
    local_views(state, window, radius=radius, padded_width=padded_width, out=workers,
                pool=pool)
    workers[..., views:] = torch.cat(features, dim=-1)
    held = state.inventory + state.escrow
    per_worker = torch.stack([held[..., 0], held[..., 1], held[..., 2], income_now,
                              state.last_income], dim=-1)
    cap = torch.full((b, 1), float(rate_cap), device=state.pos.device)
    planner = torch.cat([per_worker.reshape(b, 5 * n), state.rates, phases, cap], dim=-1)
    return {"planner": planner.unsqueeze(1), "workers": workers}
