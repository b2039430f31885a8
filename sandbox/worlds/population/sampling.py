"""Sparse Bernoulli draws: which slots of many segments fall below their segment's threshold.

Give every slot ``i`` of segment ``g`` (``n_g`` slots, threshold ``q_g``) an implicit
uniform ``u_i``. The *hits* are the slots with ``u_i < q_g``, each with its ``u_i``. Read
from dense uniforms they cost a pass over every slot; drawn directly they cost about
``sum_g n_g q_g`` draws, by geometric gaps: the number of misses before each hit is
``floor(log(1 - v) / log(1 - q_g))`` for a fresh uniform ``v``, and given that it is a hit,
``u_i`` is uniform below ``q_g`` (``q_g * w`` for a fresh uniform ``w``). Both give the
same distribution of hits; the world draws them directly, and reads them from dense
uniforms when it is given those (common random numbers with the Mesa reference).

Each segment gets a budget of gaps well above its expected number of hits (the mean
plus six standard deviations plus eight, at most ``n_g``); the rare segment whose gaps
all land inside it continues from its last hit in another round (the gaps are
memoryless, so this is exact).
"""

from __future__ import annotations

import torch

#: Cap on one gap (slots): far beyond any segment, small enough that sums stay in int64.
_LONGEST_GAP = float(2**36)


def geometric_hits(
    first: torch.Tensor, size: torch.Tensor, q: torch.Tensor, *, generator: torch.Generator,
    spare: tuple[float, float] = (6.0, 8.0),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Slots of each segment hit with probability ``q``, drawn by geometric gaps.

    Args:
        first: ``[S]`` int64 position of each segment's first slot.
        size: ``[S]`` int64 slots per segment.
        q: ``[S]`` float64 hit probability of every slot of the segment, in [0, 1].
        generator: the stream the gaps are drawn from.
        spare: gaps budgeted per segment beyond the mean, as (standard deviations, count).

    Returns:
        ``slot`` ``[K]`` int64 positions of the hits (``first + offset``) and ``segment``
        ``[K]`` int64 the segment of each, ascending within a segment.
    """
    device = first.device
    q = q.to(torch.float64)
    segment_id = None  # segments of this round, as indices into the caller's (None: same)
    slots, segments = [], []
    while True:
        mean = size * q
        budget = torch.minimum(mean.sqrt().mul_(spare[0]).add_(mean).add_(spare[1]).ceil_().long(),
                               size)
        budget.mul_(q > 0)
        total = int(budget.sum())
        owner = torch.repeat_interleave(budget, output_size=total)  # segment of each gap
        misses = torch.rand(total, generator=generator, dtype=torch.float64, device=device)
        # misses before each hit: floor(log(1 - v) / log(1 - q)); q = 1 gives none
        misses.neg_().log1p_().div_(torch.log1p(-q).index_select(0, owner)).floor_()
        end = misses.clamp_(max=_LONGEST_GAP).long().add_(1).cumsum_(0)
        # slots used before each segment and through its last gap
        reach = torch.cat([end.new_zeros(1), end])
        last_gap = torch.cumsum(budget, 0)
        before = reach.index_select(0, last_gap - budget)
        used = reach.index_select(0, last_gap).sub_(before)
        offset = end.sub_(before.index_select(0, owner)).sub_(1)
        inside = offset < size.index_select(0, owner)
        slots.append(first.index_select(0, owner).add_(offset)[inside])
        owner = owner[inside]
        segments.append(owner if segment_id is None else segment_id.index_select(0, owner))
        # a segment whose gaps all landed inside it continues after its last hit
        more = (used < size) & (budget > 0)
        if not bool(more.any()):
            break
        segment_id = torch.arange(first.shape[0], device=device) if segment_id is None \
            else segment_id
        first, size, used = first[more], size[more], used[more]
        first, size, q, segment_id = first + used, size - used, q[more], segment_id[more]
    if len(slots) == 1:
        return slots[0], segments[0]
    return torch.cat(slots), torch.cat(segments)
