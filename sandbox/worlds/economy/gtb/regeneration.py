"""Regeneration: every empty source tile regrows one unit with a fixed probability per step.

Rule (Foundation's resource regeneration): after the workers' actions, each wood or
stone source tile holding nothing regrows one unit of its resource with probability
``regen_probability`` (0.01), whether or not a worker stands on it (a worker standing
on it collects it only by moving onto it again).
"""

from __future__ import annotations

import torch


def regrow(resource: torch.Tensor, source_cells: torch.Tensor, draws: torch.Tensor,
           probability: float, *, inplace: bool = False) -> torch.Tensor:
    """The resource map after one step of regrowth.

    Args:
        resource: ``[B, 2, P]`` uint8 wood / stone lying on each tile.
        source_cells: ``[B, S]`` int64 source tiles as ``kind * P + p``.
        draws: ``[B, S]`` float32 uniform numbers, one per source tile.
        probability: regrowth probability per empty source tile and step.
        inplace: write into ``resource`` (contiguous) instead of a copy.

    Returns:
        ``(resource, regrown)``: ``[B, 2, P]`` uint8 and ``[B, S]`` bool, the source
        tiles that regrew.
    """
    b = resource.shape[0]
    flat = resource.reshape(b, -1)
    stock = flat.gather(1, source_cells)
    regrown = (stock == 0) & (draws < probability)
    grown = torch.where(regrown, 1, stock).to(stock.dtype)
    if inplace:
        return flat.scatter_(1, source_cells, grown).view_as(resource), regrown
    return flat.scatter(1, source_cells, grown).view_as(resource), regrown
