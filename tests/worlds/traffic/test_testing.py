import dataclasses
import math

import pytest
import torch

from sandbox.core import ConfigError
from sandbox.worlds.traffic import HighwayParams, HighwayWorld, IdmMobilPolicy, NaturalisticPolicy
from sandbox.worlds.traffic.testing import (
    AdaptiveMix,
    ChallengeSettings,
    ConstantSpeedSurrogate,
    IdmSurrogate,
    NadeAdversary,
    converged_at,
    crude_tests_needed,
    estimate,
    run_campaign,
    running_relative_half_width,
)
from sandbox.worlds.traffic.testing.studies import matching_surrogate
from sandbox.worlds.traffic.testing.surrogates import maneuver_challenge
from tests.worlds.traffic.settings import RECKLESS, TINY


def test_estimate_matches_the_formulas():
    x = torch.tensor([0.0, 0.0, 2.0, 0.0, 4.0], dtype=torch.float64)
    est = estimate(x)
    std = float(x.std())
    assert est.mean == pytest.approx(1.2)
    assert est.half_width == pytest.approx(1.645 * std / math.sqrt(5))
    assert est.relative_half_width == pytest.approx(est.half_width / 1.2)
    assert est.crashes == 2
    assert running_relative_half_width(x)[-1].item() == pytest.approx(est.relative_half_width)
    assert math.isinf(estimate(torch.zeros(4)).relative_half_width)


def test_crude_monte_carlo_needs_about_30_over_mu():
    for mu in (1e-2, 1e-5, 1e-7):
        assert crude_tests_needed(mu) == pytest.approx(1.645**2 * (1 - mu) / (0.09 * mu))
        assert crude_tests_needed(mu) * mu / (1 - mu) == pytest.approx(30.07, rel=1e-3)
    with pytest.raises(ConfigError, match="mu"):
        crude_tests_needed(0.0)


def test_converged_at_is_the_first_n_after_which_rhw_stays_below_target():
    x = torch.tensor([1.0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], dtype=torch.float64)
    rhw = running_relative_half_width(x)
    n = converged_at(x, target=0.3)
    assert n is not None
    assert (rhw[n - 1:] <= 0.3).all() and rhw[n - 2] > 0.3
    assert converged_at(torch.tensor([0.0, 0.0, 1.0])) is None


def test_nde_weights_are_one_and_tests_are_counted_exactly():
    world = HighwayWorld(TINY, num_envs=16, seed=0)
    av = IdmMobilPolicy(world, **RECKLESS)
    first = run_campaign(world, av, n_tests=50, seed=4)
    second = run_campaign(world, av, n_tests=50, seed=4)
    assert first.crash.numel() == 50 and first.method == "nde"
    assert (first.weight == 1).all() and (first.controlled == 0).all()
    assert torch.equal(first.crash, second.crash) and torch.equal(first.steps, second.steps)
    assert first.crash.any(), "the reckless AV crashes in this setting"


def test_proposal_mixes_in_eps_times_p_and_eps_one_is_the_nde():
    world = HighwayWorld(TINY, num_envs=64, seed=1)
    obs = world.reset()
    av = IdmMobilPolicy(world, **RECKLESS)
    action = av.act(obs["av"])
    adversary = NadeAdversary(world, surrogates=[matching_surrogate(world, RECKLESS)],
                              eps=0.1)
    prop = adversary.proposal(action)
    p, q = prop["p"], prop["q"]
    live = prop["criticality"] > 0
    assert live.any()
    assert torch.allclose(q[live].sum(-1), torch.ones(int(live.sum()), dtype=q.dtype))
    assert (q[live] >= 0.1 * p[live] - 1e-15).all()
    assert ((q > 0) | (p == 0)).all(), "q > 0 wherever p > 0"
    naturalistic = NadeAdversary(world, surrogates=[matching_surrogate(world, RECKLESS)],
                                 eps=1.0)
    assert torch.allclose(naturalistic.proposal(action)["q"][live], p[live])


@pytest.mark.parametrize("eps", [0.0, -0.1, 1.5, math.nan])
def test_eps_outside_zero_one_is_refused(eps):
    world = HighwayWorld(TINY)
    with pytest.raises(ConfigError, match="eps"):
        NadeAdversary(world, surrogates=[ConstantSpeedSurrogate()], eps=eps)


