"""Throughput of the batched Gather-Trade-Build world, printed as one JSON object.

An env step is one ``world.step`` of one environment (all its workers act; the planner
too in the first step of a tax period), so one call on B environments is B env steps.
Actions are random valid actions sampled from the action masks inside the timed loop
(uniform over each worker's valid actions; uniform rate levels under the cap for the
planner), as a random-action benchmark of Foundation samples them too. Figures are
medians over repeats. Default: 4 workers, batches 1, 64 and 1,024, one torch thread.

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
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from sandbox.worlds.economy.gtb import GatherTradeBuild, GTBParams  # noqa: E402

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
    """Uniform random valid actions of the acting roles, drawn from the masks."""
    mask = masks["workers"]
    noise = torch.rand(mask.shape, generator=generator, device=world.device)
    actions = {"workers": noise.masked_fill(~mask, -1.0).argmax(-1)}
    if "planner" in world.acting_roles():
        allowed = int((world.rate_levels <= world.rate_cap + 1e-6).sum())
        shape = (world.num_envs, 1, world.params.num_brackets)
        actions["planner"] = torch.randint(0, allowed, shape, generator=generator,
                                           device=world.device)
    return actions


def time_steps(world, masks, generator, steps: int):
    """Seconds to take ``steps`` steps with random valid actions; returns (s, masks)."""
    if world.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        masks = world.step(random_actions(world, masks, generator)).masks
    if world.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, masks


def measure(num_envs: int, *, num_workers: int, device: str, repeats: int, target_s: float):
    """One batch size: median env steps per second over ``repeats``."""
    world = GatherTradeBuild(GTBParams(num_workers=num_workers), num_envs=num_envs,
                             device=device, seed=0)
    world.reset()
    masks = world.action_masks()
    generator = torch.Generator(device=world.device).manual_seed(1)
    first, masks = time_steps(world, masks, generator, 5)  # warm-up and a rough cost
    steps = max(5, int(target_s / max(first / 5, 1e-6)))
    rates = []
    for _ in range(repeats):
        seconds, masks = time_steps(world, masks, generator, steps)
        rates.append(steps * num_envs / seconds)
    env_steps = statistics.median(rates)
    return {"envs": num_envs, "workers": num_workers, "steps_per_repeat": steps,
            "env_steps_per_s": round(env_steps, 1),
            "seconds_per_step": round(num_envs / env_steps, 6),
            "env_steps_per_s_repeats": [round(r, 1) for r in rates]}


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
                       target_s=target_s)["env_steps_per_s"]
        theirs = foundation_rate(num_workers)
        if theirs is None:
            return []
        paired.append({"envs": num_envs, "ours": ours, "foundation": round(theirs, 1),
                       "ratio": round(ours / theirs, 1)})
    return paired


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short repeats, a few seconds")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--envs", type=int, nargs="*", help="batch sizes")
    parser.add_argument("--workers", type=int, default=WORKERS)
    parser.add_argument("--rounds", type=int, default=3,
                        help="paired rounds (ours at the largest batch, then Foundation)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    repeats = 3 if args.quick else args.repeats
    target_s = 0.3 if args.quick else 2.0
    results = [measure(b, num_workers=args.workers, device=args.device, repeats=repeats,
                       target_s=target_s) for b in (args.envs or BATCHES)]
    paired = paired_rounds(max(args.envs or BATCHES), num_workers=args.workers,
                           device=args.device, rounds=1 if args.quick else args.rounds,
                           target_s=target_s)
    peer = statistics.median([r["foundation"] for r in paired]) if paired else None
    for row in results:
        row["vs_foundation"] = None if peer is None else round(row["env_steps_per_s"] / peer, 1)
    print(json.dumps({
        "benchmark": "gtb_throughput",
        "counting": "env step = one world.step of one environment (all workers act)",
        "actions": "uniform random valid actions from the masks, drawn in the timed loop",
        "target_env_steps_per_s_at_1024": TARGET_ENV_STEPS_PER_S,
        "foundation": {"env_steps_per_s": peer,
                       "status": "measured side by side" if peer is not None else
                       "not available (benchmarks/peers/ not set up)",
                       "reference_env_steps_per_s": 500.0,
                       "reference_source": "shared/reference/foundation.md (quoted)"},
        "device": str(args.device), "torch": torch.__version__, "threads": args.threads,
        "machine": platform.machine(), "quick": args.quick, "repeats": repeats,
        "results": results,
        "paired_rounds": paired,
        "paired_ratio_median": (round(statistics.median(r["ratio"] for r in paired), 1)
                                if paired else None),
    }, indent=2))


if __name__ == "__main__":
    main()
