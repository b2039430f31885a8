"""Sparse Bernoulli draws: which slots of many segments fall below their segment's threshold.

Give every slot ``i`` of segment ``g`` (``n_g`` slots, threshold ``q_g = 1 - exp(-h_g)``,
``h_g`` its hazard) an implicit uniform ``u_i``. The *hits* are the slots with
``u_i < q_g``. Read from dense uniforms they cost a pass over every slot; drawn directly
they cost about ``sum_g n_g q_g`` draws, by geometric gaps: the number of misses before
each hit is ``floor(log(1 - v) / log(1 - q_g)) = floor(e / h_g)`` for a fresh uniform
``v``, ``e = -log(1 - v)`` a standard exponential variate; given that a slot is a hit,
``u_i`` is uniform below ``q_g`` (``q_g * w`` for a fresh uniform ``w``, drawn by the
caller). Both give the same distribution of hits; the world draws them directly, and
reads them from dense uniforms when it is given those (common random numbers with the
Mesa reference).

Each segment gets a budget of gaps well above its expected number of hits (``n_g h_g``,
at least the mean ``n_g q_g``, plus six times its square root plus nine, at most
``n_g``); the rare segment whose gaps all land inside it continues from its last hit in
another round (the gaps are memoryless, so this is exact).
"""

from __future__ import annotations

import torch

from sandbox.worlds.population.arrays import Arrays

#: Cap on one gap (slots): far beyond any segment, small enough that sums stay in int64.
_LONGEST_GAP = float(2**36)
#: Smallest hazard drawn as such (smaller ones, zero included, are drawn as it: a hit once
#: in 1e290 slots).
_SMALLEST_HAZARD = 1e-300


def geometric_hits(
    first: torch.Tensor, size: torch.Tensor, *, hazard: torch.Tensor,
    generator: torch.Generator, spare: tuple[float, float] = (6.0, 8.0),
    use_numpy: bool | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Slots of each segment hit with probability ``1 - exp(-hazard)``, by geometric gaps.

    Args:
        first: ``[S]`` int64 position of each segment's first slot.
        size: ``[S]`` int64 slots per segment.
        hazard: ``[S]`` float64 hazard of every slot of the segment, in [0, inf] (above
            1e300, inf included: every slot is hit).
        generator: the stream the gaps are drawn from.
        spare: gaps budgeted per segment beyond the mean, as (standard deviations, count).
        use_numpy: compute on NumPy views (CPU only); None: on the CPU.

    Returns:
        ``slot`` ``[K]`` int64 positions of the hits (``first + offset``) and ``segment``
        ``[K]`` int64 the segment of each, ascending within a segment.
    """
    xp = Arrays.on(first.device, generator, use_numpy)
    slot, segment = draw_geometric(xp, xp.array(first), xp.array(size), xp.array(hazard),
                                   spare=spare)
    return xp.tensor(slot), xp.tensor(segment)


def draw_geometric(xp: Arrays, first, size, hazard, *, spare=(6.0, 8.0)):
    """:func:`geometric_hits` on the arrays of ``xp``: ``(slot, segment)`` arrays."""
    # bounded away from 0 and infinity
    hazard = hazard.clip(min=_SMALLEST_HAZARD, max=1.0 / _SMALLEST_HAZARD)
    segment_id = None  # segments of this round, as indices into the caller's (None: same)
    slots, segments = [], []
    while True:
        mean = size * hazard
        budget = xp.int64(xp.minimum(mean + spare[0] * mean ** 0.5 + (spare[1] + 1.0), size))
        last = budget.cumsum(0)
        total = int(last[-1]) if last.shape[0] else 0
        owner = xp.repeat(budget, total)  # segment of each gap
        # slots up to and including each hit: floor(-log(1 - v) / h) misses, then the hit
        gaps = xp.log1p(-xp.rand(total)) / -hazard[owner] + 1.0
        end = xp.int64(gaps.clip(max=_LONGEST_GAP)).cumsum(0)
        # the running count before each segment's first gap ...
        reach = xp.concatenate([xp.zeros(1), end])
        before = reach[last - budget]
        # ... turns it into slots: first + (end - before) - 1, inside while end <= before + size
        limit = before + size
        inside = xp.flatnonzero(end <= limit[owner])
        owner = owner[inside]
        slots.append((first - before - 1)[owner] + end[inside])
        segments.append(owner if segment_id is None else segment_id[owner])
        # a segment whose gaps all landed inside it continues after its last hit
        more = reach[last] < limit
        if not bool(more.any()):
            break
        used = reach[last] - before
        segment_id = xp.arange(first.shape[0]) if segment_id is None else segment_id
        first, size, used = first[more], size[more], used[more]
        first, size, segment_id = first + used, size - used, segment_id[more]
        hazard = hazard[more]
    if len(slots) == 1:
        return slots[0], segments[0]
    return xp.concatenate(slots), xp.concatenate(segments)
