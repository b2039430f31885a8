"""The same sweep gives the same results table with every backend and worker count."""

import pytest

from sandbox.batch.runner import BatchOptions, run_batch
from sandbox.batch.store import prepare_folder, query
from sandbox.scenario import parse_scenario, plan_runs

SCENARIO = {
    "name": "backend_study",
    "world": {"name": "onestep_economy", "params": {"num_workers": 20}},
    "roles": {"workers": {"policy": "best_response"},
              "planner": [{"policy": "free_market"}, {"policy": "us_federal"}]},
    "evaluation": {"episodes": 1, "seeds": [0, 1]},
    "sweep": {"design": "latin_hypercube", "samples": 4, "seed": 1,
              "parameters": {"world.params.utility.kappa": {"min": 0.01, "max": 0.03}}},
}
SQL = ("SELECT run_id, variant, seed, status, productivity, equality, revenue "
       "FROM runs ORDER BY run_id")


def run_into(folder, options):
    spec = parse_scenario(SCENARIO)
    prepare_folder(folder, scenario_hash=spec.content_hash(),
                   spec_json=spec.model_dump(mode="json"))
    counts = run_batch(plan_runs(spec), folder, options=options)
    assert counts.done == 16 and counts.failed == 0
    return query(folder, SQL).to_pylist()


def test_one_and_two_local_workers_agree(tmp_path):
    one = run_into(tmp_path / "one", BatchOptions(workers=1, chunk_size=3))
    two = run_into(tmp_path / "two", BatchOptions(workers=2))
    assert one == two


def test_ray_backend_agrees_with_local(tmp_path):
    pytest.importorskip("ray")
    local = run_into(tmp_path / "local", BatchOptions(workers=1))
    ray_rows = run_into(tmp_path / "ray", BatchOptions(backend="ray", workers=2))
    assert ray_rows == local


def test_finished_runs_are_skipped(tmp_path):
    run_into(tmp_path / "r", BatchOptions(workers=1))
    spec = parse_scenario(SCENARIO)
    counts = run_batch(plan_runs(spec), tmp_path / "r", options=BatchOptions(workers=1))
    assert counts.skipped == 16 and counts.done == 0
