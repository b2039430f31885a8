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
"""

from __future__ import annotations

import torch

from sandbox.worlds.economy.gtb import native
from sandbox.worlds.economy.gtb.actions import BUY, SELL
from sandbox.worlds.economy.gtb.state import COIN, EMPTY_ORDER, GTBState


def worker_masks(state: GTBState, *, offsets: torch.Tensor, max_orders: int,
                 max_price: int) -> torch.Tensor:
    """``[B, N, 2 + 4 (max_price + 1) + 4]`` bool masks for ``state``.

    The book has ``max_orders`` slots per worker and side, so there is room for an
    order while one of them is empty.
    """
    if native.applies(state.pos):  # the same masks, compiled
        return native.worker_masks(state, offsets=offsets, max_price=max_price)
    b, n = state.pos.shape
    inv = state.inventory
    noop = torch.ones(b, n, 1, dtype=torch.bool, device=inv.device)
    tile_owner = state.owner.gather(1, state.pos)
    build = ((inv[..., 0] >= 1) & (inv[..., 1] >= 1) & (tile_owner < 0)
             & ~state.source.gather(1, state.pos)).unsqueeze(-1)
    room = (state.book == EMPTY_ORDER).any(-1)  # [B, 2, 2, N]
    prices = torch.arange(max_price + 1, device=inv.device)
    can_bid = inv[..., COIN].unsqueeze(-1) >= prices  # [B, N, L]
    trade = []
    for resource in (0, 1):
        trade.append(can_bid & room[:, resource, BUY].unsqueeze(-1))
        sell = (inv[..., resource] >= 1) & room[:, resource, SELL]
        trade.append(sell.unsqueeze(-1).expand(-1, -1, max_price + 1))
    target = state.pos.unsqueeze(-1) + offsets  # [B, N, 4]
    flat = target.view(b, n * 4)
    owner = state.owner.gather(1, flat).view(b, n, 4).long()
    me = torch.arange(n, device=inv.device).view(1, n, 1)
    occupied = (flat.unsqueeze(-1) == state.pos.unsqueeze(1)).any(-1).view(b, n, 4)
    move = (~state.water.gather(1, flat).view(b, n, 4) & ((owner < 0) | (owner == me))
            & ~occupied)
    return torch.cat([noop, build, *trade, move], dim=-1)
