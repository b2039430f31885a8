"""Worker skills (coin earned per hour of labour) for the one-step economy.

Two sources, each returning ``[N]`` float32 skills sorted ascending:

- ``foundation``: the AI Economist's skills. A skill is ``min(3, 2 X + 1)`` with ``X``
  Lomax (numpy's ``pareto(4)``: ``X = (1 - U)^(-1/4) - 1``), and worker ``i``'s skill is
  the mean ``i``-th order statistic of N such draws. Up to
  :data:`FOUNDATION_MC_MAX_WORKERS` workers it is estimated as Foundation does, by
  averaging the sorted draws over :data:`FOUNDATION_MC_REPS` Monte Carlo repetitions
  (``components/simple_labor.py``). Above that the repetitions would cost
  ``1,000 x N log N``, so the mean order statistic is replaced by the quantile
  approximation ``E[X_(i)] ~ F^-1(i / (N + 1))``, whose error shrinks like ``1/N``
  away from the extremes and which needs no random numbers at all.
- ``us_wages``: N sorted draws from a US hourly wage distribution fitted to the
  published percentiles in ``data/wages/`` (a lognormal body with a Pareto tail, see
  :func:`fit_wage_distribution`), converted to coin per hour of a weekly-hours choice:
  ``skill = wage_usd * weeks_per_year / usd_scaling``. With 50 weeks and 1,000 dollars
  per coin, choosing 40 hours at the median wage earns about 48 coin, i.e. $48,000 a year,
  on the same scale as the coin tax brackets (dollars / 1,000).
"""

from __future__ import annotations

import csv
import math
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch

from sandbox.core.errors import ConfigError

DATA_DIR = Path(__file__).resolve().parents[3] / "data" / "wages"
#: Published US hourly wage percentiles and mean (see ``data/wages/README.md``).
WAGES_FILE = DATA_DIR / "us_hourly_wages_oews_2023.csv"

#: Skill sources understood by :func:`draw_skills`.
SKILL_SOURCES = ("foundation", "us_wages")

#: Foundation's Pareto shape (numpy ``pareto(a=4)``) and cap on the skill multiplier.
FOUNDATION_PARETO_SHAPE = 4.0
FOUNDATION_MAX_SKILL = 3.0
#: Monte Carlo repetitions Foundation averages sorted draws over.
FOUNDATION_MC_REPS = 1000
#: Largest worker count estimated by Monte Carlo; above it the quantile approximation.
FOUNDATION_MC_MAX_WORKERS = 10_000
# Sorted draws held at once while averaging (bounds memory, not the result).
_MC_CHUNK_ELEMENTS = 1 << 22


def foundation_quantile(prob: torch.Tensor) -> torch.Tensor:
    """Inverse CDF of Foundation's skill ``min(3, 2 X + 1)``, X ~ Lomax(4).

    Args:
        prob: ``[...]`` probabilities in [0, 1) (float64 recommended).

    Returns:
        ``[...]`` skills in [1, 3], coin per hour, same dtype as ``prob``.
    """
    lomax = (1.0 - prob).pow(-1.0 / FOUNDATION_PARETO_SHAPE) - 1.0
    multiplier = FOUNDATION_MAX_SKILL - 1.0
    return (multiplier * lomax + 1.0).clamp(max=FOUNDATION_MAX_SKILL)


