"""Testing methods as background policies, so that a scenario file can name them.

A scenario gives each role a policy; the testing method is the background's:

==================  ====================================================================
policy              background traffic
==================  ====================================================================
``nde``             the naturalistic model (crude Monte Carlo; every weight is 1)
``nade``            NADE: the most critical neighbour of the AV drawn from ``q``
``nade_adaptive``   NADE with several surrogates re-fitted as tests accumulate
``d2rl``            NADE whose control level is learned by PPO before the tests
==================  ====================================================================

This module registers ``nde`` and ``nade`` and provides :func:`nade_adaptive_policy`,
which takes its coefficient fitter as an argument; ``nade_adaptive`` (with the QP of
``sandbox.optimize``) and ``d2rl`` (trained by ``sandbox.solvers.d2rl``) are wired and
registered above the world layer, in :mod:`sandbox.scenario.traffic_methods`.

Each reports, per finished test, ``weight`` (``W_i``), ``weighted_crash``
(``X_i = crash_i W_i``, whose mean is the crash-rate estimate) and ``controlled_steps``
through :meth:`TestingPolicy.episode_metrics`, which the scenario runner merges into the
test's metrics. In a scenario the test designer does not see the AV's action of the
current step: NADE's challenge uses the first surrogate's prediction of it (in
:func:`~sandbox.worlds.traffic.testing.campaign.run_campaign` it uses the actual one).

Surrogates are given as a list of mappings, e.g.
``[{kind: idm, max_decel: 1.0, time_headway: 0.5}, {kind: constant_speed}]``: ``idm``
takes :class:`~sandbox.worlds.traffic.params.DriverParams` fields (default: the world's
AV), ``max_decel``, ``late_steps`` and ``late_for``; ``constant_speed`` takes nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch

from sandbox.core.errors import ConfigError, check_range
from sandbox.core.policy import Policy
from sandbox.core.seeding import derive_seed, make_generator
from sandbox.worlds.traffic.policies import NaturalisticPolicy, _role_of
from sandbox.worlds.traffic.testing.adaptive import AdaptiveMix
from sandbox.worlds.traffic.testing.nade import NadeAdversary
from sandbox.worlds.traffic.testing.surrogates import (
    ChallengeSettings,
    ConstantSpeedSurrogate,
    IdmSurrogate,
    Surrogate,
)

#: Metrics a testing policy adds to every finished test.
TEST_METRICS = ("weight", "weighted_crash", "controlled_steps")


def build_surrogates(world, specs: list[dict[str, Any]] | None,
                     *, field: str = "surrogates") -> list[Surrogate]:
    """Surrogate models from scenario mappings (default: one IDM with the world's AV).

    Raises:
        ConfigError: a spec is not a mapping, names an unknown kind or a bad parameter.
    """
    if specs is None:
        specs = [{"kind": "idm"}]
    if not isinstance(specs, list | tuple) or not specs:
        raise ConfigError(field, specs, "a non-empty list of surrogate mappings "
                          "({kind: idm, ...} or {kind: constant_speed})")
    driver_fields = {f.name for f in dataclasses.fields(world.params.av)}
    out: list[Surrogate] = []
    for i, spec in enumerate(specs):
        where = f"{field}[{i}]"
        if isinstance(spec, Surrogate):
            out.append(spec)
            continue
        if not isinstance(spec, dict) or spec.get("kind") not in ("idm", "constant_speed"):
            raise ConfigError(where, spec, "a mapping with kind 'idm' or 'constant_speed'")
        params = {k: v for k, v in spec.items() if k not in ("kind", "name")}
        if spec["kind"] == "constant_speed":
            if params:
                raise ConfigError(where, spec, "no parameters for a constant_speed "
                                  f"surrogate (got {', '.join(sorted(params))})")
            out.append(ConstantSpeedSurrogate(name=spec.get("name", "constant_speed")))
            continue
        extra = {"max_decel", "late_steps", "late_for"}
        unknown = sorted(set(params) - driver_fields - extra)
        if unknown:
            raise ConfigError(where, spec, f"idm parameters among: max_decel, late_steps, "
                              "late_for, "
                              f"{', '.join(sorted(driver_fields))} (not {unknown[0]!r})")
        driver = dataclasses.replace(
            world.params.av, **{k: float(v) for k, v in params.items() if k not in extra})
        out.append(IdmSurrogate(driver, max_decel=float(params.get("max_decel", 8.0)),
                                max_accel=world.params.av_accel_high,
                                name=spec.get("name", f"idm_{i}"),
                                late_steps=params.get("late_steps", 0),
                                late_for=params.get("late_for", IdmSurrogate.LATE_FOR)))
    return out


class TestingPolicy(Policy):
    """Background traffic of a test: naturalistic, with an optional adversary.

    Args:
        world: the highway world.
        role: must be ``"background"``.
        adversary: None (the NDE) or a :class:`NadeAdversary` (or subclass).
        max_controls: at most this many controlled steps per test (None: no limit).
        on_step: optional callback fed like :func:`run_campaign`'s (adaptive re-fits).
    """

    name = "nde"
    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, world, role: str = "background", *, adversary=None,
                 max_controls: int | None = None, on_step=None):
        super().__init__(_role_of(world, role, "background", self.name), device=world.device)
        if max_controls is not None:
            check_range("max_controls", max_controls, low=1)
        self.world = world
        self.natural = NaturalisticPolicy(world, role)
        self.adversary = adversary
        self.max_controls = max_controls
        self.on_step = on_step
        self._log_weight = torch.zeros(world.num_envs, dtype=torch.float64, device=world.device)
        self._controls = torch.zeros(world.num_envs, dtype=torch.int64, device=world.device)

    def reset(self, seed: int | None = None) -> None:
        """Restart the naturalistic and the adversary's streams; forget running weights."""
        super().reset(seed)
        base = 0 if seed is None else seed
        self.natural.reset(derive_seed(base, "background"))
        self.generator = make_generator(base, "adversary", device=self.device)
        self._log_weight.zero_()
        self._controls.zero_()

    def predicted_av_action(self) -> torch.Tensor:
        """``[B, 1, 2]``: the first surrogate's acceleration for the AV now, no lane change."""
        scene, state = self.world.scene(), self.world.state
        surrogate = self.adversary.surrogates[0]
        accel = surrogate.accel(state.speed[:, 0], scene.leader_gap[:, 0, 0],
                                scene.leader_speed[:, 0, 0])
        return torch.stack([accel, torch.zeros_like(accel)], -1).unsqueeze(1)

    def act(self, obs, mask=None, deterministic=False):
        """Naturalistic draws, the adversary's where it controls a vehicle."""
        action = self.natural.act(obs, mask, deterministic)
        if self.adversary is None:
            return action
        allowed = None if self.max_controls is None else self._controls < self.max_controls
        action, log_ratio, controlled, challenge = self.adversary.modify(
            action, self.predicted_av_action(), generator=self.generator, allowed=allowed)
        self._log_weight += log_ratio
        self._controls += controlled.long()
        if self.on_step is not None:
            self.on_step({"done": torch.zeros_like(controlled), "controlled": controlled,
                          "surrogate_challenge": challenge, "log_ratio": log_ratio})
        return action

    def episode_metrics(self, step) -> dict[str, torch.Tensor]:
        """``weight``, ``weighted_crash``, ``controlled_steps`` ``[B]`` of tests that ended.

        Called by the scenario runner after every step with finished tests; the running
        weights of those environments restart.
        """
        done = step.done
        weight = self._log_weight.exp()
        crash = step.final_metrics["crash"].to(torch.float64)
        out = {"weight": weight, "weighted_crash": crash * weight,
               "controlled_steps": self._controls.to(torch.float64)}
        if self.on_step is not None:
            self.on_step({"done": done, "env_crash": (crash > 0.5) & done,
                          "log_ratio": torch.zeros_like(weight)})
        self._log_weight = torch.where(done, torch.zeros_like(weight), self._log_weight)
        self._controls = torch.where(done, torch.zeros_like(self._controls), self._controls)
        return out

    def describe(self) -> dict:
        """The method and its settings, for results tables."""
        out = {"policy": self.name}
        if self.adversary is not None:
            out.update(eps=self.adversary.eps, residual_risk=self.adversary.residual_risk,
                       vehicles_per_step=self.adversary.vehicles_per_step,
                       surrogates=[s.name for s in self.adversary.surrogates],
                       coefficients=self.adversary.coefficients.tolist())
        return out


def _settings(field: str, value, cls) -> dict:
    """``value`` checked as a mapping of some of dataclass ``cls``'s fields."""
    if not isinstance(value, dict):
        raise ConfigError(field, value, f"a mapping of {cls.__name__} fields")
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(value) - fields)
    if unknown:
        raise ConfigError(f"{field}.{unknown[0]}", value[unknown[0]],
                          f"one of: {', '.join(sorted(fields))}")
    return value


