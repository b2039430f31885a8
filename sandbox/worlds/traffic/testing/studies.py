"""The AV-testing studies' set-ups: the environment and two AVs under test.

With the default naturalistic noise (0.3 m/s^2) background drivers are nearly
deterministic: in our measurements no AV braking at 2 m/s^2 or more crashed in thousands
of naturalistic tests, and NADE found no maneuver whose challenge exceeded 1e-9 (the
crash rate is too small to estimate with any test budget). The studies therefore use a
noisier naturalistic model (``accel_noise = 1.5`` m/s^2 on the same grid), so that
crashes come from rare but plausible sequences of hard braking, and two AVs that differ
only in how hard they can brake:

- :data:`WEAK_AV` (1 m/s^2): crash rate 7.1e-3 per test (crude Monte Carlo, 60,000
  tests), for the unbiasedness check;
- :data:`ROBUST_AV` (2.5 m/s^2): 5 crashes in 262,144 naturalistic tests (1.9e-5;
  none in an earlier 100,942), for the efficiency check.

Both follow closely (time headway 0.5 s) and keep their lane. The adaptive-mix study
uses :data:`ADAPTIVE_AV`, between an IDM and a constant-speed surrogate. Each study sets
NADE's residual risk (the crash probability after a step that its maneuver does not
change; see :class:`~sandbox.worlds.traffic.testing.nade.NadeAdversary`).

The cut-in study (:func:`cut_in_env`, :data:`CUT_IN_AV`) keeps the reference's quiet
drivers (0.3 m/s^2) and adds rare unadvised lane changes (``cut_in_prob`` per step and
side): the AV's crashes then follow one rare maneuver of a neighbour, as in NADE's
naturalistic data, where the noisier drivers' crashes are built over many steps.
The fleet study (:data:`FLEET_AV`, :func:`fleet_surrogates`) and the one-side study
(:data:`LATE_AV`, :func:`one_side_surrogates`) test the adaptive mix in the cut-in
setting with an AV unlike each surrogate and without a crash mode of its own.
"""

from __future__ import annotations

import dataclasses

from sandbox.worlds.traffic.params import HighwayParams
from sandbox.worlds.traffic.policies import AvDriverConfig, IdmMobilPolicy
from sandbox.worlds.traffic.testing.surrogates import ChallengeSettings, IdmSurrogate

#: Naturalistic environment of the studies (NADE's road, noisier drivers).
TESTING_ENV = HighwayParams(accel_noise=1.5)
#: An AV whose naturalistic crash rate is about 7e-3 per test.
WEAK_AV = {"time_headway": 0.5, "max_decel": 1.0, "lane_changes": False}
#: An AV whose naturalistic crash rate is below about 3e-5 per test.
ROBUST_AV = {"time_headway": 0.5, "max_decel": 2.5, "lane_changes": False}
#: Controlled steps per test allowed when testing the weak AV: its crashes come mostly
#: from the natural dynamics, where further control only adds weight variance.
WEAK_AV_MAX_CONTROLS = 1
#: NADE's residual risk for the weak AV. After a controlled step the weak AV crashed in
#: 2-4 % of tests whose drawn maneuver the surrogate called harmless and in 9 % after a
#: challenge of 0.01 (8,192 tests); of the two values tried, 0.06 gave intervals that
#: cover crude Monte Carlo's value (88 % of 200 repeats), 0.03 fell short (77 %).
WEAK_RESIDUAL_RISK = 0.06
#: Residual risk for the robust AV with the one-step challenge (the original set-up).
ROBUST_RESIDUAL_RISK = 1e-4
#: The look-ahead challenge for the robust AV. Its naturalistic crashes (5 in 262,144
#: NDE tests) all come from a slow-down travelling down the AV's lane: the leader's own
#: leader brakes for several seconds, the leader brakes behind it as hard as the grid
#: allows (4 m/s^2, its naturalistic mean), and the AV, braking at most 2.5 m/s^2,
#: closes in over 6-8 s. No maneuver of the AV's neighbours is then challenging within
#: the one-step challenge's 4 s with the leader holding its acceleration, so NADE left
#: those paths at their naturalistic rate. The look-ahead rolls 8 s, lets the vehicle
#: ahead re-decide its IDM acceleration behind its own leader, predicts the front
#: vehicle's maneuvers through the platoon, and charges each follow-up deviation only
#: for the steps it lasts.
ROBUST_CHALLENGE = ChallengeSettings(
    horizon=8.0, dt=0.5, follow_ups=tuple(0.5 * k for k in range(-6, 7)),
    follow_up_steps=6, aggregate="path", leader_model="idm")
