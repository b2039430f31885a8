"""A batch stopped in every way a batch stops, then started again, finishes every run once.

Real processes: the ``sandbox batch`` command in a subprocess loses a worker process
(SIGKILL) and carries on, is stopped by Ctrl-C (SIGINT), started again and stopped by
SIGKILL of the driver, then started once more. Every planned run ends up on disk once.
"""

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
    "world": {"name": "onestep_economy", "params": {"num_workers": 30}},
    "roles": {"workers": {"policy": "best_response"},
              "planner": [{"policy": "free_market"}, {"policy": "us_federal"}]},
    "evaluation": {"episodes": 60, "seeds": [0, 1]},  # about 0.1 s a run: stops land mid-batch
    "sweep": {"design": "grid", "parameters": {
        "world.params.utility.kappa": {"min": 0.01, "max": 0.03, "steps": 8}}},
}
TOTAL = 8 * 2 * 2


#: Runs ``sandbox batch`` with Ctrl-C turned into KeyboardInterrupt even where the suite was
#: started in the background (a shell without job control starts background commands with
#: SIGINT ignored, and Python then leaves it ignored).
CLI_WITH_CTRL_C = ("import runpy, signal, sys; "
                   "signal.signal(signal.SIGINT, signal.default_int_handler); "
                   "sys.argv = ['sandbox'] + sys.argv[1:]; "
                   "runpy.run_module('sandbox.cli', run_name='__main__')")


def start(scenario: Path, out: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-c", CLI_WITH_CTRL_C, "batch", str(scenario), "--out",
               str(out), "--chunk-size", "4", *extra]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def wait_until(condition, process, what: str, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        if process.poll() is not None:
            pytest.fail(f"the batch ended (status {process.returncode}) before {what}: "
                        f"{process.stderr.read()[-2000:]}")
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def worker_pids(driver: int) -> list[int]:
    """Worker processes of a driver: children of its fork server."""
    pids = []
    for child in _children(driver):
        pids.extend(_children(child))
    return pids


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def assert_every_run_once(out: Path, expected: set[str]) -> None:
    rows = [r for p in (out / "runs").glob("*.parquet") for r in pq.read_table(p).to_pylist()]
    ids = [r["run_id"] for r in rows]
    assert len(ids) == len(set(ids)) == len(expected)
    assert set(ids) == expected
    assert {r["status"] for r in rows} == {"ok"}
    table = query(out, "SELECT count(*) AS n, count(DISTINCT run_id) AS ids FROM runs")
    assert table.to_pylist() == [{"n": len(expected), "ids": len(expected)}]


def test_a_killed_worker_then_ctrl_c_then_sigkill_and_every_run_is_finished_once(tmp_path):
    scenario = tmp_path / "study.yaml"
    scenario.write_text(yaml.safe_dump(SCENARIO))
    expected = {p.run_id for p in plan_runs(parse_scenario(SCENARIO))}
    out = tmp_path / "results"
    done = lambda: len(finished_run_ids(out))  # noqa: E731

    # 1. a worker killed mid-batch is replaced and its runs retried; the batch goes on
    first = start(scenario, out, "--workers", "2")
    wait_until(lambda: done() >= 2 and len(worker_pids(first.pid)) == 2, first, "2 runs")
    victim = worker_pids(first.pid)[0]
    os.kill(victim, signal.SIGKILL)
    after_death = done()
    wait_until(lambda: done() >= after_death + 4, first, "4 runs after the kill")
    assert victim not in worker_pids(first.pid)

    # 2. Ctrl-C: the driver stops its workers, keeps what finished, exits 130
    workers = worker_pids(first.pid)
    first.send_signal(signal.SIGINT)
    assert first.wait(timeout=60) == 130
    assert "run the same command again" in first.stderr.read()
    assert not any(alive(pid) for pid in workers)
    after_interrupt = done()
    assert after_interrupt < TOTAL

    # a half-written file, as a run killed mid-write leaves, is ignored and redone
    half = out / "runs" / f"{sorted(expected - finished_run_ids(out))[0]}.parquet.99999.tmp"
    half.write_bytes(b"PAR1 half a Parquet file")

    # 3. SIGKILL of the driver: its workers and their fork server end with it
    second = start(scenario, out, "--workers", "2")
    wait_until(lambda: done() >= after_interrupt + 4 and worker_pids(second.pid), second,
               "4 more runs")
    descendants = _children(second.pid) + worker_pids(second.pid)  # fork server, workers
    second.kill()
    second.wait(timeout=30)
    deadline = time.time() + 15
    while any(alive(pid) for pid in descendants) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in descendants), "processes outlived the driver"
    assert done() < TOTAL

    # 4. the same command once more finishes the rest: every run on disk exactly once
    assert main(["batch", str(scenario), "--out", str(out), "--chunk-size", "4"]) == 0
    assert_every_run_once(out, expected)
    assert not half.exists()
