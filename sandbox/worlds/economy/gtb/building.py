"""Building: a worker turns 1 wood + 1 stone into a house on its own tile and is paid.

Rules (Foundation's ``Build`` component, as facts): a build needs at least one wood and
one stone in the worker's inventory and a tile with no house, no source and no water
(the worker stands on it); it consumes exactly 1 wood and 1 stone, costs ``build_labour``
and pays the worker's ``payment`` (``base_payment`` times its build-skill multiplier,
10..30 coin by default). The house belongs to the builder and blocks other workers'
moves. Workers stand on distinct tiles, so builds are independent across workers.
"""

from __future__ import annotations

import torch


def build_houses(inventory: torch.Tensor, owner: torch.Tensor, source: torch.Tensor,
                 pos: torch.Tensor, wants: torch.Tensor, *,
                 inplace: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Which builds succeed, and the house map after them.

    Args:
        inventory: ``[B, N, 3]`` float32 wood, stone, coin available.
        owner: ``[B, P]`` int16 house owners (-1 none).
        source: ``[B, P]`` bool source tiles.
        pos: ``[B, N]`` int64 the workers' tiles.
        wants: ``[B, N]`` bool, the worker chose to build.
        inplace: write the new houses into ``owner`` instead of a copy.

    Returns:
        ``(owner, built)``: the new ``[B, P]`` house map and ``[B, N]`` bool successes.
    """
    on_tile = owner.gather(1, pos)
    built = (wants & (inventory[..., 0] >= 1) & (inventory[..., 1] >= 1)
             & (on_tile < 0) & ~source.gather(1, pos))
    n = pos.shape[1]
    workers = torch.arange(n, dtype=owner.dtype, device=owner.device).expand_as(on_tile)
    houses = torch.where(built, workers, on_tile)
    owner = owner.scatter_(1, pos, houses) if inplace else owner.scatter(1, pos, houses)
    return owner, built
