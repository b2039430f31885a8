"""Action masks of the workers (True = valid), in the action order of ``actions.py``.

- no-op: always valid;
- build: at least 1 wood and 1 stone available, and the worker's tile holds no house
  and is not a source tile;
- buy ``r`` at ``price``: available coin >= price and fewer than ``max_orders`` open bids
  on ``r``; sell ``r``: at least one unit of ``r`` available and fewer than
  ``max_orders`` open asks on ``r``;
- move: the target tile is on the map, not water, not another worker's house, and no
  worker stands on it now (a move can still fail when a worker earlier in the turn
  order moves onto the target in the same step).

The tile facts come from one read of the tile codes (``state.tiles``: water bit 2,
owner + 1 in bits 3 and up) at each worker's tile and its four neighbours, written
straight into one preallocated mask tensor.
"""

from __future__ import annotations

import functools

import torch

from sandbox.worlds.economy.gtb.actions import BUY, SELL
from sandbox.worlds.economy.gtb.state import COIN, EMPTY_ORDER, GTBState

#: Bit of the water flag in a tile code (``observations.tile_code``).
WATER_BIT = 4
#: Shift of ``owner + 1`` in a tile code.
OWNER_SHIFT = 3


@functools.lru_cache(maxsize=16)
def move_of_offset(offsets: tuple[int, ...], cells: int, device: torch.device) -> torch.Tensor:
    """``[2 P - 1]`` int64: 1 + the move whose flat step is ``d`` (entry ``d + P - 1``), else 0.

    Two workers stand on distinct map tiles, so the difference of their flat tiles is
    one of the moves' steps exactly when one stands on the other's move target.
    """
    table = torch.zeros(2 * cells - 1, dtype=torch.int64, device=device)
    table[torch.tensor(offsets, device=device) + cells - 1] = torch.arange(
        1, len(offsets) + 1, device=device)
    return table


def worker_masks(state: GTBState, *, offsets: torch.Tensor, max_orders: int,
                 max_price: int) -> torch.Tensor:
    """``[B, N, 2 + 4 (max_price + 1) + 4]`` bool masks for ``state``.

    The book has ``max_orders`` slots per worker and side, so there is room for an
    order while one of them is empty.
    """
    b, n = state.pos.shape
    cells = state.tiles.shape[1]
    levels = max_price + 1
    dev = state.pos.device
    inv = state.inventory
    out = torch.empty(b, n, 2 + 4 * levels + 4, dtype=torch.bool, device=dev)
    out[..., 0] = True
    # the worker's own tile, then its four move targets, as flat indices into all maps
    here = state.pos + (torch.arange(b, device=dev) * cells).view(b, 1)
    code = state.tiles.take(here.unsqueeze(-1) + torch.cat([offsets.new_zeros(1), offsets]))
    owner_code = code >> OWNER_SHIFT  # [B, N, 5] owner + 1, 0 where no house
    has = inv[..., :2] >= 1  # [B, N, 2] wood, stone
    torch.logical_and(has[..., 0] & has[..., 1] & (owner_code[..., 0] == 0),
                      ~state.source.take(here), out=out[..., 1])
    room = state.book.amax(-1) == EMPTY_ORDER  # [B, 2, 2, N]
    prices = torch.arange(levels, device=dev, dtype=inv.dtype)
    # a bid at ``price`` is valid while price <= coin, given room on the book
    budget = torch.where(room[:, :, BUY], inv[..., COIN].unsqueeze(1), -1.0)  # [B, 2, N]
    for resource in (0, 1):
        start = 2 + 2 * resource * levels
        torch.ge(budget[:, resource].unsqueeze(-1), prices, out=out[..., start:start + levels])
        sell = has[..., resource] & room[:, resource, SELL]
        out[..., start + levels:start + 2 * levels] = sell.unsqueeze(-1)
    # occupied[i, 1 + move]: another worker stands on worker i's move target
    move = move_of_offset(tuple(offsets.tolist()), cells, dev).take(
        state.pos.unsqueeze(1) - state.pos.unsqueeze(2) + (cells - 1))  # [B, i, j]
    occupied = torch.zeros(b, n, 1 + offsets.numel(), dtype=torch.bool, device=dev)
    occupied.scatter_(2, move, True)
    me = torch.arange(1, n + 1, device=dev, dtype=owner_code.dtype).view(1, n, 1)
    mover = owner_code[..., 1:]
    free = ((code[..., 1:] & WATER_BIT) == 0) & ((mover == 0) | (mover == me))
    torch.logical_and(free, ~occupied[..., 1:], out=out[..., 2 + 4 * levels:])
    return out
