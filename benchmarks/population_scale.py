"""Scale of the epidemic economy: seconds per simulated day and peak memory, beside Mesa.

Each measurement runs in its own subprocess so that its peak resident memory (``ru_maxrss``)
is its own. The batched world runs rule-following residents (``isolate_when_symptomatic``)
under a ``threshold_mandate`` planner with testing and stimulus on, one environment, at
1e4, 1e5, 1e6 and 1e7 residents; the per-resident Mesa reference model (same rules) runs
at the sizes it can reach in reasonable time (1e4, and 1e5 for two days). Times are
medians over the timed days after one warm-up day (at least 30 timed days up to 1e5
residents, whose days take milliseconds: on a shared machine a median of five such days
moves with every burst of load); agent-steps per second is residents divided by seconds
per day. Population generation is timed separately (``build_s``).
Wall-clock and CPU seconds (``time.process_time``) are both reported: on a shared machine
the CPU time is the work of the step itself, the wall time also what other jobs took.

The batched world is also run with glibc's ``MALLOC_MMAP_THRESHOLD_`` raised to 4 GiB (an
allocator setting, no code change: large temporaries then come from the heap and their
pages are reused from step to step instead of being mapped and faulted in afresh each
time); both figures are reported.

    python benchmarks/population_scale.py            # full run (a few minutes)
    python benchmarks/population_scale.py --sizes 100000 --mesa-days 2   # one size
    python benchmarks/population_scale.py --quick    # smoke test, a few seconds, in-process

Targets (``targets`` in the output): at most 1 s per simulated day at ten million
residents, within 8 GiB, and at least 100 times Mesa's agent-steps per second at 100,000
residents, the Mesa model run in the same invocation (on a shared machine only ratios
taken side by side mean much; the load average is reported).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GIB = 1024**3
BATCHED_SIZES = (10_000, 100_000, 1_000_000, 10_000_000)
#: Timed days at least, up to 1e5 residents (milliseconds each).
SMALL_WORLD, SMALL_WORLD_DAYS = 100_000, 30
MESA_RUNS = ((10_000, 3), (100_000, 2))  # (residents, timed days)


def build_world(residents: int):
    from sandbox.core import POLICIES
    from sandbox.worlds.population.params import DiseaseParams, EpidemicEconomyParams
    from sandbox.worlds.population.world import EpidemicEconomy

    params = EpidemicEconomyParams(num_residents=residents, horizon_days=365,
                                   disease=DiseaseParams(initial_infected=0.002))
    start = time.perf_counter()
    world = EpidemicEconomy(params, seed=0)
    build = time.perf_counter() - start
    policies = {
        "workers": POLICIES.get("isolate_when_symptomatic")(world, "workers"),
        "planner": POLICIES.get("threshold_mandate")(world, "planner", threshold=0.001,
                                                     mandate_level=1, testing_level=1,
                                                     stimulus_level=1),
    }
    return world, policies, build


def measure_batched(residents: int, days: int) -> dict:
    """Seconds per day of the batched world (one environment) and the process's peak RSS."""
    if residents <= SMALL_WORLD:
        days = max(days, SMALL_WORLD_DAYS)
    world, policies, build = build_world(residents)
    obs = world.reset(seed=0)
    times, cpu = [], []
    for _ in range(days + 1):
        start, start_cpu = time.perf_counter(), time.process_time()
        actions = {r: policies[r].act(obs[r]) for r in world.acting_roles()}
        obs = world.step(actions).obs
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    per_day = statistics.median(times[1:])
    return {"residents": residents, "seconds_per_day": per_day,
            "cpu_seconds_per_day": statistics.median(cpu[1:]),
            "agent_steps_per_s": residents / per_day, "build_s": build, "days": days,
            "population_mib": world.population.nbytes() / 2**20, "max_rss_gib": max_rss_gib()}


def measure_mesa(residents: int, days: int) -> dict:
    """Seconds per day of the Mesa reference model (uniforms pre-drawn, not timed)."""
    import torch

    from sandbox.worlds.population.reference import EpidemicEconomyModel

    world, _, _ = build_world(residents)
    world.reset(seed=0)
    start = time.perf_counter()
    model = EpidemicEconomyModel.from_world(world, worker_rule="isolate_when_symptomatic")
    build = time.perf_counter() - start
    generator = torch.Generator().manual_seed(0)
    times, cpu = [], []
    for day in range(days + 1):
        uniforms = torch.rand(5, residents, generator=generator, dtype=torch.float64).tolist()
        start, start_cpu = time.perf_counter(), time.process_time()
        model.step(uniforms=uniforms, planner_action=(1, 1, 1) if day == 0 else None)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    per_day = statistics.median(times[1:])
    return {"residents": residents, "seconds_per_day": per_day,
            "cpu_seconds_per_day": statistics.median(cpu[1:]),
            "agent_steps_per_s": residents / per_day, "build_s": build, "days": days,
            "max_rss_gib": max_rss_gib()}


