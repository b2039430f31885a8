"""Parameters of the highway world: drivers (IDM + MOBIL), the road, the naturalistic model.

Defaults follow the public NADE / D2RL codes (Feng et al. 2021, 2023) as listed in
``data/traffic/README.md``; every field names its unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import torch

from sandbox.core.errors import ConfigError, check_range


@dataclass(frozen=True)
class DriverParams:
    """One class of driver: Intelligent Driver Model (IDM) plus MOBIL lane changes.

    IDM (Treiber, Hennecke & Helbing 2000): ``acc = a [1 - (v/v0)^delta - (s*/s)^2]`` with
    ``s* = s0 + v T + v dv / (2 sqrt(a b))``. MOBIL (Kesting, Treiber & Helbing 2007):
    change lane when the new follower need not brake harder than ``safe_decel`` and
    ``own gain + politeness * (followers' gains) > gain_threshold``.
    """

    max_accel: float = 2.0
    """IDM maximum acceleration ``a``, m/s^2."""
    comfort_decel: float = 4.0
    """IDM comfortable deceleration ``b``, m/s^2 (positive)."""
    min_gap: float = 5.0
    """IDM jam distance ``s0``, m (bumper to bumper)."""
    time_headway: float = 1.5
    """IDM desired time headway ``T``, s."""
    desired_speed: float = 35.0
    """IDM desired speed ``v0``, m/s."""
    delta: float = 4.0
    """IDM acceleration exponent (dimensionless)."""
    politeness: float = 0.1
    """MOBIL politeness factor ``p`` (dimensionless)."""
    gain_threshold: float = 0.2
    """MOBIL changing threshold ``Delta a_th``, m/s^2."""
    safe_decel: float = 3.0
    """MOBIL safety limit ``b_safe``: the most braking a change may impose, m/s^2."""
    length: float = 5.0
    """Vehicle length, m."""

    def __post_init__(self):
        for name in ("max_accel", "comfort_decel", "time_headway", "desired_speed", "delta",
                     "length"):
            check_range(name, getattr(self, name), low=0.0, low_open=True)
        for name in ("min_gap", "politeness", "safe_decel"):
            check_range(name, getattr(self, name), low=0.0)
        check_range("gain_threshold", self.gain_threshold)


#: Background (naturalistic) drivers: NADE / D2RL defaults.
BACKGROUND_DRIVER = DriverParams()
#: The automated vehicle under test: NADE / D2RL defaults.
AV_DRIVER = DriverParams(
    max_accel=1.5, comfort_decel=2.0, min_gap=2.0, time_headway=1.2, desired_speed=33.33,
    politeness=0.0, gain_threshold=0.1, safe_decel=4.0,
)

#: Per-vehicle parameter fields kept in the world state, in this order. The IDM exponent
#: ``delta`` is one value per world (it must agree between the AV and the background).
DRIVER_FIELDS = tuple(f.name for f in fields(DriverParams) if f.name != "delta")


@dataclass(frozen=True)
class HighwayParams:
    """The highway world: road, traffic, timing and the naturalistic driving model."""

    n_lanes: int = 3
    """Number of lanes (lane 0 is the rightmost)."""
    road_length: float = 1200.0
    """Length of the road, m. The road is a ring: a vehicle passing the end re-enters at 0."""
    n_background: int = 49
    """Background vehicles (the ``background`` role); the AV makes 50 vehicles in all."""
    av_start: float = 400.0
    """Where the AV starts each test, m."""
    av_end: float = 800.0
    """The test ends (successfully) when the AV has driven from ``av_start`` to here, m."""
    time_limit: float = 60.0
    """Longest test, s; a test still running then is truncated."""
    decision_dt: float = 1.0
    """Decision step: every driver chooses an action this often, s."""
    substep_dt: float = 0.1
    """Integration substep inside a decision step (actions are held), s."""
    speed_min: float = 0.0
    """Slowest speed any vehicle may have, m/s."""
    speed_max: float = 40.0
    """Fastest speed any vehicle may have, m/s."""
    sensing_range: float = 200.0
    """Drivers see vehicles up to this distance; a lane farther empty counts as free, m."""
    accel_min: float = -4.0
    """Lowest acceleration on the naturalistic grid, m/s^2."""
    accel_max: float = 2.0
    """Highest acceleration on the naturalistic grid, m/s^2."""
    accel_step: float = 0.2
    """Spacing of the naturalistic acceleration grid, m/s^2."""
    accel_noise: float = 0.3
    """Standard deviation of the stochastic IDM around the IDM acceleration, m/s^2."""
    lane_change_prob: float = 0.01
    """Probability per decision step of a lane change that MOBIL advises."""
    cut_in_prob: float = 0.0
    """Probability per decision step and side of a lane change that MOBIL does not advise,
    into an adjacent lane where the vehicle fits (positive gaps to the new leader and
    follower): an aggressive or inattentive cut-in. 0: only advised changes."""
    cut_in_min_gap: float = 0.0
    """Smallest gap, m, to the new leader and to the new follower that such a cut-in
    accepts (a driver's accepted gap); 0: any positive gap."""
    av_accel_low: float = -8.0
    """Hardest braking the AV's action can ask for (physical limit), m/s^2."""
    av_accel_high: float = 3.0
    """Strongest acceleration the AV's action can ask for, m/s^2."""
    desired_speed_spread: float = 0.0
    """Background desired speeds are drawn from ``v0 + U(-spread, spread)`` per vehicle and
    test, m/s (0: every background driver has ``background.desired_speed``)."""
    initial_gap_spread: float = 0.5
    """Initial gaps are drawn from ``U(1 - spread, 1 + spread)`` times the lane's mean gap."""
    ttc_cap: float = 100.0
    """Cap of the reported minimum time-to-collision (no closing vehicle), s."""
    dtype: str = "float32"
    """Precision of positions and speeds: ``"float32"``, or ``"float64"`` (reference checks)."""
    background: DriverParams = field(default_factory=lambda: BACKGROUND_DRIVER)
    """Parameters of every background driver."""
    av: DriverParams = field(default_factory=lambda: AV_DRIVER)
    """Parameters of the AV (used by the world for its footprint and by MOBIL of others)."""

    def __post_init__(self):
        for name in ("n_lanes", "n_background"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(name, value, "an integer >= 1")
        for name in ("road_length", "time_limit", "decision_dt", "substep_dt",
                     "sensing_range", "accel_step", "accel_noise", "ttc_cap"):
            check_range(name, getattr(self, name), low=0.0, low_open=True)
        check_range("av_start", self.av_start, low=0.0, high=self.road_length, high_open=True)
        check_range("av_end", self.av_end, low=self.av_start, low_open=True)
        check_range("speed_min", self.speed_min, low=0.0)
        check_range("speed_max", self.speed_max, low=self.speed_min, low_open=True)
        check_range("accel_max", self.accel_max, low=self.accel_min, low_open=True)
        check_range("lane_change_prob", self.lane_change_prob, low=0.0, high=1.0)
        check_range("cut_in_prob", self.cut_in_prob, low=0.0, high=0.5)
        check_range("cut_in_min_gap", self.cut_in_min_gap, low=0.0)
        if self.lane_change_prob + 2.0 * self.cut_in_prob > 1.0:
            raise ConfigError("cut_in_prob", self.cut_in_prob,
                              "at most (1 - lane_change_prob) / 2: the lane changes' "
                              "probabilities in a step must not exceed 1")
        check_range("desired_speed_spread", self.desired_speed_spread, low=0.0,
                    high=self.background.desired_speed, high_open=True)
        check_range("initial_gap_spread", self.initial_gap_spread, low=0.0, high=1.0,
                    high_open=True)
        check_range("av_accel_high", self.av_accel_high, low=self.av_accel_low, low_open=True)
        ratio = self.decision_dt / self.substep_dt
        if abs(ratio - round(ratio)) > 1e-6:
            raise ConfigError("decision_dt", self.decision_dt,
                              f"a whole multiple of substep_dt={self.substep_dt}")
        steps = (self.accel_max - self.accel_min) / self.accel_step
        if abs(steps - round(steps)) > 1e-6:
            raise ConfigError("accel_step", self.accel_step,
                              "a spacing that divides accel_max - accel_min")
        if self.dtype not in ("float32", "float64"):
            raise ConfigError("dtype", self.dtype, "'float32' or 'float64'")
        for name in ("background", "av"):
            if not isinstance(getattr(self, name), DriverParams):
                raise ConfigError(name, getattr(self, name), "a DriverParams")
        if self.av.delta != self.background.delta:
            raise ConfigError("av.delta", self.av.delta,
                              f"the background's IDM exponent {self.background.delta:g} "
                              "(one exponent per world)")
        self._check_fit()

    def _check_fit(self):
        """Every lane must hold its vehicles at the jam distance (bumper to bumper + s0)."""
        per_lane = math.ceil(self.n_vehicles / self.n_lanes)
        need = per_lane * (max(self.background.length, self.av.length)
                           + max(self.background.min_gap, self.av.min_gap))
        if need > self.road_length:
            most = self.n_lanes * int(self.road_length // (
                max(self.background.length, self.av.length)
                + max(self.background.min_gap, self.av.min_gap)))
            raise ConfigError(
                "n_background", self.n_background,
                f"at most {most - 1} background vehicles: {self.n_lanes} lanes of "
                f"{self.road_length:g} m hold {most} vehicles at length + jam distance",
            )

    # ------------------------------------------------------------------ derived values
    @property
    def n_vehicles(self) -> int:
        """All vehicles: the AV (index 0) and the background vehicles (1..V-1)."""
        return self.n_background + 1

    @property
    def n_substeps(self) -> int:
        """Integration substeps per decision step."""
        return int(round(self.decision_dt / self.substep_dt))

    @property
    def n_accels(self) -> int:
        """Points on the naturalistic acceleration grid (31 by default)."""
        return int(round((self.accel_max - self.accel_min) / self.accel_step)) + 1

    @property
    def n_background_actions(self) -> int:
        """Background actions: the acceleration grid, then change left, then change right."""
        return self.n_accels + 2

    @property
    def test_length(self) -> float:
        """Distance the AV drives in one test, m."""
        return self.av_end - self.av_start

    @property
    def max_steps(self) -> int:
        """Decision steps before the time limit truncates a test."""
        return int(math.ceil(self.time_limit / self.decision_dt - 1e-9))

    @property
    def torch_dtype(self) -> torch.dtype:
        """The torch dtype of the world's real-valued tensors."""
        return torch.float64 if self.dtype == "float64" else torch.float32

    def accel_grid(self, device: str | torch.device = "cpu") -> torch.Tensor:
        """The naturalistic acceleration grid: ``[n_accels]`` of :attr:`torch_dtype`, m/s^2."""
        steps = torch.arange(self.n_accels, device=device, dtype=torch.float64)
        return (self.accel_min + steps * self.accel_step).to(self.torch_dtype)
