"""Learned workers and a learned planner on the one-step economy, against exact answers.

Two measurements, on the one-step economy with 10 workers and the default calibration
(incomes span several US brackets):

1. ``workers_us_federal``: PPO workers trained under the fixed US federal schedule; the
   mean absolute relative error of their (most likely) hours against the exact best
   response (``best_response.best_response_hours``), per seed.
2. ``two_level``: the two-level curriculum (``sandbox.solvers.two_level``, settings in
   :func:`curriculum`), for each planner objective. The learned planner's schedule,
   acting deterministically, is scored two ways, each as a share of the search
   optimum's welfare at equilibrium (``optimum.world_optimum``): ``share_learned``,
   with the learned workers (most likely hours, after the settle phase in which they
   re-adapt to the final schedule), and ``share_at_equilibrium``, the same rates with
   workers who best-respond exactly. The second guards against a planner that exploits
   slow learners: under equality x productivity, workers who keep working at high
   marginal rates inflate the first. Beside them: US federal, free market and Saez
   rates at the exact equilibrium, and US federal and free market met by the same
   learned workers (like for like). Also the environment steps, seconds and CPU seconds
   until the learned pair first reached 97 % (checked every ``--eval-every`` updates),
   by the first measure and by both, and the scores at the end of phase 2.

Prints one JSON object: medians over seeds, the per-seed figures, the learned and
reference bracket rates. One torch thread.

Usage: ``python benchmarks/two_level_onestep.py [--quick] [--seeds 3 | --seed-values 0 1]
[--envs 256] [--phase1 150] [--phase2 450] [--settle 50] [--planner-every 2]
[--explore-share 0.25] [--phase1-cap 1.0] [--skip-workers]
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


def make_world(objective: str, *, num_envs: int, seed: int,
               price_taking: bool = True) -> OneStepEconomy:
    """The measured economy. ``price_taking``: workers' rewards take the transfer as given
    (``OneStepParams.price_taking_rewards``), as the exact best responses they are compared
    with do; ``--equal-share-rewards`` turns it off."""
    return OneStepEconomy(OneStepParams(num_workers=10, planner_objective=objective,
                                        price_taking_rewards=price_taking),
                          num_envs=num_envs, seed=seed)


def curriculum(phase1: int, phase2: int, settle: int = 0, *, planner_every: int = 2,
               explore_share: float = 0.25, phase1_rate_cap: float = 1.0,
               worker_entropy_end: float = 0.05) -> TwoLevelConfig:
    """The curriculum measured here: workers adapt faster than the planner.

    Workers: a higher, constant learning rate, 8 epochs and a constant entropy bonus, so
    they keep exploring and re-adapting to each new schedule (a schedule whose rates fall
    again in a higher bracket gives workers two local optima; without exploration they
    stay in the one they were in, and the planner learns to exploit that). The planner
    updates on every ``planner_every``-th update only; its rate cap rises and its entropy
    falls slowly, over the whole of phase 2. ``settle``
    worker-only updates at the end let the workers re-adapt to the final schedule.
    ``explore_share`` of the environments get uniformly random schedules in every phase
    (with the cap at ``phase1_rate_cap`` in phase 1), so the workers' response holds
    across schedules and the planner cannot profit from their errors away from its own.
    """
    workers = PPOConfig(learning_rate=1e-2, anneal_lr=False, update_epochs=8,
                        num_minibatches=4, gamma=0.99, gae_lambda=0.95, ent_coef=0.05,
                        ent_coef_end=worker_entropy_end, reward_scale=0.01)
    return TwoLevelConfig(
        workers=workers, phase1_updates=phase1, phase2_updates=phase2,
        settle_updates=settle, planner_every=planner_every, explore_share=explore_share,
        phase1_rate_cap=phase1_rate_cap, checkpoint_every=max(1, phase1 + phase2 + settle),
        rate_cap=Anneal(0.0, 1.0, 0, phase2, name="rate_cap"),
        planner_entropy=Anneal(0.1, 0.0, 0, phase2, name="planner_entropy"),
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


def workers_under_us_federal(seed: int, *, num_envs: int, updates: int,
                             price_taking: bool) -> dict:
    """Train workers against the US schedule; relative error of their hours vs exact."""
    world = make_world("inverse_income_weighted_utility", num_envs=num_envs, seed=seed,
                       price_taking=price_taking)
    us = POLICIES.get("us_federal")(world, "planner")
    config = TwoLevelConfig().workers  # the library's defaults
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


def evaluate(probe, objective: str, planner, workers, target: float) -> dict:
    """The learned planner's schedule with the learned workers and with exact responses.

    Both act deterministically (most likely action). ``share_learned``: welfare of the
    learned pair; ``share_at_equilibrium``: the learned rates priced with workers that
    best-respond exactly (guards against a planner that exploits slow learners).
    """
    episode = act_once(probe, planner, workers)
    learned = episode["metrics"][objective]
    rates = episode["rates"].double().unsqueeze(0)
    at_equilibrium = float(economy_of(probe).welfare(rates)[0])
    return {"share_learned": round(learned / target, 4),
            "share_at_equilibrium": round(at_equilibrium / target, 4),
            "welfare_learned": learned, "welfare_at_equilibrium": at_equilibrium,
            "rates": [round(float(r), 3) for r in episode["rates"]]}


def two_level(objective: str, seed: int, *, num_envs: int, phase1: int, phase2: int,
              settle: int, planner_every: int, eval_every: int, explore_share: float,
              phase1_rate_cap: float, worker_entropy_end: float,
              price_taking: bool) -> dict:
    """Run the curriculum; welfare shares and steps/seconds to first reach 97 %."""
    world = make_world(objective, num_envs=num_envs, seed=seed, price_taking=price_taking)
    probe = make_world(objective, num_envs=1, seed=seed, price_taking=price_taking)
    refs = references(probe)
    target = refs["optimum"]["welfare"]
    solver = TwoLevel(world, curriculum(phase1, phase2, settle, planner_every=planner_every,
                                        explore_share=explore_share,
                                        phase1_rate_cap=phase1_rate_cap,
                                        worker_entropy_end=worker_entropy_end), seed=seed)
    solver.collector.reset(world.seed)
    cpu_start = time.process_time()
    reached = {"learned": None, "learned_and_equilibrium": None}
    end_of_phase2 = None
    while solver.update < solver.config.total_updates:
        row = solver.step()
        if row["phase"] == 2 and solver.update == phase1 + phase2:
            end_of_phase2 = evaluate(probe, objective, solver.planner.policy,
                                     solver.workers.policy, target)
        if row["phase"] >= 2 and solver.update % eval_every == 0 and None in reached.values():
            check = evaluate(probe, objective, solver.planner.policy, solver.workers.policy,
                             target)
            at = {"update": solver.update, "env_steps": row["env_steps"],
                  "seconds": round(solver.seconds, 1),
                  "cpu_seconds": round(time.process_time() - cpu_start, 1)}
            if reached["learned"] is None and check["share_learned"] >= SHARE:
                reached["learned"] = at
            if (reached["learned_and_equilibrium"] is None
                    and min(check["share_learned"], check["share_at_equilibrium"]) >= SHARE):
                reached["learned_and_equilibrium"] = at
    cpu = time.process_time() - cpu_start
    final = evaluate(probe, objective, solver.planner.policy, solver.workers.policy, target)
    # The reference schedules met by the same (final) learned workers, like for like.
    with_learned = {name: act_once(probe, POLICIES.get(name)(probe, "planner"),
                                   solver.workers.policy)["metrics"][objective]
                    for name in ("us_federal", "free_market")}
    best = max(refs["us_federal"]["welfare"], refs["free_market"]["welfare"])
    return {**final,
            "beats_us_and_free_market": {
                "learned": final["welfare_learned"] > best,
                "at_equilibrium": final["welfare_at_equilibrium"] > best,
                "same_learned_workers": final["welfare_learned"] > max(with_learned.values())},
            "references_with_learned_workers": with_learned,
            "end_of_phase2": end_of_phase2, "reached_97_percent": reached,
            "env_steps": solver.collector.env_steps, "seconds": round(solver.seconds, 1),
            "cpu_seconds": round(cpu, 1), "references": refs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, a few updates")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seed-values", type=int, nargs="+", default=None,
                        help="run these seeds (instead of 0 .. seeds-1), e.g. one per process")
    parser.add_argument("--envs", type=int, default=256)
    parser.add_argument("--phase1", type=int, default=150)
    parser.add_argument("--phase2", type=int, default=450)
    parser.add_argument("--settle", type=int, default=50)
    parser.add_argument("--planner-every", type=int, default=2)
    parser.add_argument("--explore-share", type=float, default=0.25,
                        help="share of environments with random schedules (0: none)")
    parser.add_argument("--phase1-cap", type=float, default=1.0,
                        help="rate cap in phase 1 (0: free market)")
    parser.add_argument("--equal-share-rewards", action="store_true",
                        help="workers' rewards include their own share of the transfer")
    parser.add_argument("--worker-entropy-end", type=float, default=0.05,
                        help="workers' entropy coefficient at the end (from 0.05)")
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--skip-workers", action="store_true",
                        help="skip the workers-under-US-federal measurement")
    parser.add_argument("--objectives", nargs="+",
                        default=["inverse_income_weighted_utility", "equality_times_productivity"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    price_taking = not args.equal_share_rewards
    if args.quick:
        args.seeds, args.envs, args.phase1, args.phase2, args.settle = 1, 16, 2, 4, 2
        args.objectives = args.objectives[:1]
    seeds = args.seed_values if args.seed_values is not None else range(args.seeds)
    output = {"threads": 1, "envs": args.envs, "phase1_updates": args.phase1,
              "phase2_updates": args.phase2, "settle_updates": args.settle,
              "planner_every": args.planner_every, "explore_share": args.explore_share,
              "phase1_rate_cap": args.phase1_cap,
              "worker_entropy_end": args.worker_entropy_end,
              "price_taking_rewards": price_taking}
    if not args.skip_workers:
        workers = [workers_under_us_federal(s, num_envs=args.envs, updates=args.phase1,
                                            price_taking=price_taking)
                   for s in seeds]
        output["workers_us_federal"] = {
            "median_mean_abs_relative_error": statistics.median(
                w["mean_abs_relative_error"] for w in workers),
            "runs": workers}
    for objective in args.objectives:
        runs = []
        for s in seeds:
            runs.append(two_level(objective, s, num_envs=args.envs, phase1=args.phase1,
                                  phase2=args.phase2, settle=args.settle,
                                  planner_every=args.planner_every, eval_every=args.eval_every,
                                  explore_share=args.explore_share,
                                  phase1_rate_cap=args.phase1_cap,
                                  worker_entropy_end=args.worker_entropy_end,
                                  price_taking=price_taking))
            print(f"{objective} seed {s}: learned {runs[-1]['share_learned']}, exact best "
                  f"responses {runs[-1]['share_at_equilibrium']}, "
                  f"{runs[-1]['cpu_seconds']} CPU s", file=sys.stderr, flush=True)
        output[objective] = {
            "median_share_learned": statistics.median(r["share_learned"] for r in runs),
            "median_share_at_equilibrium": statistics.median(
                r["share_at_equilibrium"] for r in runs),
            "seeds_at_97_percent_learned": sum(r["share_learned"] >= SHARE for r in runs),
            "seeds_at_97_percent_both": sum(
                min(r["share_learned"], r["share_at_equilibrium"]) >= SHARE for r in runs),
            "seeds_beating_us_and_free_market": {
                key: sum(r["beats_us_and_free_market"][key] for r in runs)
                for key in ("learned", "at_equilibrium", "same_learned_workers")},
            "runs": runs}
    print(json.dumps(output, indent=2))


if __name__ == "__main__":
    main()
