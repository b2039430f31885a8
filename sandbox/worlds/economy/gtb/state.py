"""Batched state of Gather-Trade-Build, and the random numbers one step consumes.

Maps are stored **padded**: a border of ``pad = view_radius`` water tiles surrounds the
``H x W`` map, so that every move stays inside the array (the border blocks it) and every
view window is a plain gather. Tiles are flat indices ``p = (y + pad) * Wp + (x + pad)``
into ``P = Hp * Wp`` cells, ``Hp = H + 2 pad``, ``Wp = W + 2 pad``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sandbox.core.state import TensorState

#: Inventory columns.
COIN = 2


@dataclass
class GTBState(TensorState):
    """State of B environments with N workers, K tax brackets, M order slots.

    Attributes:
        t: ``[B]`` int64 steps taken in the episode.
        pos: ``[B, N]`` int64 flat padded tile of each worker.
        water: ``[B, P]`` bool water (and the border).
        source: ``[B, P]`` bool source tiles (wood or stone; no building there).
        resource: ``[B, 2, P]`` uint8 units of wood / stone lying on each tile (0 or 1).
        source_cells: ``[B, S]`` int64 every source tile as ``kind * P + p``.
        tiles: ``[B, P]`` int16 each tile's code for the views, kept up to date with the
            maps: ``wood + 2 stone + 4 water + 8 (owner + 1)`` (units lying, owner -1
            where no house; see ``observations.tile_code``).
        owner: ``[B, P]`` int16 owner of the house on a tile, -1 where none.
        inventory: ``[B, N, 3]`` float32 wood, stone (units) and coin available.
        escrow: ``[B, N, 3]`` float32 wood and stone held by open asks, coin by open bids.
        labour: ``[B, N]`` float32 labour spent in the episode.
        earned: ``[B, N]`` float32 pre-tax income in the episode (house payments plus
            sales minus purchases), coin.
        period_start: ``[B, N]`` float32 ``earned`` when the tax period began.
        last_income: ``[B, N]`` float32 income of the last completed tax period.
        tax_paid: ``[B, N]`` float32 tax paid in the episode, coin.
        transfers: ``[B, N]`` float32 lump sums received in the episode, coin.
        rates: ``[B, K]`` float32 marginal rates of the current period.
        payment: ``[B, N]`` float32 coin paid per house built (build skill).
        bonus_prob: ``[B, N]`` float32 probability of a bonus unit when gathering.
        book_price: ``[B, 2, 2, N, M]`` int64 order prices by resource, side (0 bid,
            1 ask), owner and slot.
        book_seq: ``[B, 2, 2, N, M]`` int64 ``step * N + turn`` when the order was
            placed (earlier orders have smaller numbers); -1 for an empty slot.
        houses: ``[B, N]`` float32 houses built in the episode.
        trades: ``[B]`` float32 trades in the episode.
        utility: ``[B, N]`` float32 worker utility after the last step.
        welfare: ``[B]`` float32 the planner's social welfare after the last step.
    """

    t: torch.Tensor
    pos: torch.Tensor
    water: torch.Tensor
    source: torch.Tensor
    resource: torch.Tensor
    source_cells: torch.Tensor
    tiles: torch.Tensor
    owner: torch.Tensor
    inventory: torch.Tensor
    escrow: torch.Tensor
    labour: torch.Tensor
    earned: torch.Tensor
    period_start: torch.Tensor
    last_income: torch.Tensor
    tax_paid: torch.Tensor
    transfers: torch.Tensor
    rates: torch.Tensor
    payment: torch.Tensor
    bonus_prob: torch.Tensor
    book_price: torch.Tensor
    book_seq: torch.Tensor
    houses: torch.Tensor
    trades: torch.Tensor
    utility: torch.Tensor
    welfare: torch.Tensor

    @property
    def coin_total(self) -> torch.Tensor:
        """``[B, N]`` coin endowment: available plus escrowed in bids."""
        return self.inventory[..., COIN] + self.escrow[..., COIN]


@dataclass
class StepNoise:
    """The uniform [0, 1) numbers one step consumes (drawn first, in this order).

    Attributes:
        order: ``[B, N]`` turn order: workers act in ascending order of these numbers.
        bonus: ``[B, N]`` a worker gathers a bonus unit when this is below its
            ``bonus_prob``.
        regen: ``[B, S]`` an empty source tile regrows when this is below
            ``regen_probability``.
    """

    order: torch.Tensor
    bonus: torch.Tensor
    regen: torch.Tensor

    @classmethod
    def draw(cls, num_envs: int, num_workers: int, num_sources: int, *,
             generator: torch.Generator, device) -> StepNoise:
        """Draw one step's numbers from ``generator``."""
        def uniform(*shape):
            return torch.rand(*shape, generator=generator, device=device)
        return cls(order=uniform(num_envs, num_workers), bonus=uniform(num_envs, num_workers),
                   regen=uniform(num_envs, num_sources))
