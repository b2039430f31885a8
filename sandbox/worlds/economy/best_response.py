"""Exact worker best responses to a bracket tax schedule, and the lump-sum fixed point.

A worker with skill ``s`` who works ``L`` hours earns ``z = s L``, pays the bracket tax
``T(z)`` and receives the lump sum ``l``, so she consumes ``c = z - T(z) + l`` and gets
``u(c, L)`` (:mod:`~sandbox.worlds.economy.utility`). She takes the schedule and the
lump sum as given and maximises over her choice set:

- **discrete hours** (a grid): every choice is priced and the best one kept (ties go to
  fewer hours); agents are processed in chunks so that 10^6 workers fit in memory.
- **continuous hours** ``[0, max_hours]``: on bracket ``k`` consumption is linear in
  ``L`` (slope ``(1 - tau_k) s``) and ``u`` is concave there, so the segment's best
  point is the first-order condition's root clipped to the segment. The root is closed
  form when consumption utility is linear (``eta = 0`` or quasi-linear):
  ``L = ((1 - tau) s / (a p))^(1/(p-1))`` for a labour cost ``a L^p``, i.e.
  ``((1 - tau) s / kappa)^e`` in the quasi-linear case; otherwise it is found by
  vectorised bisection. The segment optima, kinks and end points are compared exactly.

The transfer is revenue / N, which each worker treats as fixed. :func:`equilibrium`
finds the consistent lump sum: without income effects hours do not depend on it (one
pass); with them, more transfer means weakly fewer hours and less revenue, so
``l - revenue(l) / N`` is increasing and bisection on ``[0, revenue(0) / N]`` finds it.
"""

from __future__ import annotations

import torch

from sandbox.core.errors import ConfigError
from sandbox.core.policy import Policy
from sandbox.core.registry import POLICIES
from sandbox.worlds.economy.labor import Outcome, settle
from sandbox.worlds.economy.planners import check_params, check_role
from sandbox.worlds.economy.tax_schedule import bracket_index, tax_before_bracket
from sandbox.worlds.economy.utility import MIN_CONSUMPTION, UtilityParams, utility

#: Largest number of (environment, agent, choice) values priced at once on the grid.
CHUNK_ELEMENTS = 1 << 22

#: Bisection steps that bound the lump-sum search (float64 halves each time).
BISECTION_STEPS = 60

#: Most safeguarded Newton steps for an interior optimum (it stops when they settle).
NEWTON_STEPS = 60

#: Regula falsi steps of the lump-sum search before every third step is a bisection
#: (a guard for revenue that jumps, as it does with discrete hours).
SECANT_STEPS = 8


def has_income_effects(params: UtilityParams) -> bool:
    """Whether hours depend on the lump sum (isoelastic utility with ``eta > 0``)."""
    return params.form == "isoelastic" and params.eta > 0.0


def _tax(income: torch.Tensor, cutoffs: torch.Tensor, rates: torch.Tensor) -> torch.Tensor:
    """Bracket tax of ``income`` ``[B, ...]`` under ``rates`` ``[B, K]``, same shape, coin.

    Uses the tax owed at each bracket's cutoff plus the marginal rate above it, so that
    memory stays ``O(B * ...)`` rather than ``O(B * ... * K)``.
    """
    shape = income.shape
    flat = income.reshape(shape[0], -1)
    index = bracket_index(flat, cutoffs)
    base = torch.gather(tax_before_bracket(cutoffs, rates), -1, index)
    rate = torch.gather(rates, -1, index)
    return (base + rate * (flat - cutoffs[index])).reshape(shape)


def _value(hours, skill, lump_sum, *, cutoffs, rates, params):
    """Utility of ``hours`` ``[B, n, C]`` for ``skill`` ``[B, n, 1]`` and ``lump_sum`` ``[B]``."""
    income = skill * hours
    consumption = income - _tax(income, cutoffs, rates) + lump_sum.view(-1, 1, 1)
    return utility(consumption, hours, params)