def test_bad_surrogates_and_coefficients_are_refused():
    world = HighwayWorld(TINY)
    with pytest.raises(ConfigError, match="surrogates"):
        NadeAdversary(world, surrogates=[])
    with pytest.raises(ConfigError, match="surrogates"):
        NadeAdversary(world, surrogates=[IdmMobilPolicy])
    with pytest.raises(ConfigError, match="coefficients"):
        NadeAdversary(world, surrogates=[ConstantSpeedSurrogate(), IdmSurrogate()],
                      coefficients=[0.7, 0.7])


def test_challenge_of_hard_braking_in_front_of_a_weak_av():
    params = HighwayParams()
    one = torch.ones(2)
    challenge = maneuver_challenge(
        gap=torch.tensor([8.0, 8.0]), av_speed=30 * one, other_speed=30 * one,
        other_ahead=torch.tensor([True, True]), other_accel=torch.tensor([-4.0, 2.0]),
        other_accel_after=torch.zeros(2), av_accel=torch.zeros(2),
        surrogate=IdmSurrogate(max_decel=1.0), settings=ChallengeSettings(), params=params,
    )
    # braking at 4 m/s^2 for a second 8 m ahead of an AV braking at most 1: a crash
    # whatever follows; accelerating away: none
    assert challenge[0] > 0.95 and challenge[1] == 0.0


def test_nade_agrees_with_crude_monte_carlo_on_a_crash_prone_setting():
    world = HighwayWorld(TINY, num_envs=128, seed=0)
    av = IdmMobilPolicy(world, **RECKLESS)
    nde = run_campaign(world, av, n_tests=512, seed=1).estimate()
    adversary = NadeAdversary(world, surrogates=[matching_surrogate(world, RECKLESS)])
    nade = run_campaign(world, av, n_tests=512, adversary=adversary, seed=2, max_controls=2)
    est = nade.estimate()
    assert nade.controlled.sum() > 0 and est.crashes > 0
    se = math.hypot(nde.half_width, est.half_width) / 1.645
    assert abs(est.mean - nde.mean) < 4 * se


def test_one_step_weights_average_to_one_under_q():
    world = HighwayWorld(TINY, num_envs=64, seed=3)
    obs = world.reset()
    av = IdmMobilPolicy(world, **RECKLESS)
    adversary = NadeAdversary(world, surrogates=[matching_surrogate(world, RECKLESS)])
    prop = adversary.proposal(av.act(obs["av"]))
    row = int(prop["criticality"].argmax())
    p, q = prop["p"][row], prop["q"][row]
    assert float((q * torch.where(q > 0, p / q, 0.0)).sum()) == pytest.approx(1.0)
    g = torch.Generator().manual_seed(0)
    draws = torch.multinomial(q, 20_000, replacement=True, generator=g)
    ratio = p[draws] / q[draws]
    assert ratio.max() <= 10.0 + 1e-9  # at most 1 / eps
    assert float(ratio.mean()) == pytest.approx(1.0, abs=4 * float(ratio.std()) / 141.4)


def test_adaptive_mix_labels_rows_with_their_test_outcome_and_refits():
    world = HighwayWorld(TINY)
    adversary = NadeAdversary(world, surrogates=[ConstantSpeedSurrogate(), IdmSurrogate()])
    fits = []

    def fit(features, target):
        fits.append((features.copy(), target.copy()))
        return [0.25, 0.75]

    mix = AdaptiveMix(adversary, fit=fit, refit_every=2, min_rows=2)
    no = torch.tensor([False, False])
    # env 0 is controlled twice in a test that crashes; env 1 once in a test that does not
    mix({"done": no, "controlled": torch.tensor([True, True]),
         "surrogate_challenge": torch.tensor([[1.0, 0.0], [0.0, 0.5]], dtype=torch.float64)})
    mix({"done": no, "controlled": torch.tensor([True, False]),
         "surrogate_challenge": torch.tensor([[0.5, 0.5], [9.0, 9.0]], dtype=torch.float64)})
    mix({"done": torch.tensor([True, True]), "controlled": torch.tensor([False, False]),
         "surrogate_challenge": torch.zeros(2, 2, dtype=torch.float64),
         "env_crash": torch.tensor([True, False])})
    features, target = fits[-1]
    rows = sorted(zip(map(tuple, features.tolist()), target.tolist()))
    assert rows == [((0.0, 0.5), 0.0), ((0.5, 0.5), 1.0), ((1.0, 0.0), 1.0)]
    assert adversary.coefficients.tolist() == [0.25, 0.75]
    assert mix.history[-1]["rows"] == 3


