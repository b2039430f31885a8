"""The highway world's batched state and how it is built: random starts or given layouts."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from sandbox.core.errors import ConfigError
from sandbox.core.state import TensorState
from sandbox.worlds.traffic.drivers import equilibrium_speed, idm_acceleration
from sandbox.worlds.traffic.params import DRIVER_FIELDS, HighwayParams


@dataclass
class HighwayState(TensorState):
    """State of ``B`` highways with ``V`` vehicles each; vehicle 0 is the AV.

    Real-valued tensors are float32, or float64 when ``HighwayParams.dtype`` says so.

    Attributes:
        position: ``[B, V]`` float32 front-bumper position on the ring, in ``[0, L)``, m.
        lane: ``[B, V]`` int64 lane, 0 = rightmost.
        speed: ``[B, V]`` float32, m/s.
        accel: ``[B, V]`` float32 acceleration held during the last decision step, m/s^2.
        length: ``[B, V]`` float32 vehicle length, m.
        max_accel: ``[B, V]`` IDM ``a``, m/s^2 (the next fields: per-vehicle driver
            parameters, as in :class:`~sandbox.worlds.traffic.params.DriverParams`).
        comfort_decel: ``[B, V]`` IDM ``b``, m/s^2.
        min_gap: ``[B, V]`` IDM ``s0``, m.
        time_headway: ``[B, V]`` IDM ``T``, s.
        desired_speed: ``[B, V]`` IDM ``v0``, m/s.
        politeness: ``[B, V]`` MOBIL ``p``.
        gain_threshold: ``[B, V]`` MOBIL threshold, m/s^2.
        safe_decel: ``[B, V]`` MOBIL ``b_safe``, m/s^2.
        time: ``[B]`` int64 decision steps since the test began.
        av_travelled: ``[B]`` float32 distance the AV has driven in this test, m.
        av_min_ttc: ``[B]`` float32 smallest AV time-to-collision so far, s.
        av_crash: ``[B]`` bool, the AV has crashed in this test.
        any_crash: ``[B]`` bool, some vehicles have crashed in this test.
    """

    position: torch.Tensor
    lane: torch.Tensor
    speed: torch.Tensor
    accel: torch.Tensor
    length: torch.Tensor
    max_accel: torch.Tensor
    comfort_decel: torch.Tensor
    min_gap: torch.Tensor
    time_headway: torch.Tensor
    desired_speed: torch.Tensor
    politeness: torch.Tensor
    gain_threshold: torch.Tensor
    safe_decel: torch.Tensor
    time: torch.Tensor
    av_travelled: torch.Tensor
    av_min_ttc: torch.Tensor
    av_crash: torch.Tensor
    any_crash: torch.Tensor


def _driver_tensors(params: HighwayParams, num_envs: int, device) -> dict[str, torch.Tensor]:
    """Per-vehicle driver parameters ``[B, V]``: the AV's in column 0, background elsewhere."""
    out = {}
    for name in DRIVER_FIELDS:
        row = torch.full((params.n_vehicles,), float(getattr(params.background, name)),
                         dtype=params.torch_dtype)
        row[0] = float(getattr(params.av, name))
        out[name] = row.to(device).expand(num_envs, -1).clone()
    return out


def _assemble(params, position, lane, speed, driver, device) -> HighwayState:
    """A state at the start of a test from kinematics and driver parameters."""
    batch = position.shape[0]
    zeros = torch.zeros(batch, device=device, dtype=params.torch_dtype)
    return HighwayState(
        position=position, lane=lane, speed=speed, accel=torch.zeros_like(speed), **driver,
        time=torch.zeros(batch, dtype=torch.int64, device=device), av_travelled=zeros,
        av_min_ttc=torch.full_like(zeros, float("inf")),
        av_crash=zeros.bool(), any_crash=zeros.bool(),
    )


