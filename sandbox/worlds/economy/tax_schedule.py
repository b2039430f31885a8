"""Piecewise-linear bracket tax schedules, batched over environments.

A schedule is a list of bracket lower cutoffs ``c_0 = 0 < c_1 < ... < c_{K-1}`` (coin)
and one marginal rate per bracket. The tax on income ``z`` is

    T(z) = sum_k rate_k * clip(z - c_k, 0, c_{k+1} - c_k),   c_K = +inf,

continuous in ``z`` and non-decreasing when every rate is >= 0. Cutoffs in dollars come
from ``data/us_federal_brackets.csv`` and are divided by ``usd_scaling`` to get coin,
as Foundation does (its default scaling is 1,000).
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

import torch

from sandbox.core.errors import ConfigError, check_range

DATA_DIR = Path(__file__).resolve().parents[3] / "data"
BRACKETS_FILE = DATA_DIR / "us_federal_brackets.csv"

#: Named bracket sets: name -> tax year in ``us_federal_brackets.csv``. ``foundation`` is
#: the set Foundation calls "US federal 2018" (its cutoffs are the 2019 tables).
BRACKET_SETS = {"foundation": 2019, "us2018": 2018, "us2019": 2019, "us2025": 2025,
                "us2026": 2026}


@cache
def _read_brackets() -> dict[int, tuple[tuple[float, ...], tuple[float, ...]]]:
    table: dict[int, tuple[list[float], list[float]]] = {}
    with BRACKETS_FILE.open(newline="") as handle:
        for row in csv.DictReader(handle):
            cuts, rates = table.setdefault(int(row["year"]), ([], []))
            cuts.append(float(row["lower_cutoff_usd"]))
            rates.append(float(row["marginal_rate"]))
    return {year: (tuple(c), tuple(r)) for year, (c, r) in table.items()}


def us_federal_brackets(name: str = "foundation") -> tuple[list[float], list[float]]:
    """US federal single-filer cutoffs (dollars) and marginal rates of a named set.

    Args:
        name: one of :data:`BRACKET_SETS` (``"foundation"``, ``"us2018"``, ...).

    Returns:
        ``(cutoffs_usd, rates)``, each a list of K floats, cutoffs starting at 0.
    """
    if name not in BRACKET_SETS:
        raise ConfigError("brackets", name, f"one of {', '.join(BRACKET_SETS)}")
    cuts, rates = _read_brackets()[BRACKET_SETS[name]]
    return list(cuts), list(rates)


def validate_cutoffs(cutoffs, field: str = "cutoffs") -> list[float]:
    """Check bracket cutoffs: first is 0, strictly increasing, finite. Returns floats."""
    values = [float(c) for c in cutoffs]
    if not values or values[0] != 0.0:
        raise ConfigError(field, list(cutoffs), "a list of bracket cutoffs starting at 0")
    for lo, hi in zip(values, values[1:]):
        if not hi > lo or hi == float("inf"):
            raise ConfigError(field, list(cutoffs), "strictly increasing, finite cutoffs")
    return values


def validate_rates(rates, num_brackets: int, field: str = "rates") -> list[float]:
    """Check one marginal rate in [0, 1] per bracket. Returns floats."""
    values = [float(r) for r in rates]
    if len(values) != num_brackets:
        raise ConfigError(field, list(rates), f"{num_brackets} rates, one per bracket")
    for r in values:
        if not 0.0 <= r <= 1.0:
            raise ConfigError(field, list(rates), "rates between 0 and 1 (0.37 means 37 %)")
    return values


def bracket_widths(cutoffs: torch.Tensor) -> torch.Tensor:
    """Widths of the brackets, ``[K]``, the top one infinite."""
    upper = torch.cat([cutoffs[1:], cutoffs.new_tensor([float("inf")])])
    return upper - cutoffs


def income_in_brackets(income: torch.Tensor, cutoffs: torch.Tensor) -> torch.Tensor:
    """Part of each income that falls in each bracket.

    Args:
        income: ``[..., N]`` pre-tax income, coin (negative counts as 0).
        cutoffs: ``[K]`` bracket lower cutoffs, coin.

    Returns:
        ``[..., N, K]`` coin in each bracket; sums to ``max(income, 0)`` over K.
    """
    widths = bracket_widths(cutoffs)
    above = (income.unsqueeze(-1) - cutoffs).clamp(min=0.0)
    return torch.minimum(above, widths)


def tax_owed(income: torch.Tensor, cutoffs: torch.Tensor, rates: torch.Tensor) -> torch.Tensor:
    """Tax on each income under a bracket schedule.

    Computed from each income's bracket (the tax owed at the bracket's lower cutoff plus
    the bracket's rate on the rest), so temporaries are ``[B, N]``, not ``[B, N, K]``.

    Args:
        income: ``[B, N]`` pre-tax income, coin (negative counts as 0).
        cutoffs: ``[K]`` bracket lower cutoffs, coin.
        rates: ``[B, K]`` marginal rates (one schedule per environment); leading
            dimensions broadcast with the income's.

    Returns:
        ``[B, N]`` tax, coin.
    """
    lead = torch.broadcast_shapes(income.shape[:-1], rates.shape[:-1])
    income = income.clamp(min=0.0).expand(*lead, income.shape[-1])
    rates = rates.expand(*lead, rates.shape[-1])
    index = bracket_index(income, cutoffs)
    base = torch.gather(tax_before_bracket(cutoffs, rates), -1, index)
    return base + torch.gather(rates, -1, index) * (income - cutoffs[index])


def bracket_index(income: torch.Tensor, cutoffs: torch.Tensor) -> torch.Tensor:
    """Index of the bracket each income falls in, ``[..., N]`` int64 (kinks go up)."""
    return (torch.searchsorted(cutoffs, income.contiguous(), right=True) - 1).clamp(min=0)


def marginal_rate(income: torch.Tensor, cutoffs: torch.Tensor, rates: torch.Tensor):
    """Marginal rate at each income, ``[B, N]``, for ``rates`` ``[B, K]``."""
    return torch.gather(rates, -1, bracket_index(income, cutoffs))


def tax_before_bracket(cutoffs: torch.Tensor, rates: torch.Tensor) -> torch.Tensor:
    """Tax owed at each bracket's lower cutoff, ``[B, K]`` (0 for the first bracket)."""
    widths = bracket_widths(cutoffs)[:-1]
    full = rates[..., :-1] * widths
    return torch.cat([torch.zeros_like(rates[..., :1]), full.cumsum(-1)], dim=-1)


