"""Compiled CPU kernels of Gather-Trade-Build (``native.c``), bit-identical to the torch rules.

Two of the step's costliest parts, the local views of the observation
(:func:`observations.local_views`) and the turn-by-turn double auction
(:func:`auction.submit_orders`), are loops over environments in C on CPU tensors.
Those torch functions call :func:`local_views` / :func:`submit_orders` here when
:func:`applies` (CPU tensors, kernels built, not switched off: see
``sandbox.core.native``) and keep their own code for every other case. The C code
follows the torch code's rules and float32 arithmetic exactly; the tests hold both paths
equal on random states and whole episodes.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import torch

from sandbox.core import native

_SOURCE = Path(__file__).with_name("native.c")
#: Largest view radius of the compiled views (``MAX_VIEW_CELLS`` in ``native.c``).
MAX_VIEW_RADIUS = 31
_P = ctypes.c_void_p
_I = ctypes.c_int64


def library() -> ctypes.CDLL | None:
    """The built kernels (argument types set), or None where they cannot be built."""
    lib = native.load(_SOURCE)
    if lib is not None and not hasattr(lib, "_sandbox_typed"):
        lib.gtb_local_views.argtypes = [_P, _I, _I, _P, _I, _I, _I, _P, _P, _I]
        lib.gtb_local_views.restype = None
        lib.gtb_submit_orders.argtypes = [_I, _I, _I, _P, _P, _P, _P, _P, _P, _P, _P, _P, _P,
                                          _P]
        lib.gtb_submit_orders.restype = None
        lib.gtb_worker_masks.argtypes = [_I, _I, _I, _I, _I, _P, _P, _P, _P, _P, _P, _P, _P]
        lib.gtb_worker_masks.restype = None
        lib._sandbox_typed = True
    return lib


def applies(tensor: torch.Tensor) -> bool:
    """Whether the compiled kernels serve a state held on ``tensor``'s device."""
    return tensor.device.type == "cpu" and native.enabled() and library() is not None


def _ptr(tensor: torch.Tensor, dtype: torch.dtype | None = None) -> int:
    """The address of ``tensor``'s data, after checking its dtype (C reads it raw)."""
    if dtype is not None and tensor.dtype != dtype:
        raise TypeError(f"compiled GTB kernel: expected a {dtype} tensor, got {tensor.dtype} "
                        "(the state's dtypes are listed in GTBState)")
    return tensor.data_ptr()


def local_views(tiles: torch.Tensor, pos: torch.Tensor, *, radius: int, padded_width: int,
                cell_of_offset: torch.Tensor, out: torch.Tensor) -> None:
    """Write the six view channels into ``out[..., :6 V V]`` (``observations.local_views``).

    Args:
        tiles: ``[B, P]`` int16 tile codes (``state.tiles``).
        pos: ``[B, N]`` int64 flat tiles of the workers.
        radius: view radius, tiles (``V = 2 radius + 1``).
        padded_width: width of the padded maps, tiles.
        cell_of_offset: ``[2 P - 1]`` int64 (``observations.view_cell_of_offset``).
        out: ``[B, N, D]`` float32 with contiguous rows (the observation tensor).
    """
    tiles, pos = tiles.contiguous(), pos.contiguous()
    cell_of_offset = cell_of_offset.contiguous()
    b, n = pos.shape
    if out.stride(-1) != 1 or out.stride(1) != out.shape[-1] or out.stride(0) != n * out.shape[-1]:
        raise ValueError("local_views: out must be a contiguous [B, N, D] tensor")
    library().gtb_local_views(_ptr(tiles, torch.int16), b, tiles.shape[1],
                              _ptr(pos, torch.int64), n, radius, padded_width,
                              _ptr(cell_of_offset, torch.int64), _ptr(out, torch.float32),
                              out.shape[-1])


def worker_masks(state, *, offsets: torch.Tensor, max_price: int) -> torch.Tensor:
    """``[B, N, A]`` bool action masks of ``state``'s workers (``masks.worker_masks``)."""
    pos, owner, water, source, inventory, book, offsets = (
        x.contiguous() for x in (state.pos, state.owner, state.water, state.source,
                                 state.inventory, state.book, offsets))
    b, n = pos.shape
    out = torch.empty(b, n, 2 + 4 * (max_price + 1) + 4, dtype=torch.uint8)
    library().gtb_worker_masks(b, owner.shape[1], n, book.shape[-1], max_price,
                               _ptr(pos, torch.int64), _ptr(owner, torch.int16),
                               _ptr(water, torch.bool), _ptr(source, torch.bool),
                               _ptr(inventory, torch.float32), _ptr(book, torch.int64),
                               _ptr(offsets, torch.int64), _ptr(out))
    return out.view(torch.bool)


def submit_orders(book: torch.Tensor, ledger: torch.Tensor, *, orders,
                  turn_order: torch.Tensor, step: torch.Tensor):
    """Place and match one step's orders, changing ``book`` and ``ledger`` in place.

    Args:
        book: ``[B, 2, 2, N, M]`` int64 contiguous order keys (a copy the caller owns).
        ledger: ``[B, N, 7]`` float32 contiguous: available wood, stone, coin, escrowed
            wood, stone, coin, income earned (a copy the caller owns).
        orders: ``(is_order, resource, side, price)``, each ``[B, N]``.
        turn_order: ``[B, N]`` int64, the worker acting k-th.
        step: ``[B]`` int64 the episode step being taken.

    Returns:
        ``(traded, placed, price)`` by worker: bool, bool and float32 (NaN: no trade).
    """
    is_order, resource, side, price = (x.contiguous() for x in orders)
    is_order = is_order.to(torch.uint8)
    resource, side, price = (x.to(torch.int64) for x in (resource, side, price))
    turn_order, step = turn_order.contiguous(), step.contiguous()
    b, n = turn_order.shape
    traded = torch.empty(b, n, dtype=torch.uint8)
    placed = torch.empty(b, n, dtype=torch.uint8)
    trade_price = torch.empty(b, n, dtype=torch.float32)
    library().gtb_submit_orders(b, n, book.shape[-1], _ptr(book, torch.int64),
                                _ptr(ledger, torch.float32), _ptr(is_order), _ptr(resource),
                                _ptr(side), _ptr(price), _ptr(turn_order, torch.int64),
                                _ptr(step, torch.int64), _ptr(traded), _ptr(placed),
                                _ptr(trade_price))
    return traded.view(torch.bool), placed.view(torch.bool), trade_price