#: Residual risk of the look-ahead NADE for the robust AV. Of 0, 1e-4 and 1e-3 (4,096
#: tests each), 0 and 1e-3 agreed with crude Monte Carlo's 1.9e-5; 0 gave ten times the
#: crashes. Deviations 1 sigma apart (instead of 0.5) over-rated the hardest maneuvers
#: and, with ``r`` = 0, steered tests to paths weighing about 1e-9.
ROBUST_LOOKAHEAD_RISK = 0.0
#: The adaptive-mix study's AV: IDM braking at most 1.5 m/s^2 that, with probability 0.3
#: per step, keeps its previous acceleration; between an IDM and a constant-speed
#: surrogate, equal to neither.
ADAPTIVE_AV = {"time_headway": 0.5, "max_decel": 1.5, "inattention": 0.3,
               "lane_changes": False}
#: Residual risk for the adaptive-mix study.
ADAPTIVE_RESIDUAL_RISK = 0.01
#: The braking limit of the adaptive study's second IDM surrogate (``--adaptive-pair
#: idm_weak``): the AV brakes at most 1.5 m/s^2 but, inattentive, later than IDM says.
ADAPTIVE_WEAK_DECEL = 1.0


def make_av(world, settings: dict) -> IdmMobilPolicy:
    """The ``idm_mobil`` AV with ``settings`` (driver fields and :class:`AvDriverConfig`)."""
    return IdmMobilPolicy(world, **settings)


def matching_surrogate(world, settings: dict, *, name: str = "idm",
                       late_steps: int = 0) -> IdmSurrogate:
    """An IDM surrogate with exactly the AV's driver parameters and braking limit.

    ``late_steps`` makes it react that many decision steps late (see
    :class:`~sandbox.worlds.traffic.testing.surrogates.IdmSurrogate`).
    """
    config_fields = {f.name for f in dataclasses.fields(AvDriverConfig)}
    driver = dataclasses.replace(
        world.params.av, **{k: v for k, v in settings.items() if k not in config_fields})
    max_decel = settings.get("max_decel", AvDriverConfig().max_decel)
    return IdmSurrogate(driver, max_decel=max_decel, max_accel=world.params.av_accel_high,
                        name=name, late_steps=late_steps)


#: Unadvised lane changes per decision step and side in the cut-in study's efficiency
#: check: the default AV (lane keeping) crashes about 4.9e-6 times per test.
CUT_IN_PROB = 1e-5
#: The cut-in rate of the cut-in study's unbiasedness check (crash rate about 7e-3, where
#: crude Monte Carlo converges).
CUT_IN_CHECK_PROB = 1e-2
#: The cut-in study's AV: the default IDM + MOBIL AV (NADE's and D2RL's parameters,
#: braking up to 8 m/s^2), keeping its lane (the surrogates do not predict its own lane
#: changes).
CUT_IN_AV = {"lane_changes": False}
#: The adaptive mix's AV in the cut-in study: the default AV that, with probability 0.3
#: per step, keeps its previous acceleration (it reacts to a cut-in a second or more
#: late); equal neither to the attentive IDM nor to a constant-speed surrogate.
CUT_IN_ADAPTIVE_AV = {"lane_changes": False, "inattention": 0.3}
#: NADE's residual risk in the cut-in study, per unit of ``cut_in_prob``. The AV's crash
#: rate per test is about half the cut-in rate (0.48 at 1e-4 and 1e-5, 0.54 at 1e-3, 0.71
#: at 1e-2), and a test that ends in a crash after a maneuver the surrogate called
#: harmless (a later cut-in, another vehicle's) gets weight ``(C + r) / r``; with ``r``
#: about ten times the crash rate those weights stay near 1. ``r = 0`` and ``r`` = 0.5
#: ``cut_in_prob`` with at most two controls per test fell 20-30 % below crude Monte
#: Carlo at 1e-3 (a heavy tail of weights the campaign did not draw: mean weight 0.88).
CUT_IN_RISK_PER_CUT_IN = 5.0


