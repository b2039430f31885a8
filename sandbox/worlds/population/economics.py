"""A day's pay: wages of those who work, isolation support, and the flat tax that funds it.

Employed residents who work (not isolating, not in hospital, alive) earn their daily wage.
Employed residents who are alive but do not work (isolating or in hospital) claim the
stimulus share ``s`` of their wage. The claims are financed the same day by a flat tax
on earnings at rate ``tau = min(claims / earnings, max_tax_rate)``; when the cap binds the
payments are scaled down to the revenue. So the budget balances every day and the sum of
net incomes equals the earnings (output): transfers move income, they do not create it.

The day is settled from the residents the disease kernel lists (``disease.advance_day``:
everyone in E, A, P, I, H or D, or isolating). Everyone else is at large and goes out,
so works if employed: its pay is ``wage * (1 - tau)`` without looking at it, and the
day's totals are the whole city's minus what the listed residents do not earn. The
listed residents are counted by a key ``16 * employed + 2 * state + isolating``
(:func:`pay_tables`) in two ``bincount`` calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from sandbox.worlds.population.arrays import Arrays

#: Columns of the per-key counts (:class:`PayTables`).
ABSENT, CLAIMS, ISOLATING = range(3)
#: Keys per environment: 16 * employed + 2 * state + isolating.
KEYS = 32


@dataclass
class DaySettlement:
    """What a day paid, batched over environments.

    Net incomes are ``wage * keep`` for everyone but the listed residents (the employed
    earn their wage after tax, the others nothing), and ``listed_income`` for those.

    Attributes:
        keep: ``[B, 1]`` share of the wage kept after tax (``1 - tau``), incomes' dtype.
        listed: ``[L]`` int64 flat indices of the listed residents.
        listed_income: ``[L]`` their net incomes, dollars.
        columns: five ``[B, 1]`` float64: employed residents who worked, residents at
            large who isolated, output (total earnings) and transfers (support paid),
            dollars, and the flat tax rate on earnings.
    """

    keep: torch.Tensor
    listed: torch.Tensor
    listed_income: torch.Tensor
    columns: tuple[torch.Tensor, ...]

    @property
    def summary(self) -> torch.Tensor:
        """``[B, 5]`` float64 :attr:`columns` side by side."""
        return torch.cat(self.columns, 1)

    def add_to(self, income: torch.Tensor, wage: torch.Tensor) -> torch.Tensor:
        """``[B, M]`` a new tensor: ``income`` ``[B, M]`` plus the day's net incomes."""
        total = torch.addcmul(income, wage, self.keep)
        total.view(-1).index_put_((self.listed,), income.view(-1).index_select(0, self.listed)
                                  .add_(self.listed_income))
        return total

    def net_income(self, wage: torch.Tensor, *, scale: float = 1.0) -> torch.Tensor:
        """``[B, M]`` the day's net incomes times ``scale``, in ``wage``'s dtype."""
        net = wage * (self.keep * scale)
        net.view(-1).index_put_((self.listed,), self.listed_income * scale)
        return net


@dataclass
class PayTables:
    """Constants of a city's pay, by key ``16 * employed + 2 * state + isolating``.

    Attributes:
        counts: ``[32, 3]`` float64: 1 if the key is an employed resident absent from
            work, one who claims support (absent and alive), a resident at large who
            isolates.
        shares: ``[2, 32]`` incomes' dtype: 1 where the key earns its wage (employed, at
            large, going out), and 1 where it claims support.
        potential: ``[1, 2]`` float64 ``(potential output, 0)``.
        max_tax_rate: cap on the tax rate.
        keep: ``[1, 2]`` float64 ``(1, 0)`` and ``(-1, 1)``: ``(1 - tau, share)`` of
            ``(tau, share)`` as ``keep[0] + keep[1] * (tau, share)``.
        num_employed: employed residents.
        views: NumPy views of these tensors, made once (``arrays.Arrays.const``).
    """

    counts: torch.Tensor
    shares: torch.Tensor
    potential: torch.Tensor
    max_tax_rate: float
    keep: tuple[torch.Tensor, torch.Tensor]
    num_employed: int
    views: dict = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, at_large, alive, *, potential_output: float, num_employed: int,
              max_tax_rate: float, dtype=torch.float32, device="cpu") -> PayTables:
        """From the states at large (S to R) and alive (all but D), as lists of bools."""
        counts = torch.zeros(KEYS, 3, dtype=torch.float64)
        shares = torch.zeros(2, KEYS, dtype=dtype)
        for employed in (0, 1):
            for state, (large, living) in enumerate(zip(at_large, alive)):
                for isolating in (0, 1):
                    key = 16 * employed + 2 * state + isolating
                    works = bool(employed and large and not isolating)
                    absent = bool(employed) and not works
                    counts[key] = torch.tensor([absent, absent and living, isolating and large],
                                               dtype=torch.float64)
                    shares[:, key] = torch.tensor([works, absent and living], dtype=dtype)
        def row(*values):
            return torch.tensor([values], dtype=torch.float64, device=device)

        return cls(counts.to(device), shares.to(device), row(potential_output, 0.0),
                   float(max_tax_rate), (row(1.0, 0.0), row(-1.0, 1.0)), num_employed)


