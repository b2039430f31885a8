import dataclasses
import math

import pytest
import torch

from sandbox.core import ConfigError
from sandbox.worlds.traffic import HighwayParams, HighwayWorld, NaturalisticPolicy
from sandbox.worlds.traffic.drivers import naturalistic_probabilities, sample_naturalistic
from sandbox.worlds.traffic.observation import feature

PARAMS = HighwayParams(n_background=14, road_length=500.0, av_start=100.0, av_end=300.0)
GRID = PARAMS.accel_grid()


def test_grid_probabilities_are_the_normalised_gaussian_density():
    a = torch.tensor([-6.0, -1.13, 0.0, 0.5, 3.0])
    probs = naturalistic_probabilities(a, torch.zeros(5, dtype=torch.long), grid=GRID,
                                       noise=0.3, lane_change_prob=0.01)
    density = torch.exp(-0.5 * ((GRID - a.unsqueeze(-1)) / 0.3) ** 2)
    expected = density / density.sum(-1, keepdim=True)
    assert torch.allclose(probs[:, :31], expected, atol=1e-6)
    assert (probs[:, 31:] == 0).all()
    assert torch.allclose(probs.sum(-1), torch.ones(5))


def test_extreme_idm_accelerations_give_the_nearest_grid_point_not_nan():
    # a vehicle all but touching its leader: IDM asks for about -1e5 m/s^2 and more
    a = torch.tensor([-6.8e5, -1e5, -60.0, 1e6, 40.0])
    for noise in (0.3, 1.5):
        probs = naturalistic_probabilities(a, torch.zeros(5, dtype=torch.long), grid=GRID,
                                           noise=noise, lane_change_prob=0.0)
        assert torch.isfinite(probs).all()
        assert torch.allclose(probs.sum(-1), torch.ones(5))
        nearest = torch.tensor([0, 0, 0, 30, 30])
        assert (probs[:, :31].argmax(-1) == nearest).all()
        # the true density, in float64, relative to its largest grid entry
        log_density = -0.5 * ((GRID.double() - a.double().unsqueeze(-1)) / noise) ** 2
        expected = torch.softmax(log_density, -1)
        assert torch.allclose(probs[:, :31].double(), expected, atol=1e-6)
    g = torch.Generator().manual_seed(0)
    drawn = sample_naturalistic(torch.full((1000,), -6.8e5), torch.zeros(1000, dtype=torch.long),
                                grid=GRID, noise=1.5, lane_change_prob=0.0, generator=g)
    assert (drawn == 0).all()  # the grid's hardest braking, every time


def test_advised_change_takes_its_probability_from_the_accelerations():
    a = torch.zeros(3)
    advice = torch.tensor([1, -1, 0])
    probs = naturalistic_probabilities(a, advice, grid=GRID, noise=0.3, lane_change_prob=0.01)
    assert probs[0, 31] == probs[1, 32] == torch.tensor(0.01)
    assert probs[0, 32] == probs[1, 31] == probs[2, 31] == 0
    assert torch.allclose(probs[0, :31], 0.99 * probs[2, :31])
    assert torch.allclose(probs.sum(-1), torch.ones(3))


def test_sampler_draws_from_the_stated_probabilities():
    n = 40_000
    a = torch.tensor([0.13, -2.9, 1.95]).repeat_interleave(n)
    advice = torch.tensor([1, 0, -1]).repeat_interleave(n)
    g = torch.Generator().manual_seed(0)
    actions = sample_naturalistic(a, advice, grid=GRID, noise=0.3, lane_change_prob=0.05,
                                  generator=g).view(3, n)
    probs = naturalistic_probabilities(a.view(3, n)[:, 0], advice.view(3, n)[:, 0],
                                       grid=GRID, noise=0.3, lane_change_prob=0.05)
    freq = torch.stack([torch.bincount(row, minlength=33) for row in actions]).float() / n
    std = torch.sqrt(probs * (1 - probs) / n)
    assert ((freq - probs).abs() <= 5 * std + 1e-6).all()
    assert (freq[probs == 0] == 0).all()


def test_world_and_policy_agree_on_p_and_deterministic_is_the_mode():
    world = HighwayWorld(PARAMS, num_envs=4, seed=3)
    obs = world.reset()
    policy = NaturalisticPolicy(world)
    p_world = world.naturalistic_probabilities()
    mask = world.action_masks()["background"]
    assert p_world.shape == (4, 14, 33)
    assert torch.allclose(p_world, policy.probabilities(obs["background"]))
    assert (p_world[~mask] == 0).all()
    assert torch.equal(policy.act(obs["background"], deterministic=True), p_world.argmax(-1))
    # the mode is the grid point nearest to the IDM acceleration (no change advised here)
    idm = obs["background"][..., feature("idm_accel")].clamp(-4, 2)
    nearest = ((idm + 4) / 0.2).round().long()
    calm = obs["background"][..., feature("mobil_advice")] == 0
    assert torch.equal(p_world.argmax(-1)[calm], nearest[calm])


def test_policy_samples_are_valid_and_seeded():
    world = HighwayWorld(PARAMS, num_envs=8, seed=1)
    obs = world.reset()
    first, second = NaturalisticPolicy(world), NaturalisticPolicy(world)
    first.reset(11)
    second.reset(11)
    a, b = first.act(obs["background"]), second.act(obs["background"])
    assert torch.equal(a, b)
    mask = world.action_masks()["background"]
    assert mask.gather(-1, a.unsqueeze(-1)).all()
    logp = torch.log(world.naturalistic_probabilities().gather(-1, a.unsqueeze(-1)))
    assert torch.isfinite(logp).all() and not math.isnan(float(logp.sum()))


