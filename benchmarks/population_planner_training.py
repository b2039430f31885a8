"""Train the epidemic economy's weekly health planner with PPO, workers following a rule.

The planner (one per environment, acting on days 0, 7, 14, ...) is learned with the
project's PPO (``sandbox.solvers.ppo``: one rollout of ``--days`` days per update, the
rollout collector summing the daily rewards between weekly decisions) while the residents
follow ``archetype_compliance``. The learned policy is then evaluated beside the rule
planners (no mandate, threshold mandates) on held-out seeds, and saved as a checkpoint
(:meth:`NeuralPolicy.save`) that scenarios load with ``policy: checkpoint``. Prints JSON:
the training curve (planner return and metrics every few updates) and the evaluation.

    python benchmarks/population_planner_training.py                 # about 5 minutes
    python benchmarks/population_planner_training.py --updates 5 --out /tmp/planner.pt

The default checkpoint is ``data/population/learned_planner.pt`` (with its JSON metadata
beside it), the one ``scenarios/epidemic_policy_study.yaml`` evaluates.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_OUT = ROOT / "data" / "population" / "learned_planner.pt"
#: Planner rules evaluated beside the learned planner: (label, policy name, parameters).
RULES = (
    ("no_mandate", "no_mandate", {"testing_level": 1, "stimulus_level": 1}),
    ("threshold_0.005", "threshold_mandate", {"threshold": 0.005, "testing_level": 1,
                                              "stimulus_level": 1}),
    ("threshold_0.02", "threshold_mandate", {"threshold": 0.02, "testing_level": 1,
                                             "stimulus_level": 1}),
)


def make_params(residents: int, days: int):
    """The world of training and evaluation: the study's city and disease."""
    from sandbox.worlds.population.params import DiseaseParams, EpidemicEconomyParams

    return EpidemicEconomyParams(num_residents=residents, horizon_days=days,
                                 disease=DiseaseParams(initial_infected=0.002))


def train(args) -> tuple[object, list[dict]]:
    """PPO on the planner; returns the learner and the training curve."""
    from sandbox.core import POLICIES
    from sandbox.policies import NetworkConfig
    from sandbox.solvers.ppo import PPO, PPOConfig
    from sandbox.worlds.population.world import EpidemicEconomy

    world = EpidemicEconomy(make_params(args.residents, args.days), num_envs=args.envs,
                            seed=args.seed)
    config = PPOConfig(num_steps=args.days, learning_rate=args.learning_rate,
                       update_epochs=8, num_minibatches=2, gamma=0.99, gae_lambda=0.95,
                       ent_coef=0.02, ent_coef_end=0.0, reward_scale=args.reward_scale,
                       network=NetworkConfig(hidden_sizes=(64, 64)))
    learner = PPO(world, "planner", config, seed=args.seed)
    workers = POLICIES.get("archetype_compliance")(world, "workers")
    curve: list[dict] = []

    def record(progress) -> None:
        collector = progress.collector
        if progress.update % args.log_every and progress.update != progress.num_updates:
            return
        metrics = collector.rollout_metrics
        curve.append({"update": progress.update,
                      "planner_return": collector.rollout_returns.get("planner"),
                      **{k: metrics.get(k) for k in ("deaths", "economic_loss",
                                                      "planner_loss", "infections")}})
        print(json.dumps(curve[-1]), file=sys.stderr, flush=True)  # progress

    learner.learn(args.updates * args.days * args.envs, others={"workers": workers},
                  callback=record)
    return learner, curve


def evaluate(policy_for, args) -> dict:
    """Episode metrics (means over ``--eval-seeds`` seeds, one environment each)."""
    from sandbox.core import POLICIES
    from sandbox.worlds.population.world import EpidemicEconomy

    rows = []
    for seed in range(1000, 1000 + args.eval_seeds):
        world = EpidemicEconomy(make_params(args.residents, args.days), seed=seed)
        policies = {"planner": policy_for(world),
                    "workers": POLICIES.get("archetype_compliance")(world, "workers")}
        obs = world.reset(seed=seed)
        while True:
            actions = {r: policies[r].act(obs[r], deterministic=r == "planner")
                       for r in world.acting_roles()}
            result = world.step(actions)
            obs = result.obs
            if bool(result.truncated.all()):
                rows.append({k: float(v[0]) for k, v in result.final_metrics.items()})
                break
    return {k: statistics.mean(r[k] for r in rows) for k in rows[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=120, help="episode length")
    parser.add_argument("--envs", type=int, default=8, help="environments per rollout")
    parser.add_argument("--updates", type=int, default=150)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--reward-scale", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-seeds", type=int, default=4)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    import torch

    from sandbox.core import POLICIES

    torch.set_num_threads(1)
    started = time.perf_counter()
    learner, curve = train(args)
    seconds = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    learner.policy.save(args.out, extra={
        "world": "epidemic_economy", "role": "planner", "num_residents": args.residents,
        "horizon_days": args.days, "workers": "archetype_compliance",
        "initial_infected": 0.002, "updates": args.updates, "num_envs": args.envs,
        "seed": args.seed, "trained_by": "benchmarks/population_planner_training.py"})
    evaluation = {"learned": evaluate(
        lambda world: POLICIES.get("checkpoint")(world, "planner", path=str(args.out)), args)}
    for label, name, params in RULES:
        evaluation[label] = evaluate(lambda world, n=name, p=params:
                                     POLICIES.get(n)(world, "planner", **p), args)
    print(json.dumps({"benchmark": "population_planner_training", "residents": args.residents,
                      "days": args.days, "envs": args.envs, "updates": args.updates,
                      "train_seconds": round(seconds, 1), "checkpoint": str(args.out),
                      "curve": curve, "evaluation": evaluation}, indent=1))


if __name__ == "__main__":
    main()
