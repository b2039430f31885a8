"""Leader and follower search on a ring road: one sort by position, then prefix scans.

Per environment the vehicles are sorted by position once per decision step. Along that
order, a prefix scan per lane gives, for every slot, the next slot in each lane
(reverse cumulative minimum) and the previous one (cumulative maximum). A vehicle's
leader in lane ``q`` is then the next slot of lane ``q`` after its own slot, or, past
the end of the ring, the first slot of lane ``q`` (one road length ahead); followers
symmetrically. The search for a decision step (where a lane-changing vehicle has an
entry in each of its two lanes) reuses the same order, since positions do not change
when lanes do. Cost: one ``[B, V]`` sort and ``O(B V n_lanes)`` scans and gathers, no
loop over vehicles or environments.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

#: Gap reported for a missing vehicle, m: far beyond any sensing range, finite so that
#: arithmetic masks stay exact.
FAR = 1.0e6


@dataclass
class Neighbours:
    """Vehicle indices of leaders and followers and the ring offsets to add to their positions.

    Attributes:
        leader: ``[B, V, Q]`` int64 vehicle index of the nearest vehicle ahead, -1 if none.
        leader_offset: ``[B, V, Q]`` float32, m: 0, or the road length when the leader is
            reached across the ring's seam.
        follower: ``[B, V, Q]`` int64 index of the nearest vehicle behind, -1 if none.
        follower_offset: ``[B, V, Q]`` float32, m: 0, or minus the road length.
    """

    leader: torch.Tensor
    leader_offset: torch.Tensor
    follower: torch.Tensor
    follower_offset: torch.Tensor


@dataclass
class LaneOrder:
    """Entries sorted by position with per-lane prefix scans.

    Attributes:
        vehicle: ``[B, E]`` int64 vehicle of each sorted slot.
        next_slot: ``[B, E + 1, n_lanes]`` int64: first slot ``>= s`` in each lane (``E``
            if none).
        prev_slot: ``[B, E + 1, n_lanes]`` int64: last slot ``< s`` in each lane (-1 if none).
    """

    vehicle: torch.Tensor
    next_slot: torch.Tensor
    prev_slot: torch.Tensor


def sort_by_position(position: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Position order of the vehicles of each environment.

    Args:
        position: ``[B, V]`` float32, m.

    Returns:
        ``(order, rank)``: ``[B, V]`` int64, ``order[b, s]`` is the vehicle at slot ``s``
        (ascending position) and ``rank`` its inverse.
    """
    order = torch.argsort(position, dim=1)
    slots = torch.arange(position.shape[1], device=position.device).expand_as(order)
    rank = torch.empty_like(order).scatter_(1, order, slots)
    return order, rank


def scan_lanes(sorted_lane: torch.Tensor, sorted_vehicle: torch.Tensor, *, n_lanes: int):
    """Per-lane next/previous slot tables along a position order.

    Args:
        sorted_lane: ``[B, E]`` int64 lane of each slot (a lane outside
            ``[0, n_lanes)`` marks a placeholder slot that belongs to no lane).
        sorted_vehicle: ``[B, E]`` int64 vehicle of each slot.
        n_lanes: lanes on the road.

    Returns:
        The :class:`LaneOrder`.
    """
    batch, n_entries = sorted_lane.shape
    device = sorted_lane.device
    in_lane = (sorted_lane.unsqueeze(-1) == torch.arange(n_lanes, device=device)).long()
    slot = torch.arange(n_entries, device=device).view(1, -1, 1)
    # slot where the entry is in the lane, a sentinel (E for next, -1 for prev) elsewhere
    next_src = n_entries + (slot - n_entries) * in_lane
    next_slot = next_src.flip(1).cummin(1).values.flip(1)
    prev_src = -1 + (slot + 1) * in_lane
    prev_slot = prev_src.cummax(1).values
    end = torch.full((batch, 1, n_lanes), n_entries, dtype=torch.int64, device=device)
    start = torch.full((batch, 1, n_lanes), -1, dtype=torch.int64, device=device)
    return LaneOrder(sorted_vehicle, torch.cat([next_slot, end], 1),
                     torch.cat([start, prev_slot], 1))