def test_cut_ins_go_to_each_unadvised_side_the_vehicle_fits_into():
    a = torch.zeros(4)
    advice = torch.tensor([1, 0, -1, 0])
    fits = torch.tensor([[True, True], [True, False], [True, True], [False, False]])
    probs = naturalistic_probabilities(a, advice, grid=GRID, noise=0.3, lane_change_prob=0.01,
                                       cut_in_prob=1e-3, fits=fits)
    left, right = probs[:, 31], probs[:, 32]
    # advised side: the advised probability; other fitting sides: the cut-in probability
    assert torch.allclose(left, torch.tensor([0.01, 1e-3, 1e-3, 0.0]))
    assert torch.allclose(right, torch.tensor([1e-3, 0.0, 0.01, 0.0]))
    assert torch.allclose(probs.sum(-1), torch.ones(4))
    # without cut-ins, `fits` changes nothing
    plain = naturalistic_probabilities(a, advice, grid=GRID, noise=0.3, lane_change_prob=0.01)
    assert torch.equal(plain, naturalistic_probabilities(
        a, advice, grid=GRID, noise=0.3, lane_change_prob=0.01, cut_in_prob=0.0, fits=fits))


def test_sampler_draws_cut_ins_at_their_probabilities():
    n = 40_000
    a = torch.tensor([0.13, -2.9, 1.95]).repeat_interleave(n)
    advice = torch.tensor([1, 0, -1]).repeat_interleave(n)
    fits = torch.tensor([[True, True], [True, True], [False, True]]).repeat_interleave(n, 0)
    g = torch.Generator().manual_seed(1)
    actions = sample_naturalistic(a, advice, grid=GRID, noise=0.3, lane_change_prob=0.05,
                                  cut_in_prob=0.02, fits=fits, generator=g).view(3, n)
    probs = naturalistic_probabilities(a.view(3, n)[:, 0], advice.view(3, n)[:, 0], grid=GRID,
                                       noise=0.3, lane_change_prob=0.05, cut_in_prob=0.02,
                                       fits=fits.view(3, n, 2)[:, 0])
    freq = torch.stack([torch.bincount(row, minlength=33) for row in actions]).float() / n
    std = torch.sqrt(probs * (1 - probs) / n)
    assert ((freq - probs).abs() <= 5 * std + 1e-6).all()
    assert (freq[probs == 0] == 0).all()
    assert freq[1, 31] > 0 and freq[1, 32] > 0, "unadvised changes to both sides happen"


def test_world_and_policy_agree_with_cut_ins_and_stay_on_the_road():
    params = dataclasses.replace(PARAMS, cut_in_prob=0.05)
    world = HighwayWorld(params, num_envs=8, seed=3)
    obs = world.reset()
    policy = NaturalisticPolicy(world)
    p_world = world.naturalistic_probabilities()
    assert torch.allclose(p_world, policy.probabilities(obs["background"]))
    assert (p_world[~world.action_masks()["background"]] == 0).all()
    fits = world.scene().fits[:, 1:]
    unadvised = world.scene().advice[:, 1:] != 1
    assert torch.allclose(p_world[..., 31][fits[..., 0] & unadvised], torch.tensor(0.05))
    assert (p_world[..., 31][~fits[..., 0]] == 0).all()
    # over a few steps the drivers change lane without MOBIL's advice, never off the road
    policy.reset(4)
    unadvised_changes = 0
    for _ in range(5):
        action = policy.act(obs["background"])
        advice = obs["background"][..., feature("mobil_advice")].round().long()
        left, right = action == 31, action == 32
        unadvised_changes += int((left & (advice != 1)).sum() + (right & (advice != -1)).sum())
        assert world.action_masks()["background"].gather(-1, action.unsqueeze(-1)).all()
        obs = world.step({"av": torch.zeros(8, 1, 2), "background": action}).obs
    assert unadvised_changes > 0


def test_cut_ins_take_only_gaps_above_the_accepted_minimum():
    params = dataclasses.replace(PARAMS, cut_in_prob=0.05, cut_in_min_gap=15.0)
    world = HighwayWorld(params, num_envs=8, seed=3)
    obs = world.reset()
    scene = world.scene()
    side_gaps_ok = (scene.leader_gap[..., 1:] > 15.0) & (scene.follower_gap[..., 1:] > 15.0)
    assert torch.equal(scene.fits, scene.lane_exists[..., 1:] & side_gaps_ok)
    anywhere = dataclasses.replace(params, cut_in_min_gap=0.0)
    loose = HighwayWorld(anywhere, num_envs=8, seed=3)
    loose.reset()
    assert torch.equal(loose.state.position, world.state.position)
    fewer = loose.scene().fits & ~scene.fits
    assert bool(fewer.any()), "no gap between 0 and 15 m: the check below would be empty"
    assert not bool((scene.fits & ~loose.scene().fits).any())
    # the policy reads the same fits from its observations
    torch.testing.assert_close(world.naturalistic_probabilities(),
                               NaturalisticPolicy(world).probabilities(obs["background"]))
    with pytest.raises(ConfigError, match="cut_in_min_gap"):
        HighwayParams(cut_in_min_gap=-1.0)


@pytest.mark.parametrize("cut_in_prob", [-0.1, 0.6, math.nan, 0.499])
def test_bad_cut_in_probability_is_refused(cut_in_prob):
    # 0.499: with the advised changes' 0.01 the changes' probabilities would exceed 1
    with pytest.raises(ConfigError, match="cut_in_prob"):
        HighwayParams(cut_in_prob=cut_in_prob)
