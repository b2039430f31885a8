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
- :data:`ROBUST_AV` (2.5 m/s^2): no crash in 100,000 naturalistic tests (rate below
  about 3e-5), for the efficiency check.

Both follow closely (time headway 0.5 s) and keep their lane.
"""

from __future__ import annotations

import dataclasses

from sandbox.worlds.traffic.params import HighwayParams
from sandbox.worlds.traffic.policies import AvDriverConfig, IdmMobilPolicy
from sandbox.worlds.traffic.testing.surrogates import IdmSurrogate

#: Naturalistic environment of the studies (NADE's road, noisier drivers).
TESTING_ENV = HighwayParams(accel_noise=1.5)
#: An AV whose naturalistic crash rate is about 7e-3 per test.
WEAK_AV = {"time_headway": 0.5, "max_decel": 1.0, "lane_changes": False}
#: An AV whose naturalistic crash rate is below about 3e-5 per test.
ROBUST_AV = {"time_headway": 0.5, "max_decel": 2.5, "lane_changes": False}
#: Controlled steps per test allowed when testing the weak AV: its crashes come mostly
#: from the natural dynamics, where further control only adds weight variance.
WEAK_AV_MAX_CONTROLS = 1


def make_av(world, settings: dict) -> IdmMobilPolicy:
    """The ``idm_mobil`` AV with ``settings`` (driver fields and :class:`AvDriverConfig`)."""
    return IdmMobilPolicy(world, **settings)


def matching_surrogate(world, settings: dict, *, name: str = "idm") -> IdmSurrogate:
    """An IDM surrogate with exactly the AV's driver parameters and braking limit."""
    config_fields = {f.name for f in dataclasses.fields(AvDriverConfig)}
    driver = dataclasses.replace(
        world.params.av, **{k: v for k, v in settings.items() if k not in config_fields})
    max_decel = settings.get("max_decel", AvDriverConfig().max_decel)
    return IdmSurrogate(driver, max_decel=max_decel, max_accel=world.params.av_accel_high,
                        name=name)
