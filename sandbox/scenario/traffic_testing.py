"""Testing an automated vehicle on the highway from a few settings (the app's Traffic page).

A :class:`TestingSetup` names the AV under test (its IDM/MOBIL settings), the testing
method and the budget; :func:`run_testing` builds the highway world of the testing
studies (:mod:`sandbox.worlds.traffic.testing.studies`), runs the campaign with
:func:`~sandbox.worlds.traffic.testing.run_campaign` and returns the estimate with its
convergence curve; :func:`record_episode` replays one test vehicle by vehicle, for
pictures. Methods:

- ``"nde"``: crude Monte Carlo in the naturalistic environment;
- ``"nade"``: importance sampling with a NADE adversary whose surrogate is the AV's own
  IDM model (Feng et al. 2021);
- ``"nade_lookahead"``: the same with the look-ahead challenge of the robust AV's study
  (an 8 s platoon rollout; slower per test, aimed at AVs whose crashes build up over
  several seconds);
- ``"adaptive"``: NADE with three surrogates (IDM braking at 1.5 and 3 m/s^2, constant
  speed) whose mix is re-fitted as tests accumulate (Yang et al. 2024).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from sandbox.core.errors import ConfigError, check_range
from sandbox.core.seeding import derive_seed, make_generator
from sandbox.optimize import combine_surrogates
from sandbox.worlds.traffic import HighwayWorld
from sandbox.worlds.traffic.policies import NaturalisticPolicy
from sandbox.worlds.traffic.testing import (
    TARGET_RHW,
    AdaptiveMix,
    ConstantSpeedSurrogate,
    Estimate,
    NadeAdversary,
    converged_at,
    run_campaign,
    running_relative_half_width,
)
from sandbox.worlds.traffic.testing.studies import (
    ROBUST_AV,
    ROBUST_CHALLENGE,
    ROBUST_LOOKAHEAD_RISK,
    TESTING_ENV,
    WEAK_AV,
    make_av,
    matching_surrogate,
)

#: Testing methods and their descriptions.
METHODS = {"nde": "crude Monte Carlo (NDE)", "nade": "NADE (importance sampling)",
           "nade_lookahead": "NADE with the look-ahead challenge",
           "adaptive": "NADE with an adaptive surrogate mix"}
#: The studies' AVs under test, by name.
AVS = {"weak (brakes at 1 m/s²)": WEAK_AV, "robust (brakes at 2.5 m/s²)": ROBUST_AV}


@dataclass(frozen=True)
class TestingSetup:
    """What to test, how, and how much."""

    __test__ = False  # a name pytest would otherwise try to collect

    av: dict = field(default_factory=lambda: dict(WEAK_AV))
    """Settings of the ``idm_mobil`` AV (driver fields, ``max_decel``, ``lane_changes``...)."""
    method: str = "nde"
    """One of :data:`METHODS`."""
    n_tests: int = 1024
    """Tests to run (>= 2)."""
    eps: float = 0.1
    """NADE's share of the naturalistic distribution in its proposal, in (0, 1]."""
    max_controls: int | None = None
    """NADE: at most this many controlled steps per test (None: no limit)."""
    num_envs: int = 256
    """Tests simulated together."""
    accel_noise: float = TESTING_ENV.accel_noise
    """Spread of the naturalistic drivers' accelerations, m/s^2."""
    seed: int = 0
    """Seed of the campaign (world, drivers, AV and adversary streams)."""

    def __post_init__(self):
        if self.method not in METHODS:
            raise ConfigError("method", self.method, f"one of {sorted(METHODS)}")
        check_range("n_tests", self.n_tests, low=2)
        check_range("eps", self.eps, low=0.0, high=1.0, low_open=True)
        check_range("num_envs", self.num_envs, low=1)
        check_range("accel_noise", self.accel_noise, low=0.0)
        if self.max_controls is not None:
            check_range("max_controls", self.max_controls, low=1)


@dataclass(frozen=True)
class TestingOutcome:
    """A campaign's estimate and how it converged.

    Attributes:
        estimate: the crash-rate estimate of all tests.
        tests: ``[m]`` test counts at which the curve is given (increasing).
        mean: ``[m]`` crash-rate estimate after that many tests.
        relative_half_width: ``[m]`` its relative 90 % half-width (inf while no crash).
        converged_at: tests after which the relative half-width stayed <= 0.3, or None.
        mean_weight: mean likelihood ratio (1 in expectation under NADE, exactly 1 in the NDE).
        coefficients: the adaptive mix's coefficients after each re-fit (empty otherwise).
    """

    estimate: Estimate
    tests: list[int]
    mean: list[float]
    relative_half_width: list[float]
    converged_at: int | None
    mean_weight: float
    coefficients: list[list[float]]


@dataclass(frozen=True)
class EpisodeTrace:
    """One test, step by step: ``rows`` holds one dict per vehicle and decision step.

    Keys of a row: ``time`` (s), ``vehicle`` (0 = the AV), ``role`` (``"AV"`` or
    ``"background"``), ``lane`` (0 = rightmost), ``position`` (m along the ring),
    ``speed`` (m/s). ``crash`` says whether the AV crashed; ``env`` is the test's
    environment in the recorded batch.
    """

    rows: list[dict]
    crash: bool
    steps: int
    env: int
    road_length: float
    n_lanes: int


def make_world(setup: TestingSetup, *, num_envs: int | None = None) -> HighwayWorld:
    """The studies' highway with the setup's naturalistic noise."""
    params = dataclasses.replace(TESTING_ENV, accel_noise=float(setup.accel_noise))
    return HighwayWorld(params, num_envs=num_envs or setup.num_envs, seed=0)


