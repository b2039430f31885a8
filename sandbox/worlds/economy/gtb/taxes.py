"""Periodic bracket tax: rates set at a period's start, income over the period taxed at its end.

Rules (Foundation's ``PeriodicBracketTax`` component, as facts; the shortfall rule is
ours): the planner acts in the first step of every ``tax_period`` steps and its rates
hold for the period. When the period's last step is done, each worker's income over the
period (``earned`` now minus ``earned`` when the period began: house payments plus sales
minus purchases) is taxed by the bracket schedule (``tax_schedule.tax_owed``; a negative
income pays nothing), and the revenue is paid back to every worker as an equal lump sum,
so coin is conserved. A worker whose available coin falls short of its tax (the rest is
escrowed in bids) first has its bids cancelled and refunded; since its tax never
exceeds its income, it can then always pay.
"""

from __future__ import annotations

import torch

from sandbox.worlds.economy.tax_schedule import tax_owed


def period_taxes(earned: torch.Tensor, period_start: torch.Tensor, rates: torch.Tensor,
                 cutoffs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Incomes, taxes and the lump sum of a tax period that just ended.

    Args:
        earned: ``[B, N]`` float32 pre-tax income in the episode so far, coin.
        period_start: ``[B, N]`` float32 ``earned`` when the period began.
        rates: ``[B, K]`` float32 marginal rates of the period.
        cutoffs: ``[K]`` float32 bracket lower cutoffs, coin.

    Returns:
        ``(income, tax, lump_sum)``: ``[B, N]`` period income, ``[B, N]`` tax and ``[B]``
        lump sum per worker (revenue / N), coin.
    """
    income = earned - period_start
    tax = tax_owed(income.clamp(min=0.0), cutoffs, rates)
    return income, tax, tax.sum(-1) / tax.shape[-1]