#: NADE's threshold of criticality in the cut-in study: none. A cut-in has exposure
#: ``cut_in_prob`` (1e-5), so the default threshold (1e-6) left cut-ins whose challenge
#: is below 0.1 uncontrolled, and for an AV the surrogate under-rates such a crash then
#: weighs about 1 (one test carried most of a 4,096-test estimate). With a residual
#: risk, steering a vehicle whose criticality is far below it changes ``q`` little, so
#: the threshold is not needed.
CUT_IN_MIN_CRITICALITY = 0.0


def cut_in_env(cut_in_prob: float = CUT_IN_PROB) -> HighwayParams:
    """The cut-in study's naturalistic environment: default drivers, rare unadvised changes."""
    return HighwayParams(cut_in_prob=cut_in_prob)


def cut_in_residual_risk(cut_in_prob: float = CUT_IN_PROB) -> float:
    """NADE's residual risk in the cut-in study at ``cut_in_prob``."""
    return CUT_IN_RISK_PER_CUT_IN * cut_in_prob


#: The adaptive mix's AV in the cut-in setting: a fleet whose tests each drive one of two
#: variants of the default AV (lane keeping), equally often: one reacts a decision step
#: late (a one-second perception latency) but brakes up to 8 m/s^2, the other reacts at
#: once but brakes at most 1 m/s^2. Neither variant crashed in 65,536 naturalistic tests
#: without cut-ins (the late one in 131,072), so every crash follows a maneuver of a
#: neighbour. The fleet is unlike each surrogate below: each over-rates the cut-ins one
#: variant survives and under-rates (challenge 0) some that the other does not.
FLEET_AV = {"variants": [{"lane_changes": False, "reaction_delay": 1},
                         {"lane_changes": False, "max_decel": 1.0}]}
#: Unadvised lane changes per step and side in the fleet study (crash rate 3.5e-3 per
#: test, crude Monte Carlo):
#: the cut-ins a single surrogate under-rates are then frequent enough for a campaign of
#: some 10^5 tests to draw them.
FLEET_CUT_IN_PROB = 3e-3
#: The fleet study's challenge: the surrogate's own rollout with the cut-in vehicle at its
#: naturalistic mean after the maneuver (no follow-up deviations), so a surrogate that
#: survives a cut-in calls it harmless (challenge 0) instead of rating it by unlikely
#: follow-ups.
FLEET_CHALLENGE = ChallengeSettings(follow_ups=(0.0,))
#: NADE's residual risk in the fleet study, per unit of ``cut_in_prob``.
FLEET_RISK_PER_CUT_IN = 1.0


def fleet_surrogates(world) -> list[IdmSurrogate]:
    """The fleet study's two surrogates, one per variant of :data:`FLEET_AV`.

    ``idm_late``: the default AV reacting one decision step late; ``idm_weak``: the
    default AV braking at most 1 m/s^2.
    """
    late, weak = FLEET_AV["variants"]
    return [matching_surrogate(world, {"lane_changes": False}, name="idm_late",
                               late_steps=late["reaction_delay"]),
            matching_surrogate(world, weak, name="idm_weak")]


#: The one-side study's AV: the default AV (lane keeping) with a one-second perception
#: latency for every maneuver around it (``reaction_delay=1``). It crashed in none of
#: 131,072 naturalistic tests without cut-ins.
LATE_AV = {"lane_changes": False, "reaction_delay": 1}


def one_side_surrogates(world) -> list[IdmSurrogate]:
    """The one-side study's surrogates: two partial models of :data:`LATE_AV`.

    Each knows the AV's latency for its own lane and for cut-ins from one side only
    (``late_left``, ``late_right``) and predicts the other side's cut-ins with an AV that
    reacts at once, as if each came from tests of one side's sensors. Each single
    surrogate thus calls harmless the other side's cut-ins that only a late AV fails;
    the mix rates both sides.
    """
    late = matching_surrogate(world, LATE_AV, name="late", late_steps=1)
    return [dataclasses.replace(late, name="late_left", late_for=("lane", "left")),
            dataclasses.replace(late, name="late_right", late_for=("lane", "right"))]
