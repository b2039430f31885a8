"""D2RL: the learned control level on top of NADE, its training and its estimator."""

import math

import pytest
import torch

from sandbox.core import ConfigError
from sandbox.solvers.d2rl import D2rlAdversary, D2rlConfig, train_d2rl
from sandbox.worlds.traffic import HighwayWorld, IdmMobilPolicy
from sandbox.worlds.traffic.testing import NadeAdversary, run_campaign
from sandbox.worlds.traffic.testing.studies import matching_surrogate
from tests.worlds.traffic.settings import RECKLESS, TINY


def test_full_control_level_reproduces_nade_exactly():
    # with every level 1 the learned policy has no say: the same draws as NADE
    world = HighwayWorld(TINY, num_envs=16, seed=0)
    av = IdmMobilPolicy(world, **RECKLESS)
    surrogate = matching_surrogate(world, RECKLESS)
    nade = run_campaign(world, av, n_tests=32, seed=5,
                        adversary=NadeAdversary(world, surrogates=[surrogate]))
    learned = D2rlAdversary(world, surrogates=[surrogate], config=D2rlConfig(levels=(1.0, 1.0)))
    d2rl = run_campaign(world, av, n_tests=32, seed=5, adversary=learned)
    assert torch.equal(nade.crash, d2rl.crash)
    assert torch.allclose(nade.weight, d2rl.weight)
    assert nade.controlled.sum() > 0


def test_zero_control_level_is_the_naturalistic_model():
    world = HighwayWorld(TINY, num_envs=16, seed=0)
    av = IdmMobilPolicy(world, **RECKLESS)
    learned = D2rlAdversary(world, surrogates=[matching_surrogate(world, RECKLESS)],
                            config=D2rlConfig(levels=(0.0, 0.0)))
    campaign = run_campaign(world, av, n_tests=32, seed=5, adversary=learned)
    assert torch.allclose(campaign.weight, torch.ones_like(campaign.weight))


def test_training_uses_critical_steps_only_and_the_estimate_stays_unbiased():
    world = HighwayWorld(TINY, num_envs=128, seed=0)
    av = IdmMobilPolicy(world, **RECKLESS)
    nde = run_campaign(world, av, n_tests=384, seed=1).estimate()
    adversary = D2rlAdversary(world, surrogates=[matching_surrogate(world, RECKLESS)],
                              residual_risk=0.03,
                              config=D2rlConfig(train_tests=128, batch_decisions=32), seed=3)
    before = [p.detach().clone() for p in adversary.policy.module.parameters()]
    training, trainer = train_d2rl(world, av, adversary, seed=2)
    assert trainer.history, "at least one PPO update"
    changed = any(not torch.equal(a, b.detach())
                  for a, b in zip(before, adversary.policy.module.parameters()))
    assert changed, "PPO updated the policy"
    assert sum(h["decisions"] for h in trainer.history) > 0
    assert training.estimate().crashes > 0
    learned = run_campaign(world, av, n_tests=384, adversary=adversary, seed=4)
    est = learned.estimate()
    assert learned.controlled.sum() > 0 and est.crashes > 0
    assert float(learned.weight.max()) <= (1 / 0.1) ** int(learned.controlled.max()) + 1e-9
    se = math.hypot(nde.half_width, est.half_width) / 1.645
    assert abs(est.mean - nde.mean) < 4 * se


def test_only_critical_steps_that_move_the_weight_are_kept_for_training():
    world = HighwayWorld(TINY, num_envs=64, seed=1)
    obs = world.reset()
    av = IdmMobilPolicy(world, **RECKLESS)
    adversary = D2rlAdversary(world, surrogates=[matching_surrogate(world, RECKLESS)])
    background = torch.zeros(64, TINY.n_background, dtype=torch.long)
    _, log_ratio, controlled, _ = adversary.modify(
        background, av.act(obs["av"]), generator=torch.Generator().manual_seed(0))
    keep = adversary.last_decision["keep"]
    assert controlled.any() and not controlled.all()
    assert not bool((keep & ~controlled).any()), "a step nothing controls is never kept"
    assert bool((log_ratio[~controlled] == 0).all())
    # with a residual risk that dwarfs every challenge, q* = p: those steps are dropped
    flat = D2rlAdversary(world, surrogates=[matching_surrogate(world, RECKLESS)],
                         residual_risk=1.0, config=D2rlConfig(weight_tolerance=0.7))
    flat.modify(background, av.act(obs["av"]), generator=torch.Generator().manual_seed(0))
    assert int(flat.last_decision["keep"].sum()) < int(keep.sum())


@pytest.mark.parametrize("levels", [(1.0,), (0.5, 1.5), (-0.1, 1.0)])
def test_bad_levels_are_refused(levels):
    with pytest.raises(ConfigError, match="levels"):
        D2rlConfig(levels=levels)


def test_bad_training_settings_are_refused():
    with pytest.raises(ConfigError, match="train_tests"):
        D2rlConfig(train_tests=1)
    with pytest.raises(ConfigError, match="batch_decisions"):
        D2rlConfig(batch_decisions=0)
