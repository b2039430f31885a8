"""Traffic testing from a few settings: the same numbers as the testing harness itself."""

import pytest
import torch

from sandbox.core.errors import ConfigError
from sandbox.scenario.traffic_testing import (
    TestingSetup,
    _curve_index,
    make_world,
    record_episode,
    run_testing,
)
from sandbox.worlds.traffic.testing import (
    NadeAdversary,
    run_campaign,
    running_relative_half_width,
)
from sandbox.worlds.traffic.testing.studies import make_av, matching_surrogate


@pytest.mark.parametrize(("field", "value"), [("method", "guess"), ("n_tests", 1),
                                              ("eps", 0.0), ("num_envs", 0),
                                              ("max_controls", 0)])
def test_bad_settings_are_named(field, value):
    with pytest.raises(ConfigError) as info:
        TestingSetup(**{field: value})
    assert info.value.field == field


def test_run_testing_matches_the_harness_and_its_curve_ends_at_the_estimate():
    setup = TestingSetup(method="nade", n_tests=48, num_envs=16, seed=5, max_controls=1)
    seen = []
    outcome = run_testing(setup, on_progress=lambda done, total: seen.append((done, total)))
    world = make_world(setup)
    adversary = NadeAdversary(world, surrogates=[matching_surrogate(world, setup.av)], eps=0.1)
    campaign = run_campaign(world, make_av(world, setup.av), n_tests=48, adversary=adversary,
                            seed=5, max_controls=1)
    assert outcome.estimate == campaign.estimate()
    assert outcome.tests[-1] == 48 and outcome.mean[-1] == pytest.approx(campaign.estimate().mean)
    rhw = running_relative_half_width(campaign.samples)
    at = [n - 1 for n in outcome.tests]
    assert outcome.relative_half_width == pytest.approx(rhw[at].tolist())
    assert seen[-1] == (48, 48) and all(d <= t for d, t in seen)


def test_the_nde_weights_are_one():
    outcome = run_testing(TestingSetup(method="nde", n_tests=16, num_envs=16))
    assert outcome.mean_weight == 1.0 and outcome.coefficients == []


def test_curve_points_are_increasing_and_end_at_the_last_test():
    for n in (2, 10, 400, 401, 100_000):
        index = _curve_index(n, 400)
        assert len(index) <= 401 and int(index[-1]) == n - 1
        assert bool((index[1:] > index[:-1]).all()) and int(index[0]) == 0


def test_a_replayed_test_ends_in_the_crash_it_reports():
    setup = TestingSetup(method="nade", eps=0.1)
    trace = record_episode(setup, seed=1, batch=32)
    last = [r for r in trace.rows if r["time"] == trace.rows[-1]["time"]]
    assert [r["vehicle"] for r in last] == list(range(len(last)))
    assert last[0]["role"] == "AV" and {r["role"] for r in last[1:]} == {"background"}
    assert trace.crash  # NADE finds one among 32 tests of the weak AV (seed 1)
    av = last[0]  # at the end the AV overlaps a vehicle in its lane (5 m long)
    gaps = [abs(r["position"] - av["position"]) for r in last[1:] if r["lane"] == av["lane"]]
    assert min(gaps) < 5.0
    first = record_episode(setup, seed=1, batch=32, prefer_crash=False)
    assert first.env == 0
    assert torch.tensor([r["lane"] for r in trace.rows]).max() < trace.n_lanes


def test_lookahead_method_uses_the_robust_studys_challenge():
    from sandbox.scenario.traffic_testing import make_adversary, make_world
    from sandbox.worlds.traffic.testing.studies import ROBUST_CHALLENGE, ROBUST_LOOKAHEAD_RISK

    setup = TestingSetup(method="nade_lookahead", n_tests=8, num_envs=4)
    adversary, mix = make_adversary(make_world(setup), setup)
    assert mix is None
    assert adversary.challenge_settings == ROBUST_CHALLENGE
    assert adversary.residual_risk == ROBUST_LOOKAHEAD_RISK
    assert adversary.front_flat.numel() > 0  # the front vehicle is predicted
