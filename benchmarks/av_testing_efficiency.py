"""AV testing: NDE (crude Monte Carlo) against NADE, the adaptive surrogate mix and D2RL.

1. Unbiasedness (weak AV, crash rate about 7e-3): crude Monte Carlo vs NADE (z-score),
   the mean importance weight (which must be 1), the tail of the crash weights, and the
   share of ``repeats`` independent NADE runs whose 90 % interval covers the Monte Carlo
   value. The repeats are consecutive blocks of one NADE campaign in round-robin order,
   so they are independent sets of independent tests.
2. Efficiency (robust AV): NADE's estimate, relative half-width against the number of
   tests, the tests to 0.3 if reached, and the variance ratio ``mu (1 - mu) / s^2``
   (crude Monte Carlo's per-test variance over NADE's: how many times fewer tests NADE
   needs for the same half-width, if its sample variance is to be trusted). NADE uses
   the look-ahead challenge (``--robust-challenge lookahead``, the study's
   ``ROBUST_CHALLENGE``) or the one-step one (``one_step``); ``--robust-nde-tests N``
   adds crude Monte Carlo on the same AV. ``--robust-method tilt`` replaces NADE by the
   platoon tilt (``PlatoonTiltAdversary``): cross-entropy pilot rounds fit the tilts,
   then a fresh campaign estimates the crash rate; the pilot's tests count in the tests
   to 0.3.
   Section ``tilt_unbiasedness``: the platoon tilt (its own cross-entropy pilot) on the
   weak AV against the model card's crude Monte Carlo value (z, mean weight, coverage of
   blocks of ``--tests-per-repeat`` tests).
3. Adaptive mix: an AV unlike each surrogate, tested by NADE with each single surrogate
   and with the mix re-fitted by ``sandbox.optimize.combine_surrogates``; relative
   half-width at the same budget and, over all ``--adaptive-seeds``, the pooled per-test
   variance and the tests to 0.3 it implies. ``--adaptive-env``: the noisy drivers' AV
   (IDM, inattentive with probability 0.3 per step), the cut-in study's, or ``fleet``
   (``FLEET_AV``: each test drives a late-reacting or a weakly braking variant; a late
   and a weak IDM surrogate) or ``one_side`` (the default: ``LATE_AV``, late for every
   maneuver, and two surrogates each late for cut-ins from one side only).
   ``--adaptive-cut-in-prob`` sets the fleet and one-side studies' cut-in rate (and
   residual risk), ``--adaptive-vehicles`` how many vehicles NADE steers per step,
   ``--adaptive-nde-tests`` adds crude Monte Carlo on the same AV and ``--workers`` runs
   the seeds in parallel. Besides the pooled figures the section reports each single's
   z against the mix (a surrogate blind to some crash paths falls short of the mix in
   a short campaign) and the share of each estimate carried by crashed tests of weight
   at least 1 (``Campaign.unsteered_share``: paths the proposal did not favour, outside
   every surrogate's view, which a short campaign misses and its half-width does not
   show).
4. D2RL: the learned control level (PPO on critical steps only) against NADE on the weak
   AV: training tests, then the relative half-width of both at the same evaluation
   budget and the z-score of D2RL against crude Monte Carlo.

Targets (issue): |z| < 4; coverage between 80 % and 98 %; at least 100x fewer tests;
the adaptive mix better than the best single surrogate; where D2RL stands against NADE.

Usage: python benchmarks/av_testing_efficiency.py [--quick] [--batch 1024]
       [--sections unbiasedness,efficiency,adaptive,d2rl] [--nde-tests N]
       [--nade-repeats R] [--tests-per-repeat n] [--efficiency-tests N]
       [--adaptive-tests N] [--d2rl-train-tests N] [--d2rl-tests N] [--eps E]
       [--weak-challenge one_step|lookahead] [--robust-challenge one_step|lookahead]
       [--robust-residual-risk R] [--robust-nde-tests N] [--robust-method nade|tilt]
       [--tilt-theta JSON] [--tilt-rounds K] [--tilt-pilot-tests N] [--tilt-window W]
       [--tilt-onsets K] [--tilt-untilted U] [--tilt-smoothing S] [--tilt-weak-tests N]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import multiprocessing
import statistics
import time

import torch

from sandbox.optimize import combine_surrogates
from sandbox.solvers.d2rl import D2rlAdversary, D2rlConfig, train_d2rl
from sandbox.worlds.traffic import FleetPolicy, HighwayWorld
from sandbox.worlds.traffic.testing import (
    AdaptiveMix,
    ConstantSpeedSurrogate,
    Estimate,
    NadeAdversary,
    PlatoonTiltAdversary,
    converged_at,
    crude_tests_needed,
    estimate,
    run_campaign,
    running_relative_half_width,
)
from sandbox.worlds.traffic.testing.cross_entropy import fit_tilt
from sandbox.worlds.traffic.testing.studies import (
    ADAPTIVE_AV,
    ADAPTIVE_RESIDUAL_RISK,
    ADAPTIVE_WEAK_DECEL,
    CUT_IN_ADAPTIVE_AV,
    CUT_IN_AV,
    CUT_IN_CHECK_PROB,
    CUT_IN_MIN_CRITICALITY,
    CUT_IN_PROB,
    FLEET_AV,
    FLEET_CHALLENGE,
    FLEET_CUT_IN_PROB,
    FLEET_RISK_PER_CUT_IN,
    LATE_AV,
    ROBUST_AV,
    ROBUST_CHALLENGE,
    ROBUST_LOOKAHEAD_RISK,
    ROBUST_RESIDUAL_RISK,
    TESTING_ENV,
    WEAK_AV,
    WEAK_AV_MAX_CONTROLS,
    WEAK_RESIDUAL_RISK,
    cut_in_env,
    cut_in_residual_risk,
    fleet_surrogates,
    make_av,
    matching_surrogate,
    one_side_surrogates,
)

#: First cross-entropy round of the platoon tilt (1/(m/s^2) per role).
TILT_THETA = '{"leader": -0.4, "front": -1.0, "front_2": -0.6}'


def summary(est) -> dict:
    return {"tests": est.n, "crashes": est.crashes, "mean": est.mean,
            "half_width_90": est.half_width, "relative_half_width": est.relative_half_width}


def weight_tail(campaign) -> dict:
    """How much of the estimate the largest crash weights carry."""
    w = campaign.weight[campaign.crash]
    if w.numel() == 0:
        return {"crash_weights": 0}
    top = w.sort(descending=True).values
    return {"crash_weights": int(w.numel()), "max_crash_weight": float(top[0]),
            "largest_crash_share": float(top[0] / w.sum()),
            "largest_1pct_share": float(top[:max(1, w.numel() // 100)].sum() / w.sum())}


def against_crude(campaign) -> dict:
    """An importance-sampling campaign's estimate, its tests to relative half-width 0.3,
    crude Monte Carlo's 30.1/mu at that estimate, their ratio and the variance ratio."""
    est = campaign.estimate()
    converged = converged_at(campaign.samples)
    crude = crude_tests_needed(est.mean) if 0 < est.mean < 1 else math.inf
    return {"nade": summary(est), "nade_tests_to_rhw_0.3": converged,
            "crude_tests_needed_30.1_over_mu": crude,
            "reduction": (crude / converged) if converged else None,
            "variance_ratio_mc_over_nade": (est.mean * (1 - est.mean) / est.std**2
                                            if est.std > 0 else None)}


