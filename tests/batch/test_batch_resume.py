"""Batches stopped in every way a batch stops, then started again, finish exactly once."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from sandbox.batch.store import finished_run_ids, query
from sandbox.cli import main
from sandbox.scenario import parse_scenario, plan_runs

SCENARIO = {
    "name": "resume_study",
    "world": {"name": "onestep_economy", "params": {"num_workers": 50}},
    "roles": {"workers": {"policy": "best_response"},
              "planner": [{"policy": "free_market"}, {"policy": "us_federal"}]},
    "evaluation": {"episodes": 5, "seeds": [0, 1]},
    "sweep": {"design": "grid",
              "parameters": {"world.params.utility.kappa": {"min": 0.01, "max": 0.03,
                                                             "steps": 10}}},
}
TOTAL = 10 * 2 * 2


@pytest.fixture
def scenario_file(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(SCENARIO))
    return path


def batch_command(scenario, out, *extra):
    return [sys.executable, "-m", "sandbox.cli", "batch", str(scenario), "--out", str(out),
            *extra]


def wait_for_runs(out: Path, count: int, process, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len(finished_run_ids(out)) >= count:
            return
        if process.poll() is not None:
            error = process.stderr.read().decode()[-3000:] if process.stderr else ""
            pytest.fail(f"the batch ended early with status {process.returncode}: {error}")
        time.sleep(0.05)
    pytest.fail("the batch made no progress")


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def worker_processes(driver: int) -> list[int]:
    """Pool workers: children of the fork server (a child of the driver with children)."""
    for child in children_of(driver):
        grandchildren = children_of(child)
        if grandchildren:
            return grandchildren
    return []


def assert_complete_and_unique(out: Path):
    expected = {p.run_id for p in plan_runs(parse_scenario(SCENARIO))}
    rows = []
    for path in (out / "runs").glob("*.parquet"):
        rows.extend(pq.read_table(path).to_pylist())
    ids = [r["run_id"] for r in rows]
    assert len(ids) == len(set(ids)) == TOTAL
    assert set(ids) == expected
    assert all(r["status"] == "ok" for r in rows)
    table = query(out, "SELECT count(*) AS n, count(DISTINCT run_id) AS ids FROM runs")
    assert table.to_pylist() == [{"n": TOTAL, "ids": TOTAL}]


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "sigkill"])
def test_stopped_driver_then_same_command_finishes_every_run_once(stop, scenario_file,
                                                                   tmp_path):
    out = tmp_path / "results"
    process = subprocess.Popen(batch_command(scenario_file, out, "--workers", "1"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for_runs(out, 3, process)
    process.send_signal(stop)
    process.wait(timeout=60)
    time.sleep(1.0)  # orphaned workers of a killed driver finish their current run
    partial = len(finished_run_ids(out))
    assert 3 <= partial < TOTAL
    # a half-written temporary file, as a run killed mid-write leaves, is ignored
    (out / "runs" / "deadbeefdeadbeef.parquet.999.tmp").write_bytes(b"PAR1 half a file")
    again = subprocess.run(batch_command(scenario_file, out, "--workers", "2"),
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert_complete_and_unique(out)


def test_killed_worker_process_is_replaced_and_the_batch_finishes(scenario_file, tmp_path):
    out = tmp_path / "results"
    process = subprocess.Popen(batch_command(scenario_file, out, "--workers", "2"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for_runs(out, 2, process)
    workers = worker_processes(process.pid)
    assert workers, "no worker processes found"
    os.kill(workers[0], signal.SIGKILL)
    assert process.wait(timeout=300) == 0, process.stderr.read().decode()[-2000:]
    assert_complete_and_unique(out)


def test_unreachable_ray_address_fails_fast_and_writes_nothing(scenario_file, tmp_path,
                                                                capsys):
    out = tmp_path / "never"
    start = time.time()
    code = main(["batch", str(scenario_file), "--out", str(out), "--backend", "ray",
                 "--address", "127.0.0.1:9"])
    assert code == 2 and time.time() - start < 30
    assert "--address" in capsys.readouterr().err
    assert not out.exists()


def test_read_only_results_folder_is_refused(scenario_file, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["batch", str(scenario_file), "--out", str(blocker / "results")]) == 2
    assert "a folder this user can write" in capsys.readouterr().err
