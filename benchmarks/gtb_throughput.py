"""Throughput of the batched Gather-Trade-Build world, printed as one JSON object.

An env step is one ``world.step`` of one environment (all its workers act; the planner
too in the first step of a tax period), so one call on B environments is B env steps.
Actions are random valid actions sampled from the action masks inside the timed loop
(uniform over each worker's valid actions, the whole batch at once; uniform rate levels
under the cap for the planner). What each side times: ours, drawing the actions plus
``world.step`` (the new state, rewards, both roles' observations, the masks and
episode resets) and reading the observations; Foundation's, its ``env.step`` and
``env.reset`` only (drawing its random actions is not timed), so the comparison favours
Foundation slightly. Both are reported per wall-clock second and per CPU second of the
process (``cpu_*``: less disturbed by other load on the machine). Figures are medians
over repeats. Default: 4 workers, batches 1, 64 and 1,024, one torch thread.

Foundation side by side: :func:`foundation_rate` returns Foundation's env steps/s for
the same setting when its peer benchmark (``benchmarks/peers/``) is available, else
None. The machine's load varies, so Foundation is measured in ``--rounds`` rounds, each
right after one repeat of ours at the largest batch; ``paired_ratio_median`` is the
median of the within-round ratios and ``vs_foundation`` divides each of our medians by
the median of Foundation's rounds.

Usage: ``python benchmarks/gtb_throughput.py [--quick] [--device cpu] [--threads 1]
[--envs 1 64 1024] [--workers 4]``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from sandbox.core import native  # noqa: E402
from sandbox.worlds.economy.gtb import GatherTradeBuild, GTBParams  # noqa: E402
from sandbox.worlds.economy.gtb import native as gtb_native  # noqa: E402

BATCHES = (1, 64, 1024)
WORKERS = 4
#: Target from the issue: 100 x Foundation's ~500 env steps/s (4 workers, this machine).
TARGET_ENV_STEPS_PER_S = 50_000.0


def foundation_rate(num_workers: int = WORKERS) -> float | None:
    """Foundation's env steps/s with random actions and ``num_workers`` workers, or None.

    Runs ``benchmarks/peers/foundation_gtb.py`` in Foundation's own virtual environment
    (``.venv-foundation``, made by ``make peers``) through ``peers.foundation``: the
    median over 3 repeats of 1,000 steps of its Gather-Trade-Build example scenario,
    timing Foundation's ``env.step`` only (sampling the random valid actions is not
    timed). When Foundation is not set up here it returns None and says why on stderr.
    """
    sys.path.insert(0, str(HERE))
    try:
        peer = importlib.import_module("peers.foundation")
    finally:
        sys.path.remove(str(HERE))
    result = peer.foundation_rate(n_agents=num_workers, steps=1000, repeats=3)
    return None if result is None else float(result["steps_per_s"])


def random_actions(world: GatherTradeBuild, masks: dict, generator: torch.Generator) -> dict:
    """Uniform random valid actions of the acting roles, drawn from the masks.

    Workers: one uniform number ``u`` per worker picks the ``floor(u k)``-th of its ``k``
    valid actions (a cumulative count over the mask, in bytes: fewer than 256 actions),
    uniform among the valid actions, for the whole batch in a few tensor operations (the
    no-op is always valid).
    Planner: a uniform rate level under the cap per bracket.
    """
    mask = masks["workers"]
    valid_so_far = mask.view(torch.uint8).cumsum(-1, dtype=torch.uint8)  # < 256 actions
    count = valid_so_far[..., -1:]
    draw = torch.rand(count.shape, generator=generator, device=world.device)
    pick = torch.minimum((draw * count).to(torch.uint8), count - 1)
    actions = {"workers": (valid_so_far > pick).max(-1).indices}  # the first such action
    if "planner" in world.acting_roles():
        allowed = int((world.rate_levels <= world.rate_cap + 1e-6).sum())
        shape = (world.num_envs, 1, world.params.num_brackets)
        actions["planner"] = torch.randint(0, allowed, shape, generator=generator,
                                           device=world.device)
    return actions


def time_steps(world, masks, generator, steps: int):
    """Wall and CPU seconds of ``steps`` steps with random valid actions.

    Returns ``(wall_s, cpu_s, masks)``. Each step draws the actions, calls
    ``world.step`` (which computes the next observations, rewards and masks of every
    environment) and reads the new observations and masks.
    """
    if world.device.type == "cuda":
        torch.cuda.synchronize()
    start, start_cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        result = world.step(random_actions(world, masks, generator))
        masks = result.masks
        _obs = result.obs["workers"]
    if world.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, time.process_time() - start_cpu, masks


def measure(num_envs: int, *, num_workers: int, device: str, repeats: int, target_s: float):
    """One batch size: median env steps per second (wall clock and CPU) over ``repeats``."""
    world = GatherTradeBuild(GTBParams(num_workers=num_workers), num_envs=num_envs,
                             device=device, seed=0)
    world.reset()
    masks = world.action_masks()
    generator = torch.Generator(device=world.device).manual_seed(1)
    first, _cpu, masks = time_steps(world, masks, generator, 5)  # warm-up and a rough cost
    steps = max(5, int(target_s / max(first / 5, 1e-6)))
    rates, cpu_rates = [], []
    for _ in range(repeats):
        seconds, cpu_seconds, masks = time_steps(world, masks, generator, steps)
        rates.append(steps * num_envs / seconds)
        cpu_rates.append(steps * num_envs / max(cpu_seconds, 1e-9))
    env_steps = statistics.median(rates)
    return {"envs": num_envs, "workers": num_workers, "steps_per_repeat": steps,
            "env_steps_per_s": round(env_steps, 1),
            "cpu_env_steps_per_s": round(statistics.median(cpu_rates), 1),
            "seconds_per_step": round(num_envs / env_steps, 6),
            "env_steps_per_s_repeats": [round(r, 1) for r in rates]}


def foundation_result(num_workers: int = WORKERS) -> dict | None:
    """Foundation's full measurement (wall-clock and CPU rates), or None; see
    :func:`foundation_rate`."""
    sys.path.insert(0, str(HERE))
    try:
        peer = importlib.import_module("peers.foundation")
    finally:
        sys.path.remove(str(HERE))
    return peer.foundation_rate(n_agents=num_workers, steps=1000, repeats=3)


def paired_rounds(num_envs: int, *, num_workers: int, device: str, rounds: int,
                  target_s: float) -> list[dict]:
    """Ours and Foundation measured back to back, round after round.

    The machine's load changes by the minute, so each round measures this world (one
    repeat at ``num_envs``) right before Foundation, and the ratio is taken within the
    round. Empty when Foundation is not available.
    """
    paired = []
    for _ in range(rounds):
        ours = measure(num_envs, num_workers=num_workers, device=device, repeats=1,
                       target_s=target_s)
        theirs = foundation_result(num_workers)
        if theirs is None:
            return []
        wall, cpu = float(theirs["steps_per_s"]), float(theirs["cpu_steps_per_s"])
        paired.append({"envs": num_envs, "ours": ours["env_steps_per_s"],
                       "foundation": round(wall, 1),
                       "ratio": round(ours["env_steps_per_s"] / wall, 1),
                       "ours_cpu": ours["cpu_env_steps_per_s"],
                       "foundation_cpu": round(cpu, 1),
                       "cpu_ratio": round(ours["cpu_env_steps_per_s"] / cpu, 1)})
    return paired


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short repeats, a few seconds")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--envs", type=int, nargs="*", help="batch sizes")
    parser.add_argument("--workers", type=int, default=WORKERS)
    parser.add_argument("--torch-only", action="store_true",
                        help="torch path only (no compiled CPU kernels) throughout")
    parser.add_argument("--rounds", type=int, default=3,
                        help="paired rounds (ours at the largest batch, then Foundation)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    repeats = 3 if args.quick else args.repeats
    target_s = 0.3 if args.quick else 2.0
    if args.torch_only:
        os.environ["SANDBOX_NATIVE"] = "0"
    compiled = gtb_native.applies(torch.empty(0, device=args.device))
    torch_path = None
    if compiled:  # the torch path at the largest batch, for comparison
        with native.disabled():
            torch_path = measure(max(args.envs or BATCHES), num_workers=args.workers,
                                 device=args.device, repeats=repeats, target_s=target_s)
    results = [measure(b, num_workers=args.workers, device=args.device, repeats=repeats,
                       target_s=target_s) for b in (args.envs or BATCHES)]
    paired = paired_rounds(max(args.envs or BATCHES), num_workers=args.workers,
                           device=args.device, rounds=1 if args.quick else args.rounds,
                           target_s=target_s)
    peer = statistics.median([r["foundation"] for r in paired]) if paired else None
    peer_cpu = statistics.median([r["foundation_cpu"] for r in paired]) if paired else None
    for row in results:
        row["vs_foundation"] = None if peer is None else round(row["env_steps_per_s"] / peer, 1)
        row["cpu_vs_foundation"] = (None if peer_cpu is None
                                    else round(row["cpu_env_steps_per_s"] / peer_cpu, 1))
    print(json.dumps({
        "benchmark": "gtb_throughput",
        "counting": "env step = one world.step of one environment (all workers act)",
        "actions": "uniform random valid actions from the masks, drawn in the timed loop",
        "ours_times": "drawing the actions + world.step (state, rewards, observations of "
                      "both roles, masks, episode resets); wall clock and process CPU",
        "foundation_times": "env.step + env.reset only (its action sampling untimed); "
                            "wall clock and process CPU",
        "target_env_steps_per_s_at_1024": TARGET_ENV_STEPS_PER_S,
        "foundation": {"env_steps_per_s": peer, "cpu_env_steps_per_s": peer_cpu,
                       "status": "measured side by side" if peer is not None else
                       "not available (benchmarks/peers/ not set up)",
                       "reference_env_steps_per_s": 500.0,
                       "reference_source": "shared/reference/foundation.md (quoted)"},
        "kernels": "compiled CPU kernels (worlds/economy/gtb/native.c)" if compiled
                   else "torch",
        "torch_path_at_largest_batch": torch_path,
        "device": str(args.device), "torch": torch.__version__, "threads": args.threads,
        "machine": platform.machine(), "quick": args.quick, "repeats": repeats,
        "results": results,
        "paired_rounds": paired,
        "paired_ratio_median": (round(statistics.median(r["ratio"] for r in paired), 1)
                                if paired else None),
        "paired_cpu_ratio_median": (round(statistics.median(r["cpu_ratio"] for r in paired), 1)
                                    if paired else None),
    }, indent=2))


if __name__ == "__main__":
    main()
