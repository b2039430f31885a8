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

The book is kept as one key per slot (``GTBState.book``): on each side the best order
has the smallest key, so an arriving order's match is one minimum over the other side,
and whether a resting order crosses is one comparison of its key.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from sandbox.worlds.economy.gtb import native
from sandbox.worlds.economy.gtb.actions import BUY, SELL
from sandbox.worlds.economy.gtb.state import COIN, EMPTY_ORDER, ORDER_SHIFT, order_key

# Columns of a worker's row in the auction's ledger ``[B, N * 7]``: available wood,
# stone, coin, escrowed wood, stone, coin, then the income earned.
_LEDGER = 7
_EARNED = 6


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


@functools.lru_cache(maxsize=8)
def _coefficient_rows(device: torch.device):
    """The constants of :func:`_ledger_coefficients`: ``(base, slope, price_slope)``.

    ``A = base[0] + bid slope[0]``, ``R = base[1] + bid slope[1] + bid price
    price_slope``, ``Q = base[2] + bid slope[2]`` (``bid`` 1 for a bid, 0 for an ask).
    """
    base = torch.tensor([[-1, 0, 0, 0, 0, 1, 0, 0, 0, 0],
                         [-1, 0, 1, 0, 0, 0, 0, 0, 0, 0],
                         [0, 1, 0, 0, 1, 0, 0, 0, -1, -1]], dtype=torch.float32, device=device)
    slope = torch.tensor([[2, 0, 0, 0, 0, -1, 0, -1, 0, 0],
                          [1, 0, -1, 0, 0, 0, 0, 0, 0, 0],
                          [0, -2, 0, 0, -2, 0, 1, 0, 1, 2]], dtype=torch.float32, device=device)
    price_slope = torch.tensor([0, -1, 0, 1, 0, 0, 0, 0, 0, 0], dtype=torch.float32,
                               device=device)
    return base, slope, price_slope


def _ledger_coefficients(buy: torch.Tensor, price: torch.Tensor):
    """What one turn adds to the arriving worker's and its counterparty's ledger columns.

    The ten changes (arriving worker a: unit, coin, escrowed unit, escrowed coin, earned;
    then counterparty c, the same five) are ``matched * A + rests * R + q * Q`` with the
    turn's 0/1 ``matched`` and ``rests`` and trade price ``q``. Returns ``(A, R, Q)``,
    each ``[B, N, 10]`` float32, for orders with ``buy`` (``[B, N]`` bool) at ``price``:

    - a bid that trades: a gets the unit and pays ``q`` (its income falls by ``q``);
      c's escrowed unit goes and c gets ``q`` (its income rises by ``q``);
    - an ask that trades: a's unit goes and a gets ``q``; c gets the unit and its
      escrowed coin falls by ``q`` (its bid's price);
    - a bid that rests escrows ``price`` coin; an ask that rests escrows one unit.
    """
    base, slope, price_slope = _coefficient_rows(buy.device)
    beta = buy.float().unsqueeze(-1)  # [B, N, 1], 1 for a bid
    matched = torch.addcmul(base[0], beta, slope[0])
    rests = torch.addcmul(torch.addcmul(base[1], beta, slope[1]),
                          beta * price.float().unsqueeze(-1), price_slope)
    trade = torch.addcmul(base[2], beta, slope[2])
    return matched, rests, trade


@dataclass
class _Turns:
    """The step's orders prepared for its turns: per field, one view per turn (k-th turn).

    Rows ``[B, ...]``: ``read_index`` (book slots a turn reads: the worker's own ``M``
    slots of its side, then the other side's ``N M`` block), ``coef_*`` (``[B, 10]``,
    :func:`_ledger_coefficients`), ``ledger_index`` (``[B, 10]`` ledger cells the turn
    changes; its last five, ``counterparty_index``, are filled in by the turn),
    ``columns`` (``[B, 5]`` the order's five ledger columns). Columns ``[B, 1]``: the
    others.
    """

    read_index: tuple
    coef_matched: tuple
    coef_rests: tuple
    coef_trade: tuple
    ledger_index: tuple
    counterparty_index: tuple
    columns: tuple
    need_at: tuple
    need: tuple
    crosses_below: tuple
    price_of_rank: tuple
    own_start: tuple
    other_start: tuple
    new_key: tuple