def max_rss_gib() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB


#: glibc setting of the "heap allocator" runs: allocations below 4 GiB come from the heap.
HEAP_ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": str(4 * GIB)}


def in_subprocess(kind: str, residents: int, days: int, threads: int, heap: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in HEAP_ALLOCATOR}
    if heap:
        env.update(HEAP_ALLOCATOR)
    command = [sys.executable, __file__, "--measure", kind, "--residents", str(residents),
               "--days", str(days), "--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        return {"residents": residents, "error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def ratio_at(batched: list[dict], mesa: list[dict], residents: int,
             key: str = "seconds_per_day") -> float | None:
    """Mesa's time per day over the batched world's, at ``residents`` (None if missing)."""
    ours = [r for r in batched if r.get("residents") == residents and "error" not in r]
    theirs = [r for r in mesa if r.get("residents") == residents and "error" not in r]
    if not ours or not theirs:
        return None
    return theirs[0][key] / ours[0][key]


def full_run(args) -> dict:
    sizes = tuple(args.sizes) if args.sizes else BATCHED_SIZES
    batched = [in_subprocess("batched", n, args.days, args.threads, heap=False)
               for n in sizes]
    batched_heap = [in_subprocess("batched", n, args.days, args.threads, heap=True)
                    for n in sizes]
    mesa_runs = [(n, args.mesa_days or days) for n, days in MESA_RUNS if n in sizes]
    mesa = [in_subprocess("mesa", n, days, args.threads, heap=False) for n, days in mesa_runs]

    def at_1e7(rows: list[dict]) -> dict:
        return next((r for r in rows if r.get("residents") == 10_000_000), {})

    largest, largest_heap = at_1e7(batched), at_1e7(batched_heap)
    return {
        "benchmark": "population_scale", "device": "cpu", "threads": args.threads,
        "workers": "isolate_when_symptomatic", "planner": "threshold_mandate",
        "batched": batched, "batched_heap_allocator": batched_heap, "mesa": mesa,
        "heap_allocator_env": HEAP_ALLOCATOR,
        "speedup_vs_mesa": {str(n): ratio_at(batched, mesa, n) for n, _ in mesa_runs},
        "speedup_vs_mesa_cpu_time": {str(n): ratio_at(batched, mesa, n, "cpu_seconds_per_day")
                                     for n, _ in mesa_runs},
        "load_average_1min": os.getloadavg()[0],
        "targets": {
            "1e7_seconds_per_day_le_1": largest.get("seconds_per_day", 1e9) <= 1.0,
            "1e7_cpu_seconds_per_day_le_1": largest.get("cpu_seconds_per_day", 1e9) <= 1.0,
            "1e7_seconds_per_day_le_1_heap_allocator":
                largest_heap.get("seconds_per_day", 1e9) <= 1.0,
            "1e7_cpu_seconds_per_day_le_1_heap_allocator":
                largest_heap.get("cpu_seconds_per_day", 1e9) <= 1.0,
            "1e7_peak_memory_le_8_gib": largest.get("max_rss_gib", 1e9) <= 8.0,
            "speedup_at_1e5_ge_100": (ratio_at(batched, mesa, 100_000) or 0.0) >= 100.0,
            "speedup_at_1e5_ge_100_cpu_time":
                (ratio_at(batched, mesa, 100_000, "cpu_seconds_per_day") or 0.0) >= 100.0,
        },
    }


def quick_run(args) -> dict:
    """In-process smoke test: small sizes, few days."""
    batched = [measure_batched(n, 2) for n in (10_000, 100_000)]
    mesa = [measure_mesa(2_000, 1)]
    batched_small = measure_batched(2_000, 2)
    return {"benchmark": "population_scale", "quick": True, "threads": args.threads,
            "batched": [batched_small, *batched], "mesa": mesa,
            "speedup_vs_mesa": {"2000": ratio_at([batched_small], mesa, 2_000)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke test in a few seconds")
    parser.add_argument("--days", type=int, default=5, help="timed days per batched size")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--sizes", type=int, nargs="+", help="batched sizes (default: 1e4..1e7)")
    parser.add_argument("--mesa-days", type=int, help="timed Mesa days (default: 3 at 1e4, "
                        "2 at 1e5)")
    parser.add_argument("--measure", choices=("batched", "mesa"), help=argparse.SUPPRESS)
    parser.add_argument("--residents", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.measure == "batched":
        result = measure_batched(args.residents, args.days)
    elif args.measure == "mesa":
        result = measure_mesa(args.residents, args.days)
    elif args.quick:
        result = quick_run(args)
    else:
        result = full_run(args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
