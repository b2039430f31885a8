"""Platoon tilting: exact weights, the NDE at theta 0, unbiasedness, the CE fit, bad input."""

import math

import pytest
import torch

from sandbox.core import ConfigError
from sandbox.core.seeding import make_generator
from sandbox.worlds.traffic import HighwayWorld, IdmMobilPolicy, NaturalisticPolicy
from sandbox.worlds.traffic.testing import run_campaign
from sandbox.worlds.traffic.testing.cross_entropy import cross_entropy_theta, fit_tilt
from sandbox.worlds.traffic.testing.tilt import ROLES, PlatoonTiltAdversary
from tests.worlds.traffic.settings import RECKLESS, TINY

THETA = {"leader": -0.8, "front": -0.5, "front_2": 0.3}


def _one_step(adversary, world, seed=0):
    """The naturalistic draws of one step and the adversary's modification of them."""
    obs = world._observe(world.state)
    natural = NaturalisticPolicy(world)
    natural.reset(seed)
    background = natural.act(obs["background"])
    av_action = IdmMobilPolicy(world, **RECKLESS).act(obs["av"])
    out = adversary.modify(background, av_action, generator=make_generator(seed, "tilt"))
    return background, out


def test_platoon_is_the_chain_of_own_lane_leaders_ahead_of_the_av():
    world = HighwayWorld(TINY, num_envs=8, seed=0)
    world.reset(seed=3)
    chain = PlatoonTiltAdversary(world, theta={}).platoon()
    leader = world.scene().neighbours.leader[:, :, 0]
    for env in range(8):
        current, seen = 0, {0}
        for role in range(len(ROLES)):
            current = int(leader[env, current])
            if current <= 0 or current in seen:
                assert (chain[env, role:] == -1).all()
                break
            assert int(chain[env, role]) == current
            seen.add(current)


def test_weights_are_exactly_p_over_q_of_the_drawn_actions():
    # one window covering the whole test: log W of the first step is
    # -log(untilted + (1 - untilted) r) with r the product of q/p over the platoon
    world = HighwayWorld(TINY, num_envs=32, seed=1)
    world.reset(seed=2)
    adversary = PlatoonTiltAdversary(world, theta=THETA, eps=0.2, window=60, onsets=1,
                                     untilted=0.25)
    background, (actions, log_ratio, controlled, _) = _one_step(adversary, world)
    # p straight from the world, q from the formula
    p_all = world.naturalistic_probabilities().to(torch.float64)
    grid = world.grid.to(torch.float64)
    feature = torch.cat([grid, torch.zeros(2, dtype=torch.float64)])
    chain = adversary.platoon()
    tilted_test = adversary.onset == 0
    assert tilted_test.any() and (~tilted_test).any()
    for env in range(32):
        r = 1.0
        for role, name in enumerate(ROLES):
            vehicle = int(chain[env, role])
            if vehicle <= 0 or name not in THETA:
                continue
            p = p_all[env, vehicle - 1]
            tilt = p * torch.exp(THETA[name] * feature)
            q = 0.8 * tilt / tilt.sum() + 0.2 * p
            u = int(actions[env, vehicle - 1])
            r *= float(q[u] / p[u])
        expected = -math.log(0.25 + 0.75 * r)
        assert float(log_ratio[env]) == pytest.approx(expected, abs=1e-12, rel=1e-12)
        others = [v - 1 for v in range(1, TINY.n_background + 1)
                  if v not in chain[env].tolist()]
        assert torch.equal(actions[env, others], background[env, others])
        if not bool(tilted_test[env]):
            assert torch.equal(actions[env], background[env]) and not bool(controlled[env])


def test_theta_zero_is_the_nde_bit_for_bit():
    world = HighwayWorld(TINY, num_envs=16, seed=0)
    av = IdmMobilPolicy(world, **RECKLESS)
    nde = run_campaign(world, av, n_tests=48, seed=7)
    for theta in ({}, {"leader": 0.0, "front": 0}):
        idle = PlatoonTiltAdversary(world, theta=theta, window=3, onsets=2)
        tilted = run_campaign(world, av, n_tests=48, seed=7, adversary=idle)
        assert torch.equal(nde.crash, tilted.crash) and torch.equal(nde.steps, tilted.steps)
        assert (tilted.weight == 1.0).all() and (tilted.controlled == 0).all()
    assert nde.crash.any()


def test_weights_average_to_one_and_bounded_by_one_over_untilted():
    world = HighwayWorld(TINY, num_envs=64, seed=2)
    av = IdmMobilPolicy(world, **RECKLESS)
    adversary = PlatoonTiltAdversary(world, theta={"leader": -0.6, "front": -0.6},
                                     window=4, onsets=4, untilted=0.2)
    campaign = run_campaign(world, av, n_tests=320, adversary=adversary, seed=6)
    w = campaign.weight
    assert campaign.controlled.sum() > 300
    assert float(w.max()) <= 1 / 0.2 + 1e-9
    assert abs(float(w.mean()) - 1.0) < 4 * float(w.std()) / math.sqrt(w.numel())


def test_tilted_estimate_agrees_with_crude_monte_carlo_on_a_crash_prone_setting():
    world = HighwayWorld(TINY, num_envs=128, seed=0)
    av = IdmMobilPolicy(world, **RECKLESS)
    nde = run_campaign(world, av, n_tests=512, seed=1).estimate()
    adversary = PlatoonTiltAdversary(world, theta={"leader": -0.5, "front": -0.5},
                                     window=4, onsets=6)
    tilted = run_campaign(world, av, n_tests=512, adversary=adversary, seed=2)
    est = tilted.estimate()
    assert tilted.controlled.sum() > 0 and est.crashes > 0
    se = math.hypot(nde.half_width, est.half_width) / 1.645
    assert abs(est.mean - nde.mean) < 4 * se


