"""Throughput of the batched one-step economy, printed as one JSON object.

Counts steps as Foundation does: an episode of the one-step economy is two env steps
(the planner's, then the workers'), so one ``world.step`` call on B environments is B
env steps, and worker-steps are env steps times the number of workers N. Actions are
random valid actions drawn inside the timed loop (as a random-action benchmark of
Foundation draws them too). Reported figures are medians over repeats.

Reference (not run here: Foundation is not installed): Foundation 1.7.1 steps its
one-step economy with 4 workers at about 1,000 env steps per second on this project's
machine (``shared/reference/foundation.md``), i.e. about 4,000 worker-steps per second.

Usage: ``python benchmarks/onestep_throughput.py [--quick] [--device cpu] [--threads 1]
[--workers 4 100] [--envs 1024]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.worlds.economy.onestep import OneStepEconomy, OneStepParams  # noqa: E402

FOUNDATION_ENV_STEPS_PER_S = 1000.0  # 4 workers, random actions (reference figure)
FOUNDATION_WORKERS = 4
MEMORY_BUDGET_GB = 6.0
# Peak memory per (environment, worker) pair during an episode: about 150 bytes measured
# on the CPU at 1,024 envs x 10,000 workers (settle's [B, N, K] temporaries, observations,
# the Gini's float64 sort). The budget check uses 400 bytes for headroom.
BYTES_PER_WORKER_ENV = 400
WORKERS = (4, 100, 10_000, 1_000_000)
BATCHES = (1, 1024)


def random_actions(world: OneStepEconomy, generator: torch.Generator) -> dict:
    """Random valid actions for the acting role (respecting the planner's mask)."""
    b, n, k = world.num_envs, world.params.num_workers, world.params.num_brackets
    if world.acting_roles() == ("planner",):
        allowed = int((world.rate_levels <= world.rate_cap + 1e-6).sum())
        action = torch.randint(0, allowed, (b, 1, k), generator=generator, device=world.device)
        return {"planner": action}
    high = len(world.hours_grid)
    return {"workers": torch.randint(0, high, (b, n), generator=generator, device=world.device)}


def time_episodes(world, generator, episodes: int) -> float:
    """Seconds to run ``episodes`` full episodes (2 steps each) on every environment."""
    if world.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(2 * episodes):
        world.step(random_actions(world, generator))
    if world.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def measure(num_workers: int, num_envs: int, *, device: str, repeats: int, target_s: float):
    """One (workers, envs) combination: build time, median throughput, peak memory."""
    start = time.perf_counter()
    world = OneStepEconomy(OneStepParams(num_workers=num_workers), num_envs=num_envs,
                           device=device, seed=0)
    world.reset()
    build_s = time.perf_counter() - start
    generator = torch.Generator(device=world.device).manual_seed(1)
    first = time_episodes(world, generator, 1)  # warm-up, and a rough cost per episode
    episodes = max(1, int(target_s / max(first, 1e-6)))
    rates = []
    for _ in range(repeats):
        seconds = time_episodes(world, generator, episodes)
        rates.append(2 * episodes * num_envs / seconds)
    env_steps = statistics.median(rates)
    return {
        "workers": num_workers, "envs": num_envs, "status": "ran",
        "build_s": round(build_s, 4),
        "episodes_per_repeat": episodes,
        "seconds_per_step": round(1.0 / (env_steps / num_envs), 6),
        "env_steps_per_s": round(env_steps, 1),
        "worker_steps_per_s": round(env_steps * num_workers, 1),
        "env_steps_vs_foundation": round(env_steps / FOUNDATION_ENV_STEPS_PER_S, 2),
        "worker_steps_vs_foundation": round(
            env_steps * num_workers / (FOUNDATION_ENV_STEPS_PER_S * FOUNDATION_WORKERS), 2),
        "peak_rss_gb_so_far": round(peak_rss_gb(), 3),
    }


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far, GB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, nargs="*", help="only these worker counts")
    parser.add_argument("--envs", type=int, nargs="*", help="only these batch sizes")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    workers = args.workers or ((4, 100) if args.quick else WORKERS)
    batches = args.envs or BATCHES
    repeats = 3 if args.quick else args.repeats
    target_s = 0.05 if args.quick else 0.5
    results = []
    for n in workers:
        for b in batches:
            need_gb = n * b * BYTES_PER_WORKER_ENV / 1e9
            if need_gb > MEMORY_BUDGET_GB:
                results.append({"workers": n, "envs": b, "status": "skipped",
                                "reason": f"needs about {need_gb:,.0f} GB, over the "
                                          f"{MEMORY_BUDGET_GB:g} GB budget"})
                continue
            results.append(measure(n, b, device=args.device, repeats=repeats,
                                   target_s=target_s))
    print(json.dumps({
        "benchmark": "onestep_throughput",
        "counting": "env step = one world.step per environment (2 per episode, as "
                    "Foundation); worker-steps = env steps x workers",
        "reference": {"system": "Foundation (ai-economist 1.7.1) one-step economy",
                      "workers": FOUNDATION_WORKERS,
                      "env_steps_per_s": FOUNDATION_ENV_STEPS_PER_S,
                      "source": "shared/reference/foundation.md, measured on this project's "
                                "machine; quoted, not run by this script"},
        "device": str(args.device), "torch": torch.__version__, "threads": args.threads,
        "machine": platform.machine(), "quick": args.quick, "repeats": repeats,
        "memory_budget_gb": MEMORY_BUDGET_GB,
        "results": results,
    }, indent=2))


if __name__ == "__main__":
    main()
