"""The one-step economy as a plain per-agent Mesa model: the rules stated readably.

One :class:`Taxpayer` agent per worker, plain Python floats, one loop per rule. Given the
planner's marginal rates and every worker's hours it computes incomes, bracket taxes,
the equal lump-sum transfer, consumption, utility and the episode metrics, with the same
definitions as the batched :class:`~sandbox.worlds.economy.onestep.OneStepEconomy`.
The tests hold the batched world to this model value for value; it is also the Mesa
user's way in::

    model = OneStepEconomyModel(world.skills.tolist(), cutoffs=world.cutoffs.tolist())
    metrics = model.run_episode(rates=[0.1] * 7, hours=[40.0] * len(model.taxpayers))

Deliberately independent of the batched code (no tensors, no shared rule helpers; only
the parameter dataclass is shared), so that a bug in one is not silently repeated in the
other. It is O(N) per rule except the Gini,
which uses the O(N^2) pairwise definition: meant for tens or hundreds of workers.
"""

from __future__ import annotations

import math

import mesa

from sandbox.core.errors import ConfigError
from sandbox.worlds.economy.onestep import DEFAULT_UTILITY
from sandbox.worlds.economy.utility import UtilityParams

#: Floor on consumption inside curved (eta > 0) consumption utility, as in ``utility.py``.
MIN_CONSUMPTION = 1e-6
#: Below this many workers the Gini gets Foundation's N/(N-1) correction.
SMALL_SAMPLE = 30


class Taxpayer(mesa.Agent):
    """One worker: a skill, a choice of hours, and what the period made of them.

    Args:
        model: the :class:`OneStepEconomyModel` it belongs to.
        skill: coin earned per hour of labour.
    """

    def __init__(self, model: OneStepEconomyModel, skill: float):
        super().__init__(model)
        self.skill = float(skill)
        self.hours = 0.0
        self.income = 0.0
        self.tax = 0.0
        self.marginal_rate = 0.0
        self.consumption = 0.0
        self.utility = 0.0

    def work(self, hours: float) -> None:
        """Supply ``hours`` of labour: pre-tax income is skill times hours."""
        self.hours = float(hours)
        self.income = self.skill * self.hours

    def pay_tax(self) -> float:
        """Pay the bracket tax on this period's income; returns the tax paid."""
        self.tax = self.model.tax_on(self.income)
        self.marginal_rate = self.model.marginal_rate_at(self.income)
        return self.tax

    def receive_transfer(self, lump_sum: float) -> None:
        """Consume post-tax income plus the transfer, and value it against the labour."""
        self.consumption = self.income - self.tax + lump_sum
        self.utility = self.model.utility_of(self.consumption, self.hours)