#: Discrete planner actions: 21 rate levels 0, 0.05, ..., 1 per bracket (Foundation's).
NUM_RATE_LEVELS = 21


class BracketSettings:
    """Bracket cutoffs of a world's parameters.

    For a parameters dataclass with ``cutoffs``, ``brackets`` and ``usd_scaling`` fields.
    """

    @property
    def cutoffs_coin(self) -> tuple[float, ...]:
        """Bracket lower cutoffs in coin: ``cutoffs`` if given, else the named set scaled."""
        if self.cutoffs is not None:
            return self.cutoffs
        dollars, _ = us_federal_brackets(self.brackets)
        return tuple(c / self.usd_scaling for c in dollars)

    @property
    def num_brackets(self) -> int:
        """K, the number of tax brackets."""
        return len(self.cutoffs_coin)


class BracketRatePlanner:
    """A world whose planner sets one marginal rate per bracket, under an annealed cap.

    The world calls :meth:`_init_brackets` in its constructor; its ``params`` have
    ``cutoffs_coin``, ``max_rate`` and ``rate_actions`` (``"discrete"`` or ``"continuous"``).
    """

    def _init_brackets(self) -> None:
        """Cutoffs ``[K]``, the discrete rate levels and the initial cap from ``params``."""
        p = self.params
        self.cutoffs = torch.tensor(p.cutoffs_coin, dtype=torch.float32, device=self.device)
        self.rate_levels = torch.linspace(0.0, 1.0, NUM_RATE_LEVELS, device=self.device)
        self.rate_cap = float(p.max_rate)

    def set_rate_cap(self, cap: float) -> None:
        """Cap every marginal rate at ``cap`` in [0, 1] from the next planner step on."""
        check_range("rate_cap", cap, low=0.0, high=1.0)
        self.rate_cap = float(cap)
        self._rate_cap_changed()

    def _rate_cap_changed(self) -> None:
        """Hook for worlds that memoise what depends on the cap (observations, masks)."""

    def rates_from_action(self, action: torch.Tensor) -> torch.Tensor:
        """Rates ``[B, K]`` float32 encoded by a planner action (before the rate cap).

        Args:
            action: ``[B, 1, K]`` or ``[B, K]``: level indices (int64, discrete) or rates
                (float32, continuous; clipped to [0, 1]).
        """
        action = torch.as_tensor(action, device=self.device)
        if self.params.rate_actions == "discrete":
            rates = self.rate_levels[action.long()]
        else:
            rates = action.float().clamp(0.0, 1.0)
        return rates[:, 0] if rates.dim() == 3 else rates

    def action_from_rates(self, rates: torch.Tensor) -> torch.Tensor:
        """Planner action ``[B, 1, K]`` for rates ``[B, K]``: nearest level, or clipped rates."""
        rates = torch.as_tensor(rates, dtype=torch.float32, device=self.device).clamp(0.0, 1.0)
        rates = rates.unsqueeze(-2) if rates.dim() == 2 else rates
        if self.params.rate_actions == "discrete":
            return torch.round(rates * (NUM_RATE_LEVELS - 1)).long()
        return rates
