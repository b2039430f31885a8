"""Price-taking worker rewards in the one-step economy (``price_taking_rewards``)."""

import pytest
import torch

from sandbox.core.errors import ConfigError
from sandbox.worlds.economy.best_response import best_response_hours
from sandbox.worlds.economy.onestep import OneStepEconomy, OneStepParams
from sandbox.worlds.economy.utility import UtilityParams

RATES = [0.1, 0.0, 0.35, 0.3, 0.25, 0.4, 0.25]


def world(price_taking, num_envs, **params):
    w = OneStepEconomy(OneStepParams(num_workers=10, price_taking_rewards=price_taking,
                                     **params), num_envs=num_envs, seed=0)
    w.reset()
    return w


def episode(w, rates, hours):
    """Rewards and settled state for rates ``[K]`` and hours ``[B, N]`` (whole hours)."""
    levels = torch.tensor(rates).div(0.05).round().long()
    w.step({"planner": levels.expand(w.num_envs, 1, -1)})
    result = w.step({"workers": w.action_from_hours(hours)})
    return result.rewards["workers"], result.final_state, result.final_metrics


def test_state_metrics_and_planner_reward_are_unchanged():
    hours = torch.randint(0, 101, (4, 10), generator=torch.Generator().manual_seed(0)).float()
    plain, taking = world(False, 4), world(True, 4)
    r_plain, s_plain, m_plain = episode(plain, RATES, hours)
    r_taking, s_taking, m_taking = episode(taking, RATES, hours)
    assert torch.equal(r_plain, s_plain.utility)  # default: reward = utility
    assert torch.equal(s_plain.utility, s_taking.utility)
    for name in m_plain:
        assert torch.equal(m_plain[name], m_taking[name]), name
    # eta = 0: utility is linear in consumption, so the rewards differ by the transfers'
    # difference, (revenue - own tax) / (N - 1) - revenue / N, which sums to zero
    revenue = s_taking.tax.sum(-1, keepdim=True)
    shift = (revenue - s_taking.tax) / 9 - revenue / 10
    torch.testing.assert_close(r_taking - s_taking.utility, shift, atol=1e-4, rtol=0)
    torch.testing.assert_close(shift.sum(-1), torch.zeros(4), atol=1e-4, rtol=0)


def _best_deviation_gain(price_taking, utility=None) -> float:
    """Largest reward gain of one worker deviating from the exact best response profile."""
    params = {} if utility is None else {"utility": utility}
    w = world(price_taking, 101, **params)
    rates = torch.tensor([RATES], dtype=torch.float64)
    best = best_response_hours(w.skills, cutoffs=w.cutoffs, rates=rates,
                               lump_sum=torch.zeros(1, dtype=torch.float64),
                               utility_params=w.params.utility, hours_grid=w.hours_grid)
    gains = []
    for worker in range(10):  # one environment per hours choice of this worker
        hours = best.float().expand(101, -1).clone()
        hours[:, worker] = w.hours_grid
        rewards = episode(w, RATES, hours)[0][:, worker]
        gains.append(float(rewards.max() - rewards[int(best[0, worker])]))
    return max(gains)


def test_exact_best_responses_are_best_for_price_taking_rewards():
    """With price-taking rewards no worker gains by leaving the exact best response (the
    learned workers' target is the one they are compared with); with the equal share of
    the transfer some worker does (she earns back a tenth of her own tax)."""
    assert _best_deviation_gain(True) <= 1e-4
    assert _best_deviation_gain(False) > 0.1


def test_price_taking_rewards_must_be_a_bool():
    with pytest.raises(ConfigError, match="price_taking_rewards"):
        OneStepParams(price_taking_rewards="yes")
    assert OneStepParams(utility=UtilityParams()).price_taking_rewards is False
