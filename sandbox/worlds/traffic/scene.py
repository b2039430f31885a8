"""What each driver sees at a decision time: neighbours in three lanes, IDM and MOBIL.

The view of a vehicle is, for its own lane, the lane to its left and the lane to its
right (index ``0, 1, 2`` of the last dimension), the gap to and speed of the nearest
vehicle ahead and behind. Gaps are bumper to bumper; a missing vehicle has gap
:data:`~sandbox.worlds.traffic.neighbours.FAR` and the observer's own speed.
The same :func:`lane_change_advice` serves the world (followers' parameters per vehicle)
and the AV's IDM/MOBIL policy (followers' parameters assumed), so both decide alike.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from sandbox.worlds.traffic.drivers import (
    idm_acceleration,
    lane_change_choice,
    mobil_incentive,
)
from sandbox.worlds.traffic.neighbours import (
    FAR,
    Neighbours,
    neighbours_at,
    scan_lanes,
    sort_by_position,
    take,
)
from sandbox.worlds.traffic.params import DRIVER_FIELDS, HighwayParams

#: Lane offsets of the three views: own lane, left (+1), right (-1).
LANE_OFFSETS = (0, 1, -1)
IDM_FIELDS = ("max_accel", "comfort_decel", "min_gap", "time_headway", "desired_speed")


def idm_kwargs(driver: dict) -> dict:
    """The per-vehicle IDM keyword arguments (no ``delta``) out of a dict of driver parameters."""
    return {name: driver[name] for name in IDM_FIELDS}


@dataclass
class Scene:
    """Per-vehicle view of one decision time, batched.

    Attributes:
        order: ``[B, V]`` int64 vehicles sorted by position (reused by the step).
        rank: ``[B, V]`` int64 slot of each vehicle in ``order``.
        neighbours: leaders/followers in ``[own, left, right]`` lanes, ``[B, V, 3]``.
        lane_exists: ``[B, V, 3]`` bool.
        leader_gap: ``[B, V, 3]`` float32 gap to the leader, m (``FAR`` if none).
        leader_speed: ``[B, V, 3]`` float32, m/s (own speed if none).
        follower_gap: ``[B, V, 3]`` float32 gap from the follower, m (``FAR`` if none).
        follower_speed: ``[B, V, 3]`` float32, m/s (own speed if none).
        idm_accel: ``[B, V]`` float32 IDM acceleration behind the current leader, m/s^2.
        advice: ``[B, V]`` int64 MOBIL advice: +1 left, -1 right, 0 stay.
        fits: ``[B, V, 2]`` bool, the vehicle fits into the (left, right) lane: it exists
            and the gaps to the leader and follower there exceed ``cut_in_min_gap``.
    """

    order: torch.Tensor
    rank: torch.Tensor
    neighbours: Neighbours
    lane_exists: torch.Tensor
    leader_gap: torch.Tensor
    leader_speed: torch.Tensor
    follower_gap: torch.Tensor
    follower_speed: torch.Tensor
    idm_accel: torch.Tensor
    advice: torch.Tensor
    fits: torch.Tensor


def lane_change_advice(
    *,
    speed: torch.Tensor,
    length: torch.Tensor,
    leader_gap: torch.Tensor,
    leader_speed: torch.Tensor,
    follower_gap: torch.Tensor,
    follower_speed: torch.Tensor,
    lane_exists: torch.Tensor,
    own: dict,
    follower: dict,
    delta: float,
    sensing_range: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """IDM acceleration and MOBIL advice from a three-lane view.

    Args:
        speed: ``[...]`` own speed, m/s.
        length: ``[...]`` own length, m.
        leader_gap: ``[..., 3]`` gaps ahead in (own, left, right) lanes, m (none: a gap
            beyond the sensing range).
        leader_speed: ``[..., 3]`` leaders' speeds, m/s.
        follower_gap: ``[..., 3]`` gaps behind, m (none: beyond the sensing range).
        follower_speed: ``[..., 3]`` followers' speeds, m/s.
        lane_exists: ``[..., 3]`` bool.
        own: own driver parameters by name (tensors ``[...]`` or floats).
        follower: followers' parameters by name (tensors ``[..., 3]`` or floats).
        delta: the IDM exponent shared by every vehicle.
        sensing_range: gaps at or beyond it are a free road, m.

    Returns:
        ``(idm_accel [...], advice [...] int64)``.
    """
    v = speed.unsqueeze(-1)
    own_idm = {k: _lift(x) for k, x in idm_kwargs(own).items()}
    reach = {"delta": delta, "sensing_range": sensing_range}
    acc = idm_acceleration(v, leader_gap, leader_speed, **own_idm, **reach)
    f_idm = idm_kwargs(follower)
    # followers' accelerations with the changer in front (after) and without (before);
    # unseen followers do not count (both terms 0)
    has_follower = follower_gap < sensing_range
    behind_me = idm_acceleration(follower_speed, follower_gap, v, **f_idm, **reach)
    bridged = follower_gap + length.unsqueeze(-1) + leader_gap
    behind_leader = idm_acceleration(follower_speed, bridged, leader_speed, **f_idm, **reach)
    behind_me = behind_me * has_follower
    behind_leader = behind_leader * has_follower
    gaps_ok = fits_beside(leader_gap, follower_gap, lane_exists)
    own_mobil = {k: _lift(own[k]) for k in ("politeness", "gain_threshold", "safe_decel")}
    safe, gain = mobil_incentive(
        own_mobil,
        acc_now=acc[..., :1], acc_after=acc[..., 1:],
        new_follower_now=behind_leader[..., 1:], new_follower_after=behind_me[..., 1:],
        old_follower_now=behind_me[..., :1], old_follower_after=behind_leader[..., :1],
        target_gaps_ok=gaps_ok,
    )
    advice = lane_change_choice(safe[..., 0], gain[..., 0], safe[..., 1], gain[..., 1])
    return acc[..., 0], advice


def fits_beside(leader_gap: torch.Tensor, follower_gap: torch.Tensor,
                lane_exists: torch.Tensor, min_gap: float = 0.0) -> torch.Tensor:
    """``[..., 2]`` bool: the vehicle fits into the (left, right) lane of a three-lane view.

    Args:
        leader_gap: ``[..., 3]`` gaps ahead in (own, left, right) lanes, m.
        follower_gap: ``[..., 3]`` gaps behind, m.
        lane_exists: ``[..., 3]`` bool.
        min_gap: both gaps must exceed this, m.
    """
    return (lane_exists[..., 1:] & (leader_gap[..., 1:] > min_gap)
            & (follower_gap[..., 1:] > min_gap))


def _lift(value):
    """Add a trailing axis to a tensor parameter (floats broadcast as they are)."""
    return value.unsqueeze(-1) if isinstance(value, torch.Tensor) else value


def compute_scene(state, params: HighwayParams) -> Scene:
    """The view of every vehicle in ``state`` at a decision time.

    Args:
        state: a :class:`~sandbox.worlds.traffic.state.HighwayState` (``[B, V]`` tensors,
            positions in ``[0, road_length)``).
        params: the world's parameters.

    Returns:
        The :class:`Scene`.
    """
    order, rank = sort_by_position(state.position)
    lanes = scan_lanes(state.lane.gather(1, order), order, n_lanes=params.n_lanes)
    offsets = torch.tensor(LANE_OFFSETS, device=state.lane.device)
    query_lane = state.lane.unsqueeze(-1) + offsets
    nb = neighbours_at(lanes, slot=rank, query_lane=query_lane, road_length=params.road_length)
    lane_exists = (query_lane >= 0) & (query_lane < params.n_lanes)
    own_speed = state.speed.unsqueeze(-1)
    position, length = state.position.unsqueeze(-1), state.length.unsqueeze(-1)
    has_leader = (nb.leader >= 0).float()
    leader_rear = take(state.position, nb.leader) + nb.leader_offset - take(state.length,
                                                                             nb.leader)
    leader_gap = (leader_rear - position) * has_leader + FAR * (1.0 - has_leader)
    has_follower = (nb.follower >= 0).float()
    follower_front = take(state.position, nb.follower) + nb.follower_offset
    follower_gap = (position - length - follower_front) * has_follower + FAR * (
        1.0 - has_follower)
    leader_speed = take(state.speed, nb.leader, missing=own_speed)
    follower_speed = take(state.speed, nb.follower, missing=own_speed)
    own = driver_params(state)
    follower = _follower_params(own, nb.follower)
    idm_accel, advice = lane_change_advice(
        speed=state.speed, length=state.length, leader_gap=leader_gap,
        leader_speed=leader_speed, follower_gap=follower_gap, follower_speed=follower_speed,
        lane_exists=lane_exists, own=own, follower=follower, delta=params.background.delta,
        sensing_range=params.sensing_range,
    )
    return Scene(order, rank, nb, lane_exists, leader_gap, leader_speed, follower_gap,
                 follower_speed, idm_accel, advice,
                 fits_beside(leader_gap, follower_gap, lane_exists, params.cut_in_min_gap))


def _follower_params(own: dict, follower: torch.Tensor) -> dict[str, torch.Tensor]:
    """IDM parameters ``[B, V, Q]`` of the followers, by one gather of the stacked fields.

    A missing follower (-1) reads vehicle 0's parameters; its terms are masked later.
    """
    stacked = torch.stack([own[k] for k in IDM_FIELDS], -1)
    batch, n_veh, n_q = follower.shape
    index = follower.clamp(min=0).view(batch, -1, 1).expand(-1, -1, len(IDM_FIELDS))
    gathered = stacked.gather(1, index).view(batch, n_veh, n_q, len(IDM_FIELDS))
    return {k: gathered[..., i] for i, k in enumerate(IDM_FIELDS)}


def merge_rows(base, index: torch.Tensor, part):
    """``base`` with the environments ``index`` replaced by ``part``'s rows (new tensors).

    Works on any dataclass of ``[B, ...]`` tensors, nested ones included (a
    :class:`Scene` with its :class:`~sandbox.worlds.traffic.neighbours.Neighbours`).

    Args:
        base: dataclass with ``[B, ...]`` tensors.
        index: ``[k]`` int64 environments to replace.
        part: dataclass of the same class with ``[k, ...]`` tensors.
    """
    merged = {}
    for f in dataclasses.fields(base):
        value, new = getattr(base, f.name), getattr(part, f.name)
        if dataclasses.is_dataclass(value):
            merged[f.name] = merge_rows(value, index, new)
        else:
            value = value.clone()
            value[index] = new
            merged[f.name] = value
    return dataclasses.replace(base, **merged)


def driver_params(state) -> dict[str, torch.Tensor]:
    """Per-vehicle driver parameters of ``state`` by name, each ``[B, V]`` float32."""
    return {name: getattr(state, name) for name in DRIVER_FIELDS}
