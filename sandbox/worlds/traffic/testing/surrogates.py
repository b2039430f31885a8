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
  act at the same time) and, for a surrogate with ``late_steps``, that many decision
  steps more (a late reaction), then follows the surrogate, re-deciding every decision step
  when the background vehicle is ahead of it, holding its acceleration when behind;
- the AV keeps its lane over the horizon.

With ``pi(d) = exp(-k d^2 / 2)`` the naturalistic likelihood of keeping a follow-up
deviation of ``d`` noise standard deviations for ``k`` steps, the challenge is the
weighted share of follow-ups that crash, ``sum_d pi(d) crash(d) / sum_d pi(d)``
(``"mean"``: a quadrature of the crash probability under naturalistic continuation over
evenly spaced deviations), or ``max_d pi(d) crash(d)`` (``"max"``: the likelihood of the
most likely crashing follow-up). Both are 1 when every follow-up crashes and 0 when none
does. With ``aggregate="path"`` each deviation towards the AV is also tried for every
duration from one step to ``follow_up_steps`` and the challenge is
``max_(d, j) exp(-j d^2 / 2) crash(d, j)``; with ``leader_model="idm"`` the vehicle ahead
re-decides its IDM acceleration behind its own leader (:func:`platoon_challenge` predicts
that leader's own maneuvers through the platoon). A maneuver assumed to persist over
many steps would predict crashes whose probability is a product of many small ones;
steering tests towards them wastes the tests (their weights are negligible).
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

    Subclasses implement :meth:`accel`; ``name`` labels results; ``late_steps`` is the
    number of decision steps after the current one during which the modelled AV keeps
    its current acceleration before it starts to follow :meth:`accel` (0: it reacts at
    the next decision), for the maneuvers in ``late_for`` (all kinds by default);
    :meth:`prompt` is the model for the others.
    """

    #: Kinds of maneuver: the own lane's accelerations, cut-ins from the left, right.
    LATE_FOR = ("lane", "left", "right")

    name = "surrogate"
    late_steps = 0
    late_for = LATE_FOR

    def prompt(self) -> Surrogate:
        """The model reacting at once (used for the maneuvers outside ``late_for``)."""
        return self

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
        late_steps: decision steps the AV keeps its current acceleration before it
            reacts (a late, e.g. inattentive, driver; 0: it reacts at the next decision).
        late_for: the maneuvers the late reaction applies to, among ``"lane"`` (the
            own-lane vehicles' accelerations), ``"left"`` and ``"right"`` (cut-ins from
            the AV's left or right); to the others the modelled AV reacts at once. A
            surrogate that knows the AV's latency for one side only is a partial model.
    """

    driver: DriverParams = dataclasses.field(default_factory=DriverParams)
    max_decel: float = 8.0
    max_accel: float = 3.0
    name: str = "idm"
    late_steps: int = 0
    late_for: tuple[str, ...] = Surrogate.LATE_FOR

    def __post_init__(self):
        check_range("max_decel", self.max_decel, low=0.0, low_open=True)
        if isinstance(self.late_steps, bool) or not isinstance(self.late_steps, int) or (
                self.late_steps < 0):
            raise ConfigError("late_steps", self.late_steps, "an integer >= 0")
        if isinstance(self.late_for, str) or not set(self.late_for) <= set(self.LATE_FOR):
            raise ConfigError("late_for", self.late_for,
                              "a list of maneuver kinds among 'lane', 'left', 'right'")
        object.__setattr__(self, "late_for", tuple(self.late_for))

    def prompt(self) -> IdmSurrogate:
        """The same surrogate reacting at once to every maneuver."""
        return dataclasses.replace(self, late_steps=0, late_for=self.LATE_FOR)

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
    """How follow-ups combine into the challenge: ``"mean"``, ``"max"`` or ``"path"``
    (the likelihood of the most likely crashing follow-up over deviations *and*
    durations of 1 to ``follow_up_steps`` decision steps)."""
    leader_model: str = "hold"
    """What the background vehicle does after the maneuver: ``"hold"`` keeps its current
    IDM acceleration over the horizon; ``"idm"`` re-decides its IDM acceleration every
    decision step, behind its own leader (which holds its speed) when it is ahead of the
    AV and behind the AV when it follows, so the look-ahead follows a slow-down that
    travels down a platoon and a follower that brakes as it closes in."""

    def __post_init__(self):
        check_range("horizon", self.horizon, low=0.0, low_open=True)
        check_range("dt", self.dt, low=0.0, low_open=True)
        check_range("maneuver_duration", self.maneuver_duration, low=0.0)
        check_range("follow_up_steps", self.follow_up_steps, low=0)
        if self.aggregate not in ("mean", "max", "path"):
            raise ConfigError("aggregate", self.aggregate, "'mean', 'max' or 'path'")
        if self.leader_model not in ("hold", "idm"):
            raise ConfigError("leader_model", self.leader_model, "'hold' or 'idm'")
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
    front_gap: torch.Tensor | None = None,
    front_speed: torch.Tensor | None = None,
) -> torch.Tensor:
    """Challenge of a maneuver from a short rollout of the AV and the other vehicle.

    Args:
        gap: ``[...]`` bumper-to-bumper gap between the pair, m.
        av_speed: ``[...]`` AV speed, m/s.
        other_speed: ``[...]`` the background vehicle's speed, m/s.
        other_ahead: ``[...]`` bool, the background vehicle is in front of the AV.
        other_accel: ``[...]`` its acceleration during the maneuver, m/s^2.
        other_accel_after: ``[...]`` its IDM acceleration (mean) now, kept after the
            maneuver with ``leader_model="hold"``, m/s^2.
        av_accel: ``[...]`` the AV's acceleration in the current decision step, m/s^2.
        surrogate: the AV model after the current step.
        settings: horizon, step and follow-up deviations.
        params: the world's parameters (speed bounds, grid, noise, decision step,
            background drivers).
        front_gap: ``[...]`` gap from the vehicle ahead of the AV to its own leader, m
            (``FAR`` if none); needed with ``leader_model="idm"``.
        front_speed: ``[...]`` that leader's speed, m/s (it holds it over the horizon).

    Returns:
        ``[...]`` challenge in ``[0, 1]``.
    """
    per_decision = params.decision_dt / settings.dt
    if abs(per_decision - round(per_decision)) > 1e-6:
        raise ConfigError("dt", settings.dt, f"a divisor of decision_dt={params.decision_dt}")
    platoon = settings.leader_model == "idm"
    if platoon and (front_gap is None or front_speed is None):
        raise ConfigError("leader_model", settings.leader_model,
                          "front_gap and front_speed of the vehicle ahead's own leader")
    per_decision, dt = int(round(per_decision)), settings.dt
    sigmas, steps = _follow_up_table(settings, dtype=gap.dtype, device=gap.device)
    likelihood = torch.exp(-0.5 * steps * sigmas**2)
    follow = sigmas * params.accel_noise
    ahead = other_ahead.to(gap.dtype).unsqueeze(-1)
    sign = 2.0 * ahead - 1.0  # the gap grows with (other - AV) displacement when ahead
    n = follow.numel()
    gap, av_speed, other_speed = (x.unsqueeze(-1).expand(*x.shape, n)
                                  for x in (gap, av_speed, other_speed))
    if platoon:
        front_gap, front_speed = (x.to(gap.dtype).unsqueeze(-1).expand(*x.shape, n)
                                  for x in (front_gap, front_speed))
        idm = idm_kwargs_of(params.background)
    after = other_accel_after.unsqueeze(-1)
    deviation = follow * sign
    begin = int(round(settings.maneuver_duration / dt))
    end_follow = begin + steps * per_decision
    a_av, a_other = av_accel.unsqueeze(-1), other_accel.unsqueeze(-1)
    min_gap = gap
    react = max(1, (1 + surrogate.late_steps) * per_decision)
    for step in range(int(round(settings.horizon / dt))):
        if step >= begin and (step - begin) % per_decision == 0:
            base = after
            if platoon:  # ahead: behind its own leader; behind: behind the AV
                lead_gap = front_gap * ahead + gap * (1.0 - ahead)
                lead_speed = front_speed * ahead + av_speed * (1.0 - ahead)
                base = idm_acceleration(other_speed, lead_gap, lead_speed, **idm,
                                        sensing_range=params.sensing_range)
            a_other = (base + deviation * (step < end_follow)).clamp(
                params.accel_min, params.accel_max)
        if step >= react and step % per_decision == 0:
            a_av = surrogate.accel(av_speed, gap, other_speed) * ahead + a_av * (1.0 - ahead)
        new_av = (av_speed + a_av * dt).clamp(params.speed_min, params.speed_max)
        new_other = (other_speed + a_other * dt).clamp(params.speed_min, params.speed_max)
        gap = gap + sign * 0.5 * ((new_other + other_speed) - (new_av + av_speed)) * dt
        if platoon:
            front_gap = front_gap + (front_speed - 0.5 * (new_other + other_speed)) * dt
        av_speed, other_speed = new_av, new_other
        min_gap = torch.minimum(min_gap, gap)
    weighted = (min_gap < 0).to(gap.dtype) * likelihood
    if settings.aggregate in ("max", "path"):
        return weighted.amax(-1)
    return weighted.sum(-1) / likelihood.sum()


