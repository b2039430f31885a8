"""Step Foundation's Gather-Trade-Build with random valid actions and time it.

Runs inside the separate virtual environment made by ``setup_foundation.sh``
(``.venv-foundation``), never in the project's own environment: Foundation
(``ai-economist`` 1.7.1) needs numpy < 1.24.

The scenario is Foundation's own example from its README and basic tutorial:
``layout_from_file/simple_wood_and_stone`` on the 25x25 quadrant layout, 4 workers,
episodes of 1,000 steps, components Build (Pareto skill, multiplier up to 3),
ContinuousDoubleAuction (5 open orders), Gather and PeriodicBracketTax (its defaults:
US federal brackets, period 100), starting coin 10 as in that example (the paper's
runs start at 0; speed does not depend on it). Every worker and the planner draw
uniformly among the actions their masks allow.

Output: one JSON line on stdout, e.g.
``{"peer": "foundation", "steps_per_s": 512.3, "cpu_steps_per_s": 530.1, "n_agents": 4,
"steps": 2000, ...}`` (wall-clock rate: median over repeats; also per CPU second of
the process, which other load on the machine disturbs less).
``--check`` prints rule facts observed from Foundation instead.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import sys
import time

ENV_CONFIG = {
    "scenario_name": "layout_from_file/simple_wood_and_stone",
    "components": [
        ("Build", {"skill_dist": "pareto", "payment_max_skill_multiplier": 3,
                   "build_labor": 10, "payment": 10}),
        ("ContinuousDoubleAuction", {"max_bid_ask": 10, "order_labor": 0.25,
                                     "max_num_orders": 5, "order_duration": 50}),
        ("Gather", {"move_labor": 1, "collect_labor": 1, "skill_dist": "pareto"}),
        ("PeriodicBracketTax", {}),
    ],
    "env_layout_file": "quadrant_25x25_20each_30clump.txt",
    "starting_agent_coin": 10,
    "fixed_four_skill_and_loc": True,
    "n_agents": 4,
    "world_size": [25, 25],
    "episode_length": 1000,
    "multi_action_mode_agents": False,
    "multi_action_mode_planner": True,
    "flatten_observations": False,
    "flatten_masks": True,
}


def import_foundation():
    """Import Foundation quietly (its COVID-19 modules print GPU notices on import)."""
    with contextlib.redirect_stdout(io.StringIO()):
        from ai_economist import foundation
    return foundation


def make_env(foundation, seed: int, n_agents: int = 4):
    """Build the scenario with ``n_agents`` workers and reset it with a fixed numpy seed.

    Foundation's fixed skills and start locations exist for 4 workers only; other counts
    draw them at random.
    """
    import numpy as np

    np.random.seed(seed)
    config = dict(ENV_CONFIG, n_agents=n_agents, fixed_four_skill_and_loc=n_agents == 4)
    env = foundation.make_env_instance(**config)
    obs = env.reset()
    return env, obs


def sample_actions(env, obs, rng) -> dict:
    """One random valid action per agent: flat index for workers, per-subspace for the planner."""
    import numpy as np

    actions = {}
    for agent in env.all_agents:
        mask = np.asarray(obs[str(agent.idx)]["action_mask"])
        if agent.multi_action_mode:
            picks, start = [], 0
            for size in np.asarray(agent.action_spaces).reshape(-1):
                valid = np.flatnonzero(mask[start:start + size])
                picks.append(int(rng.choice(valid)) if valid.size else 0)
                start += size
            actions[str(agent.idx)] = picks
        else:
            valid = np.flatnonzero(mask)
            actions[str(agent.idx)] = int(rng.choice(valid)) if valid.size else 0
    return actions


def time_steps(foundation, *, steps: int, seed: int, n_agents: int) -> dict[str, float]:
    """Env steps per second over `steps` random valid steps (resets at episode ends).

    Returns:
        ``wall``: Foundation's own work only (``env.step`` and ``env.reset``) per
        wall-clock second; ``cpu``: the same per CPU second of this process (less
        sensitive to other processes sharing the machine); ``with_sampling``: per
        wall-clock second including drawing the random actions from the masks.
    """
    import numpy as np

    env, obs = make_env(foundation, seed, n_agents)
    rng = np.random.default_rng(seed)
    wall = cpu = 0.0
    begin = time.perf_counter()
    for _ in range(steps):
        actions = sample_actions(env, obs, rng)
        start, start_cpu = time.perf_counter(), time.process_time()
        obs, _rew, done, _info = env.step(actions)
        if done["__all__"]:
            obs = env.reset()
        wall += time.perf_counter() - start
        cpu += time.process_time() - start_cpu
    total = time.perf_counter() - begin
    return {"wall": steps / wall, "cpu": steps / cpu, "with_sampling": steps / total}


def versions() -> dict:
    from importlib.metadata import version

    return {
        "ai-economist": version("ai-economist"),
        "numpy": version("numpy"),
        "scipy": version("scipy"),
        "python": platform.python_version(),
    }


def check_facts(foundation) -> dict:
    """Rule facts read from a live Foundation env, for the model card."""
    import numpy as np

    env, obs = make_env(foundation, seed=0)
    build = env.get_component("Build")
    gather = env.get_component("Gather")
    auction = env.get_component("ContinuousDoubleAuction")
    tax = env.get_component("PeriodicBracketTax")
    workers = env.world.agents
    payments = [float(a.state["build_payment"]) for a in workers]
    labour_before = float(workers[0].state["endogenous"]["Labor"])
    # Move worker 0 with the first allowed move direction and read the labour it cost.
    rng = np.random.default_rng(0)
    actions = sample_actions(env, obs, rng)
    mask = np.asarray(obs["0"]["action_mask"])
    moves = [i for i, (name, _sub) in workers[0].single_action_map.items()
             if name == "Gather" and mask[i]]
    for key in actions:
        actions[key] = 0 if key != "p" else [0] * len(actions[key])
    if moves:
        actions["0"] = moves[0]
    env.step(actions)
    labour_after = float(workers[0].state["endogenous"]["Labor"])
    return {
        "peer": "foundation",
        "build_payment_per_agent": payments,
        "build_payment_range": [build.payment, build.payment * build.payment_max_skill_multiplier],
        "build_labor": build.build_labor,
        "move_labor": gather.move_labor,
        "collect_labor": gather.collect_labor,
        "labour_after_one_move": labour_after - labour_before if moves else None,
        "order_labor": auction.order_labor,
        "max_bid_ask": auction.max_bid_ask,
        "order_duration": auction.order_duration,
        "max_num_orders": auction.max_num_orders,
        "tax_period": tax.period,
        "tax_bracket_cutoffs": [float(c) for c in tax.bracket_cutoffs],
        "worker_actions": int(workers[0].action_spaces),
        "planner_action_subspaces": [int(x) for x in np.asarray(env.world.planner.action_spaces)],
        "episode_length": env.episode_length,
        "world_size": list(env.world_size),
        "versions": versions(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="env steps per repeat")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (median)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--agents", type=int, default=4, help="workers (the planner besides)")
    parser.add_argument("--check", action="store_true", help="print rule facts and exit")
    args = parser.parse_args(argv)

    foundation = import_foundation()
    if args.check:
        print(json.dumps(check_facts(foundation)))
        return 0
    timed = [time_steps(foundation, steps=args.steps, seed=args.seed + r,
                        n_agents=args.agents) for r in range(args.repeats)]
    rates = [t["wall"] for t in timed]
    print(json.dumps({
        "peer": "foundation",
        "scenario": ENV_CONFIG["scenario_name"],
        "layout": ENV_CONFIG["env_layout_file"],
        "steps_per_s": statistics.median(rates),
        "rates": rates,
        "cpu_steps_per_s": statistics.median(t["cpu"] for t in timed),
        "steps_per_s_with_sampling": statistics.median(t["with_sampling"] for t in timed),
        "load_average_1min": os.getloadavg()[0],
        "n_agents": args.agents,
        "steps": args.steps,
        "repeats": args.repeats,
        "versions": versions(),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
