"""Surrogate models of the AV and the maneuver challenge they predict.

NADE scores a background maneuver by its *challenge*: would the AV crash if the
background vehicle did this? The AV is unknown to the test designer, so a surrogate
model of it answers instead. Here the challenge comes from a short deterministic
rollout of the pair (AV, background vehicle):

- the background vehicle performs the maneuver for ``maneuver_duration`` (one decision
  step; a vehicle cutting in holds its speed meanwhile), then for ``follow_up_steps``
  decision steps drives its current IDM acceleration (its naturalistic mean) plus a
  *follow-up* deviation towards the AV, then its IDM acceleration again;
- the AV holds the action it has chosen for the current step (known: AV and background
  act at the same time), then follows the surrogate, re-deciding every decision step
  when the background vehicle is ahead of it, holding its acceleration when behind;
- the AV keeps its lane over the horizon.

With ``pi(d) = exp(-k d^2 / 2)`` the naturalistic likelihood of keeping a follow-up
deviation of ``d`` noise standard deviations for ``k`` steps, the challenge is the
weighted share of follow-ups that crash, ``sum_d pi(d) crash(d) / sum_d pi(d)``
(``"mean"``: a quadrature of the crash probability under naturalistic continuation over
evenly spaced deviations), or ``max_d pi(d) crash(d)`` (``"max"``: the likelihood of the
most likely crashing follow-up). Both are 1 when every follow-up crashes and 0 when none
does. A maneuver assumed to persist over many steps would predict
crashes whose probability is a product of many small ones; steering tests towards them
wastes the tests (their weights are negligible).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from sandbox.core.errors import ConfigError, check_range
from sandbox.worlds.traffic.drivers import idm_acceleration
from sandbox.worlds.traffic.params import DriverParams, HighwayParams


class Surrogate:
    """A model of the AV's longitudinal response behind a leader.

    Subclasses implement :meth:`accel`; ``name`` labels results.
    """

    name = "surrogate"

    def accel(self, speed: torch.Tensor, gap: torch.Tensor, leader_speed: torch.Tensor):
        """The AV's acceleration, m/s^2, for its speed (m/s), gap (m) and leader speed (m/s)."""
        raise NotImplementedError


@dataclass(frozen=True)
class IdmSurrogate(Surrogate):
    """The AV modelled as IDM with given parameters and a braking limit.

    Attributes:
        driver: the IDM parameters assumed for the AV.
        max_decel: hardest braking assumed, m/s^2.
        max_accel: strongest acceleration, m/s^2.
        name: label in results.
    """

    driver: DriverParams = dataclasses.field(default_factory=DriverParams)
    max_decel: float = 8.0
    max_accel: float = 3.0
    name: str = "idm"

    def __post_init__(self):
        check_range("max_decel", self.max_decel, low=0.0, low_open=True)

    def accel(self, speed, gap, leader_speed):
        """IDM acceleration clipped to ``[-max_decel, max_accel]``, m/s^2."""
        d = self.driver
        acc = idm_acceleration(
            speed, gap, leader_speed, max_accel=d.max_accel, comfort_decel=d.comfort_decel,
            min_gap=d.min_gap, time_headway=d.time_headway, desired_speed=d.desired_speed,
            delta=d.delta,
        )
        return acc.clamp(-self.max_decel, self.max_accel)


@dataclass(frozen=True)
class ConstantSpeedSurrogate(Surrogate):
    """The AV modelled as ignoring the leader: it keeps its speed.

    Attributes:
        name: label in results.
    """

    name: str = "constant_speed"

    def accel(self, speed, gap, leader_speed):
        """Zero acceleration."""
        return torch.zeros_like(speed)