def test_adaptive_mix_weighs_each_rows_crash_by_the_later_steps_ratios():
    world = HighwayWorld(TINY)
    adversary = NadeAdversary(world, surrogates=[ConstantSpeedSurrogate(), IdmSurrogate()])
    targets = {}
    for target in AdaptiveMix.TARGETS:
        fits = []
        mix = AdaptiveMix(adversary, fit=lambda f, t, fits=fits: fits.append(t) or [0.5, 0.5],
                          refit_every=1, min_rows=1, target=target)
        two = torch.zeros(2, 2, dtype=torch.float64)
        no = torch.tensor([False, False])
        # env 0: controlled at step 1 (log p/q -0.5) and 2 (-1.0), then +0.25, crash
        mix({"done": no, "controlled": torch.tensor([True, False]), "surrogate_challenge": two,
             "log_ratio": torch.tensor([-0.5, 0.0], dtype=torch.float64)})
        mix({"done": no, "controlled": torch.tensor([True, False]), "surrogate_challenge": two,
             "log_ratio": torch.tensor([-1.0, 0.0], dtype=torch.float64)})
        mix({"done": torch.tensor([True, True]), "controlled": torch.tensor([False, False]),
             "surrogate_challenge": two, "env_crash": torch.tensor([True, False]),
             "log_ratio": torch.tensor([0.25, 0.0], dtype=torch.float64)})
        targets[target] = sorted(fits[-1].tolist())
    # the first row's crash counts the later steps' ratios, e^(-1 + 0.25); the second's e^0.25
    assert targets["naturalistic"] == pytest.approx(sorted([math.exp(-0.75), math.exp(0.25)]))
    assert targets["observed"] == [1.0, 1.0]
    with pytest.raises(ConfigError, match="target"):
        AdaptiveMix(adversary, fit=lambda f, t: [0.5, 0.5], target="weighted")


def test_combine_surrogates_recovers_a_known_mix():
    from sandbox.optimize import combine_surrogates

    g = torch.Generator().manual_seed(0)
    features = torch.rand(200, 3, generator=g, dtype=torch.float64).numpy()
    target = features @ [0.2, 0.0, 0.8]
    assert combine_surrogates(features, target) == pytest.approx([0.2, 0.0, 0.8], abs=1e-5)


def test_residual_risk_gives_q_proportional_to_p_times_challenge_plus_risk():
    world = HighwayWorld(TINY, num_envs=64, seed=1)
    obs = world.reset()
    av = IdmMobilPolicy(world, **RECKLESS)
    action = av.act(obs["av"])
    surrogate = matching_surrogate(world, RECKLESS)
    base = NadeAdversary(world, surrogates=[surrogate]).proposal(action)
    kappa = 0.05
    prop = NadeAdversary(world, surrogates=[surrogate], residual_risk=kappa).proposal(action)
    live = prop["critical"]
    assert live.any()
    p = prop["p"][live]
    challenge = prop["challenges"][0][live]
    star = p * (challenge + kappa)
    expected = 0.9 * star / star.sum(-1, keepdim=True) + 0.1 * p
    assert torch.allclose(prop["q"][live], expected, atol=1e-12)
    # the risk does not change which vehicle is controlled, nor whether
    assert torch.equal(prop["vehicle"], base["vehicle"])
    assert torch.equal(prop["critical"], base["critical"])
    # a risk that dwarfs every challenge leaves the naturalistic model
    huge = NadeAdversary(world, surrogates=[surrogate], residual_risk=1.0).proposal(action)
    assert (huge["q"][live] / huge["p"][live].clamp(min=1e-300))[huge["p"][live] > 0].max() < 2


