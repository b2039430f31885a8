"""A day's pay: wages of those who work, isolation support, and the flat tax that funds it.

Employed residents who work (not isolating, not in hospital, alive) earn their daily wage.
Employed residents who are alive but do not work (isolating or in hospital) claim the
stimulus share ``s`` of their wage. The claims are financed the same day by a flat tax
on earnings at rate ``tau = min(claims / earnings, max_tax_rate)``; when the cap binds the
payments are scaled down to the revenue. So the budget balances every day and the sum of
net incomes equals the earnings (output): transfers move income, they do not create it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sandbox.worlds.population.groups import count_per_env


@dataclass
class DaySettlement:
    """What a day paid, batched over environments.

    Attributes:
        net_income: ``[B, M]`` after-tax earnings plus support, dollars.
        output: ``[B]`` total earnings (income produced), dollars.
        transfers: ``[B]`` total support paid, dollars.
        tax_rate: ``[B]`` flat tax rate on earnings.
        working: ``[B]`` int64 employed residents who worked.
    """

    net_income: torch.Tensor
    output: torch.Tensor
    transfers: torch.Tensor
    tax_rate: torch.Tensor
    working: torch.Tensor


def settle_day(
    works: torch.Tensor, claims_support: torch.Tensor, *, wage: torch.Tensor,
    stimulus: torch.Tensor, max_tax_rate: float,
) -> DaySettlement:
    """Pay a day's wages and support, and levy the tax that balances the budget.

    Args:
        works: ``[B, M]`` uint8 (or bool) 1 if employed and at work today.
        claims_support: ``[B, M]`` uint8 (or bool) 1 if employed, alive and not at work.
        wage: ``[M]`` daily wage, dollars, in the float dtype of incomes.
        stimulus: ``[B]`` share of the wage paid to those who claim support.
        max_tax_rate: cap on the tax rate.
    """
    # bytes convert to float several times faster than bool does on the CPU
    works_f = works.view(torch.uint8).to(wage.dtype) if works.dtype == torch.bool \
        else works.to(wage.dtype)
    claims_f = claims_support.view(torch.uint8).to(wage.dtype) \
        if claims_support.dtype == torch.bool else claims_support.to(wage.dtype)
    stimulus = stimulus.to(wage.dtype)
    output = works_f @ wage
    claimed = (claims_f @ wage) * stimulus
    tax_rate = torch.where(output > 0, (claimed / output.clamp(min=1e-12)).clamp(max=max_tax_rate),
                           0.0)
    revenue = tax_rate * output
    payout = torch.where(claimed > 0, (revenue / claimed.clamp(min=1e-12)).clamp(max=1.0), 0.0)
    # net_i = wage_i * (works_i * (1 - tau) + claims_i * s * payout)
    share = works_f.mul_((1.0 - tax_rate).unsqueeze(-1))
    share.add_(claims_f.mul_((stimulus * payout).unsqueeze(-1)))
    return DaySettlement(net_income=share.mul_(wage), output=output, transfers=claimed * payout,
                         tax_rate=tax_rate, working=count_per_env(works))
