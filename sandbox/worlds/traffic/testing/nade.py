"""NADE: naturalistic and adversarial driving environment (Feng et al. 2021), batched.

In each decision step, for the background vehicles around the AV (its leader and
follower in its own lane and in the lanes beside it), the criticality of every maneuver
``u`` is its exposure frequency times its challenge, ``p(u|s) * challenge(u)``; the
challenge comes from a surrogate model of the AV (or a mix of several, with
coefficients). The most critical vehicle, if its total criticality exceeds a threshold,
draws its maneuver from

    q(u|s) = (1 - eps) * criticality(u) / sum(criticality) + eps * p(u|s)

instead of ``p``; every other vehicle drives naturalistically. The test's weight gains
the factor ``p(u|s) / q(u|s)`` of the drawn maneuver. With ``vehicles_per_step=k`` the
``k`` most critical vehicles above the threshold each draw from their own ``q`` and the
weight gains the product of their factors (the background vehicles draw independently
given the state, so the product is the joint likelihood ratio): a crash that needs a
maneuver of the second most critical vehicle is then steered towards, not left to its
naturalistic rate. Because ``q >= eps p``, ``q > 0``
wherever ``p > 0`` and each factor is at most ``1 / eps``, so the weighted crash
indicator is an unbiased estimate of the naturalistic crash rate.

Maneuvers whose challenge is predicted: the leader and follower in the AV's lane
accelerating on the grid; the leaders and followers beside the AV cutting into its lane;
with the look-ahead challenge (``ChallengeSettings(leader_model="idm")``) also the AV
leader's own leader (the *front* vehicle) accelerating on the grid, predicted through
the platoon (:func:`~sandbox.worlds.traffic.testing.surrogates.platoon_challenge`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from sandbox.core.errors import ConfigError, check_range
from sandbox.worlds.traffic.testing.surrogates import (
    ChallengeSettings,
    Surrogate,
    maneuver_challenge,
    platoon_challenge,
)

#: Candidates around the AV: leaders in (own, left, right) lanes, then followers, then
#: the leader's own leader (the *front* vehicle; predicted with ``leader_model="idm"``).
N_CANDIDATES = 7
#: Slot of the front vehicle among the candidates.
FRONT = 6


def _check_surrogate(surrogate: Surrogate, field: str) -> None:
    """Refuse a surrogate that does not give the AV role's action for a state.

    A surrogate must map (speed, gap, leader speed) to a finite acceleration (m/s^2, the
    AV's longitudinal action) of the same shape.
    """
    probe = torch.tensor([[30.0, 10.0], [25.0, 0.0]], dtype=torch.float64)
    try:
        accel = surrogate.accel(probe, probe + 5.0, probe)
    except Exception as exc:  # a user's model: report it, whatever it raised
        raise ConfigError(field, getattr(surrogate, "name", type(surrogate).__name__),
                          f"a model whose accel(speed, gap, leader_speed) works on tensors "
                          f"({type(exc).__name__}: {exc})") from None
    if not isinstance(accel, torch.Tensor) or accel.shape != probe.shape or not bool(
            torch.isfinite(accel).all()):
        raise ConfigError(field, getattr(surrogate, "name", type(surrogate).__name__),
                          "a model whose accel(speed, gap, leader_speed) returns finite "
                          "accelerations (m/s^2, the AV role's action) of the inputs' shape")


class NadeAdversary:
    """Chooses and samples the most critical background maneuver in each step.

    Args:
        world: the highway world under test.
        surrogates: models of the AV; their challenges are mixed with ``coefficients``.
        coefficients: non-negative weights of the surrogates (default: equal), summing to 1.
        eps: share of the naturalistic distribution in ``q``, in ``(0, 1]``; 1 gives the NDE.
        min_criticality: control a vehicle only when its summed criticality exceeds this
            (steering tests towards crash paths less likely than this wastes them).
        challenge: rollout settings of the challenge prediction.
        residual_risk: crash probability after a maneuver that the challenge does not
            see; every maneuver keeps a share ``residual_risk p(u|s)`` of ``q``.
        vehicles_per_step: how many of the most critical vehicles (above
            ``min_criticality``) are steered in each step, 1 to 7 (NADE's is 1).
    """

    def __init__(
        self,
        world,
        *,
        surrogates: Sequence[Surrogate],
        coefficients: Sequence[float] | torch.Tensor | None = None,
        eps: float = 0.1,
        min_criticality: float = 1e-6,
        challenge: ChallengeSettings | None = None,
        residual_risk: float = 0.0,
        vehicles_per_step: int = 1,
    ):
        check_range("eps", eps, low=0.0, high=1.0, low_open=True)
        check_range("residual_risk", residual_risk, low=0.0, high=1.0)
        check_range("min_criticality", min_criticality, low=0.0)
        if (not isinstance(vehicles_per_step, int) or isinstance(vehicles_per_step, bool)
                or not 1 <= vehicles_per_step <= N_CANDIDATES):
            raise ConfigError("vehicles_per_step", vehicles_per_step,
                              f"a whole number of vehicles from 1 to {N_CANDIDATES}")
        if len(surrogates) == 0 or not all(isinstance(s, Surrogate) for s in surrogates):
            raise ConfigError("surrogates", surrogates, "one or more Surrogate models")
        for i, surrogate in enumerate(surrogates):
            _check_surrogate(surrogate, f"surrogates[{i}]")
        self.world = world
        self.params = world.params
        self.surrogates = list(surrogates)
        self.eps = float(eps)
        self.min_criticality = float(min_criticality)
        self.residual_risk = float(residual_risk)
        self.vehicles_per_step = vehicles_per_step
        self.challenge_settings = challenge or ChallengeSettings()
        self.set_coefficients(coefficients)
        self._build_rollout_table()

    def set_coefficients(self, coefficients) -> None:
        """Replace the surrogates' mixing coefficients (non-negative, summing to 1)."""
        n = len(self.surrogates)
        if coefficients is None:
            coefficients = torch.full((n,), 1.0 / n, dtype=torch.float64)
        c = torch.as_tensor(coefficients, dtype=torch.float64).flatten()
        if c.numel() != n or bool((c < -1e-9).any()) or abs(float(c.sum()) - 1.0) > 1e-6:
            raise ConfigError("coefficients", c.tolist(),
                              f"{n} non-negative numbers summing to 1")
        self.coefficients = c.clamp(min=0.0)

    def _build_rollout_table(self) -> None:
        """Which (candidate, action) pairs are predicted, and how each is set up.

        Rows: the own-lane leader and follower with every grid acceleration, then the
        four side vehicles cutting into the AV's lane (left ones change right, right
        ones change left), which hold their speed.
        """
        p, device = self.params, self.world.device
        n_acc = p.n_accels
        grid = p.accel_grid(device)
        right, left = n_acc + 1, n_acc
        zeros = torch.zeros(4, device=device, dtype=grid.dtype)
        self.row_candidate = torch.cat([
            torch.zeros(n_acc, dtype=torch.long), torch.full((n_acc,), 3, dtype=torch.long),
            torch.tensor([1, 2, 4, 5]),
        ]).to(device)
        self.row_action = torch.cat([
            torch.arange(n_acc), torch.arange(n_acc), torch.tensor([right, left, right, left]),
        ]).to(device)
        self.row_other_accel = torch.cat([grid, grid, zeros])
        self.row_ahead = torch.cat([torch.ones(n_acc), torch.zeros(n_acc),
                                    torch.tensor([1.0, 1.0, 0.0, 0.0])]).to(device).bool()
        # what kind of maneuver each row is: 0 own lane, 1 cut-in from the left, 2 right
        self.row_kind = torch.cat([torch.zeros(2 * n_acc, dtype=torch.long),
                                   torch.tensor([1, 2, 1, 2])]).to(device)
        self.row_flat = self.row_candidate * p.n_background_actions + self.row_action
        # the front vehicle's grid accelerations, predicted by the platoon rollout
        self.front_flat = torch.zeros(0, dtype=torch.long, device=device)
        if self.challenge_settings.leader_model == "idm":
            self.front_flat = FRONT * p.n_background_actions + torch.arange(n_acc, device=device)

    # ---------------------------------------------------------------- criticality
    def candidates(self) -> torch.Tensor:
        """``[B, 7]`` int64 vehicles around the AV: leaders, followers, the front vehicle.

        -1 marks a missing one; the front vehicle is the AV leader's own-lane leader.
        """
        nb = self.world.scene().neighbours
        leader = nb.leader[:, 0, :1]
        front = nb.leader[:, :, 0].gather(1, leader.clamp(min=0))
        front = torch.where(leader >= 0, front, torch.full_like(front, -1))
        return torch.cat([nb.leader[:, 0], nb.follower[:, 0], front], 1)

    def candidate_probabilities(self, candidates: torch.Tensor) -> torch.Tensor:
        """``p(u|s)`` of the candidates, ``[B, 7, A]`` (zero rows for missing ones)."""
        probs = self.world.naturalistic_probabilities(vehicles=candidates.clamp(min=0))
        # the AV itself (index 0) is not a background vehicle: it is never a candidate
        return probs * (candidates > 0).unsqueeze(-1)

    def surrogate_challenges(self, av_action: torch.Tensor) -> torch.Tensor:
        """Each surrogate's predicted challenge, ``[S, B, 7, A]`` float in ``[0, 1]``.

        Args:
            av_action: ``[B, 1, 2]`` the AV's action in this step.
        """
        scene, p = self.world.scene(), self.params
        batch = av_action.shape[0]
        k = self.row_candidate
        lead_or_follow = self.row_ahead.unsqueeze(0)
        lane = torch.where(k >= 3, k - 3, k)
        gap = torch.where(lead_or_follow, scene.leader_gap[:, 0, lane],
                          scene.follower_gap[:, 0, lane])
        other_speed = torch.where(lead_or_follow, scene.leader_speed[:, 0, lane],
                                  scene.follower_speed[:, 0, lane])
        av_speed = self.world.state.speed[:, :1]
        around = self.candidates()
        candidates = around.gather(1, k.unsqueeze(0).expand(batch, -1))
        # after the maneuver: the vehicle's current IDM acceleration, within the grid
        other_after = scene.idm_accel.gather(1, candidates.clamp(min=0)).clamp(
            p.accel_min, p.accel_max)
        av_accel = av_action[:, 0, :1].to(gap.dtype).clamp(p.av_accel_low, p.av_accel_high)
        rows = self.row_flat.numel()
        front = {}
        if self.challenge_settings.leader_model == "idm":
            front = self._front_of(candidates, gap)
        pair = {"gap": gap, "av_speed": av_speed.expand(-1, rows), "other_speed": other_speed,
                "other_ahead": self.row_ahead.expand(batch, -1),
                "other_accel": self.row_other_accel.expand(batch, -1),
                "other_accel_after": other_after, "av_accel": av_accel.expand(-1, rows),
                "settings": self.challenge_settings, "params": p, **front}
        out = []
        for surrogate in self.surrogates:
            challenge = maneuver_challenge(surrogate=surrogate, **pair)
            late_for = surrogate.late_for
            partial = surrogate.late_steps > 0 and set(late_for) != set(Surrogate.LATE_FOR)
            if partial:  # the maneuvers outside late_for see the prompt surrogate
                late_rows = torch.tensor([kind in late_for for kind in Surrogate.LATE_FOR],
                                         device=gap.device)[self.row_kind]
                challenge = torch.where(late_rows, challenge,
                                        maneuver_challenge(surrogate=surrogate.prompt(), **pair))
            table = torch.zeros(batch, N_CANDIDATES * p.n_background_actions,
                                dtype=gap.dtype, device=gap.device)
            table[:, self.row_flat] = challenge
            if self.front_flat.numel():
                front_model = surrogate.prompt() if partial and "lane" not in late_for else (
                    surrogate)
                table[:, self.front_flat] = self._platoon_challenge(
                    around, av_accel, front_model).to(table.dtype)
            out.append(table.view(batch, N_CANDIDATES, p.n_background_actions))
        return torch.stack(out)

    def _platoon_challenge(self, around: torch.Tensor, av_accel: torch.Tensor,
                           surrogate: Surrogate) -> torch.Tensor:
        """``[B, n_accels]`` challenge of every grid acceleration of the front vehicle.

        Args:
            around: ``[B, 7]`` :meth:`candidates`.
            av_accel: ``[B, 1]`` the AV's acceleration this step, m/s^2.
            surrogate: the AV model.
        """
        scene, p = self.world.scene(), self.params
        leader, front = around[:, :1].clamp(min=0), around[:, FRONT:].clamp(min=0)
        n_acc = p.n_accels

        def row(x: torch.Tensor) -> torch.Tensor:  # [B, 1] -> [B, n_accels]
            return x.expand(-1, n_acc)

        challenge = platoon_challenge(
            leader_gap=row(scene.leader_gap[:, :1, 0]), av_speed=row(self.world.state.speed[:, :1]),
            leader_speed=row(scene.leader_speed[:, :1, 0]),
            leader_accel=row(scene.idm_accel.gather(1, leader).clamp(p.accel_min, p.accel_max)),
            front_gap=row(scene.leader_gap[:, :, 0].gather(1, leader)),
            front_speed=row(self.world.state.speed.gather(1, front)),
            front_accel=self.world.grid.unsqueeze(0).expand(leader.shape[0], -1),
            front_accel_after=row(scene.idm_accel.gather(1, front).clamp(p.accel_min,
                                                                         p.accel_max)),
            av_accel=row(av_accel), surrogate=surrogate, settings=self.challenge_settings,
            params=p,
        )
        return challenge * (around[:, FRONT:] > 0)

    def _front_of(self, candidates: torch.Tensor, gap: torch.Tensor) -> dict[str, torch.Tensor]:
        """Own leaders of the rows' vehicles ahead of the AV, for the platoon look-ahead.

        Args:
            candidates: ``[B, R]`` vehicle index of each row's candidate (-1 none).
            gap: ``[B, R]`` gap between the AV and the candidate, m.

        Returns:
            ``front_gap``, ``front_speed`` ``[B, R]``: the gap from the candidate to its
            leader in its own lane (m, ``FAR`` if none) and that leader's speed (m/s); a
            side vehicle cutting in between the AV and the AV's leader gets the AV's
            leader instead.
        """
        scene, state = self.world.scene(), self.world.state
        index = candidates.clamp(min=0)
        front_gap = scene.leader_gap[:, :, 0].gather(1, index)
        front_speed = scene.leader_speed[:, :, 0].gather(1, index)
        cut_in = (self.row_ahead & (self.row_candidate != 0)).unsqueeze(0)
        behind_av_leader = (scene.leader_gap[:, :1, 0] - gap
                            - state.length.gather(1, index))
        use_av_leader = cut_in & (behind_av_leader > 0) & (behind_av_leader < front_gap)
        front_gap = torch.where(use_av_leader, behind_av_leader, front_gap)
        front_speed = torch.where(use_av_leader, scene.leader_speed[:, :1, 0].expand_as(
            front_speed), front_speed)
        return {"front_gap": front_gap, "front_speed": front_speed}

    # ---------------------------------------------------------------- sampling
    def proposal(self, av_action: torch.Tensor, *,
                 ranks: int = 1) -> dict[str, torch.Tensor] | list[dict[str, torch.Tensor]]:
        """The step's most critical vehicle and its distributions ``p`` and ``q``.

        Args:
            av_action: ``[B, 1, 2]`` the AV's action for this step.
            ranks: with more than 1, a list of such dicts for the ``ranks`` most critical
                vehicles, most critical first (the challenges are predicted once).

        Returns:
            ``vehicle [B]`` (background index of the most critical candidate, -1 if
            none), ``p``, ``q`` and ``share`` (``q`` before mixing in ``eps p``) ``[B, A]``
            float64 over its actions, ``criticality
            [B]`` (its summed criticality), ``critical [B]`` bool (above the threshold)
            and ``challenges [S, B, A]`` (each surrogate's challenge of its actions).
        """
        candidates = self.candidates()
        p_cand = self.candidate_probabilities(candidates).to(torch.float64)
        challenges = self.surrogate_challenges(av_action).to(torch.float64)
        mixed = (self.coefficients.view(-1, 1, 1, 1) * challenges).sum(0)
        criticality = p_cand * mixed
        totals = criticality.sum(-1)
        order = totals.sort(dim=1, descending=True, stable=True).indices
        kappa, n_surrogates = self.residual_risk, challenges.shape[0]
        out = []
        for rank in range(ranks):
            best = order[:, rank]
            best_total = totals.gather(1, best.unsqueeze(1)).squeeze(1)
            pick = best.view(-1, 1, 1).expand(-1, 1, p_cand.shape[-1])
            p_best = p_cand.gather(1, pick).squeeze(1)
            crit_best = criticality.gather(1, pick).squeeze(1)
            # q* proportional to p(u) (challenge(u) + residual_risk): the optimal proposal
            # when the crash probability after u is its challenge plus a risk that u does
            # not change
            share = (crit_best + kappa * p_best) / (best_total + kappa).clamp(
                min=1e-300).unsqueeze(-1)
            q = (1.0 - self.eps) * share + self.eps * p_best
            own = challenges.gather(2, pick.unsqueeze(0).expand(n_surrogates, -1, -1, -1))
            vehicle = candidates.gather(1, best.unsqueeze(1)).squeeze(1) - 1
            out.append({
                "vehicle": vehicle, "p": p_best, "q": q, "share": share,
                "criticality": best_total,
                # a missing candidate (vehicle -1) is never steered
                "critical": (best_total > self.min_criticality) & (vehicle >= 0),
                "challenges": own.squeeze(2),
            })
        return out if ranks > 1 else out[0]

    def modify(self, background_action: torch.Tensor, av_action: torch.Tensor, *,
               generator: torch.Generator, allowed: torch.Tensor | None = None):
        """Replace the most critical vehicle's naturalistic draw by a draw from ``q``.

        Args:
            background_action: ``[B, N]`` int64 naturalistic draws for this step.
            av_action: ``[B, 1, 2]`` the AV's action for this step.
            generator: the adversary's random stream.
            allowed: ``[B]`` bool, environments where control is allowed in this step
                (default all); any rule that depends only on the past keeps the
                estimate unbiased.

        Returns:
            ``(actions [B, N] int64, log_ratio [B] float64 = log p/q of the drawn
            maneuver (0 where nothing was controlled), controlled [B] bool,
            surrogate_challenge [B, S] float64 = each surrogate's challenge of the drawn
            maneuver (for re-fitting the mix))``.
        """
        ranks = self.proposal(av_action, ranks=self.vehicles_per_step)
        actions, log_ratio, any_controlled, drawn = background_action, 0.0, None, None
        for prop in ranks if isinstance(ranks, list) else [ranks]:
            controlled = prop["critical"] if allowed is None else prop["critical"] & allowed
            actions, step_ratio, controlled, challenge = self.apply(
                prop, prop["q"], controlled, actions, generator=generator)
            log_ratio = log_ratio + step_ratio
            if any_controlled is None:  # the most critical vehicle's, for re-fitting a mix
                any_controlled, drawn = controlled, challenge
            else:
                any_controlled = any_controlled | controlled
        return actions, log_ratio, any_controlled, drawn

    @staticmethod
    def apply(prop: dict, q: torch.Tensor, controlled: torch.Tensor,
              background_action: torch.Tensor, *, generator: torch.Generator):
        """Draw the controlled vehicle's maneuver from ``q`` where ``controlled``.

        Args:
            prop: :meth:`proposal`'s output (``vehicle``, ``p``, ``challenges``).
            q: ``[B, A]`` float64 proposal, ``q > 0`` wherever ``p > 0``.
            controlled: ``[B]`` bool.
            background_action: ``[B, N]`` int64 naturalistic draws.
            generator: the adversary's random stream (one uniform per environment and
                step, whether controlled or not, so streams stay aligned).

        Returns:
            As :meth:`modify`.
        """
        p = prop["p"]
        cdf = q.cumsum(-1)
        u = torch.rand(q.shape[0], 1, generator=generator, device=q.device, dtype=q.dtype)
        drawn = torch.searchsorted(cdf, u * cdf[:, -1:], right=True).clamp(max=q.shape[-1] - 1)
        log_ratio = (p.gather(1, drawn).log() - q.gather(1, drawn).log()).squeeze(1)
        log_ratio = torch.where(controlled, log_ratio, torch.zeros_like(log_ratio))
        envs = controlled.nonzero().squeeze(1)
        actions = background_action.clone()
        actions[envs, prop["vehicle"][envs]] = drawn[envs, 0]
        drawn_challenge = prop["challenges"].gather(
            2, drawn.unsqueeze(0).expand(prop["challenges"].shape[0], -1, -1)).squeeze(-1).T
        return actions, log_ratio, controlled, drawn_challenge
