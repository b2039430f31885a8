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
#: Order keys: ``rank * 2**ORDER_SHIFT + seq`` (see ``GTBState.book``).
ORDER_SHIFT = 32
#: The key of an empty book slot: larger than every order's key.
EMPTY_ORDER = torch.iinfo(torch.int64).max


def order_key(rank: torch.Tensor, seq: torch.Tensor) -> torch.Tensor:
    """Book keys of orders with price ``rank`` (-price for bids) and sequence number ``seq``."""
    return rank * (1 << ORDER_SHIFT) + seq


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
        book: ``[B, 2, 2, N, M]`` int64 the order book by resource, side (0 bid, 1 ask),
            owner and slot (``M = max_orders``): each order as one key
            ``rank * 2**32 + seq``, with ``rank`` its price for an ask and minus its
            price for a bid, and ``seq = step * N + turn`` when it was placed (earlier
            orders have smaller numbers); :data:`EMPTY_ORDER` in an empty slot. On
            each side of a book the best order (lowest ask, highest bid, the earliest
            among equal prices) has the smallest key. Read as prices and sequence
            numbers through :attr:`book_price` and :attr:`book_seq`.
        houses: ``[B, N]`` float32 houses built in the episode.
        trades: ``[B]`` float32 trades in the episode.
        utility: ``[B, N]`` float32 worker utility after the last step.
        welfare: ``[B]`` float32 the planner's social welfare after the last step.
        episodes_done: ``[B]`` int64 episodes this environment completed before the
            current one (the ``"decay"`` labour-cost warm-up's progress). Carried across
            episodes and ``reset()``; part of the state so that a checkpoint resumes it.
        positive_steps: ``[B]`` int64 steps in which the workers' mean reward was
            positive (the ``"auto"`` warm-up's progress; counted only with that method).
            Carried as ``episodes_done``.

    The two warm-up counters default to None only so that ``setup.initial_state`` need
    not know them: the world sets them on every state it holds.
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
    book: torch.Tensor
    houses: torch.Tensor
    trades: torch.Tensor
    utility: torch.Tensor
    welfare: torch.Tensor
    episodes_done: torch.Tensor | None = None
    positive_steps: torch.Tensor | None = None

    @property
    def coin_total(self) -> torch.Tensor:
        """``[B, N]`` coin endowment: available plus escrowed in bids."""
        return self.inventory[..., COIN] + self.escrow[..., COIN]

    @property
    def book_seq(self) -> torch.Tensor:
        """``[B, 2, 2, N, M]`` int64 sequence numbers of the book's orders, -1 where empty."""
        return torch.where(self.book != EMPTY_ORDER, self.book & ((1 << ORDER_SHIFT) - 1), -1)

    @property
    def book_price(self) -> torch.Tensor:
        """``[B, 2, 2, N, M]`` int64 prices of the book's orders, 0 where empty."""
        rank = torch.where(self.book != EMPTY_ORDER, self.book >> ORDER_SHIFT, 0)
        return rank.abs()


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