def neighbours_at(
    lanes: LaneOrder,
    *,
    slot: torch.Tensor,
    query_lane: torch.Tensor,
    road_length: float,
) -> Neighbours:
    """Leaders and followers of the vehicles sitting at ``slot``, in the queried lanes.

    A vehicle is never its own neighbour (its own slots are skipped; a lane holding only
    the vehicle itself gives -1). A lane outside the road finds nothing.

    Args:
        lanes: the :class:`LaneOrder` of the entries.
        slot: ``[B, V]`` int64 slot of vehicle ``v``'s own entry, or ``[B, V, Q]``: per
            query, the slot of the vehicle's own entry in that lane (when it has several).
        query_lane: ``[B, V, Q]`` int64 lanes to search for each vehicle.
        road_length: ring length, m.

    Returns:
        :class:`Neighbours` with ``[B, V, Q]`` tensors.
    """
    batch, n_veh, n_q = query_lane.shape
    n_entries = lanes.vehicle.shape[1]
    n_lanes = lanes.next_slot.shape[2]
    exists = (query_lane >= 0) & (query_lane < n_lanes)
    lane = query_lane.clamp(0, n_lanes - 1)
    next_flat = lanes.next_slot.view(batch, -1)
    prev_flat = lanes.prev_slot.view(batch, -1)

    def table(flat, row):  # flat[(row, lane)] for [B, V, Q] rows
        return flat.gather(1, (row * n_lanes + lane).view(batch, -1)).view(batch, n_veh, n_q)

    own = slot.unsqueeze(-1) if slot.dim() == 2 else slot
    ahead = table(next_flat, own + 1)
    wrap_ahead = (ahead == n_entries).long()
    ahead = ahead + wrap_ahead * (table(next_flat, torch.zeros_like(own)) - ahead)
    behind = table(prev_flat, own)
    wrap_behind = (behind == -1).long()
    behind = behind + wrap_behind * (table(prev_flat, torch.full_like(own, n_entries)) - behind)
    self_index = torch.arange(n_veh, device=slot.device).view(1, -1, 1)

    def resolve(found_slot, wraps, sign):
        valid = exists & (found_slot >= 0) & (found_slot < n_entries)
        flat = found_slot.clamp(0, n_entries - 1).view(batch, -1)
        vehicle = lanes.vehicle.gather(1, flat).view(batch, n_veh, n_q)
        valid = valid & (vehicle != self_index)
        vehicle = vehicle * valid - (~valid).long()
        offset = (wraps * valid).float() * (sign * road_length)
        return vehicle, offset

    leader, leader_offset = resolve(ahead, wrap_ahead, 1.0)
    follower, follower_offset = resolve(behind, wrap_behind, -1.0)
    return Neighbours(leader, leader_offset, follower, follower_offset)


def take(values: torch.Tensor, index: torch.Tensor, *, missing: float | torch.Tensor = 0.0):
    """Per environment, ``values`` of the vehicles named by ``index`` (-1 gives ``missing``).

    Args:
        values: ``[B, V]`` float per-vehicle values.
        index: ``[B, V, Q]`` int64 vehicle indices or -1.
        missing: finite value where the index is -1 (a float, or a tensor broadcastable
            to ``[B, V, Q]``).

    Returns:
        ``[B, V, Q]`` tensor of ``values``' dtype.
    """
    batch = index.shape[0]
    gathered = values.gather(1, index.reshape(batch, -1).clamp(min=0)).view(index.shape)
    present = (index >= 0).to(values.dtype)
    # exact blend for finite values (torch.where is several times slower on the CPU)
    return gathered * present + missing * (1.0 - present)
