"""Synthetic results folders for report tests and the report benchmark.

Runs are written through the real results store (``sandbox.batch.store.write_run``)
from ``RunPlan``/``RunResult`` objects, so the report reads exactly what ``sandbox run``
and ``sandbox batch`` write. Metric values are known functions of the policy, the
sweep point and a seeded noise term, so tests can state what the report must find.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sandbox.batch.store import prepare_folder, run_path, run_row, write_run
from sandbox.scenario.run import RunPlan, RunResult

#: Synthetic planner policies: (label, registered name, mean productivity, mean equality,
#: flat tax rate of its schedule).
POLICIES = (
    ("Free market", "free_market", 9400.0, 0.62, 0.0),
    ("US federal", "us_federal", 7200.0, 0.70, 0.15),
    ("Saez", "saez", 7050.0, 0.72, 0.30),
    ("Search optimum", "search_optimum", 7040.0, 0.725, 0.32),
)
METRICS = ("productivity", "equality", "inverse_income_weighted_utility", "mean_hours")
VERSIONS = {"python": "3.11.7", "git_commit": "0123456789abcdef0123456789abcdef01234567",
            "policy-sandbox": "0.1.0", "torch": "2.13.0+cpu", "numpy": "2.4.6"}
ELASTICITY = "world.params.utility.elasticity"
KAPPA = "world.params.utility.kappa"
QUESTION = "Which income-tax schedule maximises welfare when workers choose their hours?"


def scenario_spec(name: str, labels, sweep: dict | None) -> dict:
    """A scenario spec (as ``scenario.json`` holds it) comparing ``labels``."""
    by_label = {p[0]: p for p in POLICIES}
    return {
        "name": name, "question": QUESTION, "description": "Synthetic results.",
        "world": {"name": "onestep_economy", "params": {"num_workers": 8},
                  "num_envs": 1, "device": "cpu"},
        "roles": {"workers": {"policy": "best_response", "label": None, "params": {}},
                  "planner": [{"policy": by_label[lab][1], "label": lab, "params": {}}
                              for lab in labels]},
        "evaluation": {"episodes": 1, "seeds": [0], "deterministic": True,
                       "max_steps": 1000000},
        "sweep": sweep, "train": None,
    }


def _tables(rng, rate: float, workers: int) -> dict:
    skill = np.sort(rng.pareto(4.0, workers) + 1.0) * 10.0
    hours = np.clip(40.0 * (1.0 - rate) + rng.normal(0.0, 2.0, workers), 0.0, 100.0)
    income = skill * hours
    tax = rate * income
    consumption = income - tax + tax.mean()
    utility = consumption - 0.015 * hours ** 2
    agents = {"skill": skill, "hours": hours, "income": income, "tax": tax,
              "consumption": consumption, "utility": utility,
              "marginal_rate": np.full(workers, rate)}
    schedule = {"cutoff": [0.0, 9.7, 39.5, 84.2, 160.7, 204.1, 510.3],
                "rate": [rate * f for f in (0.6, 0.8, 1.0, 1.1, 1.2, 1.3, 1.4)]}
    return {"agents": {k: [float(x) for x in v] for k, v in agents.items()},
            "schedule": schedule}


def _metrics(rng, policy, point: dict, noise: float) -> dict[str, float]:
    _, _, productivity, equality, rate = policy
    elasticity = point.get(ELASTICITY, 0.5)
    kappa = point.get(KAPPA, 0.015)
    productivity = productivity * (1.5 - elasticity) + 1000.0 * kappa
    equality = equality - 2.0 * kappa + 0.01 * elasticity
    return {
        "productivity": productivity + noise * 80.0 * rng.normal(),
        "equality": equality + noise * 0.01 * rng.normal(),
        "inverse_income_weighted_utility": 30.0 + 20.0 * rate + noise * 0.3 * rng.normal(),
        "mean_hours": 40.0 * (1.0 - rate) + noise * 0.2 * rng.normal(),
    }


def _training(rng, updates: int = 50) -> dict[str, list[float]]:
    steps = [float(1000 * (u + 1)) for u in range(updates)]
    welfare = [30.0 + 6.0 * (1.0 - np.exp(-u / 10.0)) + 0.2 * rng.normal() for u in range(updates)]
    loss = [float(np.exp(-u / 15.0)) for u in range(updates)]
    return {"env_steps": steps, "welfare": welfare, "policy_loss": loss}


def _result(name, spec_hash, policy, seed, point, rng, *, noise, workers, tables, failed,
            training=False):
    label = policy[0]
    config = {"scenario": name,
              "world": {"name": "onestep_economy", "params": {"num_workers": workers},
                        "num_envs": 1, "device": "cpu"},
              "roles": {"planner": {"policy": policy[1], "label": label, "params": {}},
                        "workers": {"policy": "best_response", "label": "best_response",
                                    "params": {}}},
              "evaluation": {"episodes": 1, "deterministic": True, "max_steps": 1000000},
              "sweep_point": dict(point), "seed": int(seed)}
    text = json.dumps(config, sort_keys=True)
    run_id = hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
    plan = RunPlan(name, spec_hash, label, int(seed), config, run_id)
    result = RunResult(plan=plan, started_at=1.7e9 + seed, duration_s=0.01, steps=2,
                       versions=dict(VERSIONS))
    if failed:
        result.status = "failed"
        result.error = f"RuntimeError: synthetic failure of {label}, seed {seed}"
        result.traceback = "Traceback (most recent call last):\nRuntimeError: synthetic"
        return result
    result.metrics = _metrics(rng, policy, point, noise)
    result.episodes = [{"env": 0, "episode": 0, **result.metrics}]
    if tables:
        result.tables = _tables(rng, policy[4], workers)
    if training:
        result.tables["training"] = _training(rng)
    return result


def write_folder(folder, *, name: str = "synthetic", labels=None, seeds=(0, 1, 2),
                 points: list[dict] | None = None, sweep: dict | None = None,
                 noise: float = 1.0, workers: int = 8, tables: bool = True,
                 fail=lambda label, seed: False, manifest: bool = True,
                 seed: int = 0, durable: bool = True, training=lambda label: False) -> Path:
    """Write a synthetic results folder; returns it.

    Args:
        folder: the results folder to create.
        name: scenario name.
        labels: planner policies compared (labels of ``POLICIES``; default all).
        seeds: seeds per (policy, sweep point).
        points: sweep points (``{"world.<path>": value}``); None for no sweep.
        sweep: the scenario's ``sweep`` section recorded in ``scenario.json``.
        noise: scale of the seed-to-seed noise (0 gives identical seeds).
        workers: rows of each run's ``table.agents``.
        tables: write ``table.agents`` and ``table.schedule``.
        fail: ``fail(label, seed)`` says which runs fail.
        manifest: write ``scenario.json``.
        seed: seed of the generator of synthetic values.
        durable: write through ``write_run`` (atomic, fsynced); False writes the same
            row with plain ``pyarrow`` (for benchmarks that need 10,000 runs quickly).
        training: ``training(label)`` says which policies' runs hold a training log
            (``table.training``: env_steps, welfare, policy_loss per update).
    """
    labels = list(labels or [p[0] for p in POLICIES])
    spec = scenario_spec(name, labels, sweep)
    spec_hash = hashlib.blake2b(json.dumps(spec, sort_keys=True).encode(),
                                digest_size=8).hexdigest()
    if manifest:
        prepare_folder(folder, scenario_hash=spec_hash, spec_json=spec, force_new=True)
    rng = np.random.default_rng(seed)
    by_label = {p[0]: p for p in POLICIES}
    for label in labels:
        for point in points or [{}]:
            for s in seeds:
                result = _result(name, spec_hash, by_label[label], s, point, rng, noise=noise,
                                 workers=workers, tables=tables, failed=fail(label, s),
                                 training=training(label))
                if durable:
                    write_run(folder, result)
                else:
                    path = run_path(folder, result.plan.run_id)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    pq.write_table(pa.Table.from_pylist([run_row(result)]), path)
    return Path(folder)


def sweep_points(design: str, samples: int, *, seed: int = 0) -> tuple[list[dict], dict]:
    """Points of a two-parameter sweep (elasticity, kappa) and its ``sweep`` section."""
    from sandbox.scenario.sweep import SweepSpec

    section = {"design": design, "samples": samples, "seed": seed,
               "parameters": {ELASTICITY: {"min": 0.2, "max": 0.8},
                              KAPPA: {"min": 0.005, "max": 0.03}}}
    if design == "grid":  # a grid's size is its axes': ``samples`` steps of elasticity
        del section["samples"]
        section["parameters"] = {ELASTICITY: {"min": 0.2, "max": 0.8, "steps": samples},
                                 KAPPA: {"values": [0.01, 0.02]}}
    return SweepSpec.model_validate(section).points(), section