def foundation_skills(
    num_workers: int,
    *,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
    reps: int = FOUNDATION_MC_REPS,
    mc_max_workers: int = FOUNDATION_MC_MAX_WORKERS,
) -> torch.Tensor:
    """Foundation's skills: mean order statistics of N clipped Pareto draws.

    Args:
        num_workers: N, at least 1.
        generator: random stream for the Monte Carlo estimate (on ``device``); required
            when ``num_workers <= mc_max_workers``.
        device: device of the result.
        reps: Monte Carlo repetitions averaged (Foundation: 1,000).
        mc_max_workers: above this N the deterministic quantile approximation
            ``F^-1(i/(N+1))`` replaces the Monte Carlo average.

    Returns:
        ``[N]`` float32 skills in [1, 3] coin per hour, sorted ascending.
    """
    if num_workers > mc_max_workers:
        ranks = torch.arange(1, num_workers + 1, dtype=torch.float64, device=device)
        return foundation_quantile(ranks / (num_workers + 1)).float()
    if generator is None:
        raise ValueError("foundation_skills needs a generator for the Monte Carlo estimate")
    # The estimate is a pure function of the stream's state: remember recent ones (an app
    # or a sweep rebuilds the same economy many times) and leave the stream where a fresh
    # draw would have left it.
    key = (num_workers, reps, str(device), generator.get_state().numpy().tobytes())
    if key in _MC_MEMO:
        _MC_MEMO.move_to_end(key)
        skills, after = _MC_MEMO[key]
        generator.set_state(after)
        return skills.clone()
    skills = _foundation_mc(num_workers, generator, device, reps)
    _MC_MEMO[key] = (skills.clone(), generator.get_state())
    if len(_MC_MEMO) > _MC_MEMO_SIZE:
        _MC_MEMO.popitem(last=False)
    return skills


#: Recent Monte Carlo estimates by (N, reps, device, stream state).
_MC_MEMO: OrderedDict = OrderedDict()
_MC_MEMO_SIZE = 16


