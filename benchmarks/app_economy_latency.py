"""How fast the app's Economy page answers a change, with 1,000 workers, per planner policy.

For each planner policy P (as policy B; policy A stays the US federal schedule):

- ``library_cold_s``: the library computation the page calls for one side
  (``evaluate`` of the one-policy scenario), the first time in the process (after a
  warm-up run of another configuration, so one-time imports are not counted). For the
  search optimum this includes its search, which the economy then memoizes.
- ``library_repeat_s``: the same computation again (the library's own memos only).
- ``app_change_s``: a full rerun of the page (Streamlit's ``AppTest``) after policy B is
  switched to P, P's side not yet in the page's cache (A's is): median of ``--repeats``.
- ``app_cached_s``: the same switch when P's side is already cached: median.
- ``app_economy_change_s``: a rerun after a change of the economy (eta), which
  recomputes both sides: median.

Target (issue 7): the page answers a change in under one second with 1,000 workers.

Usage: ``python benchmarks/app_economy_latency.py [--quick] [--workers 1000] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PAGE = Path(__file__).resolve().parents[1] / "app" / "pages" / "1_Economy.py"
LIMIT_S = 1.0
#: Page labels and registry names of the planner policies.
POLICIES = {"Free market": "free_market", "US federal": "us_federal", "Saez": "saez",
            "Fixed rates": "fixed_rates", "Learned checkpoint": "checkpoint",
            "Search optimum": "search_optimum"}


def side_scenario(policy: dict, *, workers: int, eta: float = 0.0) -> dict:
    """The scenario the Economy page evaluates for one side, at its default settings."""
    return {"name": "economy_page",
            "world": {"name": "onestep_economy",
                      "params": {"num_workers": workers, "skill_source": "foundation",
                                 "utility": {"form": "isoelastic", "eta": eta, "kappa": 0.015,
                                             "delta": 2.0},
                                 "planner_objective": "inverse_income_weighted_utility"}},
            "roles": {"workers": {"policy": "best_response"}, "planner": policy},
            "evaluation": {"episodes": 1, "seeds": [0], "deterministic": True}}


def untrained_planner(folder: Path, workers: int) -> Path:
    """A planner checkpoint of the right shape (an untrained network: same cost to run)."""
    from sandbox.policies import NeuralPolicy
    from sandbox.scenario import build_world, parse_scenario

    spec = parse_scenario(side_scenario({"policy": "saez"}, workers=workers))
    world = build_world(spec.world, seed=0)
    path = folder / "planner.pt"
    NeuralPolicy(world.roles["planner"], seed=0).save(path)
    return path


def library_times(entry: dict, workers: int) -> tuple[float, float]:
    from sandbox.scenario import evaluate, parse_scenario

    times = []
    for _ in range(2):
        start = time.perf_counter()
        (result,) = evaluate(parse_scenario(side_scenario(entry, workers=workers)))
        times.append(time.perf_counter() - start)
        assert result.status == "ok", result.error
    return times[0], times[1]


def timed_run(app) -> float:
    start = time.perf_counter()
    app.run()
    seconds = time.perf_counter() - start
    assert not app.exception, app.exception
    assert not app.error, [e.value for e in app.error]
    return seconds


def app_times(label: str, checkpoint: Path, *, workers: int, repeats: int) -> dict:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    other = "Saez" if label != "Saez" else "Free market"

    def choose(app) -> None:
        """Select ``label`` for policy B (and the checkpoint file), ready for a timed run."""
        app.selectbox(key="policy_b").select(label)
        if label == "Learned checkpoint":
            app.run()
            app.selectbox(key="policy_b_checkpoint").select("another file...").run()
            app.text_input(key="policy_b_path").input(str(checkpoint))

    change, cached, economy = [], [], []
    for _ in range(repeats):
        st.cache_data.clear()
        app = AppTest.from_file(str(PAGE), default_timeout=600)
        app.run()
        app.slider(key="workers").set_value(workers)
        app.selectbox(key="policy_b").select(other).run()
        choose(app)
        change.append(timed_run(app))
        app.selectbox(key="policy_b").select(other).run()
        choose(app)
        cached.append(timed_run(app))
        app.slider(key="eta").set_value(0.05)
        economy.append(timed_run(app))
    return {"app_change_s": round(statistics.median(change), 3),
            "app_cached_s": round(statistics.median(cached), 3),
            "app_economy_change_s": round(statistics.median(economy), 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="one repeat, without the search optimum (its first search is long)")
    parser.add_argument("--workers", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    repeats = 1 if args.quick else args.repeats
    labels = [k for k in POLICIES if not (args.quick and POLICIES[k] == "search_optimum")]
    from sandbox.scenario import evaluate, parse_scenario

    # warm-up: one-time imports and caches that any first computation pays
    evaluate(parse_scenario(side_scenario({"policy": "saez"}, workers=args.workers, eta=0.5)))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = untrained_planner(Path(tmp), args.workers)
        for label in labels:
            name = POLICIES[label]
            entry = {"policy": name, "label": f"B: {label}"}
            if name == "fixed_rates":
                entry["params"] = {"rates": [0.2] * 7}
            if name == "checkpoint":
                entry["params"] = {"path": str(checkpoint)}
            cold, repeat = library_times(entry, args.workers)
            results[name] = {"library_cold_s": round(cold, 3),
                             "library_repeat_s": round(repeat, 3),
                             **app_times(label, checkpoint, workers=args.workers,
                                         repeats=repeats)}
    worst = max(r["app_change_s"] for r in results.values())
    print(json.dumps({"workers": args.workers, "repeats": repeats, "policies": results,
                      "limit_s": LIMIT_S, "worst_app_change_s": worst,
                      "within_limit": worst < LIMIT_S}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
