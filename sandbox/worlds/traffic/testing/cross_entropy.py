"""Fitting the platoon tilt by the cross-entropy method on pilot tests.

For tilts ``p_theta(u|s) = p(u|s) exp(theta f(u)) / Z(s)`` the cross-entropy update
(Rubinstein; Zhao et al. 2017 for AV testing) maximises, over each role's ``theta``, the
crash paths' weighted log-likelihood of their tilted steps. With the onset mixture of
:class:`~sandbox.worlds.traffic.testing.tilt.PlatoonTiltAdversary` which steps were
tilted is not observed, so each step counts with its posterior probability of lying in
the window, and expectation-maximisation iterations alternate that posterior and the
fit (:func:`em_theta`):

    L(theta) = sum_i 1(crash_i) W_i sum_t gamma_it [theta f(u_t) - log Z_t(theta)],
    gamma_it = sum_{k: k <= t < k + window} pi_k R_ik / (untilted + sum_k pi_k R_ik),

``W_i`` being pilot test ``i``'s weight and ``R_ik`` its tilt ratio over onset ``k``'s
window. ``L`` is concave; its stationary point makes the tilted mean acceleration,
averaged over the crash paths' tilted states, equal the crash paths' weighted mean
acceleration. Newton's method solves it.

The pilot tests only choose ``theta``: the final estimate uses fresh tests (other
seeds), so it stays unbiased; the pilot's tests count in the testing budget.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import torch

from sandbox.core.errors import check_range
from sandbox.worlds.traffic.testing.campaign import run_campaign
from sandbox.worlds.traffic.testing.tilt import ROLES, PlatoonTiltAdversary


class TiltRecorder:
    """``on_step`` callback of :func:`run_campaign` keeping the platoon's draws of crashes.

    The last ``max_steps + 1`` steps' draws are kept in a ring; when a test ends in a
    crash its steps are copied out, so memory grows with the crashes, not the tests.

    Args:
        adversary: the :class:`PlatoonTiltAdversary` of the campaign.
        quota: tests per environment the campaign keeps (later ones are ignored).
    """

    def __init__(self, adversary: PlatoonTiltAdversary, *, quota: int):
        self.adversary = adversary
        self.quota = quota
        batch, device = adversary.world.num_envs, adversary.world.device
        self.count = torch.zeros(batch, dtype=torch.int64, device=device)
        self.recent: deque = deque(maxlen=adversary.params.max_steps + 1)
        self.kept: list[tuple[torch.Tensor, ...]] = []
        self.crash_log_weight: list[torch.Tensor] = []
        self.tests = 0

    def __call__(self, info: dict) -> None:
        """Keep this step's platoon draws; copy out the steps of tests that crashed."""
        last = self.adversary.last
        env, role = last["seen"].nonzero(as_tuple=True)
        self.recent.append((env, self.count[env], role, last["time"][env],
                            last["p"][env, role].to(torch.float32), last["drawn"][env, role]))
        done = info["done"]
        if not bool(done.any()):
            return
        keep = done & (self.count < self.quota)
        self.tests += int(keep.sum())
        crashed = (keep & info["env_crash"]).nonzero().squeeze(1)
        if crashed.numel():
            first = len(self.crash_log_weight)
            local = torch.full_like(self.count, -1)
            local[crashed] = torch.arange(crashed.numel(), device=crashed.device) + first
            for env_t, count_t, role_t, time_t, p_t, drawn_t in self.recent:
                hit = (local[env_t] >= 0) & (count_t == self.count[env_t])
                self.kept.append((local[env_t][hit], role_t[hit], time_t[hit], p_t[hit],
                                  drawn_t[hit]))
            self.crash_log_weight.extend(self.adversary.log_weight()[crashed].unbind())
        self.count += keep.long()

    def crash_paths(self) -> dict[str, torch.Tensor] | None:
        """The crashed tests' steps, or None when no test crashed.

        Returns:
            ``test`` (0..n-1), ``role``, ``time``, ``p [m, A]`` float64 and ``drawn`` per
            step, and ``log_weight [n]``: the crashed tests' pilot weights.
        """
        if not self.crash_log_weight:
            return None
        test, role, time, p, drawn = (torch.cat(x) for x in zip(*self.kept))
        return {"test": test, "role": role, "time": time, "p": p.to(torch.float64),
                "drawn": drawn, "log_weight": torch.stack(self.crash_log_weight)}