def random_state(params: HighwayParams, num_envs: int, *, generator, device) -> HighwayState:
    """Fresh tests: vehicles spread over the lanes near IDM equilibrium.

    Vehicle ``i`` goes to column ``i mod n_lanes`` of a grid whose column ``k`` is lane
    ``(av_lane + k) mod n_lanes`` (``av_lane`` uniform per environment), so lanes hold
    ``floor`` or ``ceil(V / n_lanes)`` vehicles. A lane's free length is split into gaps
    proportional to ``U(1 - spread, 1 + spread)`` draws; the AV starts at ``av_start``,
    other lanes at a random phase. Background desired speeds spread by
    ``desired_speed_spread`` when it is positive. Each vehicle starts at the IDM
    equilibrium speed for its gap, lowered where needed so that no vehicle would have to
    brake harder than its comfortable deceleration behind its leader: no test starts in
    an emergency.

    Args:
        params: the world's parameters.
        num_envs: environments to draw.
        generator: the world's ``torch.Generator`` (on ``device``).
        device: torch device.

    Returns:
        A :class:`HighwayState` with ``[num_envs, V]`` vehicle tensors.
    """
    driver = _driver_tensors(params, num_envs, device)
    if params.desired_speed_spread > 0:
        draw = torch.rand(num_envs, params.n_vehicles, generator=generator, device=device,
                          dtype=params.torch_dtype)
        spread = params.desired_speed_spread * (2.0 * draw - 1.0)
        spread[:, 0] = 0.0  # the AV's parameters are its own
        driver["desired_speed"] = driver["desired_speed"] + spread
    position, lane, gap, leader = _place(params, driver["length"], generator=generator)
    speed = equilibrium_speed(
        gap, min_gap=driver["min_gap"], time_headway=driver["time_headway"],
        desired_speed=driver["desired_speed"], delta=params.background.delta, iterations=24,
    ).clamp(params.speed_min, params.speed_max)
    speed = _calm_speeds(params, speed, gap, leader, driver)
    return _assemble(params, position, lane, speed, driver, device)


def _place(params: HighwayParams, length: torch.Tensor, *, generator):
    """Positions, lanes, gaps to the leader and the leader's index of a fresh layout.

    Args:
        params: the world's parameters.
        length: ``[B, V]`` vehicle lengths, m.
        generator: the random stream.

    Returns:
        ``(position [B, V], lane [B, V], gap [B, V], leader [V])``.
    """
    num_envs, n_veh = length.shape
    n_lanes, road, device = params.n_lanes, params.road_length, length.device
    rows = math.ceil(n_veh / n_lanes)
    pad = rows * n_lanes - n_veh
    real_grid = (torch.arange(rows * n_lanes, device=device) < n_veh).view(rows, n_lanes)
    real_grid = real_grid.to(length.dtype)
    length = torch.nn.functional.pad(length, (0, pad)).view(num_envs, rows, n_lanes)
    spread = params.initial_gap_spread
    draw = torch.rand(num_envs, rows, n_lanes, generator=generator, device=device,
                      dtype=length.dtype)
    weight = (1.0 - spread + 2.0 * spread * draw) * real_grid
    free = road - length.sum(1, keepdim=True)
    gap = weight / weight.sum(1, keepdim=True) * free
    step = gap + torch.roll(length, -1, dims=1)
    count = real_grid.sum(0)
    phase = torch.rand(num_envs, 1, n_lanes, generator=generator, device=device,
                       dtype=length.dtype)
    phase[..., 0] = 0.0
    origin = params.av_start + phase * road / count
    position = torch.remainder(origin + torch.cumsum(step, 1) - step, road)
    av_lane = torch.randint(n_lanes, (num_envs, 1, 1), generator=generator, device=device)
    lane = ((av_lane + torch.arange(n_lanes, device=device)) % n_lanes).expand(-1, rows, -1)
    # the leader of row r is row r + 1 of the same column, the last row's is row 0
    row = torch.arange(rows, device=device).unsqueeze(1)
    next_row = torch.where(row + 1 < count.long().unsqueeze(0), row + 1, 0)
    leader = (next_row * n_lanes + torch.arange(n_lanes, device=device)).flatten()[:n_veh]

    def flat(x):
        return x.reshape(num_envs, -1)[:, :n_veh].contiguous()

    return flat(position), flat(lane), flat(gap), leader


