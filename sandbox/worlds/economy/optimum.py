"""The planner's optimum by search: bracket rates maximising social welfare at equilibrium.

Workers best-respond exactly (:func:`~sandbox.worlds.economy.best_response.equilibrium`),
so welfare is a function of the K bracket rates alone; it is piecewise smooth (workers
jump between kinks) and, with discrete hours, piecewise constant, so the search uses no
gradients:

1. **coarse**: the free market, every flat schedule on the level grid, and a scrambled
   Sobol sample of schedules, all priced in one batched evaluation (one environment
   per candidate schedule);
2. **coordinate search** on the level grid (the planner's 21 levels for discrete
   actions, the same spacing for continuous ones), from each of the best few coarse
   schedules: for each bracket in turn, all levels are priced at once with the other
   rates held; sweeps repeat until none improves. Then, from the best, sweeps that also
   move neighbouring pairs of brackets together (all 21 x 21 level pairs at once);
3. **continuous rates only**: ``scipy.optimize.minimize`` (bounded Nelder-Mead from a
   small simplex) from there.

After 2 (and 3) every rate is lowered to the least level (or 0) that keeps the welfare,
so brackets nobody reaches (or that only move money between equals) read 0.

Ties keep the earlier candidate, so among equally good schedules the lower rates win
(the free market is the first candidate). This is the reference "optimal tax of
economic theory" that learned planners are compared with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.optimize
import scipy.stats.qmc
import torch

from sandbox.core.errors import ConfigError, check_range
from sandbox.core.policy import Policy
from sandbox.core.registry import POLICIES
from sandbox.worlds.economy.best_response import equilibrium
from sandbox.worlds.economy.planners import (
    check_params,
    check_role,
    planner_action,
    world_key,
)
from sandbox.worlds.economy.social import OBJECTIVES, social_welfare
from sandbox.worlds.economy.utility import UtilityParams

#: Largest number of (schedule, worker) pairs priced in one batched evaluation.
BATCH_ELEMENTS = 1 << 20

#: Size of the starting simplex of the continuous refinement (rate points).
REFINE_STEP = 0.02

#: Relative welfare gain a move must bring to be taken (guards against rounding noise).
MIN_GAIN = 1e-9


@dataclass
class OptimumResult:
    """The search's answer.

    Attributes:
        rates: ``[K]`` float64 optimal bracket rates (float32 values, as worlds hold them).
        welfare: social welfare at those rates (the objective's units).
        evaluations: schedules priced during the search.
    """

    rates: torch.Tensor
    welfare: float
    evaluations: int


@dataclass(frozen=True)
class Economy:
    """What the search needs to price a schedule.

    Attributes:
        skill: ``[N]`` coin per hour.
        cutoffs: ``[K]`` bracket lower cutoffs, coin.
        utility_params: worker utility.
        objective: a planner objective in ``social.OBJECTIVES``.
        hours_grid: ``[H]`` discrete hours, or None for continuous hours.
        max_hours: upper end of continuous hours.
    """

    skill: torch.Tensor
    cutoffs: torch.Tensor
    utility_params: UtilityParams
    objective: str = "inverse_income_weighted_utility"
    hours_grid: torch.Tensor | None = None
    max_hours: float = 100.0

    def __post_init__(self):
        if self.objective not in OBJECTIVES:
            raise ConfigError("planner_objective", self.objective, f"one of {OBJECTIVES}")

    def welfare(self, rates: torch.Tensor) -> torch.Tensor:
        """Social welfare at equilibrium for each schedule.

        Args:
            rates: ``[S, K]`` marginal rates, one schedule per row (rounded to float32
                as a world would hold them).

        Returns:
            ``[S]`` float64 welfare, on the CPU (the search runs there; pricing runs on
            the skills' device).
        """
        skill = self.skill.to(torch.float64)
        # Worlds hold rates in float32: price exactly the rates they will apply, since
        # welfare can jump where a worker is indifferent between two brackets.
        rates = rates.to(device=skill.device, dtype=torch.float32).to(torch.float64)
        step = max(1, BATCH_ELEMENTS // skill.numel())
        values = []
        for start in range(0, rates.shape[0], step):  # chunks of schedules
            outcome = equilibrium(skill, cutoffs=self.cutoffs.double(),
                                  rates=rates[start:start + step].double(),
                                  utility_params=self.utility_params,
                                  hours_grid=self.hours_grid, max_hours=self.max_hours)
            values.append(social_welfare(self.objective, consumption=outcome.consumption,
                                         income=outcome.income, utility=outcome.utility))
        return torch.cat(values).cpu()


def _coarse_candidates(num_brackets: int, levels: torch.Tensor, *, samples: int, seed: int,
                       discrete: bool) -> torch.Tensor:
    """``[S, K]`` starting schedules: zeros, flat schedules, then a Sobol sample."""
    flat = levels.unsqueeze(-1).expand(-1, num_brackets)
    sobol = scipy.stats.qmc.Sobol(num_brackets, scramble=True, seed=np.random.default_rng(seed))
    unit = torch.as_tensor(sobol.random(samples), dtype=torch.float64)
    spread = unit * float(levels.max())
    if discrete:
        spread = levels[(spread.unsqueeze(-1) - levels).abs().argmin(-1)]
    return torch.cat([torch.zeros(1, num_brackets, dtype=torch.float64), flat, spread])


def _coordinate_search(economy: Economy, rates: torch.Tensor, best: float, levels, *,
                       max_sweeps: int, pairs: bool = False) -> tuple[torch.Tensor, float, int]:
    """Gauss-Seidel sweeps over blocks of brackets, pricing every level of a block at once.

    Blocks are single brackets and, with ``pairs``, neighbouring pairs (every
    combination of their two levels), which move rates that only help together.
    """
    count = rates.numel()
    blocks = [[k] for k in range(count)]
    if pairs:
        blocks += [[k, k + 1] for k in range(count - 1)]
    evaluations = 0
    for _ in range(max_sweeps):
        improved = False
        for block in blocks:
            combos = torch.cartesian_prod(*[levels] * len(block)).reshape(-1, len(block))
            trial = rates.repeat(combos.shape[0], 1)
            trial[:, block] = combos
            value = economy.welfare(trial)
            evaluations += combos.shape[0]
            top = int(value.argmax())
            if float(value[top]) > best + MIN_GAIN * (1.0 + abs(best)):
                rates, best, improved = trial[top], float(value[top]), True
        if not improved:
            break
    return rates, best, evaluations


def _lower_ties(economy: Economy, rates: torch.Tensor, best: float,
                levels) -> tuple[torch.Tensor, float]:
    """Lower each bracket's rate to the least level that keeps the welfare (ties go low).

    Rates of brackets nobody reaches, or that only move money between equals, do not
    change welfare; reporting them as 0 keeps the optimum readable. Returns the rates
    and their welfare.
    """
    for k in range(rates.numel()):
        below = levels[levels < rates[k]]
        if below.numel() == 0:
            continue
        trial = rates.repeat(below.numel(), 1)
        trial[:, k] = below
        value = economy.welfare(trial)
        keeps = value >= best - MIN_GAIN * (1.0 + abs(best))
        if bool(keeps.any()):
            first = int(keeps.nonzero()[0])
            rates, best = trial[first], float(value[first])
    return rates, best


def _refine(economy: Economy, rates: torch.Tensor, best: float, *,
            max_rate: float) -> tuple[torch.Tensor, float, int]:
    """Bounded Nelder-Mead over continuous rates from ``rates``, in steps of REFINE_STEP.

    A small starting simplex keeps the search local: the grid search already chose the
    basin, and welfare is too rugged between basins for a line search across [0, 1].
    """
    start = rates.numpy()
    toward = np.where(start + REFINE_STEP <= max_rate, REFINE_STEP, -REFINE_STEP)
    simplex = np.vstack([start, start + np.diag(toward)])

    def loss(x: np.ndarray) -> float:
        return -float(economy.welfare(torch.as_tensor(x, dtype=torch.float64)[None])[0])

    found = scipy.optimize.minimize(
        loss, start, method="Nelder-Mead", bounds=[(0.0, max_rate)] * start.size,
        options={"initial_simplex": simplex, "xatol": 1e-4, "fatol": 1e-10,
                 "maxfev": 100 * start.size})
    if -found.fun > best + MIN_GAIN * (1.0 + abs(best)):
        rates = torch.as_tensor(found.x, dtype=torch.float64).clamp(0.0, max_rate)
        best = -float(found.fun)
    return rates, best, int(found.nfev)


def search_optimum(economy: Economy, *, rate_levels: torch.Tensor | None = None,
                   max_rate: float = 1.0, coarse_samples: int = 256, starts: int = 8,
                   seed: int = 0, max_sweeps: int = 10) -> OptimumResult:
    """Bracket rates in ``[0, max_rate]`` maximising the economy's social welfare.

    Args:
        economy: skills, schedule cutoffs, utility, objective and hours choice set.
        rate_levels: ``[L]`` allowed rates for discrete actions, or None for continuous
            rates (then levels of 0.05 guide the coarse and coordinate stages).
        max_rate: rate cap in [0, 1].
        coarse_samples: Sobol schedules in the coarse stage (a power of 2 is balanced).
        starts: coordinate searches, from the best coarse schedules.
        seed: seed of the Sobol scrambling.
        max_sweeps: most coordinate sweeps per start.
    """
    check_range("max_rate", max_rate, low=0.0, high=1.0)
    discrete = rate_levels is not None
    levels = (rate_levels.cpu().double() if discrete else torch.linspace(0.0, 1.0, 21).double())
    levels = levels[levels <= max_rate + 1e-9]
    if levels.numel() == 0:
        raise ConfigError("max_rate", max_rate, "a cap at or above the lowest rate level")
    num_brackets = economy.cutoffs.numel()
    candidates = _coarse_candidates(num_brackets, levels, samples=coarse_samples, seed=seed,
                                    discrete=discrete)
    value = economy.welfare(candidates)
    evaluations = candidates.shape[0]
    # Welfare is multi-modal in the upper brackets' rates (top earners jump between
    # kinks), so the coordinate search starts from the best few coarse schedules.
    order = torch.sort(value, descending=True, stable=True).indices[:starts]
    rates, best = candidates[order[0]], float(value[order[0]])
    for index in order.tolist():
        found, welfare, swept = _coordinate_search(economy, candidates[index], float(value[index]),
                                                   levels, max_sweeps=max_sweeps)
        evaluations += swept
        if welfare > best + MIN_GAIN * (1.0 + abs(best)):
            rates, best = found, welfare
    rates, best, swept = _coordinate_search(economy, rates, best, levels, max_sweeps=max_sweeps,
                                            pairs=True)
    evaluations += swept
    rates, best = _lower_ties(economy, rates, best, levels)
    if not discrete:
        rates, best, used = _refine(economy, rates, best, max_rate=max_rate)
        rates, best = _lower_ties(economy, rates, best, levels[:1])
        evaluations += used
    return OptimumResult(rates.to(torch.float32).to(torch.float64), best, evaluations)


#: Solved optima by (world identity, search settings); a few worlds at a time.
_SOLVED: dict[tuple, OptimumResult] = {}
_SOLVED_LIMIT = 16


def world_optimum(world, *, coarse_samples: int = 256, seed: int = 0) -> OptimumResult:
    """The search optimum of a one-step economy as configured now (memoised).

    Args:
        world: the one-step economy (skills, utility, objective, choice sets, rate cap).
        coarse_samples: Sobol schedules in the coarse stage.
        seed: seed of the Sobol scrambling.
    """
    key = (world_key(world), coarse_samples, seed)
    if key not in _SOLVED:
        economy = Economy(world.skills, world.cutoffs, world.params.utility,
                          world.params.planner_objective, world.hours_grid,
                          float(world.params.max_hours))
        levels = world.rate_levels if world.params.rate_actions == "discrete" else None
        if len(_SOLVED) >= _SOLVED_LIMIT:
            _SOLVED.pop(next(iter(_SOLVED)))
        _SOLVED[key] = search_optimum(economy, rate_levels=levels, max_rate=world.rate_cap,
                                      coarse_samples=coarse_samples, seed=seed)
    return _SOLVED[key]


class SearchOptimumPlanner(Policy):
    """Planner setting the welfare-maximising rates against best-responding workers.

    Args:
        world: the one-step economy.
        coarse_samples: Sobol schedules in the coarse stage (>= 1).
        seed: seed of the Sobol scrambling (the search is otherwise deterministic).
    """

    name = "search_optimum"

    def __init__(self, world, *, coarse_samples: int = 256, seed: int = 0):
        super().__init__(world.roles["planner"], device=world.device)
        for field, value in (("coarse_samples", coarse_samples), ("seed", seed)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"search_optimum.{field}", value, "a non-negative integer")
        if coarse_samples < 1:
            raise ConfigError("search_optimum.coarse_samples", coarse_samples, "an integer >= 1")
        self.world, self.coarse_samples, self.seed = world, coarse_samples, seed

    def solve(self) -> OptimumResult:
        """The optimum for the world as it is now (computed once per configuration)."""
        return world_optimum(self.world, coarse_samples=self.coarse_samples, seed=self.seed)

    def act(self, obs: torch.Tensor, mask: torch.Tensor | None = None,
            deterministic: bool = False) -> torch.Tensor:
        """``[B, 1, K]`` actions setting the optimal rates in all ``B = obs.shape[0]`` envs."""
        return planner_action(self.world, self.solve().rates, obs.shape[0])

    def describe(self) -> dict:
        """Search settings, the optimal rates and their welfare."""
        result = self.solve()
        return {"policy": self.name, "coarse_samples": self.coarse_samples, "seed": self.seed,
                "rates": [round(float(r), 6) for r in result.rates],
                "welfare": result.welfare, "evaluations": result.evaluations}


def search_optimum_factory(world, role: str = "planner", **params) -> SearchOptimumPlanner:
    """Factory of the ``"search_optimum"`` planner (params: coarse_samples, seed)."""
    check_role(role, "planner", "search_optimum")
    check_params(params, ("coarse_samples", "seed"), "search_optimum")
    return SearchOptimumPlanner(world, **params)


POLICIES.register("search_optimum", search_optimum_factory)