def idm_kwargs_of(driver: DriverParams) -> dict[str, float]:
    """IDM keyword arguments of :func:`idm_acceleration` for one class of driver."""
    return {"max_accel": driver.max_accel, "comfort_decel": driver.comfort_decel,
            "min_gap": driver.min_gap, "time_headway": driver.time_headway,
            "desired_speed": driver.desired_speed, "delta": driver.delta}


def _follow_up_table(settings: ChallengeSettings, *, dtype, device):
    """Follow-ups of the rollout: ``(deviation [F] in noise sigmas, duration [F] in steps)``.

    ``"mean"`` and ``"max"`` keep every deviation for ``follow_up_steps``; ``"path"``
    tries each deviation towards the AV (and none) for every duration from one step to
    ``follow_up_steps``: a crash that needs a short burst is not charged for a long one.
    """
    sigmas = torch.tensor(settings.follow_ups, dtype=dtype, device=device)
    if settings.aggregate != "path":
        return sigmas, torch.full_like(sigmas, float(settings.follow_up_steps))
    towards = sigmas[sigmas < 0]
    durations = torch.arange(1, max(settings.follow_up_steps, 1) + 1, dtype=dtype,
                             device=device)
    pairs = torch.cartesian_prod(towards, durations)
    zero = torch.zeros(1, 2, dtype=dtype, device=device)
    table = torch.cat([zero, pairs]) if towards.numel() else zero
    return table[:, 0], table[:, 1]


