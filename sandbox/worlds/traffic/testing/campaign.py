"""Running test campaigns: crude Monte Carlo in the NDE, or importance sampling with NADE.

Each environment of the batched world runs the same number of tests, and tests are
ordered round by round (the k-th test of every environment, then the (k+1)-th), so that
every prefix of the record is an unbiased sample: collecting the first ``n`` tests to
finish would favour short tests, and crashes end tests early.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from sandbox.core.errors import ConfigError, check_range
from sandbox.core.seeding import derive_seed, make_generator
from sandbox.worlds.traffic.policies import NaturalisticPolicy
from sandbox.worlds.traffic.testing.estimators import Estimate, crash_samples, estimate


@dataclass
class Campaign:
    """Per-test outcomes of a campaign, in round-robin order.

    Attributes:
        crash: ``[n]`` bool, the AV crashed.
        weight: ``[n]`` float64 likelihood ratio ``W_i`` (1 in the NDE).
        steps: ``[n]`` int64 decision steps of the test.
        controlled: ``[n]`` int64 steps in which a background vehicle was controlled.
        method: ``"nde"`` or ``"nade"``.
    """

    crash: torch.Tensor
    weight: torch.Tensor
    steps: torch.Tensor
    controlled: torch.Tensor
    method: str

    @property
    def samples(self) -> torch.Tensor:
        """``[n]`` float64 ``X_i = crash_i * W_i``."""
        return crash_samples(self.crash, self.weight)

    def estimate(self) -> Estimate:
        """The crash-rate estimate of the whole campaign."""
        return estimate(self.samples)

    @property
    def unsteered(self) -> torch.Tensor:
        """``[n]`` bool crashed tests of weight ``W >= 1`` (see :meth:`unsteered_share`)."""
        return self.crash & (self.weight >= 1.0)

    def unsteered_share(self) -> dict[str, float | int] | None:
        """How much of the estimate comes from crashes the proposal did not steer towards.

        A crashed test of weight ``W >= 1`` followed a path that the proposal made no
        more likely than the naturalistic model does: a path no surrogate rated (a
        maneuver called harmless, or a second vehicle's maneuver NADE did not steer).
        Such paths turn up only about their naturalistic rate times per test, so a
        campaign much shorter than the inverse of that rate misses them and its estimate
        falls short by their share while its sample half-width does not show it; when
        one is drawn, it weighs about ``1 / mu`` times the mean. A large share here (of
        the estimate, or of its sum of squares, which sets the half-width) says the
        proposal does not cover the crash paths that carry the rate.

        Returns:
            ``tests`` (crashed tests with ``W >= 1``), ``share_of_estimate`` and
            ``share_of_sum_of_squares``, or None for the NDE.
        """
        if self.method == "nde":
            return None
        x, unsteered = self.samples, self.unsteered
        total, squares = float(x.sum()), float((x * x).sum())
        return {"tests": int(unsteered.sum()),
                "share_of_estimate": float(x[unsteered].sum()) / total if total > 0 else 0.0,
                "share_of_sum_of_squares": (float((x[unsteered] ** 2).sum()) / squares
                                            if squares > 0 else 0.0)}


def run_campaign(
    world,
    av_policy,
    *,
    n_tests: int,
    adversary=None,
    seed: int = 0,
    max_controls: int | None = None,
    on_step: Callable[[dict], None] | None = None,
) -> Campaign:
    """Run ``n_tests`` tests of ``av_policy`` in naturalistic traffic, optionally with NADE.

    Args:
        world: a :class:`~sandbox.worlds.traffic.highway.HighwayWorld` (its ``num_envs``
            tests run at a time).
        av_policy: the AV under test (any policy for the ``av`` role).
        n_tests: tests to run (>= 2).
        adversary: None for the NDE, or an object with
            :meth:`~sandbox.worlds.traffic.testing.nade.NadeAdversary.modify`.
        seed: seeds the world, the naturalistic drivers, the AV policy and the adversary.
        max_controls: at most this many controlled steps per test (None: no limit);
            bounds each weight by ``(1 / eps) ** max_controls``.
        on_step: called after every step with ``{"done_tests": int, "step": int, "done":
            [B] bool}`` (with an adversary also ``"controlled"`` [B], ``"log_ratio"`` [B],
            ``"surrogate_challenge"`` [B, S] of the drawn maneuver, and, when tests ended,
            ``"env_crash"`` [B]) for progress bars and adaptive re-fitting.

    Returns:
        The :class:`Campaign` (exactly ``n_tests`` tests).
    """
    check_range("n_tests", n_tests, low=2)
    if max_controls is not None:
        check_range("max_controls", max_controls, low=0)
    role = getattr(av_policy, "role", None)
    if getattr(role, "name", None) != "av" or not hasattr(av_policy, "act"):
        raise ConfigError("av_policy", type(av_policy).__name__,
                          "a policy for the 'av' role (e.g. IdmMobilPolicy(world))")
    if adversary is not None and getattr(adversary, "world", world) is not world:
        raise ConfigError("adversary", type(adversary).__name__,
                          "an adversary built for this world (NadeAdversary(world, ...))")
    batch = world.num_envs
    quota = math.ceil(n_tests / batch)
    obs = world.reset(seed=derive_seed(seed, "world"))
    background = NaturalisticPolicy(world)
    background.reset(derive_seed(seed, "background"))
    av_policy.reset(derive_seed(seed, "av"))
    generator = make_generator(seed, "adversary", device=world.device)
    device = world.device
    count = torch.zeros(batch, dtype=torch.int64, device=device)
    log_weight = torch.zeros(batch, dtype=torch.float64, device=device)
    controlled = torch.zeros(batch, dtype=torch.int64, device=device)
    records: list[tuple[torch.Tensor, ...]] = []
    step = 0
    while bool((count < quota).any()):
        av_action = av_policy.act(obs["av"])
        bg_action = background.act(obs["background"])
        info: dict = {}
        if adversary is not None:
            allowed = None if max_controls is None else controlled < max_controls
            bg_action, log_ratio, ctrl, challenge = adversary.modify(
                bg_action, av_action, generator=generator, allowed=allowed)
            log_weight += log_ratio
            controlled += ctrl
            info = {"controlled": ctrl, "log_ratio": log_ratio, "surrogate_challenge": challenge}
        result = world.step({"av": av_action, "background": bg_action})
        obs = result.obs
        done = result.done
        if bool(done.any()):
            keep = done & (count < quota)
            order = count[keep] * batch + keep.nonzero().squeeze(1)
            records.append((order, result.final_metrics["crash"][keep] > 0.5,
                            log_weight[keep].exp(), result.final_state.time[keep],
                            controlled[keep]))
            count += keep.long()
            log_weight = torch.where(done, torch.zeros_like(log_weight), log_weight)
            controlled = torch.where(done, torch.zeros_like(controlled), controlled)
            info["env_crash"] = torch.where(done, result.final_metrics["crash"] > 0.5,
                                            torch.zeros_like(done))
        step += 1
        if on_step is not None:
            on_step({"done_tests": int(count.sum()), "step": step, "done": done, **info})
    order, crash, weight, steps, ctrl = (torch.cat(parts) for parts in zip(*records))
    ranked = torch.argsort(order)[:n_tests]
    return Campaign(crash[ranked].cpu(), weight[ranked].cpu(), steps[ranked].cpu(),
                    ctrl[ranked].cpu(), "nde" if adversary is None else "nade")
