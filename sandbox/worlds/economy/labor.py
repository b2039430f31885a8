"""Settling a labour period: incomes, bracket taxes, the lump-sum transfer and utility.

One pure function shared by the one-step world's kernel, the Mesa reference, the exact
best responses and the planners' searches, so that all of them price a choice of hours
the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sandbox.worlds.economy.tax_schedule import tax_owed
from sandbox.worlds.economy.utility import UtilityParams, utility


@dataclass
class Outcome:
    """What a labour period produced, batched over environments.

    Attributes:
        hours: ``[B, N]`` labour hours chosen.
        income: ``[B, N]`` pre-tax income ``z = skill * hours``, coin.
        tax: ``[B, N]`` tax paid, coin.
        lump_sum: ``[B]`` equal transfer to every worker (revenue / N), coin.
        consumption: ``[B, N]`` post-tax income plus the transfer, coin.
        utility: ``[B, N]`` worker utility.
    """

    hours: torch.Tensor
    income: torch.Tensor
    tax: torch.Tensor
    lump_sum: torch.Tensor
    consumption: torch.Tensor
    utility: torch.Tensor

    @property
    def revenue(self) -> torch.Tensor:
        """``[B]`` total tax collected, coin (equal to the total transfer)."""
        return self.tax.sum(-1)


def settle(
    skill: torch.Tensor,
    hours: torch.Tensor,
    *,
    cutoffs: torch.Tensor,
    rates: torch.Tensor,
    utility_params: UtilityParams,
) -> Outcome:
    """Incomes, taxes, the equal lump-sum transfer of all revenue, and utility.

    Args:
        skill: ``[B, N]`` (or ``[N]``, broadcast) coin earned per hour.
        hours: ``[B, N]`` labour hours.
        cutoffs: ``[K]`` bracket lower cutoffs, coin.
        rates: ``[B, K]`` marginal rates per environment.
        utility_params: worker utility.
    """
    income = skill * hours
    if income.dim() == 1:
        income = income.unsqueeze(0).expand(rates.shape[0], -1)
    tax = tax_owed(income, cutoffs, rates)
    lump_sum = tax.mean(-1)
    consumption = income - tax + lump_sum.unsqueeze(-1)
    return Outcome(
        hours=hours.expand_as(income),
        income=income,
        tax=tax,
        lump_sum=lump_sum,
        consumption=consumption,
        utility=utility(consumption, hours, utility_params),
    )
