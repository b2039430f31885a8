"""Continuous double auction, one book per resource, as fixed-size tensors.

Rules (Foundation's ``ContinuousDoubleAuction`` component, as facts; the matching order
is ours and stated here):

- The book holds, per resource, side (bid / ask) and worker, ``max_orders`` slots with a
  price (0..max_price coin) and a sequence number ``step * N + turn`` (earlier orders
  have smaller numbers). An order costs ``order_labour``.
- Escrow: a bid takes its price out of the bidder's available coin; an ask takes one
  unit out of the seller's available resource. A worker can place an order only with
  the coin (bid) or unit (ask) at hand and fewer than ``max_orders`` open orders on that
  side of that resource.
- Orders arrive one at a time in the step's turn order, and each is matched at once
  against the resting orders of the other side (never the worker's own): a bid at ``p``
  against the lowest ask priced <= ``p``, an ask at ``p`` against the highest bid priced
  >= ``p``, ties going to the earliest order. The trade is at the resting (earlier)
  order's price ``q``: the buyer pays ``q`` (an arriving bid escrowed nothing, so it pays
  ``q`` and keeps ``p - q``: the excess escrow is refunded at once), the seller receives
  ``q``, and the unit moves from the seller (its escrow, for a resting ask) to the
  buyer. An order that finds no match rests on the book.
- An order expires ``order_duration`` steps after the step it was placed in (it can
  trade in that many steps, its own included); its escrow is refunded.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sandbox.worlds.economy.gtb.actions import BUY, SELL
from sandbox.worlds.economy.gtb.state import COIN

_KEY_SCALE = 1 << 40  # price rank x this + sequence number orders the book


@dataclass
class TradeLog:
    """Trades of one step, by the turn's arriving worker.

    Attributes:
        traded: ``[B, N]`` bool, the worker's arriving order traded.
        resource: ``[B, N]`` int64 resource of that order (0 wood, 1 stone).
        price: ``[B, N]`` float32 trade price, coin (NaN where no trade).
        placed: ``[B, N]`` bool, the worker's order was accepted (traded or rests).
    """

    traded: torch.Tensor
    resource: torch.Tensor
    price: torch.Tensor
    placed: torch.Tensor


def submit_orders(book_price: torch.Tensor, book_seq: torch.Tensor, inventory: torch.Tensor,
                  escrow: torch.Tensor, earned: torch.Tensor, *, orders, turn_order: torch.Tensor,
                  step: torch.Tensor, max_orders: int, max_price: int):
    """Place and match the workers' orders of one step, one worker after another.

    Args:
        book_price: ``[B, 2, 2, N, M]`` int64 order prices (see ``state.GTBState``).
        book_seq: ``[B, 2, 2, N, M]`` int64 order sequence numbers, -1 for empty slots.
        inventory: ``[B, N, 3]`` float32 available holdings.
        escrow: ``[B, N, 3]`` float32 escrowed holdings.
        earned: ``[B, N]`` float32 pre-tax income so far, coin.
        orders: ``(is_order, resource, side, price)``, each ``[B, N]``, from
            ``ActionLayout.decode_trade``.
        turn_order: ``[B, N]`` int64, ``turn_order[:, k]`` is the worker acting k-th.
        step: ``[B]`` int64 the episode step being taken.
        max_orders: open orders allowed per worker, side and resource.
        max_price: highest price.

    Returns:
        ``(book_price, book_seq, inventory, escrow, earned, log)``, new tensors and a
        :class:`TradeLog`.
    """
    is_order, resource, side, price = orders
    b, n = resource.shape
    slots = book_seq.shape[-1]
    size = 4 * n * slots  # slots on the book
    dev = resource.device
    agents = torch.arange(n, device=dev)
    block = torch.arange(n * slots, device=dev)  # one side of one resource, flat
    block_owner = block // slots
    # the book, flat, with one spare slot at the end that absorbs the writes of turns
    # that change nothing (so that each turn writes unconditionally)
    spare = torch.full((b, 1), size, dtype=torch.int64, device=dev)
    book_price = torch.cat([book_price.reshape(b, -1), torch.zeros_like(spare)], dim=1)
    book_seq = torch.cat([book_seq.reshape(b, -1), -torch.ones_like(spare)], dim=1)
    held = torch.cat([inventory, escrow], dim=-1).view(b, n * 6)  # available, then escrowed
    earned = earned.clone()
    # what each worker's order is, fixed for the step: one gather per turn reads it
    buy_all = side == BUY
    sign_all = torch.where(buy_all, 1, -1)  # a bid crosses asks priced <= p, an ask bids >= p
    columns = torch.stack([resource, torch.full_like(resource, COIN), resource + 3,
                           torch.full_like(resource, 3 + COIN)], dim=-1)  # [B, N, 4]
    choices = torch.cat([torch.stack([
        is_order.long(), sign_all, price,
        ((resource * 2 + side) * n + agents) * slots,  # the worker's own slots
        (resource * 2 + 1 - side) * n * slots,  # the other side's block
        agents * 6 + torch.where(buy_all, COIN, resource),  # the holding an order needs
        torch.where(buy_all, price, 1),  # how much of it
    ], dim=-1), columns], dim=-1)  # [B, N, 11]
    width = choices.shape[-1]
    no_match = torch.iinfo(torch.int64).max
    nan = torch.tensor(float("nan"), device=dev)
    seq_base = step.view(b, 1) * n
    steps = []
    for turn in range(n):
        a = turn_order[:, turn:turn + 1]  # [B, 1]
        row = choices.gather(1, a.unsqueeze(-1).expand(b, 1, width))[:, 0]
        wants, sign, p, own_start, other_start, need_at, need = row[:, :7].split(1, dim=1)
        columns = row[:, 7:]  # unit, coin, escrowed unit, escrowed coin of the order
        buy = sign > 0
        own = book_seq.gather(1, own_start + block[:slots])  # [B, M]
        valid = ((wants > 0) & (held.gather(1, need_at) >= need)
                 & ((own >= 0).sum(1, True) < max_orders))
        # best resting order of the other side that crosses, never the worker's own;
        # sign * (price - p) ranks it (lower is better) and is <= 0 when it crosses
        other_index = other_start + block
        other_seq, other_price = book_seq.gather(1, other_index), book_price.gather(1, other_index)
        gap = (other_price - p) * sign
        eligible = (other_seq >= 0) & (gap <= 0) & (block_owner != a)
        key, best = torch.where(eligible, gap * _KEY_SCALE + other_seq, no_match).min(
            1, keepdim=True)
        matched = valid & (key < no_match)
        q = other_price.gather(1, best) * matched  # [B, 1] trade price (0 if none)
        # the arriving worker a pays or receives q, or escrows what its order offers;
        # the resting counterparty c is paid from the buyer (for a resting ask) or its
        # escrowed bid pays the seller (the bid's own price: nothing to refund)
        matchedf, buyf = matched.float(), buy.float()
        bought = matchedf * buyf
        sold = matchedf - bought
        restsf = valid.float() - matchedf
        bid_rests = restsf * buyf
        ask_rests = restsf - bid_rests
        qf, pf = q.float(), p.float()
        pay = qf * (sold - bought)  # coin to a
        c = best // slots
        held.scatter_add_(1, torch.cat([a * 6 + columns, c * 6 + columns], dim=1), torch.cat(
            [bought - sold - ask_rests, pay - pf * bid_rests, ask_rests, pf * bid_rests,
             sold, qf * bought, -bought, -qf * sold], dim=1))
        earned.scatter_add_(1, torch.cat([a, c], dim=1), torch.cat([pay, -pay], dim=1))
        # the matched resting order leaves the book; an unmatched order rests in the
        # worker's first free slot
        book_seq.scatter_(1, torch.where(matched, other_start + best, spare), -1)
        free = (own < 0).to(torch.uint8).argmax(1, keepdim=True)
        spot = torch.where(valid & ~matched, own_start + free, spare)
        book_seq.scatter_(1, spot, seq_base + turn)
        book_price.scatter_(1, spot, p)
        steps.append(torch.cat([matchedf, valid.float(), torch.where(matched, qf, nan)], dim=1))
    # back from turn order to worker order
    by_turn = torch.stack(steps, dim=1)  # [B, N turns, 3]
    by_worker = torch.empty_like(by_turn).scatter_(
        1, turn_order.unsqueeze(-1).expand(b, n, 3), by_turn)
    traded, placed, trade_price = by_worker[..., 0] > 0, by_worker[..., 1] > 0, by_worker[..., 2]
    shape = (b, 2, 2, n, slots)
    book_price = book_price[:, :size].reshape(shape)
    book_seq = book_seq[:, :size].reshape(shape)
    held = held.view(b, n, 6)
    inventory, escrow = held[..., :3].contiguous(), held[..., 3:].contiguous()
    log = TradeLog(traded=traded, resource=resource, price=trade_price, placed=placed)
    return book_price, book_seq, inventory, escrow, earned, log


def cancel_orders(book_price: torch.Tensor, book_seq: torch.Tensor, inventory: torch.Tensor,
                  escrow: torch.Tensor, cancel: torch.Tensor):
    """Remove the orders where ``cancel`` and refund their escrow to their owners.

    Args:
        book_price: ``[B, 2, 2, N, M]`` int64 order prices.
        book_seq: ``[B, 2, 2, N, M]`` int64 order sequence numbers, -1 for empty slots.
        inventory: ``[B, N, 3]`` float32 available holdings.
        escrow: ``[B, N, 3]`` float32 escrowed holdings.
        cancel: ``[B, 2, 2, N, M]`` bool orders to remove (empty slots are ignored).

    Returns:
        ``(book_seq, inventory, escrow)``, new tensors.
    """
    cancel = cancel & (book_seq >= 0)
    if not bool(cancel.any()):
        return book_seq, inventory, escrow
    coin = (cancel[:, :, BUY] * book_price[:, :, BUY]).sum((1, 3)).float()  # [B, N]
    units = cancel[:, :, SELL].sum(-1).transpose(1, 2).float()  # [B, N, 2]
    refund = torch.cat([units, coin.unsqueeze(-1)], dim=-1)
    return torch.where(cancel, -1, book_seq), inventory + refund, escrow - refund


def expire_orders(book_price: torch.Tensor, book_seq: torch.Tensor, inventory: torch.Tensor,
                  escrow: torch.Tensor, *, steps_done: torch.Tensor, duration: int):
    """Cancel the orders that have been on the book for ``duration`` steps.

    Args:
        book_price: ``[B, 2, 2, N, M]`` int64 order prices.
        book_seq: ``[B, 2, 2, N, M]`` int64 order sequence numbers, -1 for empty slots.
        inventory: ``[B, N, 3]`` float32 available holdings.
        escrow: ``[B, N, 3]`` float32 escrowed holdings.
        steps_done: ``[B]`` int64 steps completed in the episode (after this step).
        duration: steps an order lives, its own step included.

    Returns:
        ``(book_seq, inventory, escrow)``, new tensors.
    """
    n = book_seq.shape[3]
    placed_step = torch.div(book_seq, n, rounding_mode="floor")
    old = steps_done.view(-1, 1, 1, 1, 1) - placed_step >= duration
    return cancel_orders(book_price, book_seq, inventory, escrow, old)
