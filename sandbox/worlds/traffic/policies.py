"""Analytic drivers of the highway world: the naturalistic model and IDM + MOBIL.

Registered as policies ``"naturalistic"`` (role ``background``), ``"idm_mobil"`` and
``"av_fleet"`` (role ``av``: a test draws one of several ``idm_mobil`` variants). They
read only their observations: the naturalistic model uses the ``idm_accel`` and
``mobil_advice`` features, IDM + MOBIL recomputes both from the three-lane view with its
own parameters.
"""

from __future__ import annotations

import dataclasses

import torch

from sandbox.core.errors import ConfigError, check_range
from sandbox.core.policy import Policy
from sandbox.core.seeding import derive_seed
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
                                         view["lane_exists"], self.params.cut_in_min_gap)
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
    reaction_delay: int = 0
    """Decision steps between an observation and the action taken on it (a perception
    and reaction latency): the AV applies what it decided that many steps earlier, and
    at a test's first steps what it decides from the first observation."""

    def __post_init__(self):
        check_range("max_decel", self.max_decel, low=0.0, low_open=True)
        check_range("inattention", self.inattention, low=0.0, high=1.0)
        if isinstance(self.reaction_delay, bool) or not isinstance(
                self.reaction_delay, int) or self.reaction_delay < 0:
            raise ConfigError("reaction_delay", self.reaction_delay,
                              "an integer number of decision steps >= 0")


class IdmMobilPolicy(Policy):
    """The AV under test: IDM car following and MOBIL lane changes from its observation.

    Args:
        world: the highway world (its AV parameters are the defaults, its background
            parameters are what the AV assumes of the vehicles behind it).
        role: must be ``"av"``.
        **params: overrides of :class:`~sandbox.worlds.traffic.params.DriverParams` fields
            (``time_headway=0.8`` ...) and of :class:`AvDriverConfig` fields
            (``max_decel``, ``inattention``, ``lane_changes``, ``reaction_delay``).
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
        self._pending: list[torch.Tensor] = []  # decided, not yet applied (oldest first)

    def reset(self, seed: int | None = None) -> None:
        """Restart the random stream and forget decisions not yet applied."""
        super().reset(seed)
        self._pending = []

    def act(self, obs, mask=None, deterministic=False):
        """``[B, 1, 2]`` actions: IDM acceleration (clipped) and MOBIL's lane change."""
        action = self._decide(obs, deterministic)
        delay = self.config.reaction_delay
        if delay == 0:
            return action
        # a test's first observation (time 0) fills the latency with its own decision
        start = (obs[..., feature("time")] == 0).unsqueeze(-1)
        if len(self._pending) != delay or self._pending[0].shape != action.shape:
            self._pending = [action] * delay
        self._pending = [torch.where(start, action, old) for old in self._pending]
        applied, self._pending = self._pending[0], [*self._pending[1:], action]
        return applied

    def _decide(self, obs, deterministic):
        """The action decided from ``obs`` (before any reaction delay)."""
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


class FleetPolicy(Policy):
    """The AV under test drawn from a fleet: each test drives one of several variants.

    At a test's first observation (time 0) each environment draws one IDM + MOBIL
    variant with the given shares and keeps it to the test's end, so the crash rate per
    test is the shares' average of the variants' rates: an AV that, as a whole, is
    unlike each of its variants (and unlike any surrogate modelled on one of them).

    Args:
        world: the highway world.
        role: must be ``"av"``.
        variants: one mapping of :class:`IdmMobilPolicy` parameters per variant (two or
            more).
        shares: each variant's probability per test (positive, summing to 1); equal
            shares by default.
    """

    name = "av_fleet"

    def __init__(self, world, role: str = "av", variants=(), shares=None):
        super().__init__(_role_of(world, role, "av", self.name), device=world.device)
        if not isinstance(variants, (list, tuple)) or len(variants) < 2 or not all(
                isinstance(v, dict) for v in variants):
            raise ConfigError(f"{self.name}.variants", variants,
                              "a list of two or more mappings of idm_mobil parameters")
        shares = [1.0 / len(variants)] * len(variants) if shares is None else list(shares)
        if len(shares) != len(variants) or any(
                not isinstance(s, (int, float)) or s <= 0 for s in shares) or abs(
                sum(shares) - 1.0) > 1e-9:
            raise ConfigError(f"{self.name}.shares", shares,
                              f"{len(variants)} positive probabilities summing to 1")
        self.variants = [IdmMobilPolicy(world, role, **v) for v in variants]
        self.settings = [dict(v) for v in variants]
        self.shares = torch.tensor(shares, dtype=torch.float64, device=self.device)
        self._variant: torch.Tensor | None = None  # [B] the variant each test drives

    def reset(self, seed: int | None = None) -> None:
        """Restart the fleet's draws and every variant's random stream and memory."""
        super().reset(seed)
        for i, variant in enumerate(self.variants):
            variant.reset(None if seed is None else derive_seed(seed, f"variant{i}"))
        self._variant = None

    def act(self, obs, mask=None, deterministic=False):
        """``[B, 1, 2]`` actions of each test's variant."""
        actions = torch.stack([v.act(obs, mask, deterministic) for v in self.variants])
        start = obs[:, 0, feature("time")] == 0
        if self._variant is None or self._variant.shape[0] != obs.shape[0]:
            self._variant = torch.zeros(obs.shape[0], dtype=torch.int64, device=obs.device)
            start = torch.ones_like(start)
        draw = torch.multinomial(self.shares.to(obs.device), obs.shape[0], replacement=True,
                                 generator=self.generator)
        self._variant = torch.where(start, draw, self._variant)
        index = self._variant.view(1, -1, 1, 1).expand(1, *actions.shape[1:])
        return actions.gather(0, index).squeeze(0)

    def describe(self) -> dict:
        """The variants' settings and shares, for results tables."""
        return {"policy": self.name, "variants": self.settings,
                "shares": self.shares.tolist()}