def make_adversary(world, setup: TestingSetup) -> tuple[NadeAdversary | None, AdaptiveMix | None]:
    """The setup's NADE adversary (None in the NDE) and adaptive re-fitting callback."""
    if setup.method == "nde":
        return None, None
    if setup.method == "nade":
        return NadeAdversary(world, surrogates=[matching_surrogate(world, setup.av)],
                             eps=setup.eps), None
    if setup.method == "nade_lookahead":
        return NadeAdversary(world, surrogates=[matching_surrogate(world, setup.av)],
                             eps=setup.eps, challenge=ROBUST_CHALLENGE,
                             residual_risk=ROBUST_LOOKAHEAD_RISK), None
    base = {**setup.av}
    surrogates = [
        matching_surrogate(world, {**base, "max_decel": 1.5}, name="idm_brake_1.5"),
        matching_surrogate(world, {**base, "max_decel": 3.0}, name="idm_brake_3.0"),
        ConstantSpeedSurrogate(),
    ]
    adversary = NadeAdversary(world, surrogates=surrogates, eps=setup.eps)
    mix = AdaptiveMix(adversary, fit=combine_surrogates,
                      refit_every=max(setup.n_tests // 20, setup.num_envs))
    return adversary, mix


def run_testing(setup: TestingSetup, *, on_progress: Callable[[int, int], None] | None = None,
                points: int = 400) -> TestingOutcome:
    """Run the setup's campaign; its estimate and convergence curve.

    Args:
        setup: the AV, method and budget.
        on_progress: called with ``(tests done, tests planned)`` after every step.
        points: at most this many points of the curve (spread geometrically).
    """
    world = make_world(setup)
    av = make_av(world, setup.av)
    adversary, mix = make_adversary(world, setup)

    def on_step(info: dict) -> None:
        if mix is not None:
            mix(info)
        if on_progress is not None:
            on_progress(min(info["done_tests"], setup.n_tests), setup.n_tests)

    campaign = run_campaign(world, av, n_tests=setup.n_tests, adversary=adversary,
                            seed=setup.seed, max_controls=setup.max_controls, on_step=on_step)
    samples = campaign.samples
    n = samples.numel()
    count = torch.arange(1, n + 1, dtype=torch.float64)
    running_mean = samples.cumsum(0) / count
    rhw = running_relative_half_width(samples)
    index = _curve_index(n, points)
    return TestingOutcome(
        estimate=campaign.estimate(), tests=[int(i) + 1 for i in index],
        mean=running_mean[index].tolist(), relative_half_width=rhw[index].tolist(),
        converged_at=converged_at(samples, target=TARGET_RHW),
        mean_weight=float(campaign.weight.mean()),
        coefficients=[h["coefficients"] for h in (mix.history if mix else [])])


def _curve_index(n: int, points: int) -> torch.Tensor:
    """Indices ``[m]`` into ``n`` tests: every test when few, else geometrically spread."""
    if n <= points:
        return torch.arange(n)
    spread = torch.logspace(0, math.log10(n), points, dtype=torch.float64).round().long() - 1
    return torch.unique(torch.cat([spread.clamp(0, n - 1), torch.tensor([n - 1])]))


def record_episode(setup: TestingSetup, *, seed: int = 0, batch: int = 16,
                   prefer_crash: bool = True) -> EpisodeTrace:
    """Replay the first test of ``batch`` environments and keep one, vehicle by vehicle.

    The tests run as in the setup's campaign (same AV, method and adversary); the trace
    is the first test that ended in a crash of the AV when ``prefer_crash`` and there is
    one, else the first environment's test.
    """
    check_range("batch", batch, low=1)
    world = make_world(setup, num_envs=batch)
    av = make_av(world, setup.av)
    adversary, _ = make_adversary(world, setup)
    obs = world.reset(seed=derive_seed(seed, "world"))
    background = NaturalisticPolicy(world)
    background.reset(derive_seed(seed, "background"))
    av.reset(derive_seed(seed, "av"))
    generator = make_generator(seed, "adversary", device=world.device)
    frames = [_frame(world.state)]
    ended = torch.full((batch,), -1, dtype=torch.int64)
    crashed = torch.zeros(batch, dtype=torch.bool)
    controls = torch.zeros(batch, dtype=torch.int64)
    step = 0
    while bool((ended < 0).any()):
        av_action = av.act(obs["av"])
        bg_action = background.act(obs["background"])
        if adversary is not None:
            allowed = None if setup.max_controls is None else controls < setup.max_controls
            bg_action, _, ctrl, _ = adversary.modify(bg_action, av_action,
                                                     generator=generator, allowed=allowed)
            controls += ctrl.long().cpu()
        result = world.step({"av": av_action, "background": bg_action})
        obs, step = result.obs, step + 1
        frames.append(_frame(result.final_state))
        fresh = result.done.cpu() & (ended < 0)
        if bool(fresh.any()):
            ended[fresh] = step
            crashed[fresh] = result.final_metrics["crash"].cpu()[fresh] > 0.5
    env = int(crashed.nonzero()[0, 0]) if prefer_crash and bool(crashed.any()) else 0
    dt = world.params.decision_dt
    rows = []
    for t, (position, lane, speed) in enumerate(frames[: int(ended[env]) + 1]):
        for v in range(position.shape[1]):
            rows.append({"time": round(t * dt, 3), "vehicle": v,
                         "role": "AV" if v == 0 else "background", "lane": int(lane[env, v]),
                         "position": float(position[env, v]), "speed": float(speed[env, v])})
    return EpisodeTrace(rows, bool(crashed[env]), int(ended[env]), env,
                        float(world.params.road_length), int(world.params.n_lanes))


def _frame(state) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return state.position.cpu().clone(), state.lane.cpu().clone(), state.speed.cpu().clone()
