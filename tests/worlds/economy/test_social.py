"""Social metrics, tax schedules and settling a period (the family's shared rules)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.core.errors import ConfigError
from sandbox.worlds.economy import social
from sandbox.worlds.economy import tax_schedule as ts
from sandbox.worlds.economy.labor import settle
from sandbox.worlds.economy.utility import UtilityParams

F64 = torch.float64
US_RATES = [0.10, 0.12, 0.22, 0.24, 0.32, 0.35, 0.37]


def foundation_cutoffs():
    dollars, _ = ts.us_federal_brackets("foundation")
    return torch.tensor(dollars, dtype=F64) / 1000


# ------------------------------------------------------------------------ Gini
@pytest.mark.parametrize(("values", "expected"), [
    ([0, 0, 0, 1], 1.0),          # one holds everything: 1 with the N/(N-1) rule
    ([1, 2, 3, 4], 1 / 3),        # 20 / (2*4*10) * 4/3
    ([5, 5, 5], 0.0),
    ([0, 0], 0.0),                # nothing to share: equal
    ([0, 1], 1.0),
])
def test_gini_known_values(values, expected):
    assert float(social.gini(torch.tensor(values, dtype=F64))) == pytest.approx(expected)


def test_small_sample_rule_switches_off_at_thirty():
    for n in (29, 30, 40):
        one_rich = torch.zeros(n, dtype=F64)
        one_rich[0] = 7.0
        expected = 1.0 if n < social.SMALL_SAMPLE else (n - 1) / n
        assert float(social.gini(one_rich)) == pytest.approx(expected)


@pytest.mark.parametrize("n", [2, 29, 30, 1000, 1_000_000])
def test_gini_of_one_to_n_closed_form(n):
    # x_i = i: sum_ij |i - j| = (N^3 - N)/3, so Gini = (N - 1)/(3N), times N/(N-1) if N < 30.
    gini = float(social.gini(torch.arange(1, n + 1, dtype=F64)))
    expected = (n - 1) / (3 * n) * (n / (n - 1) if n < social.SMALL_SAMPLE else 1)
    assert gini == pytest.approx(expected, rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 1e4), min_size=2, max_size=60), st.floats(0.01, 100))
def test_gini_invariant_to_order_and_scale_and_bounded(values, scale):
    x = torch.tensor(values, dtype=F64)
    g = float(social.gini(x))
    assert -1e-12 <= g <= 1 + 1e-12
    assert float(social.gini(x.flip(0))) == pytest.approx(g, abs=1e-9)
    assert float(social.gini(x * scale)) == pytest.approx(g, abs=1e-9)


def test_gini_is_batched_over_leading_dims():
    x = torch.tensor([[0, 0, 0, 1], [1, 2, 3, 4.0]], dtype=F64)
    assert social.gini(x).tolist() == pytest.approx([1.0, 1 / 3])


def test_objectives_known_values():
    consumption = torch.tensor([[2.0, 6.0]], dtype=F64)
    income = torch.tensor([[0.5, 4.0]], dtype=F64)
    utility = torch.tensor([[1.0, 3.0]], dtype=F64)
    # Gini = sum_ij |c_i - c_j| / (2 N sum c) * N/(N-1) = 8/32 * 2 = 0.5; mean c = 4
    assert float(social.equality_times_productivity(consumption)) == pytest.approx(2.0)
    # weights 1/max(z,1): 1 and 1/4, normalised 0.8 and 0.2
    expected = 0.8 * 1.0 + 0.2 * 3.0
    assert float(social.inverse_income_weighted_utility(utility, income)) == pytest.approx(expected)
    kw = dict(consumption=consumption, income=income, utility=utility)
    assert float(social.social_welfare("utilitarian_welfare", **kw)) == pytest.approx(2.0)
    with pytest.raises(ConfigError, match="planner_objective"):
        social.social_welfare("happiness", **kw)


# --------------------------------------------------------------- tax schedule
def test_tax_owed_known_value_with_us_brackets():
    cutoffs = foundation_cutoffs()
    rates = torch.tensor([US_RATES], dtype=F64)
    income = torch.tensor([[50.0, 0.0, 9.7]], dtype=F64)
    expected = 9.7 * 0.10 + (39.475 - 9.7) * 0.12 + (50 - 39.475) * 0.22
    assert ts.tax_owed(income, cutoffs, rates)[0].tolist() == pytest.approx([expected, 0, 0.97])
    assert ts.marginal_rate(income, cutoffs, rates)[0].tolist() == [0.22, 0.10, 0.12]  # kinks go up


def test_tax_before_bracket_is_tax_at_each_cutoff():
    cutoffs = foundation_cutoffs()
    rates = torch.tensor([US_RATES], dtype=F64)
    at_cutoffs = ts.tax_owed(cutoffs.unsqueeze(0), cutoffs, rates)
    assert torch.allclose(ts.tax_before_bracket(cutoffs, rates), at_cutoffs)


rate_lists = st.lists(st.floats(0.0, 1.0), min_size=7, max_size=7)


@settings(max_examples=40, deadline=None)
@given(rate_lists)
def test_schedule_continuous_and_monotone_for_nonnegative_rates(rates):
    cutoffs = foundation_cutoffs()
    r = torch.tensor([rates], dtype=F64)
    grid = torch.linspace(0, 700, 7001, dtype=F64).unsqueeze(0)
    tax = ts.tax_owed(grid, cutoffs, r)[0]
    assert bool((tax[1:] >= tax[:-1] - 1e-12).all())
    eps = 1e-7
    around = torch.stack([cutoffs - eps, cutoffs + eps], -1).reshape(1, -1)
    values = ts.tax_owed(around, cutoffs, r)[0].view(-1, 2)
    assert bool(((values[:, 1] - values[:, 0]).abs() <= 2.001 * eps).all())  # <= rate * 2 eps


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 1e3), min_size=1, max_size=30))
def test_income_in_brackets_sums_to_income(incomes):
    z = torch.tensor([incomes], dtype=F64)
    parts = ts.income_in_brackets(z, foundation_cutoffs())
    assert torch.allclose(parts.sum(-1), z)
    assert bool((parts >= 0).all())


@pytest.mark.parametrize("cutoffs", [[0, 10, 10], [0, 10, 5], [1, 2], [], [0, float("inf")]])
def test_bad_cutoffs_raise(cutoffs):
    with pytest.raises(ConfigError, match="cutoffs"):
        ts.validate_cutoffs(cutoffs)


@pytest.mark.parametrize("rates", [[-0.1, 0.2], [0.1, 1.2], [0.1]])
def test_bad_rates_raise(rates):
    with pytest.raises(ConfigError, match="rates"):
        ts.validate_rates(rates, 2)


def test_unknown_bracket_set_raises():
    with pytest.raises(ConfigError, match="brackets"):
        ts.us_federal_brackets("us1999")


# --------------------------------------------------------------------- settle
def settle_random(skills, hours, rates, cutoffs=None):
    cutoffs = foundation_cutoffs() if cutoffs is None else cutoffs
    return settle(torch.tensor(skills, dtype=F64), torch.tensor([hours], dtype=F64),
                  cutoffs=cutoffs, rates=torch.tensor([rates], dtype=F64),
                  utility_params=UtilityParams(kappa=0.015))


skill_lists = st.lists(st.floats(0.0, 50.0), min_size=2, max_size=40)


@settings(max_examples=40, deadline=None)
@given(skill_lists, rate_lists, st.integers(0, 2**31 - 1))
def test_settle_conserves_money_and_keeps_order(skills, rates, seed):
    g = torch.Generator().manual_seed(seed)
    hours = (torch.rand(len(skills), generator=g, dtype=F64) * 100).tolist()
    out = settle_random(skills, hours, rates)
    n = len(skills)
    assert float(out.revenue[0]) == pytest.approx(float(out.lump_sum[0]) * n, rel=1e-9, abs=1e-9)
    assert float(out.consumption.sum()) == pytest.approx(float(out.income.sum()), rel=1e-9,
                                                         abs=1e-9)
    assert bool((out.tax <= out.income + 1e-9).all()) and bool((out.tax >= 0).all())
    # with marginal rates <= 1, richer before tax is never poorer after
    order = torch.argsort(out.income[0])
    c = out.consumption[0, order]
    assert bool((c[1:] >= c[:-1] - 1e-9).all())


@settings(max_examples=30, deadline=None)
@given(skill_lists, st.integers(0, 2**31 - 1))
def test_free_market_leaves_equality_at_pretax_value(skills, seed):
    g = torch.Generator().manual_seed(seed)
    hours = (torch.rand(len(skills), generator=g, dtype=F64) * 100).tolist()
    out = settle_random(skills, hours, [0.0] * 7)
    assert float(social.equality(out.consumption)) == pytest.approx(
        float(social.equality(out.income)), abs=1e-12)
    assert float(out.revenue[0]) == 0.0


@settings(max_examples=30, deadline=None)
@given(skill_lists, st.floats(0.0, 1.0), st.integers(0, 2**31 - 1))
def test_flat_tax_scales_gini_by_one_minus_rate(skills, tau, seed):
    # c = (1 - tau) z + tau mean(z) has the same mean, so Gini(c) = (1 - tau) Gini(z).
    g = torch.Generator().manual_seed(seed)
    hours = (torch.rand(len(skills), generator=g, dtype=F64) * 100).tolist()
    out = settle_random(skills, hours, [tau] * 7)
    assert float(social.gini(out.consumption)) == pytest.approx(
        (1 - tau) * float(social.gini(out.income)), abs=1e-9)


def test_settle_broadcasts_skills_over_environments():
    skills = torch.tensor([1.0, 2.0, 3.0])
    hours = torch.tensor([[10.0, 10.0, 10.0], [0.0, 5.0, 50.0]])
    rates = torch.full((2, 2), 0.5)
    out = settle(skills, hours, cutoffs=torch.tensor([0.0, 25.0]), rates=rates,
                 utility_params=UtilityParams())
    assert out.income.tolist() == [[10, 20, 30], [0, 10, 150]]
    assert out.lump_sum.tolist() == pytest.approx([10.0, 80 / 3])
