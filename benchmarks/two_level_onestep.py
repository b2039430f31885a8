"""Learned workers and a learned planner on the one-step economy, against exact answers.

Two measurements, on the one-step economy with 10 workers and the default calibration
(incomes span several US brackets):

1. ``workers_us_federal``: PPO workers trained under the fixed US federal schedule; the
   mean absolute relative error of their (most likely) hours against the exact best
   response (``best_response.best_response_hours``), per seed.
2. ``two_level``: the two-level curriculum (``sandbox.solvers.two_level``); the learned
   planner's welfare with the learned workers, as a share of the search optimum's
   welfare at equilibrium (``optimum.world_optimum``), beside US federal, free market and
   Saez rates (each priced at the exact equilibrium), for each planner objective. Also
   the environment steps and seconds until the learned pair first reached 97% of the
   optimum (checked every ``--eval-every`` updates with deterministic actions).

Prints one JSON object: medians over seeds, the per-seed figures, the learned and
reference bracket rates. One torch thread.

Usage: ``python benchmarks/two_level_onestep.py [--quick] [--seeds 3] [--envs 256]
[--objectives inverse_income_weighted_utility equality_times_productivity]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.core import POLICIES  # noqa: E402
from sandbox.solvers import PPO, Anneal, PPOConfig, TwoLevel, TwoLevelConfig  # noqa: E402
from sandbox.worlds.economy.best_response import best_response_hours  # noqa: E402
from sandbox.worlds.economy.onestep import OneStepEconomy, OneStepParams  # noqa: E402
from sandbox.worlds.economy.optimum import Economy, world_optimum  # noqa: E402
from sandbox.worlds.economy.saez import saez_equilibrium_rates  # noqa: E402
from sandbox.worlds.economy.tax_schedule import us_federal_brackets  # noqa: E402

SHARE = 0.97


def make_world(objective: str, *, num_envs: int, seed: int) -> OneStepEconomy:
    return OneStepEconomy(OneStepParams(num_workers=10, planner_objective=objective),
                          num_envs=num_envs, seed=seed)


def curriculum(phase1: int, phase2: int) -> TwoLevelConfig:
    return TwoLevelConfig(
        phase1_updates=phase1, phase2_updates=phase2, checkpoint_every=max(1, phase1 + phase2),
        rate_cap=Anneal(0.0, 1.0, 0, phase2 // 3, name="rate_cap"),
        planner_entropy=Anneal(0.1, 0.0, 0, (2 * phase2) // 3, name="planner_entropy"),
    )


def act_once(world, planner, workers) -> dict:
    """One deterministic episode: the planner's rates, the workers' hours, the metrics."""
    world.set_rate_cap(1.0)
    obs = world.reset()
    rates_action = planner.act(obs["planner"], world.action_masks().get("planner"),
                               deterministic=True)
    result = world.step({"planner": rates_action})
    rates = world.state.rates.clone()
    hours_action = workers.act(result.obs["workers"], deterministic=True)
    result = world.step({"workers": hours_action})
    return {"rates": rates[0], "hours": result.final_state.hours[0],
            "lump_sum": result.final_state.lump_sum[0],
            "metrics": {k: float(v[0]) for k, v in result.final_metrics.items()}}


def workers_under_us_federal(seed: int, *, num_envs: int, updates: int) -> dict:
    """Train workers against the US schedule; relative error of their hours vs exact."""
    world = make_world("inverse_income_weighted_utility", num_envs=num_envs, seed=seed)
    us = POLICIES.get("us_federal")(world, "planner")
    config = curriculum(1, 1).workers
    learner = PPO(world, "workers", PPOConfig(**{**config.__dict__, "num_steps": 2}), seed=seed)
    start = time.perf_counter()
    learner.learn(updates * 2 * num_envs, others={"planner": us})
    seconds = time.perf_counter() - start
    episode = act_once(make_world("inverse_income_weighted_utility", num_envs=1, seed=seed),
                       us, learner.policy)
    best = best_response_hours(world.skills, cutoffs=world.cutoffs,
                               rates=episode["rates"].unsqueeze(0), lump_sum=episode["lump_sum"],
                               utility_params=world.params.utility, hours_grid=world.hours_grid)[0]
    error = float(((episode["hours"] - best).abs() / best.clamp(min=1.0)).mean())
    return {"mean_abs_relative_error": round(error, 4), "seconds": round(seconds, 1),
            "env_steps": updates * 2 * num_envs, "hours": episode["hours"].tolist(),
            "best_response": best.tolist()}


def economy_of(world) -> Economy:
    return Economy(world.skills, world.cutoffs, world.params.utility,
                   world.params.planner_objective, world.hours_grid,
                   float(world.params.max_hours))


def references(world) -> dict:
    """Welfare at equilibrium of the search optimum, US federal, free market and Saez."""
    economy = economy_of(world)
    world.set_rate_cap(1.0)
    optimum = world_optimum(world)
    saez = saez_equilibrium_rates(world.skills, cutoffs=world.cutoffs,
                                  utility_params=world.params.utility,
                                  hours_grid=world.hours_grid, rate_levels=world.rate_levels)
    us = torch.tensor(us_federal_brackets(world.params.brackets)[1], dtype=torch.float64)
    schedules = {"optimum": optimum.rates.double(), "us_federal": us,
                 "free_market": torch.zeros_like(us), "saez": saez.rates.double().cpu()}
    welfare = economy.welfare(torch.stack([s.cpu() for s in schedules.values()]))
    return {name: {"welfare": float(w), "rates": [round(float(r), 3) for r in schedules[name]]}
            for name, w in zip(schedules, welfare)}


def two_level(objective: str, seed: int, *, num_envs: int, phase1: int, phase2: int,
              eval_every: int) -> dict:
    """Run the curriculum; final welfare share and steps/seconds to reach 97 %."""
    world = make_world(objective, num_envs=num_envs, seed=seed)
    probe = make_world(objective, num_envs=1, seed=seed)
    refs = references(probe)
    target = refs["optimum"]["welfare"]
    solver = TwoLevel(world, curriculum(phase1, phase2), seed=seed)
    solver.collector.reset(world.seed)
    reached = None
    while solver.update < solver.config.total_updates:
        row = solver.step()
        if reached is None and row["phase"] == 2 and solver.update % eval_every == 0:
            welfare = act_once(probe, solver.planner.policy, solver.workers.policy)["metrics"]
            if welfare[objective] >= SHARE * target:
                reached = {"update": solver.update, "env_steps": row["env_steps"],
                           "seconds": round(solver.seconds, 1)}
    final = act_once(probe, solver.planner.policy, solver.workers.policy)
    learned = final["metrics"][objective]
    # The learned rates priced with exactly best-responding workers: separates the
    # planner's schedule from how closely the learned workers best-respond to it.
    at_equilibrium = float(economy_of(probe).welfare(final["rates"].double().unsqueeze(0))[0])
    return {"welfare_share_of_optimum": round(learned / target, 4),
            "learned_rates_at_equilibrium_share": round(at_equilibrium / target, 4),
            "beats_us_federal": learned > refs["us_federal"]["welfare"],
            "beats_free_market": learned > refs["free_market"]["welfare"],
            "learned_welfare": learned, "learned_rates": [round(float(r), 3)
                                                          for r in final["rates"]],
            "reached_97_percent": reached, "env_steps": solver.collector.env_steps,
            "seconds": round(solver.seconds, 1), "references": refs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, a few updates")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--envs", type=int, default=256)
    parser.add_argument("--phase1", type=int, default=150)
    parser.add_argument("--phase2", type=int, default=450)
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--objectives", nargs="+",
                        default=["inverse_income_weighted_utility", "equality_times_productivity"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.quick:
        args.seeds, args.envs, args.phase1, args.phase2 = 1, 16, 2, 2
        args.objectives = args.objectives[:1]
    seeds = range(args.seeds)
    workers = [workers_under_us_federal(s, num_envs=args.envs, updates=args.phase1)
               for s in seeds]
    output = {"threads": 1, "envs": args.envs, "phase1_updates": args.phase1,
              "phase2_updates": args.phase2,
              "workers_us_federal": {
                  "median_mean_abs_relative_error": statistics.median(
                      w["mean_abs_relative_error"] for w in workers),
                  "runs": workers}}
    for objective in args.objectives:
        runs = [two_level(objective, s, num_envs=args.envs, phase1=args.phase1,
                          phase2=args.phase2, eval_every=args.eval_every) for s in seeds]
        output[objective] = {
            "median_welfare_share": statistics.median(r["welfare_share_of_optimum"] for r in runs),
            "seeds_at_97_percent": sum(r["welfare_share_of_optimum"] >= SHARE for r in runs),
            "seeds_beating_us_and_free_market": sum(
                r["beats_us_federal"] and r["beats_free_market"] for r in runs),
            "runs": runs}
    print(json.dumps(output, indent=2))


if __name__ == "__main__":
    main()