@pytest.mark.parametrize("risk", [-0.1, 1.5, math.nan])
def test_residual_risk_outside_zero_one_is_refused(risk):
    with pytest.raises(ConfigError, match="residual_risk"):
        NadeAdversary(HighwayWorld(TINY), surrogates=[ConstantSpeedSurrogate()],
                      residual_risk=risk)


def test_campaign_refuses_a_policy_of_the_wrong_role_and_a_foreign_adversary():
    from sandbox.worlds.traffic import NaturalisticPolicy

    world = HighwayWorld(TINY, num_envs=4)
    with pytest.raises(ConfigError, match="av_policy"):
        run_campaign(world, NaturalisticPolicy(world), n_tests=4)
    other = HighwayWorld(TINY, num_envs=4)
    adversary = NadeAdversary(other, surrogates=[ConstantSpeedSurrogate()])
    with pytest.raises(ConfigError, match="adversary"):
        run_campaign(world, IdmMobilPolicy(world), n_tests=4, adversary=adversary)
    with pytest.raises(ConfigError, match="n_tests"):
        run_campaign(world, IdmMobilPolicy(world), n_tests=1)
    with pytest.raises(ConfigError, match="max_controls"):
        run_campaign(world, IdmMobilPolicy(world), n_tests=4, max_controls=-1)


@pytest.mark.parametrize("vehicles", [pytest.param(1, marks=pytest.mark.slow), 2])
def test_nade_weights_average_to_one_with_the_residual_risk(vehicles):
    # E_q[W] = 1 for any valid proposal: a check of the bookkeeping over whole tests,
    # with one steered vehicle per step or two (the product of their ratios)
    world = HighwayWorld(TINY, num_envs=128, seed=2)
    av = IdmMobilPolicy(world, **RECKLESS)
    adversary = NadeAdversary(world, surrogates=[matching_surrogate(world, RECKLESS)],
                              residual_risk=0.03, vehicles_per_step=vehicles)
    campaign = run_campaign(world, av, n_tests=512, adversary=adversary, seed=6,
                            max_controls=2)
    w = campaign.weight
    assert campaign.controlled.sum() > 100
    assert abs(float(w.mean()) - 1.0) < 4 * float(w.std()) / math.sqrt(w.numel())


class _LaneChanger(ConstantSpeedSurrogate):
    """Answers with [acceleration, lane change] pairs: not the AV's longitudinal action."""

    def accel(self, speed, gap, leader_speed):
        return torch.stack([torch.zeros_like(speed), torch.ones_like(speed)], -1)


class _Reckless(ConstantSpeedSurrogate):
    def accel(self, speed, gap, leader_speed):
        return torch.full_like(speed, math.nan)


class _Numpy(ConstantSpeedSurrogate):
    def accel(self, speed, gap, leader_speed):
        return speed.numpy() * 0.0


@pytest.mark.parametrize("surrogate", [_LaneChanger(), _Reckless(), _Numpy()],
                         ids=["two-actions", "nan", "not-a-tensor"])
def test_surrogate_whose_actions_do_not_fit_the_av_role_is_refused(surrogate):
    with pytest.raises(ConfigError, match=r"surrogates\[1\]"):
        NadeAdversary(HighwayWorld(TINY), surrogates=[IdmSurrogate(), surrogate])


def test_an_adversary_that_never_controls_leaves_the_naturalistic_draws_unchanged():
    # the adversary has its own stream: with nothing controlled NADE is exactly the NDE
    world = HighwayWorld(TINY, num_envs=16, seed=0)
    av = IdmMobilPolicy(world, **RECKLESS)
    nde = run_campaign(world, av, n_tests=32, seed=7)
    idle = NadeAdversary(world, surrogates=[matching_surrogate(world, RECKLESS)],
                         min_criticality=2.0)
    nade = run_campaign(world, av, n_tests=32, seed=7, adversary=idle)
    assert torch.equal(nde.crash, nade.crash) and torch.equal(nde.steps, nade.steps)
    assert (nade.weight == 1).all() and (nade.controlled == 0).all()