def rhw_at(samples, budgets) -> dict:
    rhw = running_relative_half_width(samples)
    return {str(n): float(rhw[n - 1]) for n in budgets if n <= samples.numel()}


def _challenge(name: str):
    """The challenge settings a ``--*-challenge`` option names."""
    return ROBUST_CHALLENGE if name == "lookahead" else None


def _unbiasedness_study(name: str, args) -> dict:
    """Environment, AV, residual risk and control limit of an unbiasedness check."""
    if name == "cut_in":
        return {"env": cut_in_env(CUT_IN_CHECK_PROB), "av": CUT_IN_AV,
                "risk": cut_in_residual_risk(CUT_IN_CHECK_PROB), "max_controls": None,
                "challenge": "one_step", "min_criticality": CUT_IN_MIN_CRITICALITY}
    risk = WEAK_RESIDUAL_RISK if args.weak_residual_risk is None else args.weak_residual_risk
    return {"env": TESTING_ENV, "av": WEAK_AV, "risk": risk,
            "max_controls": args.weak_max_controls or None, "challenge": args.weak_challenge,
            "min_criticality": 1e-6}


def _nade_block(job: tuple) -> tuple[torch.Tensor, ...]:
    """One worker's share of the NADE repeats: ``(crash, weight)`` of ``n`` tests."""
    batch, n, seed, eps, study = job
    torch.set_num_threads(1)
    world = HighwayWorld(study["env"], num_envs=batch, seed=0)
    adversary = NadeAdversary(world, surrogates=[matching_surrogate(world, study["av"])],
                              eps=eps, residual_risk=study["risk"],
                              challenge=_challenge(study["challenge"]),
                              min_criticality=study["min_criticality"])
    campaign = run_campaign(world, make_av(world, study["av"]), n_tests=n,
                            adversary=adversary, seed=seed, max_controls=study["max_controls"])
    return campaign.crash, campaign.weight


