"""Analytic drivers of the highway world: the naturalistic model and IDM + MOBIL.

Registered as policies ``"naturalistic"`` (role ``background``) and ``"idm_mobil"``
(role ``av``). Both read only their observations: the naturalistic model uses the
``idm_accel`` and ``mobil_advice`` features, IDM + MOBIL recomputes both from the
three-lane view with its own parameters.
"""

from __future__ import annotations

import dataclasses

import torch

from sandbox.core.errors import ConfigError, check_range
from sandbox.core.policy import Policy
from sandbox.worlds.traffic.drivers import naturalistic_probabilities, sample_naturalistic
from sandbox.worlds.traffic.observation import feature, view_from_obs
from sandbox.worlds.traffic.params import DriverParams
from sandbox.worlds.traffic.scene import fits_beside, lane_change_advice


def _role_of(world, role: str, expected: str, policy: str):
    """The world's role ``role``, which must be ``expected`` in a highway world."""
    if role != expected or role not in world.roles or not hasattr(world.params, "av_start"):
        raise ConfigError("role", role, f"the '{expected}' role of a highway world "
                          f"(policy {policy!r} drives only that role)")
    return world.roles[role]


class NaturalisticPolicy(Policy):
    """Background drivers: stochastic IDM on the acceleration grid plus rare MOBIL changes.

    Its probabilities equal :meth:`HighwayWorld.naturalistic_probabilities` of the same
    state (both computed by :func:`~sandbox.worlds.traffic.drivers.naturalistic_probabilities`).

    Args:
        world: the highway world (grid, noise and lane-change probability come from it).
        role: must be ``"background"``.
    """

    name = "naturalistic"

    def __init__(self, world, role: str = "background"):
        super().__init__(_role_of(world, role, "background", self.name), device=world.device)
        self.params = world.params
        self.grid = world.params.accel_grid(world.device)

    def _kernel(self, obs: torch.Tensor) -> dict:
        """The naturalistic kernel's inputs read from observations."""
        kernel = {"lane_change_prob": self.params.lane_change_prob,
                  "cut_in_prob": self.params.cut_in_prob, "fits": None}
        if self.params.cut_in_prob > 0.0:
            view = view_from_obs(obs)
            kernel["fits"] = fits_beside(view["leader_gap"], view["follower_gap"],
                                         view["lane_exists"])
        return kernel

    def probabilities(self, obs: torch.Tensor, mask: torch.Tensor | None = None):
        """``p(u|s)`` from observations: ``[B, N, A]`` float32, zero where masked."""
        probs = naturalistic_probabilities(
            obs[..., feature("idm_accel")], obs[..., feature("mobil_advice")].round().long(),
            grid=self.grid, noise=self.params.accel_noise, **self._kernel(obs),
        )
        if mask is not None:
            probs = probs * mask
            probs = probs / probs.sum(-1, keepdim=True)
        return probs

    def act(self, obs, mask=None, deterministic=False):
        """Sample (or, deterministic, take the most likely) action of every background driver.

        The mask is respected by construction: the model only changes into a lane MOBIL
        advises or the vehicle fits into, both of which need the lane to exist.
        """
        if deterministic:
            return self.probabilities(obs, mask).argmax(-1)
        return sample_naturalistic(
            obs[..., feature("idm_accel")], obs[..., feature("mobil_advice")].round().long(),
            grid=self.grid, noise=self.params.accel_noise, generator=self.generator,
            **self._kernel(obs),
        )


@dataclasses.dataclass(frozen=True)
class AvDriverConfig:
    """Settings of the IDM + MOBIL automated vehicle beyond its driver parameters."""

    max_decel: float = 8.0
    """Hardest braking the AV applies, m/s^2 (its IDM request is clipped to it)."""
    inattention: float = 0.0
    """Probability per decision step that the AV keeps its previous acceleration and lane."""
    lane_changes: bool = True
    """Whether the AV changes lane when MOBIL advises."""

    def __post_init__(self):
        check_range("max_decel", self.max_decel, low=0.0, low_open=True)
        check_range("inattention", self.inattention, low=0.0, high=1.0)


class IdmMobilPolicy(Policy):
    """The AV under test: IDM car following and MOBIL lane changes from its observation.

    Args:
        world: the highway world (its AV parameters are the defaults, its background
            parameters are what the AV assumes of the vehicles behind it).
        role: must be ``"av"``.
        **params: overrides of :class:`~sandbox.worlds.traffic.params.DriverParams` fields
            (``time_headway=0.8`` ...) and of :class:`AvDriverConfig` fields
            (``max_decel``, ``inattention``, ``lane_changes``).
    """

    name = "idm_mobil"

    def __init__(self, world, role: str = "av", **params):
        super().__init__(_role_of(world, role, "av", self.name), device=world.device)
        driver_names = {f.name for f in dataclasses.fields(DriverParams)}
        config_names = {f.name for f in dataclasses.fields(AvDriverConfig)}
        for key in params:
            if key not in driver_names | config_names:
                known = ", ".join(sorted(driver_names | config_names))
                raise ConfigError(f"{self.name}.{key}", params[key], f"one of: {known}")
        self.driver = dataclasses.replace(
            world.params.av, **{k: v for k, v in params.items() if k in driver_names})
        self.config = AvDriverConfig(**{k: v for k, v in params.items() if k in config_names})
        self.assumed_follower = dataclasses.asdict(world.params.background)
        self.sensing_range = world.params.sensing_range
        self.accel_high = world.params.av_accel_high

    def act(self, obs, mask=None, deterministic=False):
        """``[B, 1, 2]`` actions: IDM acceleration (clipped) and MOBIL's lane change."""
        view = view_from_obs(obs)
        accel, advice = lane_change_advice(
            **view, own=dataclasses.asdict(self.driver), follower=self.assumed_follower,
            delta=self.driver.delta, sensing_range=self.sensing_range,
        )
        accel = accel.clamp(-self.config.max_decel, self.accel_high)
        change = advice.float() if self.config.lane_changes else torch.zeros_like(accel)
        if self.config.inattention > 0 and not deterministic:
            draw = torch.rand(accel.shape, generator=self.generator, device=accel.device)
            asleep = draw < self.config.inattention
            accel = torch.where(asleep, obs[..., feature("accel")], accel)
            change = torch.where(asleep, torch.zeros_like(change), change)
        return torch.stack([accel, change], -1)

    def describe(self) -> dict:
        """Driver parameters and settings, for results tables."""
        return {"policy": self.name, **dataclasses.asdict(self.driver),
                **dataclasses.asdict(self.config)}