def platoon_challenge(
    *,
    leader_gap: torch.Tensor,
    av_speed: torch.Tensor,
    leader_speed: torch.Tensor,
    leader_accel: torch.Tensor,
    front_gap: torch.Tensor,
    front_speed: torch.Tensor,
    front_accel: torch.Tensor,
    front_accel_after: torch.Tensor,
    av_accel: torch.Tensor,
    surrogate: Surrogate,
    settings: ChallengeSettings,
    params: HighwayParams,
) -> torch.Tensor:
    """Challenge of a maneuver of the AV leader's own leader (the *front* vehicle).

    A slow-down travels down a platoon: the front vehicle brakes, the leader brakes
    behind it (as hard as the grid allows), and an AV that brakes less than the leader
    can runs into it. The rollout has the three vehicles in one lane: the front vehicle
    performs the maneuver for ``maneuver_duration``, then its current IDM acceleration
    plus a follow-up deviation (braking for negative deviations) as in
    :func:`maneuver_challenge`; the leader keeps its naturalistic mean in the current
    step and then re-decides its IDM acceleration behind the front vehicle every decision
    step (clipped to the grid); the AV holds its action, then follows the surrogate
    behind the leader. Only the AV's collisions count.

    Args:
        leader_gap: ``[...]`` gap from the AV to its leader, m.
        av_speed: ``[...]`` AV speed, m/s.
        leader_speed: ``[...]`` the leader's speed, m/s.
        leader_accel: ``[...]`` the leader's acceleration in the current step (its
            naturalistic mean), m/s^2.
        front_gap: ``[...]`` gap from the leader to the front vehicle, m.
        front_speed: ``[...]`` the front vehicle's speed, m/s.
        front_accel: ``[...]`` its acceleration during the maneuver, m/s^2.
        front_accel_after: ``[...]`` its IDM acceleration now (kept after), m/s^2.
        av_accel: ``[...]`` the AV's acceleration in the current step, m/s^2.
        surrogate: the AV model after the current step.
        settings: horizon, step, follow-ups and their aggregation.
        params: the world's parameters (background drivers, grid, speed bounds).

    Returns:
        ``[...]`` challenge in ``[0, 1]``.
    """
    per_decision = params.decision_dt / settings.dt
    if abs(per_decision - round(per_decision)) > 1e-6:
        raise ConfigError("dt", settings.dt, f"a divisor of decision_dt={params.decision_dt}")
    per_decision, dt = int(round(per_decision)), settings.dt
    sigmas, steps = _follow_up_table(settings, dtype=leader_gap.dtype, device=leader_gap.device)
    likelihood = torch.exp(-0.5 * steps * sigmas**2)
    n = sigmas.numel()
    gap, lead_gap, v_av, v_lead, v_front = (
        x.to(leader_gap.dtype).unsqueeze(-1).expand(*x.shape, n)
        for x in (leader_gap, front_gap, av_speed, leader_speed, front_speed))
    after, deviation = front_accel_after.unsqueeze(-1), sigmas * params.accel_noise
    begin = int(round(settings.maneuver_duration / dt))
    end_follow = begin + steps * per_decision
    idm = idm_kwargs_of(params.background)
    a_av, a_lead = av_accel.unsqueeze(-1), leader_accel.unsqueeze(-1)
    a_front = front_accel.unsqueeze(-1)
    min_gap = gap
    react = max(1, (1 + surrogate.late_steps) * per_decision)
    for step in range(int(round(settings.horizon / dt))):
        if step >= begin and (step - begin) % per_decision == 0:
            a_front = (after + deviation * (step < end_follow)).clamp(
                params.accel_min, params.accel_max)
        if step > 0 and step % per_decision == 0:
            a_lead = idm_acceleration(v_lead, lead_gap, v_front, **idm,
                                      sensing_range=params.sensing_range).clamp(
                params.accel_min, params.accel_max)
            if step >= react:
                a_av = surrogate.accel(v_av, gap, v_lead)
        new_av = (v_av + a_av * dt).clamp(params.speed_min, params.speed_max)
        new_lead = (v_lead + a_lead * dt).clamp(params.speed_min, params.speed_max)
        new_front = (v_front + a_front * dt).clamp(params.speed_min, params.speed_max)
        gap = gap + 0.5 * ((new_lead + v_lead) - (new_av + v_av)) * dt
        lead_gap = lead_gap + 0.5 * ((new_front + v_front) - (new_lead + v_lead)) * dt
        v_av, v_lead, v_front = new_av, new_lead, new_front
        min_gap = torch.minimum(min_gap, gap)
    weighted = (min_gap < 0).to(gap.dtype) * likelihood
    if settings.aggregate in ("max", "path"):
        return weighted.amax(-1)
    return weighted.sum(-1) / likelihood.sum()
