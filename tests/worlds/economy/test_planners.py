"""Fixed-schedule planners: free market, US federal and fixed rates, validated and capped."""

import pytest
import torch

from sandbox.core.errors import ConfigError
from sandbox.core.registry import POLICIES
from sandbox.worlds.economy import planners  # noqa: F401  (registers the planners)
from sandbox.worlds.economy.onestep import OneStepEconomy, OneStepParams
from sandbox.worlds.economy.tax_schedule import us_federal_brackets


def world(rate_actions="continuous", num_envs=2, **overrides):
    params = OneStepParams(num_workers=10, rate_actions=rate_actions, **overrides)
    return OneStepEconomy(params, num_envs=num_envs)


def rates_set_by(w, policy):
    obs = w.reset()
    mask = w.action_masks().get("planner")
    action = policy.act(obs["planner"], mask)
    assert action.shape == (w.num_envs, 1, w.cutoffs.numel())
    assert action.dtype == w.roles["planner"].action_dtype()
    if mask is not None:  # every chosen level is allowed
        picked = mask.reshape(w.num_envs, -1, 21).gather(-1, action.reshape(w.num_envs, -1, 1))
        assert bool(picked.all())
    return w.step({"planner": action}).final_state.rates


def test_free_market_sets_every_rate_to_zero():
    for kind in ("continuous", "discrete"):
        w = world(kind)
        rates = rates_set_by(w, POLICIES.get("free_market")(w, "planner"))
        assert torch.equal(rates, torch.zeros(2, 7))


def test_us_federal_sets_the_statutory_rates():
    w = world("continuous")
    rates = rates_set_by(w, POLICIES.get("us_federal")(w, "planner"))
    statutory = torch.tensor(us_federal_brackets("foundation")[1])
    assert torch.allclose(rates, statutory.expand(2, -1))
    by_year = rates_set_by(w, POLICIES.get("us_federal")(w, "planner", year=2025))
    assert torch.allclose(by_year[0], torch.tensor(us_federal_brackets("us2025")[1]))
    by_name = rates_set_by(w, POLICIES.get("us_federal")(w, "planner", brackets="us2018"))
    assert torch.allclose(by_name[0], torch.tensor(us_federal_brackets("us2018")[1]))


def test_us_federal_on_the_discrete_grid_takes_the_nearest_levels():
    w = world("discrete")
    rates = rates_set_by(w, POLICIES.get("us_federal")(w, "planner"))
    expected = torch.tensor([0.10, 0.10, 0.20, 0.25, 0.30, 0.35, 0.35])  # .12->.10, .37->.35
    assert torch.allclose(rates[0], expected)


def test_fixed_rates_are_applied_and_capped():
    chosen = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    for kind in ("continuous", "discrete"):
        w = world(kind)
        policy = POLICIES.get("fixed_rates")(w, "planner", rates=chosen)
        assert torch.allclose(rates_set_by(w, policy)[1], torch.tensor(chosen))
        assert policy.describe() == {"policy": "fixed_rates", "rates": chosen}
        w.set_rate_cap(0.33)  # discrete: 0.33 would round up to the masked level 0.35
        capped = rates_set_by(w, policy)[0]
        top = 0.33 if kind == "continuous" else 0.30
        assert torch.allclose(capped, torch.tensor(chosen).clamp(max=top))


@pytest.mark.parametrize("rates", [
    None, "0.1", 0.3, [0.1] * 6, [0.1] * 8, [0.1] * 6 + [-0.1], [0.1] * 6 + [1.5],
    ["a"] * 7,
])
def test_fixed_rates_are_validated(rates):
    with pytest.raises(ConfigError, match="fixed_rates.rates"):
        POLICIES.get("fixed_rates")(world(), "planner", rates=rates)


def test_custom_brackets_need_a_matching_us_set():
    w = world(cutoffs=(0.0, 20.0, 100.0))
    with pytest.raises(ConfigError, match="us_federal.brackets"):
        POLICIES.get("us_federal")(w, "planner")
    rates = rates_set_by(w, POLICIES.get("fixed_rates")(w, "planner", rates=[0.1, 0.2, 0.3]))
    assert torch.allclose(rates[0], torch.tensor([0.1, 0.2, 0.3]))


@pytest.mark.parametrize("name, params, field", [
    ("us_federal", {"year": 1999}, "us_federal.year"),
    ("us_federal", {"brackets": "uk2020"}, "brackets"),
    ("us_federal", {"year": 2018, "brackets": "us2018"}, "us_federal.year"),
    ("us_federal", {"rates": [0.1]}, "us_federal.rates"),
    ("free_market", {"rates": [0.1]}, "free_market.rates"),
])
def test_bad_parameters_name_the_field(name, params, field):
    with pytest.raises(ConfigError, match=field):
        POLICIES.get(name)(world(), "planner", **params)


@pytest.mark.parametrize("name", ["free_market", "us_federal", "fixed_rates"])
def test_planners_drive_only_the_planner(name):
    with pytest.raises(ConfigError, match="role"):
        POLICIES.get(name)(world(), "workers", **({"rates": [0.1] * 7} if name == "fixed_rates"
                                                  else {}))
