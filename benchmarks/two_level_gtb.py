"""Two-level training on Gather-Trade-Build: do workers learn, and does the learned planner
beat the free market, the US federal schedule and Saez? Prints JSON.

The world and the curriculum come from ``scenarios/gtb_ai_economist.yaml`` (200-step
episodes, four 50-step tax periods, 128 environments). Per seed:

1. Phase 1 (free market): workers learn with the two-level trainer, exactly as
   ``sandbox train`` runs the scenario. Their labour cost is warmed up by the world
   itself (``labour_warmup_constant`` and ``labour_warmup_method``, Foundation's
   ``energy_warmup_constant`` and ``energy_warmup_method``; the scenario uses
   ``"auto"``): ``labour_cost * (1 - exp(-n / c))``, ``n`` = steps with a positive
   mean worker reward so far. With the full cost from the start, workers first learn to stand still
   before they find that houses pay. The scenario uses Foundation's cost, 0.21, with
   ``c`` = 1,000: the cost arrives over phase 1 as the workers learn to build (a
   constant of 10 brought it within the first updates, and workers unlearned building).
2. Phase 2, four branches from the same phase-1 workers, each with the same number of
   updates and the warm-up continuing from where phase 1 left it: the learned planner
   co-adapting with the workers (the trainer's phase 2), and workers re-adapting under
   the free market, the US federal schedule and the Saez
   schedule of the phase-1 workers' period incomes (elasticity estimated from them,
   Foundation's estimator, or its default when the rates never varied).
3. Evaluation: one episode in each of the 128 environments per branch, workers and
   planner sampling their actions, at the full labour cost (no warm-up); equality x
   productivity (mean coin endowment times 1 - Gini) and the other metrics, averaged
   over the environments.

Usage::

    python benchmarks/two_level_gtb.py                # 3 seeds (the study), JSON on stdout
    python benchmarks/two_level_gtb.py --seed 1 --out results/gtb_learning/seed_1.json
    python benchmarks/two_level_gtb.py --merge results/gtb_learning/seed_*.json
    python benchmarks/two_level_gtb.py --quick        # a smoke run (minutes)
    python benchmarks/two_level_gtb.py --seed 0 --phase1-only --set labour_cost=0.02 \
        --train phase1_updates=14                     # a variant of phase 1

Final policies go to ``results/gtb_learning/seed_<k>/`` (``workers.pt``, ``planner.pt``),
for the app's Gather-Trade-Build page; runs with ``--quick``, ``--phase1-only`` or
``--set`` / ``--train`` (a variant of the scenario) write none.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch
import yaml

from sandbox.core.seeding import derive_seed
from sandbox.policies.generic import RandomPolicy
from sandbox.scenario.build import build_world
from sandbox.scenario.spec import load_scenario
from sandbox.scenario.train import check_rollout_length, training_config
from sandbox.solvers.ppo import PPO
from sandbox.solvers.rollout import RolloutCollector
from sandbox.solvers.two_level import TwoLevel
from sandbox.worlds.economy.planners import FixedSchedulePlanner, free_market, us_federal
from sandbox.worlds.economy.saez import estimate_elasticity, saez_rates

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "gtb_ai_economist.yaml"
OUT = ROOT / "results" / "gtb_learning"
METRICS = ("equality_times_productivity", "productivity", "equality", "houses_built",
           "trades", "revenue", "average_tax_rate", "mean_labour", "utilitarian_welfare")
BRANCHES = ("free_market", "us_federal", "saez", "learned")


# ------------------------------------------------------------------- labour warm-up
def continue_warmup(world, progress: dict) -> None:
    """Start ``world``'s labour-cost warm-up at ``progress`` (the state's two counters,
    ``[num_envs]`` each, from a world of the same batch size).

    The counters live in the state and outlive ``reset()``, so the next reset of
    ``world`` (the collector's) carries them into its episodes.
    """
    world.reset()
    world.state = world.state.replace(**{k: v.clone() for k, v in progress.items()})


def full_cost(world_spec):
    """``world_spec`` without the labour-cost warm-up (evaluation at the full cost)."""
    params = {**world_spec.params, "labour_warmup_constant": 0.0}
    return world_spec.model_copy(update={"params": params})


# ------------------------------------------------------------------------ evaluation
def evaluate(world, workers, planner, *, seed: int) -> dict[str, float]:
    """Mean metrics of one episode in every environment (policies sample)."""
    world.reset(seed)
    for policy in (workers, planner):
        policy.reset(seed)
    obs, sums = world.reset(seed), None
    for _ in range(world.params.episode_length):
        masks = world.action_masks()
        actions = {"workers": workers.act(obs["workers"], masks.get("workers"))}
        if "planner" in world.acting_roles():
            actions["planner"] = planner.act(obs["planner"], masks.get("planner"))
        result = world.step(actions)
        obs = result.obs
        if result.final_metrics:
            sums = {k: float(v.mean()) for k, v in result.final_metrics.items()}
    return {k: round(sums[k], 4) for k in METRICS}


def period_incomes(world, workers, *, seed: int, free: FixedSchedulePlanner):
    """``(income, rate)`` per worker-period of a free-market episode (for Saez)."""
    obs = world.reset(seed)
    incomes, rates = [], []
    for _ in range(world.params.episode_length):
        masks = world.action_masks()
        actions = {"workers": workers.act(obs["workers"], masks.get("workers"))}
        if "planner" in world.acting_roles():
            actions["planner"] = free.act(obs["planner"])
        result = world.step(actions)
        if result.info["log"].period_ended:
            state = result.final_state
            incomes.append(state.last_income.reshape(-1))
            rates.append(torch.zeros_like(incomes[-1]))
        obs = result.obs
    return torch.cat(incomes), torch.cat(rates)


# --------------------------------------------------------------------------- a seed
def run_seed(seed: int, *, spec, quick: bool, out_dir: Path | None,
             phase1_only: bool = False, train_overrides: dict | None = None) -> dict:
    """Phase 1, the four phase-2 branches and their evaluation for one seed (or phase 1
    and its evaluation alone, with ``phase1_only``)."""
    started = time.perf_counter()
    config, _ = training_config(spec)
    if train_overrides:
        config = dataclasses.replace(config, **train_overrides)
    if quick:
        config = dataclasses.replace(config, phase1_updates=2, phase2_updates=1)
    world = build_world(spec.world, seed=derive_seed(seed, "world"))
    check_rollout_length(world, config)
    length = world.params.episode_length
    trainer = TwoLevel(world, config, seed=derive_seed(seed, "solver"))
    trainer.collector.reset(world.seed)
    curve = []
    for u in range(config.phase1_updates):
        row = trainer.step()
        curve.append({"update": row["update"], "env_steps": row["env_steps"],
                      **{k: round(float(row[k]), 4) for k in
                         ("effective_labour_cost", "productivity", "houses_built", "trades",
                          "return_workers")}})
        print(f"seed {seed} phase 1 update {u + 1}: {curve[-1]}", file=sys.stderr, flush=True)
    phase1_seconds = time.perf_counter() - started
    phase1_steps = trainer.collector.env_steps
    phase1_workers = copy.deepcopy(trainer.workers.policy)
    phase1 = {"updates": config.phase1_updates, "env_steps": phase1_steps,
              "seconds": round(phase1_seconds, 1), "curve": curve}
    progress = {k: getattr(world.state, k).clone()  # the warm-up after phase 1
                for k in ("episodes_done", "positive_steps")}

    eval_world = build_world(full_cost(spec.world), seed=derive_seed(seed, "evaluation"))
    eval_world.set_rate_cap(1.0)
    eval_seed = derive_seed(seed, "evaluation/episodes")
    random_workers = RandomPolicy(eval_world.roles["workers"])
    results = {"random_workers_free_market": evaluate(
        eval_world, random_workers, free_market(eval_world), seed=eval_seed)}
    results["phase1_workers_free_market"] = evaluate(
        eval_world, phase1_workers, free_market(eval_world), seed=eval_seed)
    if phase1_only:
        return {"seed": seed, "episode_length": length, "num_envs": world.num_envs,
                "labour_cost": world.params.labour_cost,
                "labour_warmup": [world.params.labour_warmup_constant,
                                  world.params.labour_warmup_method],
                "phase1": phase1, "evaluation": results,
                "seconds": round(time.perf_counter() - started, 1)}
    income, rate = period_incomes(eval_world, phase1_workers, seed=eval_seed,
                                  free=free_market(eval_world))
    elasticity = estimate_elasticity(income, rate)
    saez = saez_rates(income, cutoffs=eval_world.cutoffs, elasticity=elasticity).float()

    # phase 2: the learned planner, then the fixed schedules, each from phase-1 workers
    branches, steps = {}, {}
    t0 = time.perf_counter()
    for _ in range(config.phase2_updates):
        row = trainer.step()
        print(f"seed {seed} phase 2 learned: welfare {row['equality_times_productivity']}",
              file=sys.stderr, flush=True)
    branches["learned"] = (trainer.workers.policy, trainer.planner.policy)
    steps["learned"] = (trainer.collector.env_steps - phase1_steps,
                        time.perf_counter() - t0)
    for name in ("free_market", "us_federal", "saez"):
        t0 = time.perf_counter()
        branch_world = build_world(spec.world, seed=derive_seed(seed, f"world/{name}"))
        continue_warmup(branch_world, progress)
        branch_world.set_rate_cap(1.0)
        planner = {"free_market": free_market, "us_federal": us_federal}.get(name)
        planner = (planner(branch_world) if planner else
                   FixedSchedulePlanner(branch_world, saez, name="saez"))
        learner = PPO(branch_world, "workers", config.workers,
                      policy=copy.deepcopy(phase1_workers), seed=derive_seed(seed, name))
        collector = RolloutCollector(branch_world, {"workers": learner},
                                     others={"planner": planner})
        collector.reset(branch_world.seed)
        for _ in range(config.phase2_updates):
            learner.update(collector.collect(config.rollout_steps)["workers"])
        branches[name] = (learner.policy, planner)
        steps[name] = (collector.env_steps, time.perf_counter() - t0)
    for name, (workers, planner) in branches.items():
        if name != "learned":  # fixed schedules are rebuilt for the evaluation world
            planner = (FixedSchedulePlanner(eval_world, saez, name="saez") if name == "saez"
                       else {"free_market": free_market, "us_federal": us_federal}[name](
                           eval_world))
        results[name] = evaluate(eval_world, workers, planner, seed=eval_seed)
    if out_dir is not None:
        folder = out_dir / f"seed_{seed}"
        branches["learned"][0].save(folder / "workers.pt", extra={"seed": seed})
        branches["learned"][1].save(folder / "planner.pt", extra={"seed": seed})
    learned_rates = []
    obs = eval_world.reset(eval_seed)
    for policy in branches["learned"]:
        policy.reset(eval_seed)
    action = branches["learned"][1].act(obs["planner"], eval_world.action_masks()["planner"],
                                        deterministic=True)
    learned_rates = eval_world.rates_from_action(action)[0].tolist()
    return {
        "seed": seed, "episode_length": length, "num_envs": world.num_envs,
        "phase1": phase1,
        "phase2": {name: {"updates": config.phase2_updates, "env_steps": s,
                          "seconds": round(sec, 1)} for name, (s, sec) in steps.items()},
        "saez": {"elasticity": round(elasticity, 4),
                 "rates": [round(r, 4) for r in saez.tolist()]},
        "learned_first_period_rates": [round(r, 4) for r in learned_rates],
        "evaluation": results,
        "seconds": round(time.perf_counter() - started, 1),
    }


# ------------------------------------------------------------------------- summary
def summarise(runs: list[dict]) -> dict:
    """Means across seeds, and whether the learned planner wins in every seed."""
    def mean(values):
        values = list(values)
        return round(statistics.fmean(values), 4) if values else math.nan

    evaluation = {}
    for name in ("random_workers_free_market", "phase1_workers_free_market", *BRANCHES):
        evaluation[name] = {m: mean(r["evaluation"][name][m] for r in runs) for m in METRICS}
    key = "equality_times_productivity"
    wins = {other: all(r["evaluation"]["learned"][key] > r["evaluation"][other][key]
                       for r in runs) for other in ("free_market", "us_federal", "saez")}
    steps = sum(r["phase1"]["env_steps"] + sum(b["env_steps"] for b in r["phase2"].values())
                for r in runs)
    return {
        "seeds": [r["seed"] for r in runs],
        "evaluation_mean": evaluation,
        "learned_beats_in_every_seed": wins,
        "workers_learned": all(
            r["evaluation"]["phase1_workers_free_market"]["productivity"]
            > 5 * max(1.0, r["evaluation"]["random_workers_free_market"]["productivity"])
            for r in runs),
        "env_steps_total": steps,
        "seconds_total": round(sum(r["seconds"] for r in runs), 1),
        "runs": runs,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--seed", type=int, help="run this seed only")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 + 1 updates")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--merge", type=Path, nargs="*", help="summarise per-seed JSON files")
    parser.add_argument("--phase1-only", action="store_true",
                        help="stop after phase 1 and its evaluation (with --seed)")
    parser.add_argument("--set", action="append", default=[], metavar="PARAM=VALUE",
                        help="override a world parameter of the scenario, e.g. "
                             "labour_cost=0.21 (repeatable)")
    parser.add_argument("--train", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a field of the two-level training config, e.g. "
                             "phase1_updates=40 (repeatable)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.merge:
        runs = []
        for path in args.merge:
            data = json.loads(path.read_text())
            runs.extend(data.get("runs", [data]))
        report = summarise(sorted(runs, key=lambda r: r["seed"]))
    else:
        spec = load_scenario(SCENARIO)
        if args.set:
            params = dict(spec.world.params)
            for item in args.set:
                key, _, value = item.partition("=")
                params[key] = yaml.safe_load(value)
            spec = spec.model_copy(update={"world": spec.world.model_copy(
                update={"params": params})})
        if args.phase1_only and args.seed is None:
            parser.error("--phase1-only needs --seed")
        seeds = [args.seed] if args.seed is not None else args.seeds
        train = {key: yaml.safe_load(value) for key, _, value in
                 (item.partition("=") for item in args.train)}
        keep = None if args.quick or args.phase1_only or args.set or args.train else OUT
        runs = [run_seed(s, spec=spec, quick=args.quick, out_dir=keep,
                         phase1_only=args.phase1_only, train_overrides=train) for s in seeds]
        report = runs[0] if args.seed is not None else summarise(runs)
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
