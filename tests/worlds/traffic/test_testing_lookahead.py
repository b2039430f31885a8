"""NADE's look-ahead challenge: the platoon rollout, the front vehicle, exact weights."""

import math

import pytest
import torch

from sandbox.core import ConfigError
from sandbox.worlds.traffic import HighwayParams, HighwayWorld, IdmMobilPolicy
from sandbox.worlds.traffic.testing import (
    ChallengeSettings,
    IdmSurrogate,
    NadeAdversary,
    run_campaign,
)
from sandbox.worlds.traffic.testing.nade import FRONT
from sandbox.worlds.traffic.testing.studies import matching_surrogate
from sandbox.worlds.traffic.testing.surrogates import (
    _follow_up_table,
    maneuver_challenge,
    platoon_challenge,
)
from tests.worlds.traffic.settings import RECKLESS, TINY

LOOK_AHEAD = ChallengeSettings(horizon=8.0, dt=0.5, follow_ups=(-2.0, -1.0, 0.0, 1.0, 2.0),
                               follow_up_steps=4, aggregate="path", leader_model="idm")


def test_path_follow_ups_try_every_duration_of_every_deviation_towards_the_av():
    sigmas, steps = _follow_up_table(LOOK_AHEAD, dtype=torch.float64, device="cpu")
    # no deviation, then -2 and -1 for 1..4 steps each
    assert sigmas.tolist() == [0.0] + [-2.0] * 4 + [-1.0] * 4
    assert steps.tolist() == [0.0] + [1.0, 2.0, 3.0, 4.0] * 2
    plain = ChallengeSettings()
    sigmas, steps = _follow_up_table(plain, dtype=torch.float64, device="cpu")
    assert sigmas.tolist() == list(plain.follow_ups) and set(steps.tolist()) == {2.0}


def test_hold_model_is_unchanged_by_the_front_vehicle():
    # the default ("hold") ignores the vehicle ahead's own leader
    one = torch.ones(3)
    common = dict(gap=torch.tensor([8.0, 20.0, 40.0]), av_speed=30 * one, other_speed=28 * one,
                  other_ahead=torch.ones(3, dtype=torch.bool), other_accel=-3.0 * one,
                  other_accel_after=-1.0 * one, av_accel=torch.zeros(3),
                  surrogate=IdmSurrogate(max_decel=2.5), settings=ChallengeSettings(),
                  params=HighwayParams(accel_noise=1.5))
    base = maneuver_challenge(**common)
    with_front = maneuver_challenge(**common, front_gap=torch.full((3,), 5.0),
                                    front_speed=torch.zeros(3))
    assert torch.equal(base, with_front)


def test_idm_leader_model_brakes_behind_a_slow_front_vehicle():
    # a leader 30 m ahead at the AV's speed, its own leader 15 m ahead of it nearly
    # stopped: behind that front vehicle the leader brakes at the grid's 4 m/s^2, which
    # an AV braking at most 1 m/s^2 cannot match. "hold" (the leader keeps its current
    # IDM acceleration of 0) sees no crash; "idm" does, and not with a free road ahead.
    one = torch.ones(2)
    common = dict(gap=30.0 * one, av_speed=30 * one, other_speed=30 * one,
                  other_ahead=torch.ones(2, dtype=torch.bool), other_accel=torch.zeros(2),
                  other_accel_after=torch.zeros(2), av_accel=torch.zeros(2),
                  surrogate=IdmSurrogate(max_decel=1.0), params=HighwayParams(accel_noise=1.5))
    hold = maneuver_challenge(**common, settings=ChallengeSettings(horizon=8.0, dt=0.5))
    idm = maneuver_challenge(**common, settings=LOOK_AHEAD,
                             front_gap=torch.tensor([15.0, 1e6]),
                             front_speed=torch.tensor([2.0, 30.0]))
    assert hold.tolist() == [0.0, 0.0]
    assert idm[0] == 1.0 and idm[1] < 1e-3
    with pytest.raises(ConfigError, match="leader_model"):
        maneuver_challenge(**common, settings=LOOK_AHEAD)
    with pytest.raises(ConfigError, match="leader_model"):
        ChallengeSettings(leader_model="telepathic")
    with pytest.raises(ConfigError, match="aggregate"):
        ChallengeSettings(aggregate="median")


def test_platoon_challenge_grows_with_the_front_vehicles_braking():
    # AV 25 m behind its leader, the leader 20 m behind the front vehicle, all at 30 m/s;
    # the front vehicle's grid accelerations from -4 to 2
    grid = torch.tensor([-4.0, -2.0, 0.0, 2.0])
    row = torch.ones(4)
    kwargs = dict(leader_gap=25.0 * row, av_speed=30.0 * row, leader_speed=30.0 * row,
                  leader_accel=torch.zeros(4), front_gap=20.0 * row, front_speed=30.0 * row,
                  front_accel=grid, front_accel_after=torch.zeros(4), av_accel=torch.zeros(4),
                  settings=LOOK_AHEAD, params=HighwayParams(accel_noise=1.5))
    weak = platoon_challenge(surrogate=IdmSurrogate(max_decel=1.0), **kwargs)
    strong = platoon_challenge(surrogate=IdmSurrogate(max_decel=8.0), **kwargs)
    assert bool((weak[:-1] >= weak[1:]).all()), weak  # harder braking, more challenge
    assert weak[0] > 0.5 and weak[-1] < weak[0]
    assert bool((strong <= weak).all()) and strong[0] < weak[0]


def test_front_candidate_is_the_leaders_own_leader():
    world = HighwayWorld(TINY, num_envs=3, seed=0)
    world.reset(seed=1)
    adversary = NadeAdversary(world, surrogates=[IdmSurrogate()], challenge=LOOK_AHEAD)
    around = adversary.candidates()
    nb = world.scene().neighbours
    leader = nb.leader[:, 0, 0]
    assert torch.equal(around[:, 0], leader)
    expected = torch.where(leader >= 0, nb.leader[torch.arange(3), leader.clamp(min=0), 0],
                           torch.full_like(leader, -1))
    assert torch.equal(around[:, FRONT], expected)
    # only the look-ahead predicts the front vehicle's maneuvers
    av = IdmMobilPolicy(world, **RECKLESS)
    action = av.act(world._observe(world.state)["av"])
    plain = NadeAdversary(world, surrogates=[IdmSurrogate()])
    assert float(plain.surrogate_challenges(action)[:, :, FRONT].abs().sum()) == 0.0
    assert adversary.surrogate_challenges(action).shape[2] == FRONT + 1


def test_look_ahead_weights_average_to_one():
    # E_q[W] = 1 for any valid proposal: the look-ahead only changes q, never p / q's
    # bookkeeping
    world = HighwayWorld(TINY, num_envs=64, seed=2)
    av = IdmMobilPolicy(world, **RECKLESS)
    adversary = NadeAdversary(world, surrogates=[matching_surrogate(world, RECKLESS)],
                              residual_risk=0.03, challenge=LOOK_AHEAD)
    campaign = run_campaign(world, av, n_tests=256, adversary=adversary, seed=6,
                            max_controls=2)
    w = campaign.weight
    assert campaign.controlled.sum() > 100
    assert abs(float(w.mean()) - 1.0) < 4 * float(w.std()) / math.sqrt(w.numel())
