"""The worker's single discrete action, in Foundation's order: no-op, build, trade, move.

With ``P = max_price + 1`` price levels (11 by default, 50 actions in all):

- ``0``: no-op.
- ``1``: build a house on the worker's tile.
- ``2 + r * 2P + side * P + price``: an order for resource ``r`` (0 wood, 1 stone),
  ``side`` 0 = buy (a bid), 1 = sell (an ask), at ``price`` coin (0..max_price). So
  ``2..12`` buy wood, ``13..23`` sell wood, ``24..34`` buy stone, ``35..45`` sell stone.
- ``2 + 4P + d``: move ``d`` = 0 left, 1 right, 2 up, 3 down (rows grow downwards).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

NOOP, BUILD = 0, 1
WOOD, STONE = 0, 1
RESOURCES = ("wood", "stone")
BUY, SELL = 0, 1
#: Row and column change of each move direction (left, right, up, down).
MOVES = ((0, -1), (0, 1), (-1, 0), (1, 0))
MOVE_NAMES = ("left", "right", "up", "down")


@dataclass(frozen=True)
class ActionLayout:
    """Where each kind of action sits in the worker's action index.

    Args:
        max_price: highest bid/ask price (prices are 0..max_price).
    """

    max_price: int = 10

    @property
    def levels(self) -> int:
        """Price levels, ``max_price + 1``."""
        return self.max_price + 1

    @property
    def first_trade(self) -> int:
        """Index of the first trade action (buy wood at price 0)."""
        return 2

    @property
    def first_move(self) -> int:
        """Index of the first move action (left)."""
        return 2 + 4 * self.levels

    @property
    def size(self) -> int:
        """Number of actions."""
        return self.first_move + 4

    def trade(self, resource: int, side: int, price: int) -> int:
        """Index of the order for ``resource`` on ``side`` at ``price``."""
        return self.first_trade + resource * 2 * self.levels + side * self.levels + price

    def move(self, direction: int) -> int:
        """Index of the move in ``direction`` (0 left, 1 right, 2 up, 3 down)."""
        return self.first_move + direction

    def decode_trade(self, action: torch.Tensor):
        """``(is_trade, resource, side, price)`` of int64 actions, elementwise."""
        offset = action - self.first_trade
        is_trade = (offset >= 0) & (offset < 4 * self.levels)
        offset = offset.clamp(0, 4 * self.levels - 1)
        return (is_trade, offset // (2 * self.levels), (offset // self.levels) % 2,
                offset % self.levels)

    def describe(self, action: int) -> str:
        """A readable name of one action, e.g. ``"sell stone at 7"``."""
        if action == NOOP:
            return "no-op"
        if action == BUILD:
            return "build"
        if action >= self.first_move:
            return f"move {MOVE_NAMES[action - self.first_move]}"
        offset = action - self.first_trade
        resource, rest = divmod(offset, 2 * self.levels)
        side, price = divmod(rest, self.levels)
        return f"{('buy', 'sell')[side]} {RESOURCES[resource]} at {price}"