def _foundation_mc(num_workers: int, generator: torch.Generator, device, reps: int
                   ) -> torch.Tensor:
    total = torch.zeros(num_workers, dtype=torch.float64, device=device)
    chunk = max(1, _MC_CHUNK_ELEMENTS // num_workers)
    for start in range(0, reps, chunk):  # loop over repetitions in blocks, not agents
        rows = min(chunk, reps - start)
        uniform = torch.rand(rows, num_workers, generator=generator, device=device,
                             dtype=torch.float64)
        total += torch.sort(foundation_quantile(uniform), dim=-1).values.sum(0)
    return (total / reps).float()


@dataclass(frozen=True)
class WageDistribution:
    """Hourly wages: a lognormal body joined continuously to a Pareto tail.

    The quantile function is ``Q(p) = exp(mu + sigma * Phi^-1(p))`` for
    ``p <= tail_start`` and ``Q(p) = Q(tail_start) * ((1 - p)/(1 - tail_start))^(-1/alpha)``
    above it.

    Attributes:
        mu: log-wage location of the lognormal body (log dollars per hour).
        sigma: log-wage scale of the body.
        tail_start: quantile where the Pareto tail takes over, in (0, 1).
        alpha: Pareto tail index (> 1, so the mean is finite).
    """

    mu: float
    sigma: float
    tail_start: float
    alpha: float

    @property
    def tail_threshold(self) -> float:
        """Wage at which the Pareto tail starts, dollars per hour."""
        z = _normal_ppf(self.tail_start)
        return math.exp(self.mu + self.sigma * z)

    @property
    def mean(self) -> float:
        """Mean wage, dollars per hour (closed form: body part plus tail part)."""
        z = _normal_ppf(self.tail_start)
        body = math.exp(self.mu + 0.5 * self.sigma**2) * _normal_cdf(z - self.sigma)
        tail = (1.0 - self.tail_start) * self.tail_threshold * self.alpha / (self.alpha - 1.0)
        return body + tail

    def quantile(self, prob: torch.Tensor) -> torch.Tensor:
        """Wage at each probability.

        Args:
            prob: ``[...]`` probabilities in [0, 1) (float64 recommended).

        Returns:
            ``[...]`` wages in dollars per hour, same dtype as ``prob``.
        """
        start = torch.as_tensor(self.tail_start, dtype=prob.dtype, device=prob.device)
        body = torch.exp(self.mu + self.sigma * torch.special.ndtri(torch.minimum(prob, start)))
        tail_share = (1.0 - torch.maximum(prob, start)) / (1.0 - self.tail_start)
        tail = self.tail_threshold * tail_share.pow(-1.0 / self.alpha)
        return torch.where(prob <= start, body, tail)


def _normal_ppf(p: float) -> float:
    return float(torch.special.ndtri(torch.tensor(p, dtype=torch.float64)))


def _normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def load_wage_percentiles(path: Path = WAGES_FILE) -> tuple[list[float], list[float], float]:
    """Published wage percentiles and mean from a ``data/wages`` CSV file.

    Returns:
        ``(quantiles, wages_usd_per_hour, mean_usd_per_hour)``.
    """
    quantiles, wages, mean = [], [], None
    with Path(path).open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["statistic"] == "mean":
                mean = float(row["hourly_wage_usd"])
            else:
                quantiles.append(float(row["quantile"]))
                wages.append(float(row["hourly_wage_usd"]))
    if mean is None or len(quantiles) < 2:
        raise ConfigError("wages file", str(path), "percentile rows and a 'mean' row")
    return quantiles, wages, mean


def fit_wage_distribution(quantiles, wages, mean: float) -> WageDistribution:
    """Fit a lognormal body with a Pareto tail to published percentiles and mean.

    Least squares on the log errors of every percentile and of the mean, equally
    weighted, over (mu, sigma, tail_start, alpha) with tail_start in [0.3, 0.95] and
    alpha in [1.05, 10]. Deterministic (fixed starting point).

    Args:
        quantiles: probabilities of the published percentiles, e.g. 0.1 ... 0.9.
        wages: the percentile wages, dollars per hour.
        mean: the published mean wage, dollars per hour.
    """
    from scipy.optimize import least_squares  # only needed when fitting

    probs = torch.tensor(quantiles, dtype=torch.float64)
    log_wages = torch.log(torch.tensor(wages, dtype=torch.float64))

    def residuals(x):
        dist = WageDistribution(*map(float, x))
        errors = torch.log(dist.quantile(probs)) - log_wages
        return [*errors.tolist(), math.log(dist.mean / mean)]

    median = float(torch.exp(log_wages).median())
    start = [math.log(median), 0.5, 0.6, 2.0]
    bounds = ([-10.0, 0.05, 0.3, 1.05], [10.0, 3.0, 0.95, 10.0])
    fit = least_squares(residuals, start, bounds=bounds, xtol=1e-12, ftol=1e-12)
    return WageDistribution(*map(float, fit.x))


@cache
def us_wage_distribution() -> WageDistribution:
    """The US hourly wage distribution fitted to the file in ``data/wages/`` (cached)."""
    quantiles, wages, mean = load_wage_percentiles()
    return fit_wage_distribution(quantiles, wages, mean)


def us_wage_skills(
    num_workers: int,
    *,
    generator: torch.Generator,
    weeks_per_year: float = 50.0,
    usd_scaling: float = 1000.0,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """N sorted draws of US hourly wages, in coin per hour of weekly labour.

    Args:
        num_workers: N.
        generator: random stream on ``device``.
        weeks_per_year: weeks worked a year (hours are chosen per week).
        usd_scaling: dollars per coin.
        device: device of the result.

    Returns:
        ``[N]`` float32 skills ``wage * weeks_per_year / usd_scaling``, sorted ascending.
    """
    uniform = torch.rand(num_workers, generator=generator, device=device, dtype=torch.float64)
    wages = us_wage_distribution().quantile(uniform)
    return torch.sort(wages * (weeks_per_year / usd_scaling)).values.float()


def draw_skills(
    source: str,
    num_workers: int,
    *,
    generator: torch.Generator,
    weeks_per_year: float = 50.0,
    usd_scaling: float = 1000.0,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """Skills of ``num_workers`` workers from a named source, ``[N]`` float32 sorted.

    Args:
        source: one of :data:`SKILL_SOURCES`.
        num_workers: N.
        generator: random stream on ``device``.
        weeks_per_year: (``us_wages``) weeks worked a year.
        usd_scaling: (``us_wages``) dollars per coin.
        device: device of the result.
    """
    if source == "foundation":
        return foundation_skills(num_workers, generator=generator, device=device)
    if source == "us_wages":
        return us_wage_skills(num_workers, generator=generator, weeks_per_year=weeks_per_year,
                              usd_scaling=usd_scaling, device=device)
    raise ConfigError("skill_source", source, f"one of {', '.join(SKILL_SOURCES)}")
