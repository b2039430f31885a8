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

from sandbox.worlds.economy.gtb import native
from sandbox.worlds.economy.gtb.actions import BUY, SELL
from sandbox.worlds.economy.gtb.buffers import BufferPool
from sandbox.worlds.economy.gtb.state import EMPTY_ORDER, ORDER_SHIFT, GTBState

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
def view_cell_of_offset(radius: int, padded_width: int, cells: int,
                        device: torch.device) -> torch.Tensor:
    """``[2 P - 1]`` int64: the view cell (row-major) of a tile ``d`` flat steps away.

    Entry ``d + P - 1`` for ``P = cells`` tiles; -1 outside the view and at its centre.
    Two tiles of the map (not the border) are ``dy`` rows and ``dx`` columns apart with
    ``|dx| < W``, so an offset within the view has only this one reading.
    """
    table = torch.full((2 * cells - 1,), -1, dtype=torch.int64, device=device)
    window = view_window(radius, padded_width, device)
    table[window + cells - 1] = torch.arange(window.numel(), device=device)
    table[cells - 1] = -1  # the worker itself
    return table


@functools.lru_cache(maxsize=16)
def tile_coordinates(padded_width: int, cells: int, pad: int, map_shape: tuple[int, int],
                     device: torch.device) -> torch.Tensor:
    """``[P, 2]`` float32 (row / H, column / W) of every padded tile."""
    tile = torch.arange(cells, device=device)
    height, width = map_shape
    return torch.stack([(tile // padded_width - pad).float() / height,
                        (tile % padded_width - pad).float() / width], dim=-1)


def window_corners(state: GTBState, *, radius: int, padded_width: int) -> torch.Tensor:
    """``[B N]`` int64 flat index of each view's top-left tile in ``state.tiles`` (all envs)."""
    b, _ = state.pos.shape
    cells = state.tiles.shape[1]
    first = (torch.arange(b, device=state.pos.device) * cells).view(b, 1)
    return (state.pos + (first - radius * padded_width - radius)).view(-1)


def view_codes(state: GTBState, *, radius: int, padded_width: int,
               out: torch.Tensor | None = None) -> torch.Tensor:
    """``[B N, V, V]`` int16 tile codes of every worker's view window.

    The padded map of all environments, read as overlapping ``V x V`` windows (one per
    flat tile; the border keeps every worker's window inside its own map), so one
    ``index_select`` of ``B N`` windows reads the views.
    """
    side = 2 * radius + 1
    tiles = state.tiles.contiguous()
    starts = tiles.numel() - (side - 1) * (padded_width + 1)
    windows = tiles.as_strided((starts, side, side), (1, padded_width, 1))
    corners = window_corners(state, radius=radius, padded_width=padded_width)
    if out is None:
        return windows.index_select(0, corners)
    return torch.index_select(windows, 0, corners, out=out)


def decode_views(code: torch.Tensor, cell: torch.Tensor, *, flags: torch.Tensor,
                 owner_code: torch.Tensor) -> None:
    """Write the 0/1 view channels of tile codes into ``flags``.

    Args:
        code: ``[b, N, V*V]`` int16 tile codes of each worker's view (:func:`view_codes`).
        cell: ``[b, N, N]`` int64 view cell of worker ``j`` as seen by worker ``i``, -1
            where out of view (:func:`view_cell_of_offset`).
        flags: ``[b, N, 6, V*V]`` int16 output, channels in :data:`VIEW_CHANNELS` order.
        owner_code: ``[b, N, V*V]`` int16 scratch space.
    """
    n = code.shape[1]
    bits = torch.tensor([1, 2, 4], dtype=code.dtype, device=code.device).view(1, 1, 3, 1)
    # wood, stone, water: 0 or 2^bit, then 0 or 1
    torch.bitwise_and(code.unsqueeze(2), bits, out=flags[:, :, :3])
    flags[:, :, :3].clamp_(max=1)
    torch.bitwise_right_shift(code, 3, out=owner_code)
    me = torch.arange(1, n + 1, dtype=code.dtype, device=code.device).view(1, n, 1)
    own, other, workers = flags[:, :, 3], flags[:, :, 4], flags[:, :, 5]
    torch.bitwise_xor(owner_code, me, out=own)  # 0 on one's own house
    own.clamp_(max=1).neg_().add_(1)
    torch.clamp(owner_code, max=1, out=other)  # any house ...
    other -= own  # ... but one's own
    workers.zero_()
    workers.scatter_add_(2, cell.clamp(min=0), (cell >= 0).to(code.dtype))


def local_views(state: GTBState, window: torch.Tensor, *, radius: int, padded_width: int,
                out: torch.Tensor | None = None, pool: BufferPool | None = None) -> torch.Tensor:
    """``[B, N, 6 * V * V]`` float32 views (channels in :data:`VIEW_CHANNELS` order).

    Args:
        state: the state to observe.
        window: ``[V*V]`` int64 flat offsets from :func:`view_window` (sets ``V``).
        radius: view radius, tiles.
        padded_width: width of the padded map, tiles.
        out: optional ``[B, N, >= 6 V V]`` float32 tensor whose leading columns receive
            the views (saves a copy of the whole observation); returned as is.
        pool: optional :class:`BufferPool` for the temporaries (tile codes).
    """
    b, n = state.pos.shape
    cells = window.numel()
    channels = len(VIEW_CHANNELS)
    width = channels * cells
    dev = state.pos.device
    if out is None:
        out = torch.empty(b, n, width, device=dev)
    table = view_cell_of_offset(radius, padded_width, state.tiles.shape[1], dev)
    if (out.is_contiguous() and radius <= native.MAX_VIEW_RADIUS
            and native.applies(state.tiles)):  # the same views, compiled
        native.local_views(state.tiles, state.pos, radius=radius, padded_width=padded_width,
                           cell_of_offset=table, out=out)
        return out
    views = out[..., :width].view(b, n, channels, cells)

    def temporary(shape, dtype):
        return (torch.empty(shape, dtype=dtype, device=dev) if pool is None
                else pool.take(shape, dtype=dtype, device=dev))

    side = 2 * radius + 1
    # one read of the tile codes (bit 0 wood, bit 1 stone, bit 2 water, bits 3+ owner
    # + 1) ...
    code = view_codes(state, radius=radius, padded_width=padded_width,
                      out=temporary((b * n, side, side), state.tiles.dtype)).view(b, n, cells)
    # ... and the other workers, from their positions relative to each worker
    cell = table.take(state.pos.unsqueeze(1) - state.pos.unsqueeze(2)
                      + (state.tiles.shape[1] - 1))
    # decoded into 0/1 integers, then converted into the float observation in one copy
    # (integer passes and one int16 -> float32 copy cost less than comparisons written
    # as floats or a gather from a float table)
    flags = temporary((b, n, channels, cells), code.dtype)
    decode_views(code, cell, flags=flags, owner_code=temporary((b, n, cells), code.dtype))
    views.copy_(flags)
    return out


def market_summary(state: GTBState, max_price: int) -> torch.Tensor:
    """``[B, N, 8]``: per resource best bid, best ask, own open bids, own open asks."""
    b, n = state.pos.shape
    # the smallest key of a side is its best order; an empty side's rank is huge, so
    # the clamps turn it into -1 (no bid) and max_price + 1 (no ask)
    ranks = (state.book.view(b, 2, 2, -1) >> ORDER_SHIFT).int()  # int32: a faster minimum
    rank = ranks.amin(-1)  # [B, resource, side]
    bid = rank[:, :, BUY].neg().clamp_(min=-1)
    ask = rank[:, :, SELL].clamp(max=max_price + 1)
    counts = (state.book != EMPTY_ORDER).sum(-1, dtype=torch.float32)  # [B, 2, 2, N]
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
    t = state.t.float().unsqueeze(-1)
    phases = torch.cat([(state.t % tax_period).float().unsqueeze(-1) / tax_period,
                        t / episode_length], dim=-1)  # [B, 2]
    income_now = state.earned - state.period_start
    coordinates = tile_coordinates(padded_width, state.tiles.shape[1], radius, tuple(map_shape),
                                   state.pos.device)[state.pos]  # [B, N, 2]
    features = [
        state.inventory, state.escrow,
        state.payment.unsqueeze(-1), state.bonus_prob.unsqueeze(-1), coordinates,
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
    per_worker = torch.cat([state.inventory + state.escrow, income_now.unsqueeze(-1),
                            state.last_income.unsqueeze(-1)], dim=-1)  # [B, N, 5]
    cap = torch.full((b, 1), float(rate_cap), device=state.pos.device)
    planner = torch.cat([per_worker.reshape(b, 5 * n), state.rates, phases, cap], dim=-1)
    return {"planner": planner.unsqueeze(1), "workers": workers}
