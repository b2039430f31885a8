"""AV testing: NADE importance sampling against crude Monte Carlo in the NDE.

1. Unbiasedness (weak AV, crash rate about 7e-3): crude Monte Carlo estimate vs the NADE
   estimate (z-score), the mean importance weight (which must be 1), and the share of
   ``repeats`` independent NADE runs whose 90 % interval covers the Monte Carlo value.
   The repeats are consecutive blocks of one NADE campaign in round-robin order, so
   they are independent sets of independent tests.
2. Efficiency (robust AV, crash rate below about 3e-5): tests NADE needs to reach relative
   half-width 0.3 against the ``30.1 / mu`` crude Monte Carlo needs, with ``mu`` NADE's
   estimate; a crude Monte Carlo run of the same budget reports its crashes (0 expected).
3. Adaptive mix: an AV unlike every surrogate, tested by NADE with each single surrogate
   and with the mix re-fitted by ``sandbox.optimize.combine_surrogates`` as tests
   accumulate; relative half-width at the same budget (and tests to 0.3 if reached).

Targets (issue): |z| < 4; coverage between 80 % and 98 %; at least 100x fewer tests;
the adaptive mix better than the best single surrogate.

Usage: python benchmarks/av_testing_efficiency.py [--quick] [--batch 1024]
       [--sections unbiasedness,efficiency,adaptive] [--nde-tests N] [--nade-repeats R]
       [--tests-per-repeat n] [--efficiency-tests N] [--adaptive-tests N] [--eps E]
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch

from sandbox.optimize import combine_surrogates
from sandbox.worlds.traffic import HighwayWorld
from sandbox.worlds.traffic.testing import (
    AdaptiveMix,
    ConstantSpeedSurrogate,
    NadeAdversary,
    converged_at,
    crude_tests_needed,
    estimate,
    run_campaign,
)
from sandbox.worlds.traffic.testing.studies import (
    ROBUST_AV,
    TESTING_ENV,
    WEAK_AV,
    WEAK_AV_MAX_CONTROLS,
    make_av,
    matching_surrogate,
)


def summary(est) -> dict:
    return {"tests": est.n, "crashes": est.crashes, "mean": est.mean,
            "half_width_90": est.half_width, "relative_half_width": est.relative_half_width}


def unbiasedness(args) -> dict:
    world = HighwayWorld(TESTING_ENV, num_envs=args.batch, seed=0)
    av = make_av(world, WEAK_AV)
    start = time.perf_counter()
    nde = run_campaign(world, av, n_tests=args.nde_tests, seed=11)
    nde_time = time.perf_counter() - start
    mc = nde.estimate()
    adversary = NadeAdversary(world, surrogates=[matching_surrogate(world, WEAK_AV)],
                              eps=args.eps)
    start = time.perf_counter()
    nade = run_campaign(world, av, n_tests=args.nade_repeats * args.tests_per_repeat,
                        adversary=adversary, seed=12, max_controls=WEAK_AV_MAX_CONTROLS)
    nade_time = time.perf_counter() - start
    is_est = nade.estimate()
    se = math.hypot(mc.half_width, is_est.half_width) / 1.645
    blocks = nade.samples.view(args.nade_repeats, args.tests_per_repeat)
    covered = [abs(estimate(b).mean - mc.mean) <= estimate(b).half_width for b in blocks]
    weight = nade.weight
    return {
        "av": WEAK_AV, "eps": args.eps, "crude_monte_carlo": summary(mc),
        "nade": summary(is_est),
        "z": (is_est.mean - mc.mean) / se,
        "mean_weight": float(weight.mean()),
        "mean_weight_half_width_90": 1.645 * float(weight.std()) / math.sqrt(weight.numel()),
        "coverage": {"repeats": args.nade_repeats, "tests_per_repeat": args.tests_per_repeat,
                     "covered_share": sum(covered) / len(covered)},
        "nde_seconds": nde_time, "nade_seconds": nade_time,
        "max_controls_per_test": WEAK_AV_MAX_CONTROLS,
    }


def efficiency(args) -> dict:
    world = HighwayWorld(TESTING_ENV, num_envs=args.batch, seed=0)
    av = make_av(world, ROBUST_AV)
    adversary = NadeAdversary(world, surrogates=[matching_surrogate(world, ROBUST_AV)])
    start = time.perf_counter()
    nade = run_campaign(world, av, n_tests=args.efficiency_tests, adversary=adversary, seed=21)
    nade_time = time.perf_counter() - start
    est = nade.estimate()
    converged = converged_at(nade.samples)
    crude = crude_tests_needed(est.mean) if 0 < est.mean < 1 else math.inf
    start = time.perf_counter()
    nde = run_campaign(world, av, n_tests=args.efficiency_tests, seed=22)
    nde_time = time.perf_counter() - start
    crashes = int(nde.crash.sum())
    crash_weights = nade.weight[nade.crash]
    top = float(crash_weights.max() / crash_weights.sum()) if len(crash_weights) else 0.0
    return {
        "av": ROBUST_AV, "nade": summary(est), "nade_tests_to_rhw_0.3": converged,
        "crude_tests_needed_30.1_over_mu": crude,
        "reduction": (crude / converged) if converged else None,
        "largest_crash_weight_share": top,
        "nde_same_budget": {"tests": args.efficiency_tests, "crashes": crashes,
                            "upper_95_if_none": 3.0 / args.efficiency_tests},
        "nade_seconds": nade_time, "nde_seconds": nde_time,
    }


def adaptive(args) -> dict:
    world = HighwayWorld(TESTING_ENV, num_envs=args.batch, seed=0)
    av_settings = {**ROBUST_AV, "max_decel": 2.0}
    av = make_av(world, av_settings)
    surrogates = [
        matching_surrogate(world, {**ROBUST_AV, "max_decel": 1.5}, name="idm_brake_1.5"),
        matching_surrogate(world, {**ROBUST_AV, "max_decel": 3.0}, name="idm_brake_3.0"),
        ConstantSpeedSurrogate(),
    ]
    runs = {}
    for surrogate in surrogates:
        adversary = NadeAdversary(world, surrogates=[surrogate])
        campaign = run_campaign(world, av, n_tests=args.adaptive_tests,
                                adversary=adversary, seed=31)
        runs[surrogate.name] = {**summary(campaign.estimate()),
                                "tests_to_rhw_0.3": converged_at(campaign.samples)}
    adversary = NadeAdversary(world, surrogates=surrogates)
    mix = AdaptiveMix(adversary, fit=combine_surrogates,
                      refit_every=max(args.adaptive_tests // 20, args.batch))
    campaign = run_campaign(world, av, n_tests=args.adaptive_tests, adversary=adversary,
                            seed=31, on_step=mix)
    runs["adaptive_mix"] = {**summary(campaign.estimate()),
                            "tests_to_rhw_0.3": converged_at(campaign.samples),
                            "coefficient_history": mix.history}
    return {"av": av_settings, "surrogates": [s.name for s in surrogates], "runs": runs}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few-second smoke run")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--nde-tests", type=int, default=60_000)
    parser.add_argument("--nade-repeats", type=int, default=200)
    parser.add_argument("--tests-per-repeat", type=int, default=1000)
    parser.add_argument("--efficiency-tests", type=int, default=60_000)
    parser.add_argument("--adaptive-tests", type=int, default=30_000)
    parser.add_argument("--sections", default="unbiasedness,efficiency,adaptive")
    parser.add_argument("--eps", type=float, default=0.1, help="NADE's eps (unbiasedness)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.quick:
        args.batch, args.nde_tests, args.nade_repeats = 32, 32, 2
        args.tests_per_repeat, args.efficiency_tests, args.adaptive_tests = 16, 32, 32
    result = {"benchmark": "av_testing_efficiency", "quick": args.quick,
              "environment": {"accel_noise": TESTING_ENV.accel_noise,
                              "n_background": TESTING_ENV.n_background,
                              "lanes": TESTING_ENV.n_lanes},
              "targets": {"abs_z": "< 4", "coverage": "0.80 to 0.98", "reduction": ">= 100"}}
    sections = {"unbiasedness": unbiasedness, "efficiency": efficiency, "adaptive": adaptive}
    for name in args.sections.split(","):
        result[name] = sections[name](args)
    print(json.dumps(result, indent=2, default=float))


if __name__ == "__main__":
    main()
