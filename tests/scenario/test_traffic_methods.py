"""Wiring of the highway testing methods that need the optimizer or the solvers."""

import pytest
import torch

from sandbox.core import ConfigError
from sandbox.core.registry import POLICIES
from sandbox.optimize import combine_surrogates
from sandbox.scenario.traffic_methods import D2rlTestingPolicy
from sandbox.worlds.traffic import HighwayWorld, IdmMobilPolicy
from sandbox.worlds.traffic.testing import run_campaign
from sandbox.worlds.traffic.testing.methods import nade_adaptive_policy
from tests.worlds.traffic.settings import RECKLESS, TINY

SURROGATES = [{"kind": "idm", "max_decel": 1.0, "time_headway": 0.5},
              {"kind": "constant_speed"}]


def test_registered_adaptive_method_fits_with_the_qp():
    world = HighwayWorld(TINY, num_envs=4, seed=0)
    policy = POLICIES.get("nade_adaptive")(world, "background", surrogates=SURROGATES)
    assert policy.name == "nade_adaptive"
    assert policy.mix.fit is combine_surrogates


def test_world_layer_adaptive_method_uses_the_injected_fitter():
    world = HighwayWorld(TINY, num_envs=16, seed=0)
    calls = []

    def fit(features, target):
        calls.append(features.shape)
        return [0.25, 0.75]

    policy = nade_adaptive_policy(world, "background", fit=fit, surrogates=SURROGATES,
                                  residual_risk=0.05, refit_every=16, min_rows=1)
    av = IdmMobilPolicy(world, **RECKLESS)
    run_campaign(world, av, n_tests=256, adversary=policy.adversary, seed=3,
                 on_step=policy.mix)
    assert calls, "the mix never asked its fitter (no crash among the labelled rows?)"
    assert all(shape[1] == 2 for shape in calls)
    assert torch.allclose(policy.adversary.coefficients,
                          torch.tensor([0.25, 0.75], dtype=torch.float64))


def test_adaptive_method_refuses_a_fitter_that_is_not_callable():
    world = HighwayWorld(TINY, num_envs=2, seed=0)
    with pytest.raises(ConfigError, match="fit"):
        nade_adaptive_policy(world, "background", fit="qp")


def test_registered_d2rl_method_builds_untrained():
    world = HighwayWorld(TINY, num_envs=2, seed=0)
    policy = POLICIES.get("d2rl")(world, "background", train_av=RECKLESS,
                                  d2rl={"train_tests": 4, "batch_decisions": 2})
    assert isinstance(policy, D2rlTestingPolicy)
    assert not policy.trained
    with pytest.raises(ConfigError, match="train_av"):
        POLICIES.get("d2rl")(world, "background", train_av=[1.0])
