"""Saez's optimal marginal rates from an income distribution, bracketed as Foundation does.

Saez (2001, "Using elasticities to derive optimal income tax rates", Review of Economic
Studies 68) gives the optimal marginal rate at income ``z`` as

    tau(z) = (1 - G(z)) / (1 - G(z) + A(z) e),   A(z) = z p(z) / (1 - P(z)),

with ``G(z)`` the average social welfare weight of earners above ``z`` (normalised so
the population average is 1), ``p`` / ``P`` the income density / distribution and ``e``
the elasticity of income with respect to the net-of-tax rate ``1 - tau``. For a Pareto
tail with parameter ``a``, ``A = a`` and, with zero weight at the top, the top rate is
``1 / (1 + a e)``.

Foundation's adaptation (``components/redistribution.py`` of ai-economist 1.7.1), as
here: 100 equal income bins from 0 to the top bracket cutoff plus an open top bin; the
weight of a bin is evaluated at its midpoint; ``G`` per bin is the mean of its edges'
values; ``A`` per bin uses ``P(Z >= z)`` counting half the bin, and the top bin's is
``zbar / (zbar - z_top)`` (``zbar`` the mean income above ``z_top``); empty bins get
rates interpolated from their neighbours; a bracket's rate is the tax the bin rates
levy across the bracket over its width, the top bracket's the top bin's rate. The
elasticity can be estimated by OLS of ``log z`` on ``log(1 - tau)``.

:class:`SaezPlanner` finds the Saez schedule at the equilibrium it induces: start from
the free market, compute Saez rates from best-response incomes, move part way
(damping, halved whenever the update reverses), and repeat until the rates stop
moving. When it estimates the elasticity it uses the (income, marginal rate) pairs its
own iterations produce, with worker fixed effects and without workers bunched at a
kink, which recovers a constant elasticity exactly.

Foundation's weight normalisation makes uniform weights give ``G = 1`` and so no tax;
``"revenue"`` weights (all zero) give the revenue-maximising rates ``1 / (1 + A e)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sandbox.core.errors import ConfigError, check_range
from sandbox.core.policy import Policy
from sandbox.core.registry import POLICIES
from sandbox.worlds.economy.best_response import equilibrium
from sandbox.worlds.economy.planners import check_params, check_role, planner_action, world_key
from sandbox.worlds.economy.tax_schedule import marginal_rate, validate_cutoffs
from sandbox.worlds.economy.utility import UtilityParams

#: Welfare weight schemes: Foundation's two, and zero weights (revenue-maximising rates).
WEIGHTS = ("inverse_income", "uniform", "revenue")

#: Income bins below the top bracket cutoff (Foundation's ``_saez_n_estimation_bins``).
NUM_BINS = 100

#: Elasticity used before any estimate is possible (Foundation's starting value).
DEFAULT_ELASTICITY = 0.5

_EPS = 1e-9  # keeps empty denominators finite, as Foundation's 1e-9 does


def _weight(income: torch.Tensor, weights: str) -> torch.Tensor:
    """Unnormalised welfare weight of each income (coin)."""
    if weights == "inverse_income":
        return 1.0 / income.clamp(min=1.0)
    if weights == "uniform":
        return torch.ones_like(income)
    if weights == "revenue":
        return torch.zeros_like(income)
    raise ConfigError("weights", weights, f"one of {', '.join(WEIGHTS)}")


def bin_statistics(income: torch.Tensor, *, top_cutoff: float, weights: str = "inverse_income",
                   num_bins: int = NUM_BINS) -> tuple[torch.Tensor, torch.Tensor]:
    """Per income bin, the average welfare weight above it ``G`` and the Pareto ``A``.

    Args:
        income: ``[M]`` observed pre-tax incomes, coin.
        top_cutoff: lower cutoff of the top bracket, coin (> 0); bins span ``[0, top]``.
        weights: one of :data:`WEIGHTS`.
        num_bins: equal bins below ``top_cutoff``.

    Returns:
        ``(G, A)``, each ``[num_bins + 1]`` float64 (the last entry is the open top
        bin); ``A`` is NaN in empty bins.
    """
    z = income.to(torch.float64).flatten()
    edges = torch.linspace(0.0, top_cutoff, num_bins + 1, dtype=torch.float64, device=z.device)
    width = top_cutoff / num_bins
    middle = 0.5 * (edges[:-1] + edges[1:])
    inside = (z >= 0) & (z <= top_cutoff)
    above = z > top_cutoff
    index = (z / width).floor().clamp(0, num_bins - 1).long()
    counts = torch.zeros(num_bins, dtype=torch.float64, device=z.device)
    counts.index_add_(0, index[inside], torch.ones_like(z[inside]))
    total = float(z.numel())
    share = torch.cat([counts, above.sum().reshape(1).double()]) / total  # [bins + 1]

    below_weight = _weight(z[z < 0].clamp(min=0.0), weights).sum()
    top_weight = _weight(z[above], weights).sum().reshape(1)
    bin_weight = torch.cat([counts * _weight(middle, weights), top_weight])
    weight_share = bin_weight / (bin_weight.sum() + below_weight + _EPS)
    share_above = share.flip(0).cumsum(0).flip(0)
    g_edge = weight_share.flip(0).cumsum(0).flip(0) / (share_above + _EPS)
    g = torch.cat([0.5 * (g_edge[:-1] + g_edge[1:]), g_edge[-1:]])

    # P(Z >= z) counting half of the bin itself: incomes spread evenly within a bin.
    at_or_above = (1.0 - ((z < 0).sum() / total + share.cumsum(0)) + 0.5 * share).clamp(0, 1)
    a = middle * share[:-1] / (at_or_above[:-1] + _EPS) / width
    a = torch.where(counts > 0, a, torch.nan)
    if bool(above.any()):
        mean_above = z[above].mean()
        a_top = mean_above / (mean_above - top_cutoff + _EPS)
    else:
        a_top = torch.zeros((), dtype=torch.float64, device=z.device)
    return g, torch.cat([a, a_top.reshape(1)])


def _fill_gaps(rates: torch.Tensor) -> torch.Tensor:
    """Replace NaN rates by linear interpolation between the nearest known neighbours.

    A gap at the start interpolates from a rate of 0 at index -1 (Foundation's rule);
    the last entry is always known.
    """
    n = rates.numel()
    position = torch.arange(n, device=rates.device)
    known = ~torch.isnan(rates)
    before = torch.where(known, position, -1).cummax(0).values
    after = torch.where(known, position, n).flip(0).cummin(0).values.flip(0)
    padded = torch.cat([rates.new_zeros(1), torch.nan_to_num(rates)])  # index -1 -> 0
    left, right = padded[before + 1], padded[after.clamp(max=n - 1) + 1]
    fraction = (position - before) / (after - before).clamp(min=1)
    return torch.where(known, rates, left + (right - left) * fraction)


def bin_rates(g: torch.Tensor, a: torch.Tensor, elasticity: float) -> torch.Tensor:
    """Saez rate per bin ``(1 - G) / (1 - G + A e)``, gaps interpolated, ``[bins + 1]``."""
    return _fill_gaps((1.0 - g) / (1.0 - g + a * elasticity + _EPS))


def bracket_rates(rates_per_bin: torch.Tensor, *, cutoffs: torch.Tensor) -> torch.Tensor:
    """Bracket rates carrying the bin schedule's tax across each bracket over its width.

    Args:
        rates_per_bin: ``[bins + 1]`` rates of equal bins on ``[0, cutoffs[-1]]`` and
            of the open top bin.
        cutoffs: ``[K]`` bracket lower cutoffs, coin.

    Returns:
        ``[K]`` float64 rates (not clipped); the top bracket's is the top bin's.
    """
    cuts = cutoffs.to(torch.float64)
    num_bins = rates_per_bin.numel() - 1
    edges = torch.linspace(0.0, float(cuts[-1]), num_bins + 1, dtype=torch.float64,
                           device=cuts.device)[:-1]
    width = float(cuts[-1]) / num_bins
    in_bins = (cuts.unsqueeze(-1) - edges).clamp(min=0.0, max=width)  # [K, bins]
    tax_at_cutoff = (in_bins * rates_per_bin[:-1]).sum(-1).clamp(min=0.0)
    lower = tax_at_cutoff.diff() / cuts.diff()
    return torch.cat([lower, rates_per_bin[-1:]])


def saez_rates(income: torch.Tensor, *, cutoffs: torch.Tensor, elasticity: float,
               weights: str = "inverse_income", max_rate: float = 1.0,
               num_bins: int = NUM_BINS) -> torch.Tensor:
    """Saez bracket rates for an income distribution, clipped to ``[0, max_rate]``.

    Args:
        income: ``[M]`` pre-tax incomes, coin.
        cutoffs: ``[K]`` bracket lower cutoffs, coin (K >= 2).
        elasticity: net-of-tax elasticity of income ``e`` (>= 0).
        weights: one of :data:`WEIGHTS`.
        max_rate: rate cap in [0, 1].
        num_bins: equal income bins below the top cutoff.

    Returns:
        ``[K]`` float64 marginal rates.
    """
    validate_cutoffs(cutoffs.tolist())
    check_range("elasticity", elasticity, low=0.0)
    check_range("max_rate", max_rate, low=0.0, high=1.0)
    if cutoffs.numel() < 2:
        raise ConfigError("cutoffs", cutoffs.tolist(), "at least two brackets for Saez rates")
    g, a = bin_statistics(income, top_cutoff=float(cutoffs[-1]), weights=weights,
                          num_bins=num_bins)
    per_bin = bin_rates(g, a, elasticity)
    return bracket_rates(per_bin, cutoffs=cutoffs).clamp(0.0, max_rate)


def estimate_elasticity(income: torch.Tensor, rate: torch.Tensor, *,
                        groups: torch.Tensor | None = None,
                        fallback: float = DEFAULT_ELASTICITY) -> float:
    """OLS slope of ``log z`` on ``log(1 - tau)``, clipped at 0 (Foundation's estimator).

    Args:
        income: ``[M]`` observed incomes, coin; pairs with ``z <= 0`` are dropped.
        rate: ``[M]`` marginal rates faced; pairs with ``tau >= 1`` are dropped.
        groups: optional ``[M]`` int ids (e.g. worker index): both variables are then
            demeaned within each group (fixed effects), so that only a worker's own
            response to different rates counts, not the cross-section of skills.
        fallback: returned when fewer than 10 pairs remain or the rates do not vary.

    Returns:
        The elasticity estimate, >= 0.
    """
    keep = (income > 0) & (rate < 1)
    y = torch.log(income[keep].double())
    x = torch.log1p(-rate[keep].double())
    if y.numel() < 10:
        return float(fallback)
    if groups is not None:
        ids = torch.unique(groups[keep], return_inverse=True)[1]
        size = torch.zeros(int(ids.max()) + 1, dtype=torch.float64, device=x.device)
        size.index_add_(0, ids, torch.ones_like(x))
        for values in (x, y):
            group_mean = torch.zeros_like(size).index_add_(0, ids, values) / size
            values.sub_(group_mean[ids])
    x, y = x - x.mean(), y - y.mean()
    variance = (x * x).sum()
    if float(variance) < 1e-12 * x.numel():
        return float(fallback)
    return max(float((x * y).sum() / variance), 0.0)


@dataclass
class SaezResult:
    """Outcome of the Saez fixed-point iteration.

    Attributes:
        rates: ``[K]`` float64 bracket rates (before any snapping to a rate grid).
        elasticity: the elasticity used in the last iteration.
        iterations: Saez updates made.
        converged: whether the rates stopped moving within the tolerance.
        residual: largest gap between the last Saez rates and the rates they came from
            (0 at an exact fixed point; discrete choices may leave none exactly).
    """

    rates: torch.Tensor
    elasticity: float
    iterations: int
    converged: bool
    residual: float


def _snap(rates: torch.Tensor, levels: torch.Tensor | None, max_rate: float) -> torch.Tensor:
    """Rates as the world applies them: capped, then the nearest allowed level."""
    rates = rates.clamp(0.0, max_rate)
    if levels is None:
        return rates
    allowed = levels.to(rates)[levels.to(rates) <= max_rate + 1e-9]
    return allowed[(rates.unsqueeze(-1) - allowed).abs().argmin(-1)]


def saez_equilibrium_rates(
    skill: torch.Tensor,
    *,
    cutoffs: torch.Tensor,
    utility_params: UtilityParams,
    hours_grid: torch.Tensor | None = None,
    max_hours: float = 100.0,
    elasticity: float | None = None,
    weights: str = "inverse_income",
    max_rate: float = 1.0,
    rate_levels: torch.Tensor | None = None,
    iterations: int = 200,
    damping: float = 0.5,
    tolerance: float = 1e-3,
) -> SaezResult:
    """Saez rates at the equilibrium they induce among best-responding workers.

    Args:
        skill: ``[N]`` coin per hour.
        cutoffs: ``[K]`` bracket lower cutoffs, coin.
        utility_params: worker utility.
        hours_grid: ``[H]`` discrete hours, or None for continuous hours.
        max_hours: upper end of continuous hours.
        elasticity: fixed ``e``; None estimates it from the (income, rate) pairs the
            iterations produce, with worker fixed effects.
        weights: one of :data:`WEIGHTS`.
        max_rate: rate cap.
        rate_levels: ``[L]`` allowed rates (discrete actions) or None (continuous);
            workers respond to the rates snapped to these levels.
        iterations: most Saez updates.
        damping: share of the step from the current to the new Saez rates, in (0, 1];
            halved each time the update reverses direction.
        tolerance: stop when no rate moves more than this in one update.
    """
    check_range("damping", damping, low=0.0, high=1.0, low_open=True)
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ConfigError("iterations", iterations, "an integer >= 1")
    cuts = cutoffs.to(torch.float64)
    rates = torch.zeros(cuts.numel(), dtype=torch.float64, device=cuts.device)
    worker = torch.arange(skill.numel(), device=skill.device)
    seen_income, seen_rate, seen_worker = [], [], []
    used = DEFAULT_ELASTICITY if elasticity is None else float(elasticity)
    size, previous = float(damping), None
    for step in range(1, iterations + 1):
        applied = _snap(rates, rate_levels, max_rate).to(skill.dtype).unsqueeze(0)
        outcome = equilibrium(skill, cutoffs=cutoffs, rates=applied,
                              utility_params=utility_params, hours_grid=hours_grid,
                              max_hours=max_hours)
        income = outcome.income[0]
        if elasticity is None:
            # Workers bunched at a kink do not answer the marginal rate: leave them out.
            interior = (income.unsqueeze(-1) - cutoffs).abs().min(-1).values > 1e-4 * (1 + income)
            seen_income.append(income[interior])
            seen_rate.append(marginal_rate(outcome.income, cutoffs, applied)[0][interior])
            seen_worker.append(worker[interior])
            used = estimate_elasticity(torch.cat(seen_income), torch.cat(seen_rate),
                                       groups=torch.cat(seen_worker), fallback=used)
        target = saez_rates(income, cutoffs=cuts, elasticity=used, weights=weights,
                            max_rate=max_rate)
        update = target - rates
        residual = float(update.abs().max())
        # A worker crossing a bin edge moves the rates, so the map is discontinuous and
        # fixed steps can cycle around the fixed point; halving the step whenever the
        # update turns back averages the cycle without slowing a steady approach.
        if previous is not None and float(update @ previous) < 0:
            size *= 0.5
        previous, moved = update, rates + size * update
        change, rates = float((moved - rates).abs().max()), moved
        if change <= tolerance:
            return SaezResult(rates, used, step, True, residual)
    return SaezResult(rates, used, iterations, False, residual)


class SaezPlanner(Policy):
    """Planner setting the Saez schedule at the equilibrium it induces (Foundation's Saez).

    The schedule depends only on the world (skills, utility, choice sets, rate cap), so it
    is computed once per world configuration and cap and reused in every environment.

    Args:
        world: the one-step economy.
        elasticity: fixed ``e``; None uses the world's constant net-of-tax elasticity when
            its utility has one, and otherwise estimates it from the iterations' pairs;
            ``"estimate"`` always estimates it (as Foundation's Saez planner does).
        weights: one of :data:`WEIGHTS`.
        iterations: most Saez updates.
        damping: first step size of the updates, in (0, 1].
    """

    name = "saez"

    def __init__(self, world, *, elasticity: float | str | None = None,
                 weights: str = "inverse_income", iterations: int = 200, damping: float = 0.5):
        super().__init__(world.roles["planner"], device=world.device)
        if elasticity is not None and elasticity != "estimate":
            if isinstance(elasticity, bool) or not isinstance(elasticity, int | float):
                raise ConfigError("saez.elasticity", elasticity,
                                  "a number >= 0, 'estimate' or null (the world's own)")
            check_range("saez.elasticity", elasticity, low=0.0)
        if weights not in WEIGHTS:
            raise ConfigError("saez.weights", weights, f"one of {', '.join(WEIGHTS)}")
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
            raise ConfigError("saez.iterations", iterations, "an integer >= 1")
        check_range("saez.damping", damping, low=0.0, high=1.0, low_open=True)
        self.world = world
        self.elasticity = elasticity
        self.weights, self.iterations, self.damping = weights, iterations, float(damping)
        self._solved: tuple[tuple, SaezResult] | None = None

    def solve(self) -> SaezResult:
        """The Saez fixed point for the world as it is now (cached per configuration)."""
        key = world_key(self.world)
        if self._solved is None or self._solved[0] != key:
            world = self.world
            elasticity = self.elasticity
            if elasticity is None:
                elasticity = world.params.utility.net_of_tax_elasticity  # None: not constant
            elif elasticity == "estimate":
                elasticity = None
            levels = world.rate_levels if world.params.rate_actions == "discrete" else None
            result = saez_equilibrium_rates(
                world.skills, cutoffs=world.cutoffs, utility_params=world.params.utility,
                hours_grid=world.hours_grid, max_hours=float(world.params.max_hours),
                elasticity=elasticity, weights=self.weights, max_rate=world.rate_cap,
                rate_levels=levels, iterations=self.iterations, damping=self.damping)
            self._solved = (key, result)
        return self._solved[1]

    def act(self, obs: torch.Tensor, mask: torch.Tensor | None = None,
            deterministic: bool = False) -> torch.Tensor:
        """``[B, 1, K]`` actions setting the Saez rates in all ``B = obs.shape[0]`` envs."""
        return planner_action(self.world, self.solve().rates, obs.shape[0])

    def describe(self) -> dict:
        """Parameters, the elasticity used and the convergence of the last solve."""
        out = {"policy": self.name, "weights": self.weights, "elasticity": self.elasticity}
        if self._solved is not None:
            result = self._solved[1]
            out.update(elasticity_used=result.elasticity, iterations_run=result.iterations,
                       converged=result.converged, residual=result.residual)
        return out


def saez_factory(world, role: str = "planner", **params) -> SaezPlanner:
    """Factory of the ``"saez"`` planner (params: elasticity, weights, iterations, damping)."""
    check_role(role, "planner", "saez")
    check_params(params, ("elasticity", "weights", "iterations", "damping"), "saez")
    return SaezPlanner(world, **params)


POLICIES.register("saez", saez_factory)
