"""Vehicle-steps per second of the highway world, 3 lanes and 50 vehicles.

Counts every vehicle once per 0.1 s integration step, as the peers' figures do. Two
set-ups: NADE's (decisions every 1 s, ten 0.1 s substeps each, actions held) and a
full driver model every 0.1 s (decision step = substep = 0.1 s: neighbour search,
IDM, MOBIL and the naturalistic draw each step, like SUMO's car following). Each run
drives naturalistic background traffic and the IDM + MOBIL AV, autoreset included.

Peers (reference figures measured on this project's 2-core machine, not run here):
highway-env 1.12.1 highway-v0 about 2,000 vehicle-steps/s; SUMO 1.28 via libsumo
about 400,000.

Usage: python benchmarks/highway_throughput.py [--quick] [--device cpu|cuda] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from sandbox.worlds.traffic import HighwayParams, HighwayWorld, IdmMobilPolicy, NaturalisticPolicy

PEERS = {"highway_env": 2_000.0, "sumo_libsumo": 400_000.0}


def measure(batch: int, decision_dt: float, *, steps: int, repeats: int, device: str) -> dict:
    params = HighwayParams(n_background=49, decision_dt=decision_dt, substep_dt=0.1)
    world = HighwayWorld(params, num_envs=batch, device=device, seed=0)
    obs = world.reset()
    background, av = NaturalisticPolicy(world), IdmMobilPolicy(world)

    def run(n):
        nonlocal obs
        for _ in range(n):
            result = world.step({"av": av.act(obs["av"]),
                                 "background": background.act(obs["background"])})
            obs = result.obs
        if world.device.type == "cuda":
            torch.cuda.synchronize()

    run(max(2, steps // 10))  # warm-up
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(steps)
        elapsed = time.perf_counter() - start
        rates.append(batch * params.n_vehicles * params.n_substeps * steps / elapsed)
    rate = statistics.median(rates)
    return {
        "batch": batch, "vehicles": params.n_vehicles, "lanes": params.n_lanes,
        "decision_dt_s": decision_dt, "substeps_per_decision": params.n_substeps,
        "decision_steps_timed": steps, "repeats": repeats,
        "vehicle_steps_per_s": round(rate),
        "ratio_vs_sumo": round(rate / PEERS["sumo_libsumo"], 2),
        "ratio_vs_highway_env": round(rate / PEERS["highway_env"], 1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few-second smoke run")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: all)")
    args = parser.parse_args()
    if args.quick or args.threads:
        torch.set_num_threads(args.threads or 1)
    if args.quick:
        plan = [(1, 1.0, 5), (64, 1.0, 5)]
        repeats = 1
    else:
        plan = [(1, 1.0, 200), (1024, 1.0, 30), (1, 0.1, 300), (1024, 0.1, 100)]
        repeats = 3
    runs = [measure(b, dt, steps=s, repeats=repeats, device=args.device) for b, dt, s in plan]
    print(json.dumps({
        "benchmark": "highway_throughput",
        "unit": "vehicle-steps per second (each vehicle counted per 0.1 s step)",
        "device": args.device, "torch_threads": torch.get_num_threads(),
        "peers_reference_not_run": PEERS,
        "target": "at least 10x SUMO (4,000,000) at batch 1,024",
        "runs": runs,
    }, indent=2))


if __name__ == "__main__":
    main()