def _calm_speeds(params, speed, gap, leader, driver, *, passes: int = 3, iterations: int = 16):
    """Lower speeds until no vehicle's IDM asks for more than its comfortable braking.

    A few passes front to back settle chains of slower vehicles; each pass bisects every
    speed on ``[0, speed]`` for the largest one with ``IDM(v, gap, v_leader) >= -b``.

    Args:
        params: the world's parameters.
        speed: ``[B, V]`` equilibrium speeds, m/s.
        gap: ``[B, V]`` gaps to the leader, m.
        leader: ``[V]`` int64 leader of each vehicle.
        driver: per-vehicle driver parameters ``[B, V]``.
        passes: sweeps over all vehicles.
        iterations: bisection halvings per sweep.

    Returns:
        ``[B, V]`` speeds, m/s.
    """
    idm = {k: driver[k] for k in ("max_accel", "comfort_decel", "min_gap", "time_headway",
                                  "desired_speed")}
    for _ in range(passes):
        leader_speed = speed[:, leader]
        low, high = torch.zeros_like(speed), speed
        for _ in range(iterations):
            mid = 0.5 * (low + high)
            acc = idm_acceleration(mid, gap, leader_speed, **idm, delta=params.background.delta)
            calm = acc >= -driver["comfort_decel"]
            low, high = torch.where(calm, mid, low), torch.where(calm, high, mid)
        ok = idm_acceleration(speed, gap, leader_speed, **idm,
                              delta=params.background.delta) >= -driver["comfort_decel"]
        speed = torch.where(ok, speed, low)
    return speed


def layout_state(params: HighwayParams, *, position, lane, speed, device) -> HighwayState:
    """A state from a given layout, after checking it (for tests, scenarios, the Mesa view).

    Args:
        params: the world's parameters (driver parameters come from it).
        position: ``[B, V]`` or ``[V]`` front-bumper positions in ``[0, road_length)``, m.
        lane: ``[B, V]`` or ``[V]`` lanes in ``[0, n_lanes)``.
        speed: ``[B, V]`` or ``[V]`` speeds in ``[speed_min, speed_max]``, m/s.
        device: torch device.

    Returns:
        A :class:`HighwayState`; raises :class:`ConfigError` for a layout that does not fit.
    """
    position = torch.as_tensor(position, dtype=params.torch_dtype, device=device)
    lane = torch.as_tensor(lane, dtype=torch.int64, device=device)
    speed = torch.as_tensor(speed, dtype=params.torch_dtype, device=device)
    position, lane, speed = (x.unsqueeze(0) if x.dim() == 1 else x
                             for x in (position, lane, speed))
    shape = (position.shape[0], params.n_vehicles)
    for name, x in (("position", position), ("lane", lane), ("speed", speed)):
        if tuple(x.shape) != shape:
            raise ConfigError(name, tuple(x.shape), f"shape (num_envs, {params.n_vehicles})")
    if not bool(((position >= 0) & (position < params.road_length)).all()):
        raise ConfigError("position", position.tolist(),
                          f"positions in [0, {params.road_length:g}) m")
    if not bool(((lane >= 0) & (lane < params.n_lanes)).all()):
        raise ConfigError("lane", lane.tolist(), f"lanes in [0, {params.n_lanes})")
    if not bool(((speed >= params.speed_min) & (speed <= params.speed_max)).all()):
        raise ConfigError("speed", speed.tolist(),
                          f"speeds in [{params.speed_min:g}, {params.speed_max:g}] m/s")
    driver = _driver_tensors(params, shape[0], device)
    _check_no_overlap(params, position, lane, driver["length"])
    return _assemble(params, position, lane, speed, driver, device)


def _check_no_overlap(params, position, lane, length):
    """Raise ConfigError when two vehicles of a lane overlap in a given layout."""
    same = lane.unsqueeze(2) == lane.unsqueeze(1)
    ahead = torch.remainder(position.unsqueeze(1) - position.unsqueeze(2), params.road_length)
    # vehicle j ahead of i by `ahead`; they overlap when j's rear is behind i's front
    eye = torch.eye(position.shape[1], dtype=torch.bool, device=position.device)
    overlap = same & ~eye & (ahead < length.unsqueeze(1))
    if bool(overlap.any()):
        raise ConfigError("position", position.tolist(),
                          "vehicles in a lane at least one vehicle length apart")