def _adversary_args(world, params: dict[str, Any]) -> dict[str, Any]:
    """NadeAdversary keyword arguments out of scenario parameters (consumed from ``params``)."""
    args = {"surrogates": build_surrogates(world, params.pop("surrogates", None))}
    for key in ("eps", "residual_risk", "min_criticality", "coefficients",
                "vehicles_per_step"):
        if key in params:
            args[key] = params.pop(key)
    if "challenge" in params:
        challenge = _settings("challenge", params.pop("challenge"), ChallengeSettings)
        if "follow_ups" in challenge:
            challenge = {**challenge, "follow_ups": tuple(challenge["follow_ups"])}
        args["challenge"] = ChallengeSettings(**challenge)
    return args


def _no_more(name: str, params: dict[str, Any], known: str) -> None:
    if params:
        key = sorted(params)[0]
        raise ConfigError(f"{name}.{key}", params[key], f"one of: {known}")


_NADE_KEYS = ("surrogates, eps, residual_risk, min_criticality, coefficients, challenge, "
              "vehicles_per_step")


def nde_policy(world, role: str = "background", **params) -> TestingPolicy:
    """Factory of ``"nde"``: naturalistic traffic, weights 1 (takes no parameters)."""
    _no_more("nde", dict(params), "(no parameters)")
    return TestingPolicy(world, role)


