"""Testing automated vehicles in the highway world: NDE, NADE, estimators.

- :func:`run_campaign`: crude Monte Carlo in the naturalistic environment (NDE), or
  importance sampling with a :class:`NadeAdversary` (NADE, Feng et al. 2021).
- :mod:`.estimators`: ``X_i = crash_i W_i``, mean, 90 % half-width, relative half-width,
  the convergence rule and the tests crude Monte Carlo needs.
- :mod:`.surrogates`: models of the AV that predict a maneuver's challenge.
- :class:`PlatoonTiltAdversary` (:mod:`.tilt`): importance sampling by an exponential
  tilt of the vehicles ahead of the AV over a window of steps (accelerated evaluation),
  its tilts fitted on pilot tests by the cross-entropy method (:mod:`.cross_entropy`).
- :class:`AdaptiveMix`: re-fits the mix of several surrogates as tests accumulate.
- :mod:`.methods`: the methods as background policies that scenario files name
  (``nde``, ``nade``; ``nade_adaptive_policy`` takes its coefficient fitter as an
  argument). Dense learning (D2RL, a PPO-trained control level on top of NADE) lives in
  the solver layer, ``sandbox.solvers.d2rl``, and ``sandbox.scenario.traffic_methods``
  registers ``nade_adaptive`` and ``d2rl``: nothing here imports a layer above the world.
- :mod:`.studies`: the set-ups of the unbiasedness, efficiency and adaptive studies.
"""

from sandbox.worlds.traffic.testing.adaptive import AdaptiveMix
from sandbox.worlds.traffic.testing.campaign import Campaign, run_campaign
from sandbox.worlds.traffic.testing.estimators import (
    TARGET_RHW,
    Z_90,
    Estimate,
    converged_at,
    crash_samples,
    crude_tests_needed,
    estimate,
    running_relative_half_width,
)
from sandbox.worlds.traffic.testing.nade import NadeAdversary
from sandbox.worlds.traffic.testing.surrogates import (
    ChallengeSettings,
    ConstantSpeedSurrogate,
    IdmSurrogate,
    Surrogate,
)
from sandbox.worlds.traffic.testing.tilt import PlatoonTiltAdversary

__all__ = [
    "TARGET_RHW", "Z_90", "AdaptiveMix", "Campaign", "ChallengeSettings", "ConstantSpeedSurrogate",
    "Estimate", "IdmSurrogate", "NadeAdversary", "PlatoonTiltAdversary", "Surrogate",
    "converged_at", "crash_samples", "crude_tests_needed", "estimate", "run_campaign",
    "running_relative_half_width",
]
