"""Observation features, the same layout for the AV and the background vehicles.

One row per vehicle (float32, or float64 in a float64 world). Gaps are clipped at the
sensing range (a vehicle farther away, or none, shows as a gap equal to the range and
the observer's own speed), so an IDM computed from the row agrees with the world's.
Feature names, in order, are in :data:`FEATURES`; use :func:`feature` to find one.
"""

from __future__ import annotations

import torch

from sandbox.worlds.traffic.params import HighwayParams
from sandbox.worlds.traffic.scene import Scene

FEATURES = (
    "speed",                 # own speed, m/s
    "lane",                  # own lane, 0 = rightmost
    "accel",                 # acceleration held in the last step, m/s^2
    "length",                # own length, m
    "leader_gap", "left_leader_gap", "right_leader_gap",              # m, clipped
    "leader_speed", "left_leader_speed", "right_leader_speed",        # m/s
    "follower_gap", "left_follower_gap", "right_follower_gap",        # m, clipped
    "follower_speed", "left_follower_speed", "right_follower_speed",  # m/s
    "left_lane_exists", "right_lane_exists",  # 0 or 1
    "idm_accel",             # IDM acceleration with own parameters, m/s^2
    "mobil_advice",          # +1 left, -1 right, 0 stay (own parameters)
    "av_dx",                 # AV position minus own, wrapped to [-L/2, L/2), m
    "av_dlane",              # AV lane minus own lane
    "av_dv",                 # AV speed minus own speed, m/s
    "progress",              # AV distance driven / test length
    "time",                  # decision steps elapsed / steps before the time limit
)
OBS_DIM = len(FEATURES)


def feature(name: str) -> int:
    """Column of the feature ``name`` in an observation row."""
    return FEATURES.index(name)


def observe(state, scene: Scene, params: HighwayParams) -> torch.Tensor:
    """Every vehicle's observation row.

    Args:
        state: the :class:`~sandbox.worlds.traffic.state.HighwayState` (``[B, V]``).
        scene: its :class:`~sandbox.worlds.traffic.scene.Scene`.
        params: the world's parameters.

    Returns:
        ``[B, V, OBS_DIM]`` float32 (vehicle 0 is the AV).
    """
    reach = params.sensing_range
    own_speed = state.speed.unsqueeze(-1)
    seen_lead = (scene.leader_gap < reach).float()
    seen_follow = (scene.follower_gap < reach).float()
    leader_gap = scene.leader_gap.clamp(max=reach)
    leader_speed = scene.leader_speed * seen_lead + own_speed * (1.0 - seen_lead)
    follower_gap = scene.follower_gap.clamp(max=reach)
    follower_speed = scene.follower_speed * seen_follow + own_speed * (1.0 - seen_follow)
    road = params.road_length
    av_dx = torch.remainder(state.position[:, :1] - state.position + road / 2, road) - road / 2
    batch, n_veh = state.speed.shape
    progress = (state.av_travelled / params.test_length).unsqueeze(-1).expand(batch, n_veh)
    time = (state.time.float() / params.max_steps).unsqueeze(-1).expand(batch, n_veh)
    columns = [
        state.speed, state.lane.float(), state.accel, state.length,
        *leader_gap.unbind(-1), *leader_speed.unbind(-1),
        *follower_gap.unbind(-1), *follower_speed.unbind(-1),
        scene.lane_exists[..., 1].float(), scene.lane_exists[..., 2].float(),
        scene.idm_accel, scene.advice.float(),
        av_dx, (state.lane[:, :1] - state.lane).float(), state.speed[:, :1] - state.speed,
        progress, time,
    ]
    return torch.stack([c.to(state.speed.dtype) for c in columns], -1)


def view_from_obs(obs: torch.Tensor) -> dict[str, torch.Tensor]:
    """The three-lane view in an observation, as :func:`scene.lane_change_advice` takes it.

    Missing or unseen vehicles have gap = sensing range, which the IDM reads as free road.

    Args:
        obs: ``[..., OBS_DIM]`` observation rows.

    Returns:
        ``speed``, ``length`` ``[...]`` and ``leader_gap``, ``leader_speed``,
        ``follower_gap``, ``follower_speed``, ``lane_exists`` ``[..., 3]`` tensors.
    """

    def lanes(prefix):
        return torch.stack([obs[..., feature(f"{side}{prefix}")]
                            for side in ("", "left_", "right_")], -1)

    exists = torch.stack([torch.ones_like(obs[..., 0]), obs[..., feature("left_lane_exists")],
                          obs[..., feature("right_lane_exists")]], -1) > 0.5
    return {
        "speed": obs[..., feature("speed")], "length": obs[..., feature("length")],
        "leader_gap": lanes("leader_gap"), "leader_speed": lanes("leader_speed"),
        "follower_gap": lanes("follower_gap"), "follower_speed": lanes("follower_speed"),
        "lane_exists": exists,
    }
