"""Platoon tilting: importance sampling by an exponential tilt of the platoon ahead of the AV.

For an AV that brakes well, naturalistic crashes are built over many steps: the AV
leader's own leader (the *front* vehicle) slows moderately for several seconds, the
leader brakes behind it, and the AV cannot close the gap. The crash event is then close
to "the sum of the platoon's acceleration deviations over a window of steps is very
negative", for which large-deviations theory gives, as the efficient change of measure,
an exponential tilt (a mean shift) of every step's distribution in the window, rather
than a concentrated proposal in one step. This is the accelerated-evaluation line of AV
testing (Zhao et al., IEEE T-ITS 2017: exponential tilting fitted by the cross-entropy
method). When the window begins is not known in advance, so the proposal is a mixture
over its onset. What it reaches on the studies' robust AV, and why a tilt that does not
depend on the state falls short there, is measured in ``docs/worlds/highway.md``.

Proposal. At the start of a test an onset ``K`` is drawn: with probability ``untilted``
none (the test is naturalistic), otherwise uniformly among the first ``onsets`` decision
steps. In steps ``K .. K + window - 1`` the platoon's vehicles, found in the current
scene (``leader``: the AV's own-lane leader; ``front``: the leader's own-lane leader;
``front_2``, ``front_3``: the next own-lane leaders), draw their actions from

    q(u|s) = (1 - eps) p(u|s) exp(theta f(u)) / Z(s) + eps p(u|s),
    Z(s) = sum_u p(u|s) exp(theta f(u)),

with ``p(u|s)`` the exact naturalistic probabilities (the kernel and scene the
naturalistic policy samples from), ``f(u)`` the grid acceleration of ``u`` (m/s^2; 0 for
a lane change) and ``theta`` per role (1/(m/s^2); negative favours braking). ``Z`` is
summed exactly over the grid; every other vehicle, and the platoon outside the window,
keep their naturalistic draws.

Weight. With ``r_t = prod_roles q(u_t|s_t) / p(u_t|s_t)`` the tilt's ratio of the actions
actually taken in step ``t`` (computed in every step, tilted or not) and
``R_k = prod_{k <= t < k + window} r_t``, the path's density under the mixture over
``p``'s is ``untilted + sum_k pi_k R_k`` (``pi_k = (1 - untilted) / onsets``), so the
test's weight is

    W = 1 / (untilted + sum_k pi_k R_k),

exact, and at most ``1 / untilted``. The adversary returns, per step, the increment of
``log W``, so the campaign's summed log-ratios give it exactly.

Why the estimate is unbiased. Each onset's proposal is a valid sequential proposal (the
vehicles draw independently given the state; ``q > 0`` wherever ``p > 0`` since
``q >= eps p``), so ``W = p(path) / q(path)`` for the mixture ``q`` and
``E_q[1(crash) W] = P_p(crash)``. The draw from ``q`` is made as a mixture too: with
probability ``eps`` the vehicle keeps its naturalistic draw (a draw from ``p``; the
background's stream is the same with or without the adversary), otherwise it draws from
the tilted ``p exp(theta f) / Z`` with the adversary's own stream, which uses the same
number of uniforms in every step. ``theta`` may be fitted on pilot tests
(:func:`~sandbox.worlds.traffic.testing.cross_entropy.fit_tilt`); the pilot tests are not
part of the final estimate, whose tests are drawn afresh with the fitted ``theta``. With
every ``theta`` 0 nothing is tilted and the campaign is the NDE, bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from sandbox.core.errors import ConfigError, check_range

#: Platoon roles that can be tilted, in the order of the adversary's tensors.
ROLES = ("leader", "front", "front_2", "front_3")


class PlatoonTiltAdversary:
    """Tilts the accelerations of the vehicles ahead of the AV in its lane over a window.

    Plugs into :func:`~sandbox.worlds.traffic.testing.campaign.run_campaign` like
    :class:`~sandbox.worlds.traffic.testing.nade.NadeAdversary` (``modify``).

    Args:
        world: the highway world under test.
        theta: per role (``"leader"``, ``"front"``, ``"front_2"``, ``"front_3"``) a
            finite tilt, 1/(m/s^2); a role left out is not tilted.
        eps: share of the naturalistic distribution in ``q``, in ``(0, 1]``.
        window: decision steps a tilt lasts (>= 1).
        onsets: the window starts in one of the first ``onsets`` steps of a test (>= 1).
        untilted: probability that a test is not tilted at all, in ``(0, 1)``; it bounds
            every weight by ``1 / untilted``.
    """

    def __init__(self, world, *, theta: Mapping[str, float], eps: float = 0.1,
                 window: int = 8, onsets: int = 12, untilted: float = 0.1):
        check_range("eps", eps, low=0.0, high=1.0, low_open=True)
        check_range("window", window, low=1)
        check_range("onsets", onsets, low=1)
        check_range("untilted", untilted, low=0.0, high=1.0, low_open=True, high_open=True)
        self.world = world
        self.params = world.params
        self.eps = float(eps)
        self.window = int(window)
        self.onsets = int(onsets)
        self.untilted = float(untilted)
        self.theta = self._theta_table(theta)
        grid = world.grid.to(torch.float64)
        #: f(u) of every action: the grid acceleration, 0 for the two lane changes
        self.feature = torch.cat([grid, grid.new_zeros(2)])
        batch, device = world.num_envs, world.device
        #: per environment: the test's onset (-1: untilted) and log R_k of every onset
        self.onset = torch.full((batch,), -1, dtype=torch.int64, device=device)
        self.log_r = torch.zeros(batch, self.onsets, dtype=torch.float64, device=device)
        self.last: dict[str, torch.Tensor] = {}

    def _theta_table(self, theta) -> torch.Tensor:
        """``[len(ROLES)]`` float64 tilts out of the per-role mapping."""
        if not isinstance(theta, Mapping):
            raise ConfigError("theta", theta, f"a mapping from roles ({', '.join(ROLES)}) "
                              "to a tilt, 1/(m/s^2)")
        table = torch.zeros(len(ROLES), dtype=torch.float64, device=self.world.device)
        for role, value in theta.items():
            if role not in ROLES:
                raise ConfigError(f"theta.{role}", value, f"a role among: {', '.join(ROLES)}")
            if isinstance(value, bool) or not isinstance(value, int | float) or not (
                    math.isfinite(value)):
                raise ConfigError(f"theta.{role}", value, "a finite number, 1/(m/s^2)")
            table[ROLES.index(role)] = float(value)
        return table

    def thetas(self) -> dict[str, float]:
        """The tilt per role, as plain numbers (for reports)."""
        return {role: float(self.theta[i]) for i, role in enumerate(ROLES)}

    @property
    def onset_share(self) -> float:
        """``pi_k``: the probability of each onset."""
        return (1.0 - self.untilted) / self.onsets

    # ---------------------------------------------------------------- proposal
    def platoon(self) -> torch.Tensor:
        """``[B, len(ROLES)]`` int64 vehicles of the roles; -1 where there is none.

        The chain of own-lane leaders ahead of the AV: its leader, the leader's leader
        (``front``), that one's leader (``front_2``) and so on. A chain that comes round
        the ring back to the AV stops there, so no vehicle holds two roles.
        """
        ahead = self.world.scene().neighbours.leader[:, :, 0]
        current = ahead[:, 0]
        chain = []
        for _ in ROLES:
            current = torch.where(current > 0, current, torch.full_like(current, -1))
            chain.append(current)
            current = ahead.gather(1, current.clamp(min=0).unsqueeze(1)).squeeze(1)
            current = torch.where(chain[-1] > 0, current, torch.full_like(current, -1))
        return torch.stack(chain, 1)

    def proposal(self) -> dict[str, torch.Tensor]:
        """The platoon's ``p`` and tilted ``q`` in the current state.

        Returns:
            ``vehicle [B, R]`` int64 (world index, -1 none; ``R = len(ROLES)``), ``p``,
            ``tilted`` (``p exp(theta f) / Z``) and ``q`` ``[B, R, A]`` float64,
            ``present [B, R]``
            bool (the vehicle exists, its role's ``theta`` is not 0 and its ``p`` is
            finite).
        """
        vehicle = self.platoon()
        probs = self.world.naturalistic_probabilities(
            vehicles=vehicle.clamp(min=0)).to(torch.float64)
        theta = self.theta.unsqueeze(0).expand(vehicle.shape[0], -1)
        tilted = tilt(probs, theta, self.feature)
        q = (1.0 - self.eps) * tilted + self.eps * probs
        return {"vehicle": vehicle, "p": probs, "tilted": tilted, "q": q,
                "present": (vehicle > 0) & (theta != 0)}

    def _start_tests(self, draw: torch.Tensor) -> None:
        """Draw the onset of every test that begins in this step (from ``draw [B]``)."""
        # a test's decision step is 0 in its first step, also after the same-step reset
        new = self.world.state.time == 0
        k = ((draw - self.untilted) / self.onset_share).floor().long().clamp(max=self.onsets - 1)
        onset = torch.where(draw < self.untilted, torch.full_like(k, -1), k)
        self.onset = torch.where(new, onset, self.onset)
        self.log_r = torch.where(new.unsqueeze(1), torch.zeros_like(self.log_r), self.log_r)

    def log_weight(self) -> torch.Tensor:
        """``[B]`` float64 ``log W`` of every running test so far (0 before its first step)."""
        log_pi = math.log(self.onset_share)
        terms = torch.cat([torch.full_like(self.log_r[:, :1], math.log(self.untilted)),
                           self.log_r + log_pi], 1)
        return -torch.logsumexp(terms, 1)

    def modify(self, background_action: torch.Tensor, av_action: torch.Tensor, *,
               generator: torch.Generator, allowed: torch.Tensor | None = None):
        """Replace the platoon's naturalistic draws by draws from ``q`` inside the window.

        Args:
            background_action: ``[B, N]`` int64 naturalistic draws for this step.
            av_action: ``[B, 1, 2]`` the AV's action (unused: the tilt sees only the state).
            generator: the adversary's stream (``2 R + 1`` uniforms per environment and step).
            allowed: must be None: a limit on controlled steps would make the mixture's
                components depend on the onset drawn (the window is the limit).

        Returns:
            ``(actions [B, N] int64, log_ratio [B] float64 = this step's increment of
            log W, controlled [B] bool (some vehicle tilted), an empty [B, 0] float64
            surrogate-challenge table)``.
        """
        if allowed is not None:
            raise ConfigError("max_controls", "a limit", "None with a PlatoonTiltAdversary "
                              "(its window sets how many steps are tilted)")
        prop = self.proposal()
        batch = background_action.shape[0]
        roles = len(ROLES)
        draws = torch.rand(batch, 2 * roles + 1, generator=generator,
                           device=background_action.device, dtype=torch.float64)
        self._start_tests(draws[:, -1])
        time = self.world.state.time
        present = prop["present"]
        in_window = (self.onset >= 0) & (time >= self.onset) & (time < self.onset + self.window)
        active = present & in_window.unsqueeze(1)
        cdf = prop["tilted"].cumsum(-1)
        target = (draws[:, roles:2 * roles] * cdf[..., -1]).unsqueeze(-1)
        tilted_draw = torch.searchsorted(cdf, target, right=True).squeeze(-1).clamp(
            max=cdf.shape[-1] - 1)
        background = prop["vehicle"].clamp(min=1) - 1
        natural_draw = background_action.gather(1, background)
        drawn = torch.where(draws[:, :roles] < self.eps, natural_draw, tilted_draw)
        drawn = torch.where(active, drawn, natural_draw)
        p_u = prop["p"].gather(2, drawn.unsqueeze(-1)).squeeze(-1)
        q_u = prop["q"].gather(2, drawn.unsqueeze(-1)).squeeze(-1)
        log_r_step = torch.where(present, q_u.log() - p_u.log(), torch.zeros_like(p_u)).sum(1)
        before = self.log_weight()
        k = torch.arange(self.onsets, device=time.device)
        covers = (k <= time.unsqueeze(1)) & (time.unsqueeze(1) < k + self.window)
        self.log_r = self.log_r + covers * log_r_step.unsqueeze(1)
        log_ratio = self.log_weight() - before
        actions = background_action.clone()
        env, role = active.nonzero(as_tuple=True)
        actions[env, background[env, role]] = drawn[env, role]
        seen = (prop["vehicle"] > 0) & (prop["p"].sum(-1) > 0)
        self.last = {"vehicle": prop["vehicle"], "seen": seen, "p": prop["p"],
                     "drawn": drawn, "time": time.clone()}
        empty = torch.zeros(batch, 0, dtype=torch.float64, device=background_action.device)
        return actions, log_ratio, active.any(1), empty


def tilt(probs: torch.Tensor, theta: torch.Tensor, feature: torch.Tensor) -> torch.Tensor:
    """``p exp(theta f) / Z``, normalised exactly over the actions.

    Args:
        probs: ``[..., A]`` float64 probabilities ``p``.
        theta: ``[...]`` float64 tilts.
        feature: ``[A]`` float64 ``f(u)``.

    Returns:
        ``[..., A]`` float64; rows of ``p`` that are all zero stay zero.
    """
    logits = probs.log() + theta.unsqueeze(-1) * feature
    shifted = (logits - logits.amax(-1, keepdim=True).clamp(min=-1e300)).exp()
    total = shifted.sum(-1, keepdim=True)
    return torch.where(total > 0, shifted / total.clamp(min=1e-300), probs)