def test_cross_entropy_recovers_the_tilt_that_generated_the_draws():
    # draws from p exp(theta f) / Z with weight 1: the CE optimum is theta itself
    g = torch.Generator().manual_seed(0)
    grid = torch.linspace(-4, 2, 31, dtype=torch.float64)
    feature = torch.cat([grid, torch.zeros(2, dtype=torch.float64)])
    means = torch.rand(4000, generator=g, dtype=torch.float64) * 4 - 3
    p = torch.exp(-(grid - means[:, None]) ** 2 / (2 * 1.5**2))
    p = torch.cat([0.99 * p / p.sum(-1, keepdim=True), torch.full((4000, 2), 0.005,
                                                                  dtype=torch.float64)], -1)
    q = p * torch.exp(-0.7 * feature)
    drawn = torch.multinomial(q / q.sum(-1, keepdim=True), 1, generator=g).squeeze(1)
    theta = cross_entropy_theta(p, drawn, torch.ones(4000, dtype=torch.float64), feature)
    assert theta == pytest.approx(-0.7, abs=0.05)


def test_fit_tilt_runs_pilot_rounds_and_counts_their_tests():
    world = HighwayWorld(TINY, num_envs=32, seed=0)
    av = IdmMobilPolicy(world, **RECKLESS)
    fit = fit_tilt(world, av, theta={"leader": -0.5, "front": -0.5}, rounds=2,
                   tests_per_round=64, seed=3, window=4, onsets=6)
    assert fit.pilot_tests == 128 and len(fit.rounds) == 2
    assert fit.rounds[0]["theta"] == {"leader": -0.5, "front": -0.5, "front_2": 0.0,
                                      "front_3": 0.0}
    assert all(math.isfinite(v) and abs(v) <= 3.0 for v in fit.theta.values())
    assert fit.rounds[1]["theta"] != fit.rounds[0]["theta"], "the first round's crashes re-fit"


@pytest.mark.parametrize("kwargs, field", [
    ({"eps": 0.0}, "eps"), ({"eps": -0.1}, "eps"), ({"eps": 1.5}, "eps"),
    ({"eps": math.nan}, "eps"), ({"window": 0}, "window"), ({"onsets": 0}, "onsets"),
    ({"untilted": 0.0}, "untilted"), ({"untilted": 1.0}, "untilted"),
    ({"theta": {"follower": -1.0}}, "theta.follower"),
    ({"theta": {"leader": math.nan}}, "theta.leader"),
    ({"theta": {"front": math.inf}}, "theta.front"),
    ({"theta": {"front": "hard"}}, "theta.front"), ({"theta": [-1.0]}, "theta"),
])
def test_bad_settings_are_refused(kwargs, field):
    world = HighwayWorld(TINY)
    kwargs = {"theta": {"leader": -0.5}, **kwargs}
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        PlatoonTiltAdversary(world, **kwargs)


def test_a_limit_on_controlled_steps_is_refused():
    world = HighwayWorld(TINY, num_envs=4)
    adversary = PlatoonTiltAdversary(world, theta={"leader": -0.5})
    with pytest.raises(ConfigError, match="max_controls"):
        run_campaign(world, IdmMobilPolicy(world), n_tests=4, adversary=adversary,
                     max_controls=1)
    with pytest.raises(ConfigError, match="rounds"):
        fit_tilt(world, IdmMobilPolicy(world), theta={}, rounds=0, tests_per_round=4)


def test_recorder_keeps_exactly_the_crashed_tests_and_their_weights():
    from sandbox.worlds.traffic.testing.cross_entropy import TiltRecorder, step_weights

    world = HighwayWorld(TINY, num_envs=16, seed=0)
    av = IdmMobilPolicy(world, **RECKLESS)
    adversary = PlatoonTiltAdversary(world, theta={"leader": -0.5}, window=4, onsets=4)
    recorder = TiltRecorder(adversary, quota=4)
    campaign = run_campaign(world, av, n_tests=64, adversary=adversary, seed=5,
                            on_step=recorder)
    paths = recorder.crash_paths()
    assert recorder.tests == 64 and paths["log_weight"].numel() == int(campaign.crash.sum())
    assert torch.allclose(paths["log_weight"].exp().sort().values,
                          campaign.weight[campaign.crash].sort().values, rtol=1e-12)
    steps = campaign.steps[campaign.crash].sort().values
    last = torch.zeros(steps.numel(), dtype=torch.int64).scatter_reduce_(
        0, paths["test"], paths["time"], "amax")
    assert bool((last.sort().values < steps).all())
    # at theta 0 the onset's posterior is its prior: a step's weight is W times the
    # share of onsets whose window covers it
    settings = {"eps": 0.1, "window": 4, "onsets": 4, "untilted": 0.1,
                "feature": adversary.feature}
    weight = step_weights(paths, torch.zeros(len(ROLES), dtype=torch.float64), **settings)
    time = paths["time"]
    covering = ((time + 1).clamp(max=4) - (time - 3).clamp(min=0)).clamp(min=0)
    expected = paths["log_weight"].exp()[paths["test"]] * covering * 0.9 / 4
    assert torch.allclose(weight, expected.to(torch.float64), rtol=1e-12)
