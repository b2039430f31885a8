"""Worker utility of consumption and labour, and the planners' social welfare weights.

Two families, both with a parameter per modelling choice:

- ``isoelastic``: ``u = (c^(1-eta) - 1)/(1-eta) - kappa * L^delta`` (log c when
  ``eta == 1``). Foundation's one-step worker is ``eta = 0`` (linear in c, up to the
  constant -1), ``delta = 2``, ``kappa = 1``; its Gather-Trade-Build worker is
  ``eta = 0.23`` with linear labour cost.
- ``quasilinear``: ``u = c - kappa * L^(1+1/e) / (1+1/e)``, no income effects and a
  constant elasticity ``e`` of labour (and income) with respect to the net-of-tax rate:
  the setting of Saez's (2001) optimal-rate formula.

Consumption ``c`` is post-tax income plus the lump-sum transfer; ``L`` is labour hours.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sandbox.core.errors import ConfigError, check_range

#: Floor on consumption inside the isoelastic term, so that ``eta >= 1`` never meets 0.
MIN_CONSUMPTION = 1e-6


@dataclass(frozen=True)
class UtilityParams:
    """Worker utility parameters.

    Attributes:
        form: ``"isoelastic"`` or ``"quasilinear"``.
        eta: isoelastic curvature of consumption utility (0 = linear), >= 0.
        kappa: weight of the labour cost, > 0.
        delta: isoelastic labour cost exponent (> 1 for an interior optimum).
        elasticity: quasilinear elasticity of labour supply ``e`` (> 0).
    """

    form: str = "isoelastic"
    eta: float = 0.0
    kappa: float = 1.0
    delta: float = 2.0
    elasticity: float = 0.5

    def __post_init__(self):
        if self.form not in ("isoelastic", "quasilinear"):
            raise ConfigError("utility.form", self.form, "'isoelastic' or 'quasilinear'")
        check_range("utility.eta", self.eta, low=0.0)
        check_range("utility.kappa", self.kappa, low=0.0, low_open=True)
        check_range("utility.delta", self.delta, low=1.0, low_open=True)
        check_range("utility.elasticity", self.elasticity, low=0.0, low_open=True)

    @property
    def labor_exponent(self) -> float:
        """Exponent of hours in the labour cost (``delta``, or ``1 + 1/e``)."""
        return self.delta if self.form == "isoelastic" else 1.0 + 1.0 / self.elasticity

    @property
    def labor_coefficient(self) -> float:
        """Coefficient of ``L^exponent`` in the labour cost."""
        if self.form == "isoelastic":
            return self.kappa
        return self.kappa / self.labor_exponent

    @property
    def net_of_tax_elasticity(self) -> float | None:
        """Elasticity of income with respect to ``1 - tau`` when it is a constant.

        Quasilinear: ``e``. Isoelastic with ``eta == 0``: ``1/(delta - 1)``. Otherwise
        income effects make it depend on the point, and this is None.
        """
        if self.form == "quasilinear":
            return self.elasticity
        if self.eta == 0.0:
            return 1.0 / (self.delta - 1.0)
        return None


def consumption_utility(consumption: torch.Tensor, params: UtilityParams) -> torch.Tensor:
    """Utility of consumption alone, elementwise (coin -> utils)."""
    if params.form == "quasilinear" or params.eta == 0.0:
        if params.form == "isoelastic":
            return consumption - 1.0
        return consumption
    c = consumption.clamp(min=MIN_CONSUMPTION)
    if params.eta == 1.0:
        return torch.log(c)
    return (c.pow(1.0 - params.eta) - 1.0) / (1.0 - params.eta)


def labor_cost(hours: torch.Tensor, params: UtilityParams) -> torch.Tensor:
    """Disutility of ``hours`` of labour, elementwise."""
    return params.labor_coefficient * hours.clamp(min=0.0).pow(params.labor_exponent)


def utility(consumption: torch.Tensor, hours: torch.Tensor, params: UtilityParams):
    """Worker utility ``u(c, L)``, elementwise; shapes broadcast."""
    return consumption_utility(consumption, params) - labor_cost(hours, params)


def inverse_income_weights(income: torch.Tensor) -> torch.Tensor:
    """Foundation's planner weights ``p_i ∝ 1/max(z_i, 1)``, normalised over the last dim."""
    inverse = 1.0 / income.clamp(min=1.0)
    return inverse / inverse.sum(-1, keepdim=True)
