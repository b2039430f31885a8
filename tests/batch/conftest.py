"""Shared batch fixtures: a small economy sweep and its results table from a local batch."""

import pytest
import yaml

from sandbox.batch.store import query
from sandbox.cli import main

#: 3 Latin-hypercube points x 2 planners x 2 seeds = 12 small runs of the one-step economy.
ECONOMY = {
    "name": "economy_study",
    "world": {"name": "onestep_economy", "params": {"num_workers": 10}},
    "roles": {"workers": {"policy": "best_response"},
              "planner": [{"policy": "free_market"}, {"policy": "us_federal"}]},
    "evaluation": {"episodes": 1, "seeds": [0, 1], "deterministic": True},
    "sweep": {"design": "latin_hypercube", "samples": 3, "seed": 1,
              "parameters": {"world.params.utility.kappa": {"min": 0.01, "max": 0.03}}},
}
#: The results table compared across backends and worker counts (timings left out).
SQL = ("SELECT run_id, variant, seed, status, \"param.world.params.utility.kappa\" AS kappa, "
       "productivity, equality, revenue FROM runs ORDER BY run_id")


def write_scenario(path, data):
    """Write a scenario mapping as YAML; returns the path."""
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="session")
def one_worker_table(tmp_path_factory):
    """The ECONOMY sweep's table from ``sandbox batch --workers 1``."""
    folder = tmp_path_factory.mktemp("one_worker")
    scenario = write_scenario(folder / "study.yaml", ECONOMY)
    assert main(["batch", str(scenario), "--out", str(folder / "out"), "--workers", "1"]) == 0
    return query(folder / "out", SQL).to_pylist()
