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
    """
    n = pos.shape[1]
    wants = direction >= 0
    shift = offsets[direction.clamp(min=0)] * wants
    pos = pos.clone()
    moved = torch.zeros_like(wants)
    for turn in range(n):
        agent = turn_order[:, turn:turn + 1]  # [B, 1]
        here = pos.gather(1, agent)
        target = here + shift.gather(1, agent)
        house = owner.gather(1, target).long()
        ok = (wants.gather(1, agent) & ~water.gather(1, target)
              & ((house < 0) | (house == agent))
              & ~(pos == target).any(1, keepdim=True))
        pos.scatter_(1, agent, torch.where(ok, target, here))
        moved.scatter_(1, agent, ok)
    return pos, moved


def gather_resources(resource: torch.Tensor, pos: torch.Tensor, moved: torch.Tensor,
                     bonus: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Collect what lies on the tiles workers moved onto.

    Args:
        resource: ``[B, 2, P]`` uint8 wood / stone lying on each tile.
        pos: ``[B, N]`` int64 tiles after the moves.
        moved: ``[B, N]`` bool, the worker moved this step.
        bonus: ``[B, N]`` bool, a bonus unit would be collected.

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
    flat = flat.scatter(1, index, torch.where(got, 0, lying).view(b, kinds * n))
    amount = 1.0 + bonus.float()
    collected = (got.float() * amount.unsqueeze(1)).transpose(1, 2)
    return flat.view(b, kinds, cells), collected