def test_nade_reads_the_cut_ins_exposure_from_the_naturalistic_model():
    world = HighwayWorld(dataclasses.replace(TINY, cut_in_prob=0.02), num_envs=32, seed=5)
    world.reset()
    adversary = NadeAdversary(world, surrogates=[matching_surrogate(world, RECKLESS)])
    candidates = adversary.candidates()
    p_nade = adversary.candidate_probabilities(candidates)
    p_world = world.naturalistic_probabilities()
    present = candidates > 0
    rows = p_world.gather(1, (candidates.clamp(min=1) - 1).unsqueeze(-1).expand(
        -1, -1, p_world.shape[-1]))
    assert torch.equal(p_nade[present], rows[present])
    # side vehicles may cut into the AV's lane at the cut-in rate without MOBIL's advice
    left_leader = candidates[:, 2]  # right lane's leader, cutting left into the AV's lane
    fits = world.scene().fits.gather(1, left_leader.clamp(min=0).view(-1, 1, 1).expand(
        -1, 1, 2)).squeeze(1)
    advised = world.scene().advice.gather(1, left_leader.clamp(min=0).unsqueeze(1)).squeeze(1)
    cut = (left_leader > 0) & fits[:, 0] & (advised != 1)
    assert cut.any()
    assert torch.allclose(p_nade[:, 2, 31][cut], torch.tensor(0.02))


def test_a_late_surrogate_reacts_a_decision_step_later():
    # the leader brakes at 4 m/s^2 for a second, 5 m ahead: an AV reacting at the next
    # decision brakes in time, one reacting a step later does not
    params = HighwayParams()
    kwargs = dict(gap=torch.tensor([5.0]), av_speed=torch.tensor([30.0]),
                  other_speed=torch.tensor([30.0]), other_ahead=torch.tensor([True]),
                  other_accel=torch.tensor([-4.0]), other_accel_after=torch.zeros(1),
                  av_accel=torch.zeros(1), settings=ChallengeSettings(), params=params)
    prompt = maneuver_challenge(surrogate=IdmSurrogate(), **kwargs)
    late = maneuver_challenge(surrogate=IdmSurrogate(late_steps=1), **kwargs)
    assert prompt == 0.0 and late == 1.0
    with pytest.raises(ConfigError, match="late_steps"):
        IdmSurrogate(late_steps=-1)


def test_a_surrogate_late_for_one_side_predicts_that_sides_cut_ins_late_only():
    world = HighwayWorld(dataclasses.replace(TINY, cut_in_prob=0.02), num_envs=256, seed=7)
    obs = world.reset()
    late = IdmSurrogate(late_steps=1, name="late")
    left_only = dataclasses.replace(late, name="left", late_for=("lane", "left"))
    prompt = IdmSurrogate(name="prompt")
    adversary = NadeAdversary(world, surrogates=[late, left_only, prompt],
                              challenge=ChallengeSettings(follow_ups=(0.0,)))
    av_action = IdmMobilPolicy(world).act(obs["av"])
    full, partial, at_once = adversary.surrogate_challenges(av_action)
    n_acc = world.params.n_accels
    left, right = n_acc, n_acc + 1  # lane-change actions
    from_left = [(1, right), (4, right)]  # left-lane leader and follower moving right
    from_right = [(2, left), (5, left)]
    for candidate, action in from_left:
        assert torch.equal(partial[:, candidate, action], full[:, candidate, action])
    for candidate, action in from_right:
        assert torch.equal(partial[:, candidate, action], at_once[:, candidate, action])
    # the own lane's maneuvers are in late_for: predicted late
    assert torch.equal(partial[:, 0, :n_acc], full[:, 0, :n_acc])
    # and lateness does change some predictions on both sides (the checks are not empty)
    for cells in (from_left, from_right):
        assert any(bool((full[:, c, a] != at_once[:, c, a]).any()) for c, a in cells)
    for bad in ("left", ("lane", "up")):
        with pytest.raises(ConfigError, match="late_for"):
            IdmSurrogate(late_steps=1, late_for=bad)


@pytest.mark.parametrize("k", [0, 8, 1.5, True, "2"])
def test_vehicles_per_step_outside_one_to_seven_is_refused(k):
    with pytest.raises(ConfigError, match="vehicles_per_step"):
        NadeAdversary(HighwayWorld(TINY), surrogates=[IdmSurrogate()], vehicles_per_step=k)