@dataclass
class Support:
    """The stimulus in force, ``[B]`` shares ``s``, as the day's settlement reads it.

    Attributes:
        claims: ``[B, 2]`` float64 ``(-1, s)``: output is potential output minus the
            absent's wages, claims are ``s`` times the claimants' wages.
        paid: ``[B, 2]`` float64 ``(1, s)``.
    """

    claims: torch.Tensor
    paid: torch.Tensor

    @classmethod
    def at(cls, stimulus: torch.Tensor) -> Support:
        """From ``stimulus`` ``[B]`` float64."""
        paid = torch.stack([torch.ones_like(stimulus), stimulus], 1)
        return cls(paid * torch.tensor([-1.0, 1.0], dtype=paid.dtype, device=paid.device), paid)


def settle_day(listed: torch.Tensor, code: torch.Tensor, *, wage: torch.Tensor,
               employed: torch.Tensor, support: Support, tables: PayTables) -> DaySettlement:
    """Pay a day's wages and support, and levy the tax that balances the budget.

    Args:
        listed: ``[L]`` int64 flat indices ``b * M + i`` of the listed residents; everyone
            else is at large and goes out.
        code: ``[L]`` int64 ``2 * state + isolating`` of each.
        wage: ``[M]`` daily wage, dollars, 0 unless employed, in the float dtype of incomes.
        employed: ``[M]`` uint8, 1 if employed.
        support: the stimulus in force.
        tables: the city's :class:`PayTables`.
    """
    batch, residents = support.paid.shape[0], wage.shape[0]
    xp = Arrays.on(listed.device, views=tables.views)
    listed_a, wage_a = xp.array(listed), xp.const(wage)
    person = listed_a if batch == 1 else listed_a % residents
    paid = wage_a[person]
    key = xp.array(code) + xp.int64(xp.const(employed)[person]) * 16
    if batch > 1:
        key = key + listed_a // residents * KEYS
    per_key = xp.stack([xp.float64(xp.bincount(key, minlength=batch * KEYS)),
                        xp.bincount(key, weights=xp.float64(paid), minlength=batch * KEYS)])
    # [2, B, 3]: residents absent, claiming and isolating, then their wages
    totals = (per_key.reshape(2 * batch, KEYS) @ xp.const(tables.counts)).reshape(2, batch, 3)
    # [B, 2]: output and claims; the tax covers the claims up to its cap, so the
    # transfers are min(claims, cap * output), the tax rate transfers / output and each
    # claim is paid in the share transfers / claims (0 / 0: nothing earned or claimed)
    owed = (xp.const(tables.potential) + totals[1][:, :2] * xp.array(support.claims)).clip(min=0)
    transfers = xp.minimum(owed[:, :1] * tables.max_tax_rate, owed[:, 1:])
    shares = transfers * xp.array(support.paid) / owed.clip(min=1e-300)
    # (1 - tau, s * transfers / claims): what working and claiming pay per dollar of wage
    keep_shift, keep_sign = (xp.const(k) for k in tables.keep)
    rates = xp.astype(keep_shift + shares * keep_sign, wage_a)
    listed_income = (rates @ xp.const(tables.shares)).reshape(-1)[key] * paid
    columns = (tables.num_employed - totals[0][:, :1], totals[0][:, 2:3], owed[:, :1],
               transfers, shares[:, :1])
    return DaySettlement(xp.tensor(rates[:, :1]), listed, xp.tensor(listed_income),
                         tuple(xp.tensor(c) for c in columns))
