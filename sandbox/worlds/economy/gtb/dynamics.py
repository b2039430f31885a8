"""One step of Gather-Trade-Build: the order of processing, as a pure function.

Within a step, in this order:

1. (First step of a tax period) the planner's rates take effect (``world.py``).
2. The workers act in the step's turn order: ascending ``noise.order`` (a fresh random
   permutation per step and environment, drawn from the world's generator). Each worker
   takes one action. Builds and gathering involve one worker's own tile only, and
   moves and orders interact only with moves and orders, so the sequential rule is
   computed as: builds (all workers at once), orders (one turn at a time, in turn order,
   ``auction.py``), moves (one turn at a time, in turn order, ``movement.py``), then
   gathering by the workers that moved.
3. Empty source tiles regrow (``regeneration.py``).
4. Orders that have lived ``order_duration`` steps expire and are refunded.
5. The step counter advances; if a tax period just ended, taxes are collected and the
   lump sum paid (``taxes.py``).

Labour: a successful move ``move_labour`` (+ ``gather_labour`` if it collected), a
successful build ``build_labour``, an accepted order ``order_labour``; actions that
fail (invalid under the masks) change nothing and cost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sandbox.worlds.economy.gtb.actions import BUILD, ActionLayout
from sandbox.worlds.economy.gtb.auction import TradeLog, cancel_orders, expire_orders, submit_orders
from sandbox.worlds.economy.gtb.buffers import BufferPool
from sandbox.worlds.economy.gtb.building import build_houses
from sandbox.worlds.economy.gtb.movement import apply_moves, gather_resources
from sandbox.worlds.economy.gtb.params import GTBParams
from sandbox.worlds.economy.gtb.regeneration import regrow
from sandbox.worlds.economy.gtb.state import COIN, GTBState, StepNoise
from sandbox.worlds.economy.gtb.taxes import period_taxes


@dataclass
class StepLog:
    """What happened in one step, for info and figures.

    Attributes:
        built: ``[B, N]`` bool, the worker built a house.
        moved: ``[B, N]`` bool, the worker moved.
        collected: ``[B, N, 2]`` float32 wood and stone gathered.
        trades: the step's :class:`~sandbox.worlds.economy.gtb.auction.TradeLog`.
        tax: ``[B, N]`` float32 tax paid at the end of this step (0 inside a period).
        lump_sum: ``[B]`` float32 lump sum paid to each worker at the end of this step.
        period_ended: bool, a tax period ended with this step.
    """

    built: torch.Tensor
    moved: torch.Tensor
    collected: torch.Tensor
    trades: TradeLog
    tax: torch.Tensor
    lump_sum: torch.Tensor
    period_ended: bool


def advance(state: GTBState, action: torch.Tensor, noise: StepNoise, *, params: GTBParams,
            cutoffs: torch.Tensor, offsets: torch.Tensor,
            pool: BufferPool | None = None) -> tuple[GTBState, StepLog]:
    """The state after the workers' ``action`` ``[B, N]`` int64 (rates already set).

    Args:
        state: the state before the step (not modified).
        action: ``[B, N]`` int64 worker actions (see ``actions.py``).
        noise: the step's random numbers.
        params: the world's parameters.
        cutoffs: ``[K]`` float32 bracket cutoffs, coin.
        offsets: ``[4]`` int64 flat move offsets (``movement.move_offsets``).
        pool: optional :class:`BufferPool` that supplies the step's copies of the maps
            (``owner``, ``resource``, ``tiles``), which the mechanics then change in place.
    """
    p = params
    layout = ActionLayout(p.max_price)
    turn_order = noise.order.argsort(dim=1)
    inventory, labour = state.inventory, state.labour

    def own_copy(tensor):  # this step's copy of a map, changed in place below
        return tensor.clone() if pool is None else pool.copy_of(tensor)

    # builds
    owner, built = build_houses(inventory, own_copy(state.owner), state.source, state.pos,
                                action == BUILD, inplace=True)
    builtf = built.float()
    paid = builtf * state.payment
    inventory = inventory + torch.stack([-builtf, -builtf, paid], dim=-1)
    earned = state.earned + paid
    labour = labour + builtf * p.build_labour
    # orders
    orders = layout.decode_trade(action)
    book, inventory, escrow, earned, trades = submit_orders(
        state.book, inventory, state.escrow, earned, orders=orders, turn_order=turn_order,
        step=state.t)
    labour = labour + trades.placed.float() * p.order_labour
    # moves and gathering
    direction = torch.where(action >= layout.first_move, action - layout.first_move, -1)
    pos, moved = apply_moves(state.pos, state.water, owner, direction, turn_order,
                             offsets=offsets)
    resource, collected = gather_resources(own_copy(state.resource), pos, moved,
                                           noise.bonus < state.bonus_prob, inplace=True)
    inventory = inventory + torch.nn.functional.pad(collected, (0, 1))
    labour = (labour + moved.float() * p.move_labour
              + (collected.sum(-1) > 0).float() * p.gather_labour)
    # regrowth, expiry, time
    resource, regrown = regrow(resource, state.source_cells, noise.regen, p.regen_probability,
                               inplace=True)
    tiles = update_tiles(state, tiles=own_copy(state.tiles), built=built, pos=pos,
                         collected=collected, regrown=regrown)
    t = state.t + 1
    book, inventory, escrow = expire_orders(book, inventory, escrow, steps_done=t,
                                            duration=p.order_duration)
    new = state.replace(
        t=t, pos=pos, resource=resource, tiles=tiles, owner=owner, inventory=inventory,
        escrow=escrow,
        labour=labour, earned=earned, book=book,
        houses=state.houses + builtf, trades=state.trades + trades.traded.sum(-1).float())
    b, n = action.shape
    tax, lump_sum = torch.zeros(b, n, device=action.device), torch.zeros(b, device=action.device)
    period_ended = int(t[0]) % p.tax_period == 0
    if period_ended:
        new, tax, lump_sum = settle_period(new, cutoffs)
    log = StepLog(built=built, moved=moved, collected=collected, trades=trades, tax=tax,
                  lump_sum=lump_sum, period_ended=period_ended)
    return new, log


def update_tiles(state: GTBState, *, built: torch.Tensor, pos: torch.Tensor,
                 collected: torch.Tensor, regrown: torch.Tensor,
                 tiles: torch.Tensor | None = None) -> torch.Tensor:
    """``state.tiles`` after the step's builds, gathering and regrowth (``[B, P]`` int16).

    Args:
        state: the state before the step (houses are built on ``state.pos``).
        built: ``[B, N]`` bool builds.
        pos: ``[B, N]`` int64 tiles after the moves (where gathering happened).
        collected: ``[B, N, 2]`` units of wood and stone gathered.
        regrown: ``[B, S]`` bool source tiles that regrew.
        tiles: optional copy of ``state.tiles`` to update in place (else a new copy).
    """
    n = built.shape[1]
    cells = state.tiles.shape[1]
    owner_code = 8 * torch.arange(1, n + 1, device=built.device)
    tiles = state.tiles.clone() if tiles is None else tiles
    tiles.scatter_add_(1, state.pos, (built * owner_code).to(tiles.dtype))
    taken = (collected[..., 0] > 0).to(tiles.dtype) + 2 * (collected[..., 1] > 0).to(tiles.dtype)
    tiles.scatter_add_(1, pos, -taken)
    kind_code = 1 + state.source_cells // cells  # 1 wood, 2 stone
    tiles.scatter_add_(1, state.source_cells % cells, (regrown * kind_code).to(tiles.dtype))
    return tiles


def settle_period(state: GTBState, cutoffs: torch.Tensor):
    """Collect the period's taxes and pay the lump sum; returns ``(state, tax, lump_sum)``."""
    income, tax, lump_sum = period_taxes(state.earned, state.period_start, state.rates, cutoffs)
    inventory, escrow, book = state.inventory, state.escrow, state.book
    short = tax > inventory[..., COIN]
    if bool(short.any()):  # cancel the short workers' bids so that the escrow comes back
        cancel = torch.zeros_like(book, dtype=torch.bool)
        cancel[:, :, 0] = short.view(short.shape[0], 1, -1, 1)
        book, inventory, escrow = cancel_orders(book, inventory, escrow, cancel)
    coin = inventory[..., COIN] - tax + lump_sum.unsqueeze(-1)
    inventory = torch.cat([inventory[..., :COIN], coin.unsqueeze(-1)], dim=-1)
    new = state.replace(
        inventory=inventory, escrow=escrow, book=book, period_start=state.earned,
        last_income=income, tax_paid=state.tax_paid + tax,
        transfers=state.transfers + lump_sum.unsqueeze(-1))
    return new, tax, lump_sum
