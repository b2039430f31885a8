"""Batch throughput: a 10,000-run sweep of the one-step economy, printed as one JSON object.

The sweep: a Latin hypercube over the labour-cost weight and curvature (1,000 points),
two analytic planner policies (no tax, US federal) with best-responding workers, five
seeds; 10 workers per economy so that each run is short and the batch layer's own cost
shows. Every backend runs the same runs into a fresh results folder.

For each backend the figures are: ``runs_per_s`` over the whole batch (start-up
included) and in steady state (from the first finished run to the last);
``sim_ms_per_run``, the mean simulation time that the runs record themselves
(``duration_s``: building the world and policies, stepping, metrics); and the batch
layer's overhead per run beyond the simulation, in worker time:
``workers / steady runs_per_s - sim_ms_per_run``, steady state taken from the moment a
tenth of the runs are done (pickling and sending the task,
building the Parquet row, the fsynced write and rename, the progress message).
``startup_s`` is the time to the first finished run (fork server or Ray start-up and
the first run). ``plan_ms_per_run`` is the driver's planning (resolving configs,
hashing ids) and ``write_ms_per_run`` a direct measurement of storing one run.

The host is shared: the one-minute load average before each part is reported, and
figures taken on a busy host are slower than on an idle one.

Usage: ``python benchmarks/batch_throughput.py [--quick] [--runs N] [--workers N]
[--no-ray]``. ``--quick`` runs 100 runs on the local backend with one worker.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.batch.runner import BatchOptions, run_batch  # noqa: E402
from sandbox.batch.store import prepare_folder, query, write_run  # noqa: E402
from sandbox.scenario import execute_run, parse_scenario, plan_runs  # noqa: E402

POLICIES = ("free_market", "us_federal")
SEEDS = (0, 1, 2, 3, 4)
TARGET_OVERHEAD_MS = 20.0


def scenario(runs: int) -> dict:
    """A sweep with ``runs`` runs (rounded to a multiple of policies x seeds)."""
    points = max(1, runs // (len(POLICIES) * len(SEEDS)))
    return {
        "name": "batch_throughput",
        "world": {"name": "onestep_economy", "params": {"num_workers": 10}},
        "roles": {"workers": {"policy": "best_response"},
                  "planner": [{"policy": p} for p in POLICIES]},
        "evaluation": {"episodes": 1, "seeds": list(SEEDS), "deterministic": True},
        "sweep": {"design": "latin_hypercube", "samples": points, "seed": 0, "parameters": {
            "world.params.utility.kappa": {"min": 0.01, "max": 0.03, "log": True},
            "world.params.utility.delta": {"min": 1.8, "max": 3.0}}},
    }


def load() -> float:
    """One-minute load average of the host."""
    return round(os.getloadavg()[0], 2)


def measure_backend(spec, plans, options: BatchOptions, folder: Path) -> dict:
    """Run the batch into a fresh folder and time it."""
    shutil.rmtree(folder, ignore_errors=True)
    prepare_folder(folder, scenario_hash=spec.content_hash(), spec_json=spec.model_dump())
    marks: list[tuple[float, int]] = []
    load_before = load()
    start = time.perf_counter()
    counts = run_batch(plans, folder, options=options,
                       on_progress=lambda p: marks.append((time.perf_counter(), p.done)))
    wall = time.perf_counter() - start
    first = next((t, d) for t, d in marks if d > 0)
    # steady state: from the moment a tenth of the runs are done to the end
    tenth = next((t, d) for t, d in marks if d >= max(1, counts.done // 10))
    steady_rate = (counts.done - tenth[1]) / max(marks[-1][0] - tenth[0], 1e-9)
    sim = query(folder, "SELECT avg(duration_s) AS s, count(*) AS n, "
                        "count(*) FILTER (WHERE status = 'ok') AS ok FROM runs").to_pylist()[0]
    workers = options.parallelism
    return {
        "backend": options.backend, "workers": workers, "runs": sim["n"], "ok": sim["ok"],
        "chunk_runs": options.chunk_size or "auto",
        "wall_s": round(wall, 2), "startup_s": round(first[0] - start, 2),
        "runs_per_s": round(counts.done / wall, 1), "steady_runs_per_s": round(steady_rate, 1),
        "sim_ms_per_run": round(sim["s"] * 1e3, 2),
        "overhead_ms_per_run": round(workers / steady_rate * 1e3 - sim["s"] * 1e3, 2),
        "load_average_before": load_before,
    }


def write_cost(plans, folder: Path, repeats: int = 50) -> float:
    """Median milliseconds to store one run (Parquet row, fsynced write, rename)."""
    result = execute_run(plans[0])
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        write_run(folder, result, sync_dir=False)
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1e3, 2)


def main() -> None:
    """Parse arguments, run the backends, print the JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="100 runs, local backend, one worker")
    parser.add_argument("--runs", type=int, help="runs in the sweep (default 10,000)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray backend")
    args = parser.parse_args()
    runs = args.runs or (100 if args.quick else 10_000)
    spec = parse_scenario(scenario(runs))
    plan_runs(parse_scenario(scenario(10)))  # warm up: imports and registry
    start = time.perf_counter()
    plans = plan_runs(spec)
    plan_ms = (time.perf_counter() - start) / len(plans) * 1e3
    backends = [BatchOptions(workers=1)]  # alone, the overhead estimate is cleanest
    if not args.quick:
        backends.append(BatchOptions(workers=args.workers))
        if not args.no_ray:
            backends.append(BatchOptions(backend="ray", workers=args.workers))
    with tempfile.TemporaryDirectory(prefix="batch_throughput_") as tmp:
        results = [measure_backend(spec, plans, options, Path(tmp) / f"run{i}")
                   for i, options in enumerate(backends)]
        write_ms = write_cost(plans, Path(tmp) / "write")
    worst = max(r["overhead_ms_per_run"] for r in results)
    print(json.dumps({
        "benchmark": "batch_throughput", "quick": args.quick, "runs": len(plans),
        "cpu_count": os.cpu_count(), "plan_ms_per_run": round(plan_ms, 3),
        "write_ms_per_run": write_ms, "backends": results,
        "target_overhead_ms_per_run": TARGET_OVERHEAD_MS,
        "overhead_within_target": worst < TARGET_OVERHEAD_MS,
    }, indent=1))


if __name__ == "__main__":
    main()