def step_weights(paths: dict, theta: torch.Tensor, *, eps: float, window: int,
                 onsets: int, untilted: float, feature: torch.Tensor) -> torch.Tensor:
    """``W_i gamma_it`` of every recorded step under the tilts ``theta`` (the E-step).

    Args:
        paths: :meth:`TiltRecorder.crash_paths`.
        theta: ``[len(ROLES)]`` float64 tilts under which the posterior of the onset is
            taken.
        eps: the adversary's ``eps``.
        window: its window, steps.
        onsets: its number of onsets.
        untilted: its untilted share.
        feature: ``[A]`` float64 ``f(u)``.

    Returns:
        ``[m]`` float64 weights of the steps.
    """
    th = theta[paths["role"]]
    logits = paths["p"].log() + th.unsqueeze(1) * feature
    tilted = torch.softmax(logits, -1).gather(1, paths["drawn"].unsqueeze(1)).squeeze(1)
    p_u = paths["p"].gather(1, paths["drawn"].unsqueeze(1)).squeeze(1)
    log_r = torch.where(th != 0, ((1 - eps) * tilted / p_u + eps).log(), torch.zeros_like(th))
    n = paths["log_weight"].numel()
    k = torch.arange(onsets, device=th.device)
    covers = (k <= paths["time"].unsqueeze(1)) & (paths["time"].unsqueeze(1) < k + window)
    log_big_r = torch.zeros(n, onsets, dtype=torch.float64, device=th.device)
    log_big_r.index_add_(0, paths["test"], covers * log_r.unsqueeze(1))
    log_pi = math.log((1.0 - untilted) / onsets)
    terms = torch.cat([torch.full((n, 1), math.log(untilted), dtype=torch.float64),
                       log_big_r + log_pi], 1)
    posterior = (log_big_r + log_pi - torch.logsumexp(terms, 1, keepdim=True)).exp()
    in_window = (posterior[paths["test"]] * covers).sum(1)
    return paths["log_weight"].exp()[paths["test"]] * in_window


def cross_entropy_theta(p: torch.Tensor, drawn: torch.Tensor, weight: torch.Tensor,
                        feature: torch.Tensor, *, start: float = 0.0,
                        limit: float = 3.0, iterations: int = 50) -> float:
    """The ``theta`` that maximises ``sum_t w_t [theta f(u_t) - log Z_t(theta)]``.

    Args:
        p: ``[n, A]`` float64 naturalistic probabilities of the steps.
        drawn: ``[n]`` int64 actions drawn.
        weight: ``[n]`` float64 non-negative weights, not all zero.
        feature: ``[A]`` float64 ``f(u)``.
        start: Newton's starting point.
        limit: ``theta`` is kept within ``[-limit, limit]``.
        iterations: Newton steps at most.

    Returns:
        ``theta``, 1/(m/s^2).
    """
    observed = float((weight * feature[drawn]).sum())
    total = float(weight.sum())
    theta = float(start)
    for _ in range(iterations):
        q = torch.softmax(p.log() + theta * feature, -1)
        mean = (q * feature).sum(-1)
        var = (q * feature * feature).sum(-1) - mean * mean
        grad = observed - float((weight * mean).sum())
        hess = float((weight * var).sum())
        step = max(min(grad / max(hess, 1e-12 * total), 1.0), -1.0)
        new = min(max(theta + step, -limit), limit)
        if abs(new - theta) < 1e-10:
            return new
        theta = new
    return theta


@dataclass
class TiltFit:
    """The cross-entropy fit: the final tilts and each pilot round's record.

    Attributes:
        theta: ``{role: theta}`` after the last round.
        rounds: per pilot round its tests, crashes, estimate and the tilts it used.
        pilot_tests: tests run by all pilot rounds together.
    """

    theta: dict[str, float]
    rounds: list[dict] = field(default_factory=list)
    pilot_tests: int = 0