class OneStepEconomyModel(mesa.Model):
    """The one-step economy with one Mesa agent per worker.

    Args:
        skills: coin per hour of each worker (the batched world's ``world.skills``).
        cutoffs: bracket lower cutoffs in coin, starting at 0, increasing.
        utility: worker utility parameters (the world's default when None).
        planner_objective: the planner's social welfare (a ``social.OBJECTIVES`` name).
        max_rate: cap on every marginal rate, in [0, 1].
    """

    def __init__(
        self,
        skills,
        *,
        cutoffs,
        utility: UtilityParams | None = None,
        planner_objective: str = "inverse_income_weighted_utility",
        max_rate: float = 1.0,
    ):
        super().__init__()
        self.cutoffs = [float(c) for c in cutoffs]
        self.utility_params = utility if utility is not None else DEFAULT_UTILITY
        self.planner_objective = planner_objective
        self.max_rate = float(max_rate)
        self.rates = [0.0] * len(self.cutoffs)
        self.lump_sum = 0.0
        self.taxpayers = [Taxpayer(self, skill) for skill in skills]

    # ------------------------------------------------------------- the rules
    def set_rates(self, rates) -> None:
        """The planner's move: one marginal rate per bracket, capped at ``max_rate``."""
        if len(rates) != len(self.cutoffs):
            raise ConfigError("rates", list(rates), f"{len(self.cutoffs)} rates, one per bracket")
        self.rates = [min(max(float(r), 0.0), self.max_rate) for r in rates]

    def tax_on(self, income: float) -> float:
        """Tax on ``income``: each bracket's rate times the part of income inside it."""
        tax = 0.0
        for k, (lower, rate) in enumerate(zip(self.cutoffs, self.rates)):
            upper = self.cutoffs[k + 1] if k + 1 < len(self.cutoffs) else math.inf
            tax += rate * min(max(income - lower, 0.0), upper - lower)
        return tax

    def marginal_rate_at(self, income: float) -> float:
        """Rate of the bracket ``income`` falls in (at a cutoff, the bracket above)."""
        rate = self.rates[0]
        for lower, bracket_rate in zip(self.cutoffs, self.rates):
            if income >= lower:
                rate = bracket_rate
        return rate

    def utility_of(self, consumption: float, hours: float) -> float:
        """Worker utility of consumption (coin) and labour (hours)."""
        p = self.utility_params
        if p.form == "quasilinear":
            exponent = 1.0 + 1.0 / p.elasticity
            return consumption - p.kappa * max(hours, 0.0) ** exponent / exponent
        if p.eta == 0.0:
            gain = consumption - 1.0
        elif p.eta == 1.0:
            gain = math.log(max(consumption, MIN_CONSUMPTION))
        else:
            c = max(consumption, MIN_CONSUMPTION)
            gain = (c ** (1.0 - p.eta) - 1.0) / (1.0 - p.eta)
        return gain - p.kappa * max(hours, 0.0) ** p.delta

    def settle(self, hours) -> None:
        """The workers' move and its consequences: work, pay tax, share the revenue."""
        if len(hours) != len(self.taxpayers):
            raise ConfigError("hours", len(hours), f"{len(self.taxpayers)} values, one per worker")
        for taxpayer, h in zip(self.taxpayers, hours):
            taxpayer.work(h)
        revenue = sum(taxpayer.pay_tax() for taxpayer in self.taxpayers)
        self.lump_sum = revenue / len(self.taxpayers)
        for taxpayer in self.taxpayers:
            taxpayer.receive_transfer(self.lump_sum)

    def run_episode(self, *, rates, hours) -> dict[str, float]:
        """One two-step episode: the planner sets ``rates``, workers supply ``hours``.

        Returns:
            The episode metrics by name (the batched world's names).
        """
        self.set_rates(rates)
        self.settle(hours)
        return self.metrics()

    # ------------------------------------------------------------- measures
    @staticmethod
    def gini(values) -> float:
        """Gini as the mean absolute difference over twice the mean (Foundation's form)."""
        n, total = len(values), sum(values)
        if n < 2 or total <= 0:
            return 0.0
        pairwise = sum(abs(a - b) for a in values for b in values)
        coefficient = pairwise / (2.0 * n * total)
        return coefficient * n / (n - 1) if n < SMALL_SAMPLE else coefficient

    def social_welfare(self) -> float:
        """The planner's objective for the settled period."""
        metrics = self.metrics()
        if self.planner_objective not in metrics:
            raise ConfigError("planner_objective", self.planner_objective,
                              "inverse_income_weighted_utility, equality_times_productivity "
                              "or utilitarian_welfare")
        return metrics[self.planner_objective]

    def metrics(self) -> dict[str, float]:
        """Episode metrics of the settled period, by the batched world's names."""
        people = self.taxpayers
        n = len(people)
        incomes = [t.income for t in people]
        consumption = [t.consumption for t in people]
        productivity = sum(incomes)
        revenue = sum(t.tax for t in people)
        inverse = [1.0 / max(z, 1.0) for z in incomes]
        equality = 1.0 - self.gini(consumption)
        return {
            "productivity": productivity,
            "equality": equality,
            "equality_pretax": 1.0 - self.gini(incomes),
            "equality_times_productivity": equality * sum(consumption) / n,
            "inverse_income_weighted_utility":
                sum(w * t.utility for w, t in zip(inverse, people)) / sum(inverse),
            "utilitarian_welfare": sum(t.utility for t in people) / n,
            "revenue": revenue,
            "average_tax_rate": revenue / productivity if productivity > 0 else 0.0,
            "mean_marginal_rate": sum(t.marginal_rate for t in people) / n,
            "mean_hours": sum(t.hours for t in people) / n,
        }
