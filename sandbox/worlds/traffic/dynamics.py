"""One decision step of vehicle motion: lane changes, held accelerations, crash checks.

Rules (the model card states them for users):

- A lane change happens at the start of the decision step. During that whole step the
  changing vehicle occupies **both** its old and its new lane: it has a leader in each
  (a background vehicle drives the IDM behind the more constraining one), vehicles
  behind it in either lane follow it, and its footprint can collide in either lane.
- Accelerations are held over the decision step and integrated in substeps with
  ``v' = clip(v + a dt, v_min, v_max)``, ``x' = x + (v + v') dt / 2``.
- Leaders are fixed for the step (found once per step). Vehicles in a lane cannot
  pass each other without overlapping, so a footprint overlap anywhere in a lane shows
  up as a negative gap to some vehicle's fixed leader, checked at every substep.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sandbox.worlds.traffic.neighbours import (
    FAR,
    Neighbours,
    neighbours_at,
    scan_lanes,
    take,
)


@dataclass
class Motion:
    """Result of integrating one decision step.

    Attributes:
        position: ``[B, V]`` float32 front-bumper positions wrapped into ``[0, L)``, m.
        speed: ``[B, V]`` float32, m/s.
        av_advance: ``[B]`` float32 distance the AV drove in the step, m.
        av_crash: ``[B]`` bool, the AV's footprint overlapped another vehicle's.
        any_crash: ``[B]`` bool, some pair of vehicles overlapped.
        av_min_ttc: ``[B]`` float32 smallest time-to-collision between the AV and its
            leaders or followers, over the substeps, s (``FAR`` if none closes in).
    """

    position: torch.Tensor
    speed: torch.Tensor
    av_advance: torch.Tensor
    av_crash: torch.Tensor
    any_crash: torch.Tensor
    av_min_ttc: torch.Tensor


def change_lanes(lane: torch.Tensor, lane_change: torch.Tensor, *, n_lanes: int):
    """Apply lane changes that stay on the road (others are ignored).

    Args:
        lane: ``[B, V]`` int64 current lanes.
        lane_change: ``[B, V]`` int64 in ``{-1, 0, +1}`` (+1 = left).
        n_lanes: lanes on the road.

    Returns:
        ``(new_lane [B, V] int64, changing [B, V] bool)``.
    """
    target = lane + lane_change
    changing = (lane_change != 0) & (target >= 0) & (target < n_lanes)
    return lane + lane_change * changing, changing


def step_neighbours(order, rank, lane, new_lane, changing, *, n_lanes, road_length):
    """Neighbours for the decision step in the new lane (slot 0) and the old one (slot 1).

    Each vehicle has an entry in its new lane and, while changing, one in its old lane,
    at its position; the position order of the decision time is reused (positions do not
    change when lanes do), the two entries of a vehicle side by side.

    Args:
        order: ``[B, V]`` int64 vehicles sorted by position (from the scene).
        rank: ``[B, V]`` int64 inverse of ``order``.
        lane: ``[B, V]`` int64 lanes before the step.
        new_lane: ``[B, V]`` int64 lanes after the changes.
        changing: ``[B, V]`` bool.
        n_lanes: lanes on the road.
        road_length: ring length, m.

    Returns:
        :class:`~sandbox.worlds.traffic.neighbours.Neighbours` with ``[B, V, 2]`` tensors
        (old-lane slot: -1 for vehicles that keep their lane).
    """
    batch = lane.shape[0]
    moving = changing.long()
    old_lane = lane * moving + (n_lanes + 1) * (1 - moving)  # a lane no query names
    entry_lane = torch.stack([new_lane.gather(1, order), old_lane.gather(1, order)], -1)
    lanes = scan_lanes(entry_lane.view(batch, -1), order.repeat_interleave(2, dim=1),
                       n_lanes=n_lanes)
    slots = torch.stack([2 * rank, 2 * rank + 1], -1)
    query = torch.stack([new_lane, lane * moving - (1 - moving)], -1)
    return neighbours_at(lanes, slot=slots, query_lane=query, road_length=road_length)


def leader_gaps(position, length, leader, leader_offset):
    """Bumper-to-bumper gaps to the fixed leaders.

    Args:
        position: ``[B, V]`` float32 front bumpers (not wrapped within the step), m.
        length: ``[B, V]`` float32, m.
        leader: ``[B, V, K]`` int64 (-1 = none).
        leader_offset: ``[B, V, K]`` float32, m.

    Returns:
        ``[B, V, K]`` float32 gaps, m (``FAR`` where there is no leader).
    """
    present = (leader >= 0).float()
    rear = take(position, leader) + leader_offset - take(length, leader)
    return (rear - position.unsqueeze(-1)) * present + FAR * (1.0 - present)


def _av_pairs(nb: Neighbours, length: torch.Tensor):
    """The (behind, ahead) vehicle pairs involving the AV: its leaders and its followers.

    Returns:
        ``(behind [B, 4], ahead [B, 4], base [B, 4])``: indices (missing -> 0) and the
        constant part of the pair's gap, ``offset - ahead's length``, or ``FAR`` for a
        missing pair, m.
    """
    leaders, followers = nb.leader[:, 0], nb.follower[:, 0]
    zeros = torch.zeros_like(leaders)
    behind = torch.cat([zeros, followers.clamp(min=0)], 1)
    ahead = torch.cat([leaders.clamp(min=0), zeros], 1)
    offset = torch.cat([nb.leader_offset[:, 0], -nb.follower_offset[:, 0]], 1)
    present = (torch.cat([leaders, followers], 1) >= 0).float()
    base = (offset - length.gather(1, ahead)) * present + FAR * (1.0 - present)
    return behind, ahead, base


def integrate(position, speed, accel, *, length, neighbours: Neighbours, params) -> Motion:
    """Integrate one decision step in substeps, checking footprints and time-to-collision.

    Args:
        position: ``[B, V]`` float32 positions in ``[0, L)``, m (AV is vehicle 0).
        speed: ``[B, V]`` float32, m/s.
        accel: ``[B, V]`` float32 held accelerations, m/s^2.
        length: ``[B, V]`` float32, m.
        neighbours: the step's fixed :class:`Neighbours` (``[B, V, 2]``).
        params: the world's :class:`~sandbox.worlds.traffic.params.HighwayParams`.

    Returns:
        The :class:`Motion` of the step.
    """
    batch = position.shape[0]
    dt = params.substep_dt
    leader = neighbours.leader
    flat_leader = leader.clamp(min=0).view(batch, -1)
    present = (leader >= 0).float()
    rear_offset = (neighbours.leader_offset - take(length, leader)) * present + FAR * (
        1.0 - present)
    behind, ahead, base = _av_pairs(neighbours, length)
    start = position[:, 0]
    min_gap = torch.full_like(rear_offset, FAR)
    pair_gap = torch.full_like(base, FAR)
    pair_ttc = torch.full_like(base, FAR)
    # Python loop over substeps only; every operation acts on all vehicles and envs, and
    # minima are kept elementwise (reductions over small rows are slow on the CPU).
    for _ in range(params.n_substeps):
        new_speed = (speed + accel * dt).clamp(params.speed_min, params.speed_max)
        position = position + 0.5 * (speed + new_speed) * dt
        speed = new_speed
        ahead_rear = position.gather(1, flat_leader).view_as(rear_offset) + rear_offset
        min_gap = torch.minimum(min_gap, ahead_rear - position.unsqueeze(-1))
        gap = position.gather(1, ahead) - position.gather(1, behind) + base
        pair_gap = torch.minimum(pair_gap, gap)
        closing = speed.gather(1, behind) - speed.gather(1, ahead)
        ttc = gap.clamp(min=0.0) / closing.clamp(min=1e-6) + FAR * (closing <= 0)
        pair_ttc = torch.minimum(pair_ttc, ttc)
    advance = position[:, 0] - start
    position = torch.remainder(position, params.road_length)
    return Motion(
        position, speed, advance,
        av_crash=(pair_gap < 0).any(1),
        any_crash=(min_gap < 0).flatten(1).any(1),
        av_min_ttc=pair_ttc.amin(1),
    )