def unbiasedness(args, study_name: str = "weak") -> dict:
    study = _unbiasedness_study(study_name, args)
    world = HighwayWorld(study["env"], num_envs=args.batch, seed=0)
    av = make_av(world, study["av"])
    start = time.perf_counter()
    if args.nde_reference:
        mean, half, n = (float(x) for x in args.nde_reference.split(","))
        mc = Estimate(int(n), mean, half * math.sqrt(n) / 1.645, half, half / mean,
                      round(mean * n))
    else:
        mc = run_campaign(world, av, n_tests=args.nde_tests, seed=11).estimate()
    nde_time = time.perf_counter() - start
    # independent workers (seeds 12, 13, ...) each run whole repeats
    workers = max(1, args.workers)
    per_worker = args.nade_repeats // workers
    jobs = [(args.batch, per_worker * args.tests_per_repeat, args.seed + k, args.eps, study)
            for k in range(workers)]
    start = time.perf_counter()
    if workers == 1:
        parts = [_nade_block(jobs[0])]
    else:
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            parts = list(pool.map(_nade_block, jobs))
    nade_time = time.perf_counter() - start
    crash = torch.cat([c for c, _ in parts])
    weight = torch.cat([w for _, w in parts])
    if args.save_samples:
        torch.save({"crash": crash, "weight": weight, "workers": workers}, args.save_samples)
    samples = crash.double() * weight
    is_est = estimate(samples)
    se = math.hypot(mc.half_width, is_est.half_width) / 1.645
    repeats = per_worker * workers
    blocks = samples.view(repeats, args.tests_per_repeat)
    covered = [abs(estimate(b).mean - mc.mean) <= estimate(b).half_width for b in blocks]
    tail = weight[crash].sort(descending=True).values
    return {
        "av": study["av"], "cut_in_prob": study["env"].cut_in_prob,
        "accel_noise": study["env"].accel_noise, "eps": args.eps,
        "residual_risk": study["risk"], "challenge": study["challenge"],
        "crude_monte_carlo": summary(mc),
        "crude_monte_carlo_source": "given" if args.nde_reference else "run (seed 11)",
        "nade": summary(is_est),
        "z": (is_est.mean - mc.mean) / se if se > 0 else None,
        "mean_weight": float(weight.mean()),
        "mean_weight_half_width_90": 1.645 * float(weight.std()) / math.sqrt(weight.numel()),
        "weight_tail": {"crash_weights": int(tail.numel()),
                        "max_crash_weight": float(tail[0]) if tail.numel() else None,
                        "largest_crash_share": float(tail[0] / tail.sum()) if tail.numel()
                        else None},
        "coverage": {"repeats": repeats, "tests_per_repeat": args.tests_per_repeat,
                     "covered_share": sum(covered) / len(covered)},
        "per_test_std": {"nde": mc.std, "nade": is_est.std},
        "nde_seconds": nde_time, "nade_seconds": nade_time, "workers": workers,
        "max_controls_per_test": study["max_controls"],
    }


def cut_in_unbiasedness(args) -> dict:
    return unbiasedness(args, "cut_in")


def cut_in(args) -> dict:
    """NADE against crude Monte Carlo for the default AV among rare unadvised cut-ins."""
    env = cut_in_env(args.cut_in_prob)
    world = HighwayWorld(env, num_envs=args.batch, seed=0)
    av = make_av(world, CUT_IN_AV)
    risk = cut_in_residual_risk(args.cut_in_prob)
    adversary = NadeAdversary(world, surrogates=[matching_surrogate(world, CUT_IN_AV)],
                              residual_risk=risk, min_criticality=CUT_IN_MIN_CRITICALITY)
    out = {"av": CUT_IN_AV, "cut_in_prob": args.cut_in_prob, "accel_noise": env.accel_noise,
           "residual_risk": risk, "min_criticality": CUT_IN_MIN_CRITICALITY}
    start = time.perf_counter()
    nade = run_campaign(world, av, n_tests=args.cut_in_tests, adversary=adversary, seed=51)
    nade_time = time.perf_counter() - start
    est = nade.estimate()
    out.update({
        **against_crude(nade),
        "rhw_at": rhw_at(nade.samples, (256, 512, 1024, 2048, 4096, 8192, 16384)),
        "mean_weight": float(nade.weight.mean()), "weight_tail": weight_tail(nade),
        "controlled_steps_per_test": float(nade.controlled.double().mean()),
        "nade_seconds": nade_time,
    })
    if args.cut_in_nde_tests:
        start = time.perf_counter()
        mc = run_campaign(world, av, n_tests=args.cut_in_nde_tests, seed=52).estimate()
        se = math.hypot(mc.half_width, est.half_width) / 1.645
        out["crude_monte_carlo"] = {**summary(mc), "seconds": time.perf_counter() - start,
                                    "z_nade_vs_crude": (est.mean - mc.mean) / se}
    return out


#: Crude Monte Carlo's robust-AV crash rate (5 crashes in 262,144 NDE tests, model card).
ROBUST_NDE_RATE = 1.9e-5
#: Crude Monte Carlo on the weak AV (model card): mean, 90 % half-width, tests.
WEAK_NDE_REFERENCE = (7.12e-3, 0.56e-3, 60_000)


def _tilt_args(args) -> dict:
    return {"window": args.tilt_window, "onsets": args.tilt_onsets,
            "untilted": args.tilt_untilted, "eps": args.eps}