def fit_tilt(world, av_policy, *, theta: dict[str, float], rounds: int,
             tests_per_round: int, seed: int = 0, smoothing: float = 1.0,
             limit: float = 3.0, em_iterations: int = 10, **adversary_args) -> TiltFit:
    """Cross-entropy rounds of pilot tests, each re-fitting the tilts to its crash paths.

    Args:
        world: the highway world.
        av_policy: the AV under test.
        theta: the first round's tilts (:class:`PlatoonTiltAdversary`'s ``theta``).
        rounds: pilot rounds (>= 1).
        tests_per_round: tests per round (>= 2).
        seed: round ``k`` runs with seed ``seed + k``.
        smoothing: new ``theta = smoothing * fitted + (1 - smoothing) * old``, in (0, 1].
        limit: bound of ``|theta|``.
        em_iterations: expectation-maximisation iterations per round (:func:`em_theta`).
        **adversary_args: ``eps``, ``window``, ``onsets``, ``untilted``.

    Returns:
        The :class:`TiltFit`; a round without crashes keeps the tilts it used.
    """
    check_range("rounds", rounds, low=1)
    check_range("tests_per_round", tests_per_round, low=2)
    check_range("smoothing", smoothing, low=0.0, high=1.0, low_open=True)
    check_range("limit", limit, low=0.0, low_open=True)
    check_range("em_iterations", em_iterations, low=1)
    fit = TiltFit(theta=dict(theta))
    for k in range(rounds):
        adversary = PlatoonTiltAdversary(world, theta=fit.theta, **adversary_args)
        recorder = TiltRecorder(adversary, quota=-(-tests_per_round // world.num_envs))
        campaign = run_campaign(world, av_policy, n_tests=tests_per_round,
                                adversary=adversary, seed=seed + k, on_step=recorder)
        fit.pilot_tests += tests_per_round
        est = campaign.estimate()
        fit.rounds.append({"tests": tests_per_round, "crashes": est.crashes,
                           "estimate": est.mean, "relative_half_width": est.relative_half_width,
                           "theta": adversary.thetas()})
        if est.crashes == 0:
            continue
        paths = recorder.crash_paths()
        fit.theta = em_theta(paths, adversary, iterations=em_iterations, limit=limit,
                             smoothing=smoothing)
    return fit


def em_theta(paths: dict, adversary: PlatoonTiltAdversary, *, iterations: int = 10,
             limit: float = 3.0, smoothing: float = 1.0) -> dict[str, float]:
    """Cross-entropy tilts from recorded crash paths, by expectation-maximisation.

    Each iteration takes the onset's posterior under the current tilts (the E-step,
    :func:`step_weights`) and re-fits every role's ``theta`` by Newton's method (the
    M-step); the pilot weights ``W_i`` stay those of the proposal the paths came from.

    Args:
        paths: :meth:`TiltRecorder.crash_paths`.
        adversary: the pilot's adversary (its tilts are the start, its settings used).
        iterations: EM iterations (>= 1).
        limit: bound of ``|theta|``.
        smoothing: returned ``theta = smoothing * fitted + (1 - smoothing) * start``.

    Returns:
        ``{role: theta}``.
    """
    start = adversary.theta.clone()
    theta = start.clone()
    settings = {"eps": adversary.eps, "window": adversary.window, "onsets": adversary.onsets,
                "untilted": adversary.untilted, "feature": adversary.feature}
    for _ in range(iterations):
        weight = step_weights(paths, theta, **settings)
        new = theta.clone()
        for r in range(len(ROLES)):
            sel = paths["role"] == r
            if bool(sel.any()) and float(weight[sel].sum()) > 0:
                new[r] = cross_entropy_theta(paths["p"][sel], paths["drawn"][sel],
                                             weight[sel], adversary.feature,
                                             start=float(theta[r]), limit=limit)
        theta = new
    theta = smoothing * theta + (1.0 - smoothing) * start
    return {role: float(theta[r]) for r, role in enumerate(ROLES)}
