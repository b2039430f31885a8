"""Moves and gathering: workers step one tile in turn order; landing on a resource collects it.

Rules (Foundation's ``Gather`` component as facts; the blocking details are ours):

- A move goes one tile left, right, up or down and costs ``move_labour``. It fails (no
  move, no labour) into water or off the map (the padded border is water), onto a house
  of another worker (owners may enter their own houses), or onto a tile another worker
  stands on *when its turn comes*: workers move one after another in the step's turn
  order, so a tile left earlier in the step is free for later movers.
- A worker that moved onto a tile holding wood or stone collects it: one unit plus a
  bonus unit with probability ``bonus_prob``, for ``gather_labour``; the tile is empty
  until it regrows (``regeneration.py``). Workers stand on distinct tiles, so gathering
  is independent across workers.
"""

from __future__ import annotations

import torch


def move_offsets(padded_width: int, device) -> torch.Tensor:
    """Flat-index change of the moves left, right, up, down: ``[4]`` int64."""
    return torch.tensor([-1, 1, -padded_width, padded_width], device=device)


def apply_moves(pos: torch.Tensor, water: torch.Tensor, owner: torch.Tensor,
                direction: torch.Tensor, turn_order: torch.Tensor, *,
                offsets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Move every worker that chose a move, one after another in turn order.

    Args:
        pos: ``[B, N]`` int64 flat padded tiles.
        water: ``[B, P]`` bool.
        owner: ``[B, P]`` int16 house owners (-1 none).
        direction: ``[B, N]`` int64 move direction 0..3, or -1 for no move.
        turn_order: ``[B, N]`` int64, ``turn_order[:, k]`` is the worker acting k-th.
        offsets: ``[4]`` int64 from :func:`move_offsets`.

    Returns:
        ``(pos, moved)``: new ``[B, N]`` tiles and ``[B, N]`` bool, the move happened.

    A worker's tile changes only in its own turn, so every move's target and its fixed
    obstacles (water, other workers' houses) are found for all workers at once; the
    turns then only check the tiles that workers stand on at that point.
    """
    b, n = pos.shape
    dev = pos.device
    wants = direction >= 0
    target = pos + offsets[direction.clamp(min=0)] * wants
    house = owner.gather(1, target).long()
    allowed = (wants & ~water.gather(1, target)
               & ((house < 0) | (house == torch.arange(n, device=dev))))
    # in turn order; the column past the last worker absorbs the writes of failed moves
    target, allowed = target.gather(1, turn_order), allowed.gather(1, turn_order)
    spots = torch.cat([pos, pos[:, :1]], dim=1)
    now = spots[:, :n]
    nobody = torch.full((b, 1), n, dtype=turn_order.dtype, device=dev)
    moves = []
    for mover, to, free in zip(*(x.unsqueeze(-1).unbind(1)  # [B, 1] per turn
                                 for x in (turn_order, target, allowed)), strict=True):
        ok = free & ~(now == to).any(1, keepdim=True)
        spots.scatter_(1, torch.where(ok, mover, nobody), to)
        moves.append(ok)
    moved = torch.empty_like(wants).scatter_(1, turn_order, torch.cat(moves, dim=1))
    return now.contiguous(), moved


def gather_resources(resource: torch.Tensor, pos: torch.Tensor, moved: torch.Tensor,
                     bonus: torch.Tensor, *,
                     inplace: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Collect what lies on the tiles workers moved onto.

    Args:
        resource: ``[B, 2, P]`` uint8 wood / stone lying on each tile.
        pos: ``[B, N]`` int64 tiles after the moves.
        moved: ``[B, N]`` bool, the worker moved this step.
        bonus: ``[B, N]`` bool, a bonus unit would be collected.
        inplace: write into ``resource`` (contiguous) instead of a copy.

    Returns:
        ``(resource, collected)``: the map after collection and ``[B, N, 2]`` float32
        units of wood and stone collected.
    """
    b, kinds, cells = resource.shape
    n = pos.shape[1]
    index = (pos.unsqueeze(1) + cells * torch.arange(kinds, device=pos.device).view(1, -1, 1))
    index = index.view(b, kinds * n)
    flat = resource.reshape(b, kinds * cells)
    lying = flat.gather(1, index).view(b, kinds, n)
    got = (lying > 0) & moved.unsqueeze(1)
    left = torch.where(got, 0, lying).view(b, kinds * n)
    flat = flat.scatter_(1, index, left) if inplace else flat.scatter(1, index, left)
    amount = 1.0 + bonus.float()
    collected = (got.float() * amount.unsqueeze(1)).transpose(1, 2)
    return flat.view(b, kinds, cells), collected