def _tilt_fit(world, av, args, seed: int):
    return fit_tilt(world, av, theta=json.loads(args.tilt_theta), rounds=args.tilt_rounds,
                    tests_per_round=args.tilt_pilot_tests, seed=seed,
                    smoothing=args.tilt_smoothing, **_tilt_args(args))


def efficiency_tilt(args) -> dict:
    """The robust AV tested by the platoon tilt: CE pilot, then a fresh campaign."""
    world = HighwayWorld(TESTING_ENV, num_envs=args.batch, seed=0)
    av = make_av(world, ROBUST_AV)
    start = time.perf_counter()
    fit = _tilt_fit(world, av, args, seed=100)
    pilot_time = time.perf_counter() - start
    adversary = PlatoonTiltAdversary(world, theta=fit.theta, **_tilt_args(args))
    start = time.perf_counter()
    campaign = run_campaign(world, av, n_tests=args.efficiency_tests, adversary=adversary,
                            seed=21)
    seconds = time.perf_counter() - start
    est = campaign.estimate()
    converged = converged_at(campaign.samples)
    with_pilot = converged + fit.pilot_tests if converged else None
    crude = {"crude_mc_rate_1.9e-5": crude_tests_needed(ROBUST_NDE_RATE)}
    if 0 < est.mean < 1:
        crude["own_estimate"] = crude_tests_needed(est.mean)
    return {
        "av": ROBUST_AV, "method": "tilt", "settings": _tilt_args(args),
        "initial_theta": json.loads(args.tilt_theta), "pilot_rounds": fit.rounds,
        "pilot_tests": fit.pilot_tests, "fitted_theta": fit.theta, "tilt": summary(est),
        "tests_to_rhw_0.3_final_campaign": converged,
        "tests_to_rhw_0.3_with_pilot": with_pilot,
        "crude_tests_needed_30.1_over_mu": crude,
        "reduction_with_pilot": {k: (v / with_pilot if with_pilot else None)
                                 for k, v in crude.items()},
        "variance_ratio_mc_over_tilt": (est.mean * (1 - est.mean) / est.std**2
                                        if est.std > 0 else None),
        "rhw_at": rhw_at(campaign.samples, (2048, 4096, 8192, 16384, 32768)),
        "weight_tail": weight_tail(campaign),
        "mean_weight": float(campaign.weight.mean()),
        "tilted_steps_per_test": float(campaign.controlled.double().mean()),
        "pilot_seconds": pilot_time, "seconds": seconds,
    }