def test_several_vehicles_per_step_are_the_most_critical_and_their_ratios_multiply():
    world = HighwayWorld(dataclasses.replace(TINY, cut_in_prob=0.05), num_envs=64, seed=3)
    obs = world.reset()
    av = IdmMobilPolicy(world, **RECKLESS)
    background = NaturalisticPolicy(world)
    for _ in range(4):  # into traffic, where several neighbours are critical at once
        obs = world.step({"av": av.act(obs["av"]),
                          "background": background.act(obs["background"])}).obs
    av_action = av.act(obs["av"])
    adversary = NadeAdversary(world, surrogates=[matching_surrogate(world, RECKLESS)],
                              vehicles_per_step=3, min_criticality=0.0)
    ranks = adversary.proposal(av_action, ranks=3)
    # the first rank is the single-vehicle proposal; ranks fall in criticality and name
    # different vehicles
    single = adversary.proposal(av_action)
    assert torch.equal(ranks[0]["vehicle"], single["vehicle"])
    assert torch.equal(ranks[0]["q"], single["q"])
    assert (ranks[0]["criticality"] >= ranks[1]["criticality"]).all()
    assert (ranks[1]["criticality"] >= ranks[2]["criticality"]).all()
    steered = torch.stack([r["vehicle"] for r in ranks], 1)
    both = (steered[:, 0] >= 0) & (steered[:, 1] >= 0)
    assert bool(both.any()) and (steered[both, 0] != steered[both, 1]).all()
    assert all(bool((r["vehicle"][r["critical"]] >= 0).all()) for r in ranks)
    # modify draws every critical rank from its q: the log-ratio is the sum of theirs
    natural = torch.full((64, world.params.n_background), -1, dtype=torch.long)
    actions, log_ratio, controlled, _ = adversary.modify(
        natural, av_action, generator=torch.Generator().manual_seed(0))
    expected = torch.zeros(64, dtype=torch.float64)
    for r in ranks:
        envs = r["critical"].nonzero().squeeze(1)
        drawn = actions[envs, r["vehicle"][envs]]
        assert (drawn >= 0).all()
        expected[envs] += (r["p"][envs, drawn] / r["q"][envs, drawn]).log()
    assert torch.allclose(log_ratio, expected)
    n_steered = sum(r["critical"].long() for r in ranks)
    assert int(n_steered.max()) > 1 and torch.equal(controlled, n_steered > 0)
    assert int(((actions >= 0).sum(1) == n_steered).all())


def test_unsteered_share_counts_the_crashes_whose_path_the_proposal_did_not_favour():
    world = HighwayWorld(TINY, num_envs=128, seed=2)
    av = IdmMobilPolicy(world, **RECKLESS)
    adversary = NadeAdversary(world, surrogates=[matching_surrogate(world, RECKLESS)],
                              residual_risk=0.03)
    campaign = run_campaign(world, av, n_tests=256, adversary=adversary, seed=6,
                            max_controls=2)
    x, w = campaign.samples, campaign.weight
    unsteered = campaign.crash & (w >= 1.0)
    # both kinds occur here: crashes the proposal steered towards (W < 1) and not
    assert bool(unsteered.any()) and bool((campaign.crash & (w < 1.0)).any())
    share = campaign.unsteered_share()
    assert share["tests"] == int(unsteered.sum())
    assert share["share_of_estimate"] == pytest.approx(float(x[unsteered].sum() / x.sum()))
    assert share["share_of_sum_of_squares"] == pytest.approx(
        float((x[unsteered] ** 2).sum() / (x * x).sum()))
    assert run_campaign(world, av, n_tests=256, seed=6).unsteered_share() is None


def test_an_idle_adversary_leaves_every_crash_unsteered():
    world = HighwayWorld(TINY, num_envs=64, seed=0)
    av = IdmMobilPolicy(world, **RECKLESS)
    idle = NadeAdversary(world, surrogates=[matching_surrogate(world, RECKLESS)],
                         min_criticality=2.0)
    campaign = run_campaign(world, av, n_tests=128, seed=7, adversary=idle)
    share = campaign.unsteered_share()
    assert campaign.crash.sum() > 0 and share["tests"] == int(campaign.crash.sum())
    assert share["share_of_estimate"] == pytest.approx(1.0)