@dataclass(frozen=True)
class ChallengeSettings:
    """How the maneuver challenge is predicted."""

    horizon: float = 4.0
    """Length of the predicted rollout, s."""
    maneuver_duration: float = 1.0
    """How long the background vehicle keeps the maneuver before returning to its IDM
    acceleration, s (the horizon: a persistent maneuver)."""
    dt: float = 0.2
    """Step of the predicted rollout, s (divides the world's decision step)."""
    follow_ups: tuple[float, ...] = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)
    """Deviations from the IDM acceleration in the steps after the maneuver, in standard
    deviations of the naturalistic noise: negative towards the AV (braking when ahead,
    accelerating when behind), positive away; evenly spaced and symmetric for
    ``"mean"``."""
    follow_up_steps: int = 2
    """Decision steps the follow-up deviation lasts; its likelihood is per step."""
    aggregate: str = "mean"
    """How follow-ups combine into the challenge: ``"mean"`` or ``"max"``."""

    def __post_init__(self):
        check_range("horizon", self.horizon, low=0.0, low_open=True)
        check_range("dt", self.dt, low=0.0, low_open=True)
        check_range("maneuver_duration", self.maneuver_duration, low=0.0)
        check_range("follow_up_steps", self.follow_up_steps, low=0)
        if self.aggregate not in ("mean", "max"):
            raise ConfigError("aggregate", self.aggregate, "'mean' or 'max'")
        if 0.0 not in self.follow_ups or sorted(self.follow_ups) != sorted(
                -d for d in self.follow_ups):
            raise ConfigError("follow_ups", self.follow_ups,
                              "deviations symmetric about 0, including 0")


def maneuver_challenge(
    *,
    gap: torch.Tensor,
    av_speed: torch.Tensor,
    other_speed: torch.Tensor,
    other_ahead: torch.Tensor,
    other_accel: torch.Tensor,
    other_accel_after: torch.Tensor,
    av_accel: torch.Tensor,
    surrogate: Surrogate,
    settings: ChallengeSettings,
    params: HighwayParams,
) -> torch.Tensor:
    """Challenge of a maneuver from a short rollout of the AV and the other vehicle.

    Args:
        gap: ``[...]`` bumper-to-bumper gap between the pair, m.
        av_speed: ``[...]`` AV speed, m/s.
        other_speed: ``[...]`` the background vehicle's speed, m/s.
        other_ahead: ``[...]`` bool, the background vehicle is in front of the AV.
        other_accel: ``[...]`` its acceleration during the maneuver, m/s^2.
        other_accel_after: ``[...]`` its IDM acceleration (mean) now, kept after the
            maneuver, m/s^2.
        av_accel: ``[...]`` the AV's acceleration in the current decision step, m/s^2.
        surrogate: the AV model after the current step.
        settings: horizon, step and follow-up deviations.
        params: the world's parameters (speed bounds, grid, noise, decision step).

    Returns:
        ``[...]`` challenge in ``[0, 1]``.
    """
    per_decision = params.decision_dt / settings.dt
    if abs(per_decision - round(per_decision)) > 1e-6:
        raise ConfigError("dt", settings.dt, f"a divisor of decision_dt={params.decision_dt}")
    per_decision, dt = int(round(per_decision)), settings.dt
    sigmas = torch.tensor(settings.follow_ups, dtype=gap.dtype, device=gap.device)
    likelihood = torch.exp(-0.5 * settings.follow_up_steps * sigmas**2)
    follow = sigmas * params.accel_noise
    ahead = other_ahead.to(gap.dtype).unsqueeze(-1)
    sign = 2.0 * ahead - 1.0  # the gap grows with (other - AV) displacement when ahead
    gap, av_speed, other_speed = (x.unsqueeze(-1).expand(*x.shape, follow.numel())
                                  for x in (gap, av_speed, other_speed))
    after = other_accel_after.unsqueeze(-1)
    deviated = (after + follow * sign).clamp(params.accel_min, params.accel_max)
    begin = int(round(settings.maneuver_duration / dt))
    phases = {begin: deviated, begin + settings.follow_up_steps * per_decision: after}
    a_av, a_other = av_accel.unsqueeze(-1), other_accel.unsqueeze(-1)
    min_gap = gap
    for step in range(int(round(settings.horizon / dt))):
        a_other = phases.get(step, a_other)
        if step > 0 and step % per_decision == 0:
            a_av = surrogate.accel(av_speed, gap, other_speed) * ahead + a_av * (1.0 - ahead)
        new_av = (av_speed + a_av * dt).clamp(params.speed_min, params.speed_max)
        new_other = (other_speed + a_other * dt).clamp(params.speed_min, params.speed_max)
        gap = gap + sign * 0.5 * ((new_other + other_speed) - (new_av + av_speed)) * dt
        av_speed, other_speed = new_av, new_other
        min_gap = torch.minimum(min_gap, gap)
    weighted = (min_gap < 0).to(gap.dtype) * likelihood
    if settings.aggregate == "max":
        return weighted.amax(-1)
    return weighted.sum(-1) / likelihood.sum()