def _plan_turns(orders, turn_order: torch.Tensor, step: torch.Tensor, *, slots: int,
                empty_slot: int) -> _Turns:
    """Everything about the step's orders that does not depend on the book, all turns at once.

    The worker's own orders in the other side's block are read from ``empty_slot`` (an
    always-empty slot past the book's end) instead: no one trades with oneself.
    """
    is_order, resource, side, price = orders
    b, n = resource.shape
    dev = resource.device
    a = turn_order
    res, sd, pr, wants = (x.gather(1, a) for x in (resource, side, price, is_order))
    buy = sd == BUY
    own_start = ((res * 2 + sd) * n + a) * slots  # the worker's own slots of its side
    other_start = (res * 2 + 1 - sd) * (n * slots)  # the other side's block
    block = torch.arange(n * slots, device=dev)
    mine = (block // slots) == a.unsqueeze(-1)
    read_index = torch.cat([own_start.unsqueeze(-1) + torch.arange(slots, device=dev),
                            torch.where(mine, empty_slot, other_start.unsqueeze(-1) + block)],
                           dim=-1)  # [B, N, M + N M]
    sign = torch.where(buy, -1, 1)
    rank = pr * sign  # the order's rank on its own side (minus the price for a bid)
    columns = res.unsqueeze(-1) * torch.tensor([1, 0, 1, 0, 0], device=dev) + torch.tensor(
        [0, COIN, 3, 3 + COIN, _EARNED], device=dev)  # [B, N, 5] of a ledger row
    index = torch.empty(b, n, 10, dtype=torch.int64, device=dev)
    torch.add(a.unsqueeze(-1) * _LEDGER, columns, out=index[..., :5])
    rows = (read_index, *_ledger_coefficients(buy, pr), index, index[..., 5:], columns)
    cols = (
        a * _LEDGER + torch.where(buy, COIN, res),  # the holding an order needs
        torch.where(wants, torch.where(buy, pr, 1).float(), float("inf")),  # how much
        order_key(1 - rank, 0),  # the other side's orders that cross have smaller keys
        -sign.float(),  # the other side's rank times this is its price
        own_start, other_start,
        order_key(rank, step.view(b, 1) * n + torch.arange(n, device=dev)),  # if it rests
    )
    return _Turns(*(x.unbind(1) for x in rows), *(x.unsqueeze(-1).unbind(1) for x in cols))


def submit_orders(book: torch.Tensor, inventory: torch.Tensor, escrow: torch.Tensor,
                  earned: torch.Tensor, *, orders, turn_order: torch.Tensor,
                  step: torch.Tensor):
    """Place and match the workers' orders of one step, one worker after another.

    Args:
        book: ``[B, 2, 2, N, M]`` int64 order keys (see ``state.GTBState.book``).
        inventory: ``[B, N, 3]`` float32 available holdings.
        escrow: ``[B, N, 3]`` float32 escrowed holdings.
        earned: ``[B, N]`` float32 pre-tax income so far, coin.
        orders: ``(is_order, resource, side, price)``, each ``[B, N]``, from
            ``ActionLayout.decode_trade``.
        turn_order: ``[B, N]`` int64, ``turn_order[:, k]`` is the worker acting k-th.
        step: ``[B]`` int64 the episode step being taken.

    Returns:
        ``(book, inventory, escrow, earned, log)``, new tensors and a :class:`TradeLog`.
        A worker has room for an order while one of its ``M`` slots on that side is
        empty (the book holds ``max_orders`` slots).

    What does not depend on the book is computed for all turns at once
    (:func:`_plan_turns`); each turn then reads and writes the book and a ledger of
    the workers' holdings in a fixed number of batched operations.
    """
    if native.applies(book):
        return _submit_compiled(book, inventory, escrow, earned, orders=orders,
                                turn_order=turn_order, step=step)
    b, n = turn_order.shape
    slots = book.shape[-1]
    size = 4 * n * slots  # slots on the book
    dev = turn_order.device
    # two slots past the book's end: the first absorbs the writes of turns that change
    # nothing (so that each turn writes unconditionally), the second stays empty
    sink, empty = size, size + 1
    turns = _plan_turns(orders, turn_order, step, slots=slots, empty_slot=empty)
    book = torch.cat([book.reshape(b, size),
                      torch.full((b, 2), EMPTY_ORDER, dtype=torch.int64, device=dev)], dim=1)
    ledger = torch.cat([inventory, escrow, earned.unsqueeze(-1)], dim=-1).view(b, n * _LEDGER)
    owner_row = (torch.arange(n * slots, device=dev) // slots) * _LEDGER  # of a block slot
    matched_turns, placed_turns, price_turns = [], [], []
    for k in range(n):
        seen = book.gather(1, turns.read_index[k])
        room, slot = (seen[:, :slots] == EMPTY_ORDER).max(1, keepdim=True)  # first free
        valid = (ledger.gather(1, turns.need_at[k]) >= turns.need[k]) & room
        best_key, best = seen[:, slots:].min(1, keepdim=True)
        matched = valid & (best_key < turns.crosses_below[k])
        rests = valid ^ matched
        q = torch.where(matched, (best_key >> ORDER_SHIFT).float() * turns.price_of_rank[k],
                        0.0)  # the trade price
        change = torch.addcmul(torch.where(matched, turns.coef_matched[k],
                                           torch.where(rests, turns.coef_rests[k], 0.0)),
                               turns.coef_trade[k], q)
        torch.add(owner_row.take(best), turns.columns[k], out=turns.counterparty_index[k])
        ledger.scatter_add_(1, turns.ledger_index[k], change)
        # the matched resting order leaves the book; an unmatched order rests in the
        # worker's first free slot
        target = torch.where(matched, turns.other_start[k] + best,
                             torch.where(rests, turns.own_start[k] + slot, sink))
        book.scatter_(1, target, torch.where(matched, EMPTY_ORDER, turns.new_key[k]))
        matched_turns.append(matched)
        placed_turns.append(valid)
        price_turns.append(q)
    # back from turn order to worker order
    turn_of = torch.empty_like(turn_order).scatter_(
        1, turn_order, torch.arange(n, device=dev).expand(b, n))
    traded = torch.cat(matched_turns, dim=1).gather(1, turn_of)
    placed = torch.cat(placed_turns, dim=1).gather(1, turn_of)
    trade_price = torch.where(traded, torch.cat(price_turns, dim=1).gather(1, turn_of),
                              float("nan"))
    ledger = ledger.view(b, n, _LEDGER)
    log = TradeLog(traded=traded, resource=orders[1], price=trade_price, placed=placed)
    return (book[:, :size].reshape(b, 2, 2, n, slots), ledger[..., :3].contiguous(),
            ledger[..., 3:6].contiguous(), ledger[..., _EARNED].contiguous(), log)


def _submit_compiled(book, inventory, escrow, earned, *, orders, turn_order, step):
    """:func:`submit_orders` by the compiled kernel (``native.py``): same results."""
    book = book.clone(memory_format=torch.contiguous_format)
    ledger = torch.cat([inventory, escrow, earned.unsqueeze(-1)], dim=-1)
    traded, placed, price = native.submit_orders(book, ledger, orders=orders,
                                                 turn_order=turn_order, step=step)
    log = TradeLog(traded=traded, resource=orders[1], price=price, placed=placed)
    return (book, ledger[..., :3].contiguous(), ledger[..., 3:6].contiguous(),
            ledger[..., _EARNED].contiguous(), log)


def cancel_orders(book: torch.Tensor, inventory: torch.Tensor, escrow: torch.Tensor,
                  cancel: torch.Tensor):
    """Remove the orders where ``cancel`` and refund their escrow to their owners.

    Args:
        book: ``[B, 2, 2, N, M]`` int64 order keys.
        inventory: ``[B, N, 3]`` float32 available holdings.
        escrow: ``[B, N, 3]`` float32 escrowed holdings.
        cancel: ``[B, 2, 2, N, M]`` bool orders to remove (empty slots are ignored).

    Returns:
        ``(book, inventory, escrow)``, new tensors.
    """
    return _remove(book, inventory, escrow, cancel & (book != EMPTY_ORDER))


def _remove(book: torch.Tensor, inventory: torch.Tensor, escrow: torch.Tensor,
            cancel: torch.Tensor):
    """:func:`cancel_orders` for a ``cancel`` that holds open orders only."""
    bid_price = -(book[:, :, BUY] >> ORDER_SHIFT)  # [B, 2, N, M]
    coin = (cancel[:, :, BUY] * bid_price).sum((1, 3)).float()  # [B, N]
    units = cancel[:, :, SELL].sum(-1).transpose(1, 2).float()  # [B, N, 2]
    refund = torch.cat([units, coin.unsqueeze(-1)], dim=-1)
    return book.masked_fill(cancel, EMPTY_ORDER), inventory + refund, escrow - refund


def expire_orders(book: torch.Tensor, inventory: torch.Tensor, escrow: torch.Tensor, *,
                  steps_done: torch.Tensor, duration: int):
    """Cancel the orders that have been on the book for ``duration`` steps.

    Args:
        book: ``[B, 2, 2, N, M]`` int64 order keys.
        inventory: ``[B, N, 3]`` float32 available holdings.
        escrow: ``[B, N, 3]`` float32 escrowed holdings.
        steps_done: ``[B]`` int64 steps completed in the episode (after this step).
        duration: steps an order lives, its own step included.

    Returns:
        ``(book, inventory, escrow)``, new tensors.
    """
    n = book.shape[3]
    # placed in step s = seq // n, old when steps_done - s >= duration, i.e. when
    # seq < (steps_done - duration + 1) n; an empty slot's low bits are all ones
    first_kept = (steps_done - duration + 1) * n
    seq = book & ((1 << ORDER_SHIFT) - 1)
    return _remove(book, inventory, escrow, seq < first_kept.view(-1, 1, 1, 1, 1))