def _grid_best(skill, lump_sum, *, hours_grid, cutoffs, rates, params) -> torch.Tensor:
    """Best grid hours ``[B, N]`` by pricing every choice, in chunks of agents."""
    num_envs, num_agents = skill.shape
    step = max(1, CHUNK_ELEMENTS // (num_envs * hours_grid.numel()))
    best = []
    for start in range(0, num_agents, step):  # chunks of agents, not one agent at a time
        part = skill[:, start:start + step].unsqueeze(-1)
        hours = hours_grid.expand(*part.shape[:2], -1)
        value = _value(hours, part, lump_sum, cutoffs=cutoffs, rates=rates, params=params)
        best.append(hours_grid[value.argmax(-1)])  # argmax keeps the first (fewest hours)
    return torch.cat(best, dim=-1)


def _interior_hours(slope, intercept, low, high, params: UtilityParams) -> torch.Tensor:
    """Root of the first-order condition on each bracket's segment, clipped to it.

    Args:
        slope: ``[B, N, K]`` d consumption / d hours on the segment, ``(1 - tau_k) s``.
        intercept: ``[B, N, K]`` consumption at zero hours of the segment's line, coin.
        low: ``[B, N, K]`` the segment's first hours.
        high: ``[B, N, K]`` the segment's last hours.
        params: worker utility.
    """
    power, coefficient = params.labor_exponent, params.labor_coefficient
    if not has_income_effects(params):
        root = (slope.clamp(min=0.0) / (coefficient * power)).pow(1.0 / (power - 1.0))
        return torch.minimum(torch.maximum(root, low), high)
    # d u / d L = slope * c^-eta - a p L^(p-1) falls with L (c rises, cost is convex), so
    # the clipped root is an end point when the sign does not change on the segment, and
    # otherwise Newton's method, kept inside a shrinking sign bracket, finds it.
    eta = params.eta

    def slope_and_curvature(hours):
        consumption = (slope * hours + intercept).clamp(min=MIN_CONSUMPTION)
        gain = slope * consumption.pow(-eta)
        tiny = hours.clamp(min=1e-12)
        cost = coefficient * power * tiny.pow(power - 1.0)
        bend = -eta * slope * gain / consumption - cost * (power - 1.0) / tiny
        return gain - cost, bend

    at_low, _ = slope_and_curvature(low)
    at_high, _ = slope_and_curvature(high)
    end = torch.where(at_low <= 0, low, high)
    lo = torch.where((at_low > 0) & (at_high < 0), low, end)
    hi = torch.where((at_low > 0) & (at_high < 0), high, end)
    hours = 0.5 * (lo + hi)
    for step in range(NEWTON_STEPS):
        value, bend = slope_and_curvature(hours)
        lo, hi = torch.where(value > 0, hours, lo), torch.where(value > 0, hi, hours)
        newton = hours - value / bend
        inside = (newton >= lo) & (newton <= hi)  # a settled root may equal an end
        moved = torch.where(inside, newton, 0.5 * (lo + hi))
        settled = (moved - hours).abs() <= 1e-13 * (1.0 + hours)
        hours = moved
        if step % 4 == 3 and bool(settled.all()):
            break
    return hours


def _continuous_best(skill, lump_sum, *, max_hours, cutoffs, rates, params) -> torch.Tensor:
    """Best hours in ``[0, max_hours]`` ``[B, N]``: segment optima, kinks and end points."""
    s = skill.unsqueeze(-1)  # [B, N, 1]
    upper = torch.cat([cutoffs[1:], cutoffs.new_tensor([float("inf")])])
    per_hour = s.clamp(min=torch.finfo(s.dtype).tiny)  # zero skill: every kink is beyond reach
    low = (cutoffs / per_hour).clamp(max=max_hours)  # [B, N, K]
    high = (upper / per_hour).clamp(max=max_hours)
    kept = 1.0 - rates.unsqueeze(-2)  # [B, 1, K]
    slope = kept * s
    intercept = (lump_sum.view(-1, 1, 1) - tax_before_bracket(cutoffs, rates).unsqueeze(-2)
                 + (1.0 - kept) * cutoffs)
    interior = _interior_hours(slope, intercept, low, high, params)
    candidates = torch.cat([interior, low, high], dim=-1)  # [B, N, 3K]
    value = _value(candidates, s, lump_sum, cutoffs=cutoffs, rates=rates, params=params)
    return torch.gather(candidates, -1, value.argmax(-1, keepdim=True)).squeeze(-1)


def _as_batch(skill: torch.Tensor, rates: torch.Tensor, lump_sum) -> tuple:
    """float64 ``skill`` ``[B, N]``, ``rates`` ``[B, K]`` and ``lump_sum`` ``[B]``."""
    rates = rates.to(torch.float64)
    if rates.dim() != 2:
        raise ConfigError("rates", tuple(rates.shape), "a [num_envs, brackets] tensor")
    skill = skill.to(torch.float64, copy=False)
    skill = skill.expand(rates.shape[0], -1) if skill.dim() == 1 else skill
    lump = torch.as_tensor(lump_sum, dtype=torch.float64, device=rates.device)
    return skill, rates, lump.expand(rates.shape[0]) if lump.dim() == 0 else lump


def best_response_hours(
    skill: torch.Tensor,
    *,
    cutoffs: torch.Tensor,
    rates: torch.Tensor,
    lump_sum: torch.Tensor | float,
    utility_params: UtilityParams,
    hours_grid: torch.Tensor | None = None,
    max_hours: float = 100.0,
) -> torch.Tensor:
    """Each worker's utility-maximising hours, the schedule and lump sum taken as given.

    Args:
        skill: ``[B, N]`` or ``[N]`` (shared by every environment) coin per hour.
        cutoffs: ``[K]`` bracket lower cutoffs, coin.
        rates: ``[B, K]`` marginal rates in [0, 1].
        lump_sum: ``[B]`` (or a number) transfer each worker expects, coin.
        utility_params: worker utility.
        hours_grid: ``[H]`` hours of each discrete choice, or None for continuous hours.
        max_hours: upper end of continuous hours (ignored with a grid).

    Returns:
        ``[B, N]`` hours, in ``skill``'s dtype (computed in float64).
    """
    s, r, lump = _as_batch(skill, rates, lump_sum)
    cuts = cutoffs.to(torch.float64)
    if hours_grid is not None:
        grid = hours_grid.to(torch.float64)
        hours = _grid_best(s, lump, hours_grid=grid, cutoffs=cuts, rates=r, params=utility_params)
    else:
        hours = _continuous_best(s, lump, max_hours=float(max_hours), cutoffs=cuts, rates=r,
                                 params=utility_params)
    return hours.to(skill.dtype)


def _lump_sum_root(shortfall, hours, gap, *, tolerance: float) -> torch.Tensor:
    """Hours at the lump sum where the expected transfer equals revenue / N, ``[B, N]``.

    ``shortfall(lump_sum [R], rows [R]) -> (hours [R, N], gap [R])`` prices the rows'
    environments; ``gap`` (expected minus realised transfer) rises with the lump sum.
    Regula falsi with the Illinois modification (after :data:`SECANT_STEPS`, every
    third step a bisection) on the bracket ``[0, revenue(0) / N]``, solving only the
    environments not yet done. An environment is done when the gap vanishes, the
    bracket is narrow, or both ends give the same hours: hours fall weakly in the lump
    sum, so they are then constant on the bracket and revenue / N inside it is the exact
    fixed point (the usual end with discrete hours).
    """
    low, g_low, h_low = torch.zeros_like(gap), gap.clone(), hours.clone()
    high, g_high, h_high = (-gap).clamp(min=0.0), gap.clone(), hours.clone()
    rows = (gap < 0).nonzero().squeeze(-1)
    if rows.numel():
        h_high[rows], g_high[rows] = shortfall(high[rows], rows)
    f_low, f_high = g_low.clone(), g_high.clone()  # secant values (Illinois halves them)
    last = torch.zeros_like(gap)  # +1: high moved last, -1: low moved last
    for step in range(4 * BISECTION_STEPS):
        done = ((g_low >= 0) | (g_high <= 0) | (h_low == h_high).all(-1)
                | (high - low <= tolerance * (1.0 + high)))
        rows = (~done).nonzero().squeeze(-1)
        if rows.numel() == 0:
            break
        lo, hi, fl, fh = low[rows], high[rows], f_low[rows], f_high[rows]
        guess = hi - fh * (hi - lo) / (fh - fl)
        bisect = step >= SECANT_STEPS and step % 3 == 2
        x = 0.5 * (lo + hi) if bisect else guess.clamp(lo, hi)
        h, g = shortfall(x, rows)
        up = g >= 0  # the root lies below x: x becomes the high end
        exact = g.abs() <= tolerance * (1.0 + x.abs())
        for end, value in ((high, x), (g_high, g), (f_high, g)):
            end[rows] = torch.where(up | exact, value, end[rows])
        for end, value in ((low, x), (g_low, g), (f_low, g)):
            end[rows] = torch.where(~up | exact, value, end[rows])
        h_high[rows] = torch.where((up | exact).unsqueeze(-1), h, h_high[rows])
        h_low[rows] = torch.where((~up | exact).unsqueeze(-1), h, h_low[rows])
        f_low[rows] = torch.where(up & (last[rows] > 0), 0.5 * f_low[rows], f_low[rows])
        f_high[rows] = torch.where(~up & (last[rows] < 0), 0.5 * f_high[rows], f_high[rows])
        last[rows] = up.to(last.dtype) * 2.0 - 1.0
    pick_low = (g_low.abs() <= g_high.abs()).unsqueeze(-1)
    return torch.where(pick_low, h_low, h_high)


def equilibrium(
    skill: torch.Tensor,
    *,
    cutoffs: torch.Tensor,
    rates: torch.Tensor,
    utility_params: UtilityParams,
    hours_grid: torch.Tensor | None = None,
    max_hours: float = 100.0,
    tolerance: float = 1e-10,
) -> Outcome:
    """Best-response hours at the lump sum that equals revenue / N, and their outcome.

    Args:
        skill: ``[B, N]`` or ``[N]`` coin per hour.
        cutoffs: ``[K]`` bracket lower cutoffs, coin.
        rates: ``[B, K]`` marginal rates in [0, 1].
        utility_params: worker utility.
        hours_grid: ``[H]`` discrete hours, or None for continuous hours.
        max_hours: upper end of continuous hours.
        tolerance: relative accuracy of the lump sum (coin) at which the search stops.

    Returns:
        The settled :class:`~sandbox.worlds.economy.labor.Outcome` (``[B, N]`` fields).
        With discrete hours revenue can jump across the fixed point; then the side whose
        expected transfer is nearer to the realised one is kept.
    """
    cuts, all_rates = cutoffs.to(torch.float64), rates.to(torch.float64)
    wide = skill.to(torch.float64)

    def shortfall(lump_sum, rows=None):  # expected minus realised transfer; rises with lump
        s = wide if rows is None or wide.dim() == 1 else wide[rows]
        r = all_rates if rows is None else all_rates[rows]
        hours = best_response_hours(s, cutoffs=cuts, rates=r, lump_sum=lump_sum,
                                    utility_params=utility_params, hours_grid=hours_grid,
                                    max_hours=max_hours)
        return hours, lump_sum - _tax(s * hours, cuts, r).mean(-1)

    hours, gap = shortfall(torch.zeros(rates.shape[0], dtype=torch.float64, device=rates.device))
    if has_income_effects(utility_params) and bool((gap < 0).any()):
        hours = _lump_sum_root(shortfall, hours, gap, tolerance=tolerance)
    return settle(skill, hours.to(skill.dtype), cutoffs=cutoffs, rates=rates,
                  utility_params=utility_params)


class BestResponseWorkers(Policy):
    """Workers who play their exact best response at the equilibrium lump sum.

    Reads each environment's schedule and each worker's skill from the workers'
    observation (``[phase(2), own skill, rates(K)]``, see the one-step world's model
    card), solves :func:`equilibrium` once per distinct (schedule, skills) row, and
    returns the hours as the role's actions.

    Args:
        world: the one-step economy (for cutoffs, utility and the hours choice set).
    """

    name = "best_response"

    def __init__(self, world):
        super().__init__(world.roles["workers"], device=world.device)
        self.world = world

    def act(self, obs: torch.Tensor, mask: torch.Tensor | None = None,
            deterministic: bool = False) -> torch.Tensor:
        """Best-response actions ``[B, N]`` (discrete) or ``[B, N, 1]`` (continuous).

        Args:
            obs: ``[B, N, 3 + K]`` float32 workers' observations.
            mask: unused (every hours choice is valid).
            deterministic: unused (the policy is deterministic).
        """
        skill, rates = obs[..., 2], obs[:, 0, 3:]
        rows, inverse = torch.unique(torch.cat([rates, skill], dim=-1), dim=0, return_inverse=True)
        k = rates.shape[-1]
        world = self.world
        outcome = equilibrium(rows[:, k:], cutoffs=world.cutoffs, rates=rows[:, :k],
                              utility_params=world.params.utility, hours_grid=world.hours_grid,
                              max_hours=float(world.params.max_hours))
        return world.action_from_hours(outcome.hours[inverse])


def best_response_factory(world, role: str = "workers", **params) -> BestResponseWorkers:
    """Factory of the ``"best_response"`` workers' policy (it takes no parameters)."""
    check_role(role, "workers", "best_response")
    check_params(params, (), "best_response")
    return BestResponseWorkers(world)


POLICIES.register("best_response", best_response_factory)
