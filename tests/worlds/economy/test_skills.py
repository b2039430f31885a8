"""Worker skills: Foundation's order statistics and the US wage distribution."""

import csv

import pytest
import torch

from sandbox.core.errors import ConfigError
from sandbox.worlds.economy import skills as sk


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_foundation_quantile_known_values():
    p = torch.tensor([0.0, 1 - 2.0**-4, 0.99], dtype=torch.float64)
    # (1/16)^(-1/4) - 1 = 1 -> 2*1 + 1 = 3: the cap is reached exactly at p = 15/16
    assert sk.foundation_quantile(p).tolist() == pytest.approx([1.0, 3.0, 3.0])
    mid = torch.tensor([0.5], dtype=torch.float64)
    assert float(sk.foundation_quantile(mid)) == pytest.approx(2 * (2**0.25 - 1) + 1)


def test_foundation_four_workers_match_foundation_published_multipliers():
    # Foundation's fixed 4-agent build payments are 11.33, 13.27, 16.47, 22.25 coin for a
    # base payment of 10: the same mean order statistics (Monte Carlo, 1,000 reps).
    skills = sk.foundation_skills(4, generator=gen(0))
    assert skills.tolist() == pytest.approx([1.133, 1.327, 1.647, 2.225], abs=0.06)


@pytest.mark.parametrize("n", [2, 50, 10_001])
def test_foundation_skills_sorted_in_range_float32(n):
    skills = sk.foundation_skills(n, generator=gen(1))
    assert skills.shape == (n,) and skills.dtype == torch.float32
    assert bool((skills[1:] >= skills[:-1]).all())
    assert float(skills.min()) >= 1.0 and float(skills.max()) <= 3.0


def test_large_n_uses_deterministic_quantile_approximation():
    n = sk.FOUNDATION_MC_MAX_WORKERS + 1
    a = sk.foundation_skills(n)  # no generator needed above the Monte Carlo limit
    ranks = torch.arange(1, n + 1, dtype=torch.float64) / (n + 1)
    assert torch.equal(a, sk.foundation_quantile(ranks).float())
    assert torch.equal(a, sk.foundation_skills(n, generator=gen(5)))


def test_quantile_approximation_close_to_monte_carlo_away_from_the_top():
    n = 1000
    mc = sk.foundation_skills(n, generator=gen(2), reps=200)
    approx = sk.foundation_skills(n, mc_max_workers=0)
    middle = slice(n // 20, int(0.85 * n))
    assert float((mc - approx)[middle].abs().max()) < 0.02


def test_monte_carlo_needs_generator_and_is_seeded():
    with pytest.raises(ValueError):
        sk.foundation_skills(10)
    assert torch.equal(sk.foundation_skills(10, generator=gen(3)),
                       sk.foundation_skills(10, generator=gen(3)))
    assert not torch.equal(sk.foundation_skills(10, generator=gen(3)),
                           sk.foundation_skills(10, generator=gen(4)))


def test_wage_fit_reproduces_published_percentiles_and_mean():
    quantiles, wages, mean = sk.load_wage_percentiles()
    dist = sk.us_wage_distribution()
    fitted = dist.quantile(torch.tensor(quantiles, dtype=torch.float64))
    assert fitted.tolist() == pytest.approx(wages, rel=0.08)
    assert dist.mean == pytest.approx(mean, rel=0.08)
    assert 1.5 < dist.alpha < 2.5  # a Pareto tail index in the range measured for US wages


def test_wage_quantile_continuous_at_tail_and_increasing():
    dist = sk.us_wage_distribution()
    t = dist.tail_start
    around = torch.tensor([t - 1e-9, t, t + 1e-9], dtype=torch.float64)
    values = dist.quantile(around)
    assert float(values.max() - values.min()) < 1e-5
    grid = torch.linspace(0.001, 0.999, 999, dtype=torch.float64)
    q = dist.quantile(grid)
    assert bool((q[1:] > q[:-1]).all())


def test_wage_mean_matches_numerical_integral():
    dist = sk.us_wage_distribution()
    u = (torch.arange(2_000_000, dtype=torch.float64) + 0.5) / 2_000_000
    body = u <= 0.999  # the far tail converges slowly; integrate it in closed form
    numeric = float(dist.quantile(u[body]).sum() / 2_000_000)
    tail_from = dist.quantile(torch.tensor([0.999], dtype=torch.float64)).item()
    numeric += 0.001 * tail_from * dist.alpha / (dist.alpha - 1)
    assert numeric == pytest.approx(dist.mean, rel=1e-3)


def test_us_wage_skills_scale_and_order():
    n = 20_000
    skills = sk.us_wage_skills(n, generator=gen(0))
    assert skills.dtype == torch.float32 and bool((skills[1:] >= skills[:-1]).all())
    median_wage = float(sk.us_wage_distribution().quantile(torch.tensor([0.5]).double()))
    assert float(skills.median()) == pytest.approx(median_wage * 50 / 1000, rel=0.03)
    doubled = sk.us_wage_skills(n, generator=gen(0), usd_scaling=500.0)
    assert torch.allclose(doubled, 2 * skills, rtol=1e-6)


def test_draw_skills_dispatch_and_unknown_source():
    assert torch.equal(sk.draw_skills("foundation", 5, generator=gen(1)),
                       sk.foundation_skills(5, generator=gen(1)))
    with pytest.raises(ConfigError, match="skill_source"):
        sk.draw_skills("pareto", 5, generator=gen(1))


def test_wage_file_has_a_readme_naming_its_source():
    readme = (sk.WAGES_FILE.parent / "README.md").read_text()
    assert sk.WAGES_FILE.name in readme and "Occupational Employment and Wage Statistics" in readme
    with sk.WAGES_FILE.open() as handle:
        rows = list(csv.DictReader(handle))
    assert {r["statistic"] for r in rows} >= {"median", "mean"}


def test_bad_wage_file_is_a_config_error(tmp_path):
    path = tmp_path / "wages.csv"
    path.write_text("statistic,quantile,hourly_wage_usd\nmedian,0.5,20\n")
    with pytest.raises(ConfigError):
        sk.load_wage_percentiles(path)


def test_remembered_monte_carlo_equals_a_fresh_draw_and_advances_the_stream_alike():
    sk._MC_MEMO.clear()
    first = torch.Generator().manual_seed(11)
    fresh = sk.foundation_skills(50, generator=first)
    fresh_next = torch.rand(3, generator=first)
    assert len(sk._MC_MEMO) == 1
    again = torch.Generator().manual_seed(11)
    remembered = sk.foundation_skills(50, generator=again)
    assert torch.equal(remembered, fresh)
    assert torch.equal(torch.rand(3, generator=again), fresh_next)
    remembered[0] = -1.0  # callers own their copy
    assert torch.equal(sk.foundation_skills(50, generator=torch.Generator().manual_seed(11)),
                       fresh)
    other = sk.foundation_skills(50, generator=torch.Generator().manual_seed(12))
    assert not torch.equal(other, fresh)
    sk._MC_MEMO.clear()
    uncached = sk.foundation_skills(50, generator=torch.Generator().manual_seed(11))
    assert torch.equal(uncached, fresh)