def nade_policy(world, role: str = "background", **params) -> TestingPolicy:
    """Factory of ``"nade"``: parameters of :class:`NadeAdversary` plus ``max_controls``."""
    params = dict(params)
    max_controls = params.pop("max_controls", None)
    args = _adversary_args(world, params)
    _no_more("nade", params, f"{_NADE_KEYS}, max_controls")
    policy = TestingPolicy(world, role, adversary=NadeAdversary(world, **args),
                           max_controls=max_controls)
    policy.name = "nade"
    return policy


def nade_adaptive_policy(world, role: str = "background", *, fit: Callable,
                         **params) -> TestingPolicy:
    """NADE whose surrogate mix is re-fitted by ``fit`` as tests accumulate.

    Registered as ``"nade_adaptive"`` by :mod:`sandbox.scenario.traffic_methods`, which
    passes the quadratic program ``sandbox.optimize.combine_surrogates`` as ``fit``: the
    world layer takes the fitter as an argument and imports no layer above it.

    Args:
        world: the highway world.
        role: must be ``"background"``.
        fit: ``fit(surrogate_challenge [n, S], crash [n]) -> coefficients [S]`` (see
            :class:`~sandbox.worlds.traffic.testing.adaptive.AdaptiveMix`).
        **params: NADE's parameters, ``max_controls``, ``refit_every`` (finished tests
            between fits) and ``min_rows``.
    """
    if not callable(fit):
        raise ConfigError("fit", fit, "a callable fit(challenges, crashes) -> coefficients")
    params = dict(params)
    max_controls = params.pop("max_controls", None)
    refit = {k: params.pop(k) for k in ("refit_every", "min_rows") if k in params}
    args = _adversary_args(world, params)
    _no_more("nade_adaptive", params, f"{_NADE_KEYS}, max_controls, refit_every, min_rows")
    adversary = NadeAdversary(world, **args)
    mix = AdaptiveMix(adversary, fit=fit, **refit)
    policy = TestingPolicy(world, role, adversary=adversary, max_controls=max_controls,
                           on_step=mix)
    policy.name = "nade_adaptive"
    policy.mix = mix
    return policy


#: Registry names of the testing methods that need no layer above the world, and their
#: factories (``"nade_adaptive"`` and ``"d2rl"`` are registered by
#: :mod:`sandbox.scenario.traffic_methods`, which wires in the optimizer and the solver).
FACTORIES = {"nde": nde_policy, "nade": nade_policy}
