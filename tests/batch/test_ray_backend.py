"""The Ray backend on a real local Ray instance (one for the whole module: Ray starts slowly)."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from sandbox.batch.runner import BatchOptions, run_batch
from sandbox.batch.store import prepare_folder, query
from sandbox.cli import main
from sandbox.scenario import parse_scenario, plan_runs
from tests.batch.conftest import ECONOMY, SQL

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray instance with 2 CPUs; yields its address (host:port)."""
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR")
    yield ray.get_runtime_context().gcs_address
    if started:
        ray.shutdown()


def write(tmp_path, data):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_ray_and_local_backends_give_the_same_table(ray_cluster, one_worker_table, tmp_path):
    scenario = write(tmp_path, ECONOMY)
    assert main(["batch", str(scenario), "--out", str(tmp_path / "ray"),
                 "--backend", "ray"]) == 0
    on_ray = query(tmp_path / "ray", SQL).to_pylist()
    assert on_ray == one_worker_table and len(on_ray) == 12


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children...)."""
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    children = [int(p) for p in out.split()]
    return children + [d for c in children for d in descendants(c)]


def running_tasks() -> list[int]:
    """Ray worker processes of this test process that are running a batch task now."""
    found = []
    for pid in descendants(os.getpid()):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if title.startswith(b"ray::run_chunk"):
            found.append(pid)
    return found


def test_a_killed_ray_worker_is_retried_and_every_run_finishes_once(ray_cluster, tmp_path):
    data = {**ECONOMY, "sweep": {"parameters": {
        "world.params.utility.kappa": {"min": 0.01, "max": 0.03, "steps": 10}}}}
    data["evaluation"] = {**data["evaluation"], "episodes": 100}  # runs long enough to kill
    spec = parse_scenario(data)
    plans, out = plan_runs(spec), tmp_path / "results"
    prepare_folder(out, scenario_hash=spec.content_hash(), spec_json=spec.model_dump())
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.update(counts=run_batch(
        plans, out, options=BatchOptions(backend="ray", chunk_size=5))))
    thread.start()
    deadline, killed = time.time() + 120, None
    while killed is None and time.time() < deadline and thread.is_alive():
        tasks = running_tasks()
        if tasks:
            killed = tasks[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    thread.join(timeout=300)
    assert killed is not None, "no running Ray task was found to kill"
    counts = outcome["counts"]
    assert counts.retried >= 1 and counts.failed == 0 and counts.done == len(plans)
    table = query(out, "SELECT count(*) AS n, count(DISTINCT run_id) AS ids, "
                       "count(*) FILTER (WHERE status = 'ok') AS ok FROM runs")
    assert table.to_pylist() == [{"n": len(plans), "ids": len(plans), "ok": len(plans)}]


@pytest.mark.slow
def test_the_command_joins_a_running_cluster_by_address(ray_cluster, tmp_path):
    scenario = write(tmp_path, ECONOMY)
    command = [sys.executable, "-m", "sandbox.cli", "batch", str(scenario), "--out",
               str(tmp_path / "r"), "--backend", "ray", "--address", ray_cluster]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert query(tmp_path / "r", "SELECT count(*) AS n FROM runs").to_pylist() == [{"n": 12}]