def tilt_unbiasedness(args) -> dict:
    """The platoon tilt on the weak AV against the model card's crude Monte Carlo value."""
    world = HighwayWorld(TESTING_ENV, num_envs=args.batch, seed=0)
    av = make_av(world, WEAK_AV)
    mean, half, n = WEAK_NDE_REFERENCE
    fit = _tilt_fit(world, av, args, seed=200)
    adversary = PlatoonTiltAdversary(world, theta=fit.theta, **_tilt_args(args))
    start = time.perf_counter()
    campaign = run_campaign(world, av, n_tests=args.tilt_weak_tests, adversary=adversary,
                            seed=args.seed)
    seconds = time.perf_counter() - start
    est = campaign.estimate()
    se = math.hypot(half, est.half_width) / 1.645
    blocks = campaign.samples[: (est.n // args.tests_per_repeat) * args.tests_per_repeat]
    blocks = blocks.view(-1, args.tests_per_repeat)
    covered = [abs(estimate(b).mean - mean) <= estimate(b).half_width for b in blocks]
    w = campaign.weight
    return {
        "av": WEAK_AV, "settings": _tilt_args(args), "pilot_tests": fit.pilot_tests,
        "fitted_theta": fit.theta, "crude_monte_carlo": {"mean": mean, "half_width_90": half,
                                                        "tests": n, "source": "model card"},
        "tilt": summary(est), "z": (est.mean - mean) / se,
        "mean_weight": float(w.mean()),
        "mean_weight_half_width_90": 1.645 * float(w.std()) / math.sqrt(w.numel()),
        "weight_tail": weight_tail(campaign),
        "coverage": {"repeats": len(covered), "tests_per_repeat": args.tests_per_repeat,
                     "covered_share": sum(covered) / max(1, len(covered))},
        "seconds": seconds,
    }


def efficiency(args) -> dict:
    if args.robust_method == "tilt":
        return efficiency_tilt(args)
    world = HighwayWorld(TESTING_ENV, num_envs=args.batch, seed=0)
    av = make_av(world, ROBUST_AV)
    lookahead = args.robust_challenge == "lookahead"
    risk = args.robust_residual_risk
    if risk is None:
        risk = ROBUST_LOOKAHEAD_RISK if lookahead else ROBUST_RESIDUAL_RISK
    adversary = NadeAdversary(world, surrogates=[matching_surrogate(world, ROBUST_AV)],
                              residual_risk=risk, challenge=_challenge(args.robust_challenge))
    out = {"av": ROBUST_AV, "challenge": args.robust_challenge, "residual_risk": risk}
    if args.robust_nde_tests:
        start = time.perf_counter()
        nde = run_campaign(world, av, n_tests=args.robust_nde_tests, seed=22)
        out["crude_monte_carlo"] = {**summary(nde.estimate()),
                                    "seconds": time.perf_counter() - start}
    start = time.perf_counter()
    nade = run_campaign(world, av, n_tests=args.efficiency_tests, adversary=adversary, seed=21)
    nade_time = time.perf_counter() - start
    return {
        **out, **against_crude(nade),
        "rhw_at": rhw_at(nade.samples, (4096, 8192, 16384, 32768, 65536)),
        "weight_tail": weight_tail(nade),
        "controlled_steps_per_test": float(nade.controlled.double().mean()),
        "nade_seconds": nade_time,
    }


def pooled(samples: list[torch.Tensor]) -> dict:
    """Independent runs' samples as one estimate: the mean, the per-test relative
    variance ``s^2 / mu^2`` and the tests it implies to relative half-width 0.3."""
    joined = torch.cat(samples)
    est = estimate(joined)
    relative_variance = est.n * (est.relative_half_width / 1.645) ** 2
    return {"tests": est.n, "mean": est.mean, "relative_half_width": est.relative_half_width,
            "relative_variance": relative_variance,
            "largest_test_share": (float(joined.max() / joined.sum())
                                   if joined.sum() > 0 else None),
            "tests_to_rhw_0.3": (math.ceil(1.645**2 * relative_variance / 0.09)
                                 if math.isfinite(relative_variance) else None)}


def _setting(args, name: str, *, cut_in_av: dict, noisy_av: dict, noisy_risk: float):
    """``(env, AV settings, residual risk, criticality threshold)`` of a study: the
    cut-in study's (at ``--cut-in-prob``) or the noisy drivers' with ``noisy_av``."""
    if name == "cut_in":
        return (cut_in_env(args.cut_in_prob), cut_in_av,
                cut_in_residual_risk(args.cut_in_prob), CUT_IN_MIN_CRITICALITY)
    return TESTING_ENV, noisy_av, noisy_risk, 1e-6


def _adaptive_setting(args):
    """``(world, AV, AV settings, surrogates, residual risk, threshold, challenge)`` of
    the adaptive study that ``--adaptive-env`` names."""
    if args.adaptive_env in ("fleet", "one_side"):
        cut_in_prob = args.adaptive_cut_in_prob or FLEET_CUT_IN_PROB
        world = HighwayWorld(cut_in_env(cut_in_prob), num_envs=args.batch, seed=0)
        risk = FLEET_RISK_PER_CUT_IN * cut_in_prob
        if args.adaptive_env == "fleet":
            return (world, FleetPolicy(world, **FLEET_AV), FLEET_AV,
                    fleet_surrogates(world), risk, 0.0, FLEET_CHALLENGE)
        return (world, make_av(world, LATE_AV), LATE_AV, one_side_surrogates(world),
                risk, 0.0, FLEET_CHALLENGE)
    env, av_settings, risk, threshold = _setting(
        args, args.adaptive_env, cut_in_av=CUT_IN_ADAPTIVE_AV, noisy_av=ADAPTIVE_AV,
        noisy_risk=ADAPTIVE_RESIDUAL_RISK)
    world = HighwayWorld(env, num_envs=args.batch, seed=0)
    attentive = {k: v for k, v in av_settings.items() if k != "inattention"}
    weak_decel = args.adaptive_weak_decel or ADAPTIVE_WEAK_DECEL
    if args.adaptive_pair == "constant_speed":
        second = ConstantSpeedSurrogate()
    elif args.adaptive_pair == "idm_late":
        second = matching_surrogate(world, attentive, name="idm_late", late_steps=1)
    else:
        second = matching_surrogate(world, {**attentive, "max_decel": weak_decel},
                                    name="idm_weak")
    surrogates = [matching_surrogate(world, attentive, name="idm"), second]
    return (world, make_av(world, av_settings), av_settings, surrogates, risk, threshold,
            None)


def _adaptive_job(job: tuple) -> tuple[int, dict, dict]:
    """One seed of the adaptive study: each single surrogate, then the re-fitted mix.

    ``job`` is ``(args, seed)``; ``seed < 0`` runs crude Monte Carlo instead (seed
    ``-seed``, ``--adaptive-nde-tests`` split evenly over the workers). Returns
    ``(seed, summaries by method, samples by method)``.
    """
    args, seed = job
    torch.set_num_threads(1)
    world, av, _, surrogates, risk, threshold, challenge = _adaptive_setting(args)
    if seed < 0:
        n = math.ceil(args.adaptive_nde_tests / max(1, args.workers) / args.batch) * args.batch
        crude = run_campaign(world, av, n_tests=n, seed=-seed)
        return seed, {"nde": summary(crude.estimate())}, {"nde": _with_unsteered(crude)}
    runs, samples = {}, {}
    for surrogate in surrogates:
        adversary = NadeAdversary(world, surrogates=[surrogate], residual_risk=risk,
                                  min_criticality=threshold, challenge=challenge,
                                  vehicles_per_step=args.adaptive_vehicles)
        campaign = run_campaign(world, av, n_tests=args.adaptive_tests,
                                adversary=adversary, seed=seed)
        runs[surrogate.name] = {**summary(campaign.estimate()),
                                "tests_to_rhw_0.3": converged_at(campaign.samples),
                                "unsteered": campaign.unsteered_share()}
        samples[surrogate.name] = _with_unsteered(campaign)
    adversary = NadeAdversary(world, surrogates=surrogates, residual_risk=risk,
                              min_criticality=threshold, challenge=challenge,
                              vehicles_per_step=args.adaptive_vehicles)
    mix = AdaptiveMix(adversary, fit=combine_surrogates,
                      refit_every=max(args.adaptive_tests // 16, args.batch))
    campaign = run_campaign(world, av, n_tests=args.adaptive_tests, adversary=adversary,
                            seed=seed, on_step=mix)
    runs["adaptive_mix"] = {**summary(campaign.estimate()),
                            "tests_to_rhw_0.3": converged_at(campaign.samples),
                            "unsteered": campaign.unsteered_share(),
                            "coefficient_history": mix.history}
    samples["adaptive_mix"] = _with_unsteered(campaign)
    return seed, runs, samples


def _with_unsteered(campaign) -> tuple[torch.Tensor, torch.Tensor]:
    """``(samples, unsteered crashed tests [n] bool)`` of a campaign, for pooling."""
    return campaign.samples, campaign.unsteered


def _pooled_with_unsteered(parts: list[tuple[torch.Tensor, torch.Tensor]]) -> dict:
    """:func:`pooled` plus the share of the estimate from unsteered crashed tests."""
    samples = torch.cat([x for x, _ in parts])
    unsteered = torch.cat([u for _, u in parts])
    total = float(samples.sum())
    return {**pooled([x for x, _ in parts]),
            "unsteered_crashed_tests": int(unsteered.sum()),
            "unsteered_share_of_estimate": (float(samples[unsteered].sum()) / total
                                            if total > 0 else None)}


def _z(a: dict, b: dict) -> float | None:
    """z-score of the difference of two pooled means (standard errors from their
    90 % half-widths)."""
    se = math.hypot(a["mean"] * a["relative_half_width"],
                    b["mean"] * b["relative_half_width"]) / 1.645
    return (a["mean"] - b["mean"]) / se if se > 0 and math.isfinite(se) else None


def adaptive(args) -> dict:
    world, _, av_settings, surrogates, risk, threshold, _ = _adaptive_setting(args)
    env = world.params
    jobs = [(args, seed) for seed in args.adaptive_seeds]
    if args.adaptive_nde_tests:
        jobs += [(args, -(1000 + k)) for k in range(max(1, args.workers))]
    if args.workers > 1:
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(args.workers, mp_context=context) as pool:
            done = list(pool.map(_adaptive_job, jobs))
    else:
        done = [_adaptive_job(job) for job in jobs]
    by_seed, samples = {}, {}
    for seed, runs, parts in done:
        if seed >= 0:
            by_seed[seed] = runs
        for name, part in parts.items():
            samples.setdefault(name, []).append(part)

    def rhw(runs, name):
        return runs[name]["relative_half_width"]
    singles = [s.name for s in surrogates]
    mix_wins = sum(rhw(r, "adaptive_mix") < min(rhw(r, n) for n in singles)
                   for r in by_seed.values())
    pools = {name: (pooled([x for x, _ in parts]) if name == "nde"
                    else _pooled_with_unsteered(parts)) for name, parts in samples.items()}
    out = {"environment": args.adaptive_env, "cut_in_prob": env.cut_in_prob,
           "accel_noise": env.accel_noise, "residual_risk": risk,
           "min_criticality": threshold, "vehicles_per_step": args.adaptive_vehicles,
           "av": av_settings, "surrogates": singles, "tests_per_run": args.adaptive_tests,
           "seeds": list(by_seed), "pooled": pools,
           # a surrogate blind to part of the crash paths draws those paths only at their
           # naturalistic rate: in a short campaign it misses their crash mass and its
           # mean lies below the mix's while its half-width hides the gap
           "z_against_mix": {name: _z(pools[name], pools["adaptive_mix"]) for name in singles},
           "median_relative_half_width": {
               name: statistics.median(rhw(r, name) for r in by_seed.values())
               for name in (*singles, "adaptive_mix")},
           "mix_better_than_best_single": f"{mix_wins} of {len(by_seed)} seeds",
           "runs": by_seed[args.adaptive_seeds[0]] if len(by_seed) == 1 else by_seed}
    if "nde" in pools:
        out["z_against_crude"] = {name: _z(pools[name], pools["nde"])
                                  for name in (*singles, "adaptive_mix")}
    return out


def d2rl(args) -> dict:
    env, av_settings, risk, threshold = _setting(
        args, args.d2rl_env, cut_in_av=CUT_IN_AV, noisy_av=WEAK_AV,
        noisy_risk=WEAK_RESIDUAL_RISK)
    world = HighwayWorld(env, num_envs=args.batch, seed=0)
    av = make_av(world, av_settings)
    surrogate = matching_surrogate(world, av_settings)
    config = D2rlConfig(train_tests=args.d2rl_train_tests,
                        batch_decisions=max(64, args.d2rl_train_tests // 32))
    adversary = D2rlAdversary(world, surrogates=[surrogate], config=config,
                              residual_risk=risk, seed=41, min_criticality=threshold)
    start = time.perf_counter()
    training, trainer = train_d2rl(world, av, adversary, seed=42)
    train_time = time.perf_counter() - start
    learned = run_campaign(world, av, n_tests=args.d2rl_tests, adversary=adversary, seed=43)
    nade_adv = NadeAdversary(world, surrogates=[surrogate], residual_risk=risk,
                             min_criticality=threshold)
    nade = run_campaign(world, av, n_tests=args.d2rl_tests, adversary=nade_adv, seed=43)
    nde = run_campaign(world, av, n_tests=args.d2rl_nde_tests or args.d2rl_tests, seed=44)
    out = {"environment": args.d2rl_env, "cut_in_prob": env.cut_in_prob,
           "accel_noise": env.accel_noise, "av": av_settings, "residual_risk": risk,
           "levels": list(config.levels),
           "training": {"tests": training.weight.numel(), "updates": len(trainer.history),
                        "seconds": train_time,
                        "first": trainer.history[0] if trainer.history else None,
                        "last": trainer.history[-1] if trainer.history else None}}
    for name, campaign in (("d2rl", learned), ("nade", nade), ("nde", nde)):
        est = campaign.estimate()
        out[name] = {**summary(est), "tests_to_rhw_0.3": converged_at(campaign.samples),
                     "variance_ratio_mc_over_method": (est.mean * (1 - est.mean) / est.std**2
                                                       if est.std > 0 else None)}
    for ref_name in ("nde", "nade"):
        ref, est = out[ref_name], out["d2rl"]
        se = math.hypot(ref["half_width_90"], est["half_width_90"]) / 1.645
        out[f"z_d2rl_vs_{ref_name}"] = (est["mean"] - ref["mean"]) / se if se > 0 else None
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few-second smoke run")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--nde-tests", type=int, default=60_000)
    parser.add_argument("--nade-repeats", type=int, default=200)
    parser.add_argument("--tests-per-repeat", type=int, default=500)
    parser.add_argument("--efficiency-tests", type=int, default=32_768)
    parser.add_argument("--adaptive-tests", type=int, default=16_384)
    parser.add_argument("--adaptive-pair", choices=("constant_speed", "idm_weak", "idm_late"),
                        default="constant_speed",
                        help="the second surrogate beside the attentive IDM one: constant "
                             "speed, IDM braking at most ADAPTIVE_WEAK_DECEL, or IDM "
                             "reacting one decision step late")
    parser.add_argument("--adaptive-env", choices=("noisy", "cut_in", "fleet", "one_side"),
                        default="one_side",
                        help="the adaptive study: the noisy drivers (ADAPTIVE_AV), the "
                             "cut-in study's (CUT_IN_ADAPTIVE_AV), the fleet AV among "
                             "cut-ins (FLEET_AV and its two surrogates), or the late AV "
                             "with two one-side surrogates (LATE_AV); --adaptive-pair "
                             "applies to the first two")
    parser.add_argument("--adaptive-weak-decel", type=float, default=None,
                        help="braking limit of the idm_weak surrogate (default: the "
                             "study's ADAPTIVE_WEAK_DECEL)")
    parser.add_argument("--adaptive-cut-in-prob", type=float, default=None,
                        help="cut-in probability of the fleet and one-side studies "
                             "(default FLEET_CUT_IN_PROB; the residual risk follows it)")
    parser.add_argument("--adaptive-vehicles", type=int, default=1,
                        help="vehicles NADE steers per step in the adaptive study (the "
                             "most critical ones; NADE's own is 1)")
    parser.add_argument("--adaptive-nde-tests", type=int, default=0,
                        help="also run crude Monte Carlo on the adaptive study's AV, "
                             "for the z of every method against it (0: skip)")
    parser.add_argument("--adaptive-seeds", type=int, nargs="+", default=[31],
                        help="campaign seeds of the adaptive-mix comparison (one run of "
                             "each method per seed)")
    parser.add_argument("--d2rl-train-tests", type=int, default=8_192)
    parser.add_argument("--d2rl-tests", type=int, default=16_384)
    parser.add_argument("--d2rl-nde-tests", type=int, default=0,
                        help="crude Monte Carlo tests beside D2RL (default: --d2rl-tests)")
    parser.add_argument("--d2rl-env", choices=("noisy", "cut_in"), default="noisy",
                        help="D2RL's study: the weak AV among noisy drivers, or the "
                             "cut-in study's AV")
    parser.add_argument("--cut-in-prob", type=float, default=CUT_IN_PROB,
                        help="unadvised lane changes per step and side (section cut_in)")
    parser.add_argument("--cut-in-tests", type=int, default=16_384,
                        help="NADE tests of the cut-in study's efficiency check")
    parser.add_argument("--cut-in-nde-tests", type=int, default=0,
                        help="also run crude Monte Carlo in the cut-in study (0: skip)")
    parser.add_argument("--sections",
                        default="unbiasedness,efficiency,cut_in_unbiasedness,cut_in,adaptive,d2rl")
    parser.add_argument("--eps", type=float, default=0.1, help="NADE's eps (unbiasedness)")
    parser.add_argument("--weak-max-controls", type=int, default=WEAK_AV_MAX_CONTROLS,
                        help="controlled steps per test for the weak AV (0: no limit)")
    parser.add_argument("--weak-residual-risk", type=float, default=None,
                        help="NADE's residual risk for the weak AV (default: the study's)")
    parser.add_argument("--seed", type=int, default=12, help="first NADE seed (unbiasedness)")
    parser.add_argument("--weak-challenge", choices=("one_step", "lookahead"),
                        default="one_step", help="NADE's challenge for the weak AV")
    parser.add_argument("--robust-challenge", choices=("one_step", "lookahead"),
                        default="lookahead", help="NADE's challenge for the robust AV")
    parser.add_argument("--robust-residual-risk", type=float, default=None,
                        help="NADE's residual risk for the robust AV (default: the study's)")
    parser.add_argument("--robust-nde-tests", type=int, default=0,
                        help="also run crude Monte Carlo on the robust AV (0: skip)")
    parser.add_argument("--robust-method", choices=("nade", "tilt"), default="nade",
                        help="importance sampling for the robust AV")
    parser.add_argument("--tilt-theta", default=TILT_THETA,
                        help="the tilt's first pilot round, JSON {role: theta}")
    parser.add_argument("--tilt-rounds", type=int, default=2, help="cross-entropy rounds")
    parser.add_argument("--tilt-pilot-tests", type=int, default=2048,
                        help="tests per cross-entropy round")
    parser.add_argument("--tilt-window", type=int, default=8, help="tilted steps per test")
    parser.add_argument("--tilt-onsets", type=int, default=12,
                        help="the window starts in one of the first K steps")
    parser.add_argument("--tilt-untilted", type=float, default=0.1,
                        help="share of tests left naturalistic (bounds weights)")
    parser.add_argument("--tilt-smoothing", type=float, default=0.5,
                        help="cross-entropy smoothing of theta")
    parser.add_argument("--tilt-weak-tests", type=int, default=20_000,
                        help="tests of the tilt on the weak AV (tilt_unbiasedness)")
    parser.add_argument("--save-samples", default="",
                        help="torch.save the unbiasedness crashes and weights here")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes sharing the NADE repeats (unbiasedness) or the "
                             "seeds (adaptive)")
    parser.add_argument("--nde-reference", default="",
                        help="'mean,half_width,n' of an earlier crude Monte Carlo run of "
                             "the same set-up, instead of running it again")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.quick:
        args.batch, args.nde_tests, args.nade_repeats = 32, 32, 2
        args.tests_per_repeat, args.efficiency_tests, args.adaptive_tests = 16, 32, 32
        args.d2rl_train_tests, args.d2rl_tests = 64, 32
        args.tilt_pilot_tests, args.tilt_weak_tests = 32, 32
        args.cut_in_tests, args.cut_in_nde_tests = 32, 32
        args.adaptive_nde_tests = min(args.adaptive_nde_tests, 32)
    result = {"benchmark": "av_testing_efficiency", "quick": args.quick,
              "environment": {"accel_noise": TESTING_ENV.accel_noise,
                              "n_background": TESTING_ENV.n_background,
                              "lanes": TESTING_ENV.n_lanes},
              "targets": {"abs_z": "< 4", "coverage": "0.80 to 0.98", "reduction": ">= 100"}}
    sections = {"unbiasedness": unbiasedness, "efficiency": efficiency, "adaptive": adaptive,
                "d2rl": d2rl, "tilt_unbiasedness": tilt_unbiasedness,
                "cut_in_unbiasedness": cut_in_unbiasedness, "cut_in": cut_in}
    for name in args.sections.split(","):
        result[name] = sections[name](args)
    print(json.dumps(result, indent=2, default=float))


if __name__ == "__main__":
    main()
