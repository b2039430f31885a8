"""The batch driver: chunking, skipping, retries after dead workers, failures, exit codes."""

import json

import pyarrow.parquet as pq
import pytest

from sandbox.batch import runner
from sandbox.batch.runner import BatchOptions, chunked, run_batch
from sandbox.batch.store import clean_temporary, finished_run_ids, prepare_folder, query
from sandbox.batch.tasks import TaskEvent, run_plans
from sandbox.cli import main
from sandbox.core import ConfigError
from sandbox.scenario import parse_scenario, plan_runs
from tests.batch.conftest import ECONOMY, SQL, write_scenario
from tests.core import toy_registry  # noqa: F401  (registers the toy world)
from tests.scenario.test_scenario import BASE

TOY = {**BASE, "sweep": {"parameters": {"world.params.count": {"values": [1, 2, 3]}}}}


class InProcessPool:
    """A backend that runs tasks here and lets chosen runs 'kill their worker'."""

    def __init__(self, out, *, deaths):
        self.out, self.deaths, self.queue, self.closed = out, deaths, [], None

    def submit(self, key, plans):
        self.queue.append((key, plans))

    def events(self):
        while self.queue:
            key, plans = self.queue.pop(0)
            for plan in plans:
                if self.deaths.get(plan.run_id, 0) > 0:
                    self.deaths[plan.run_id] -= 1
                    yield TaskEvent(key, complete=True, lost="worker process 7 died "
                                                             "(killed by SIGKILL)")
                    break
                yield TaskEvent(key, run_plans([plan], self.out))
            else:
                yield TaskEvent(key, complete=True)

    def close(self, *, kill=False):
        self.closed = "killed" if kill else "closed"


@pytest.fixture
def toy_batch(tmp_path, monkeypatch):
    spec = parse_scenario(TOY)
    plans = plan_runs(spec)
    out = tmp_path / "results"
    prepare_folder(out, scenario_hash=spec.content_hash(), spec_json=spec.model_dump())
    pools = []

    def run(deaths=None, **options):
        def open_pool(opts, folder):
            pools.append(InProcessPool(folder, deaths=dict(deaths or {})))
            return pools[-1]

        monkeypatch.setattr(runner, "open_backend", open_pool)
        return run_batch(plans, out, options=BatchOptions(**options))

    return plans, out, run, pools


def rows(out):
    return {r["run_id"]: r for r in query(out, "SELECT * FROM runs").to_pylist()}


def test_chunks_cover_every_run_once_in_order():
    plans = plan_runs(parse_scenario(TOY))
    for options in (BatchOptions(workers=2), BatchOptions(chunk_size=5), BatchOptions()):
        chunks = chunked(plans, options)
        assert [p for c in chunks for p in c] == list(plans)
    assert [len(c) for c in chunked(plans, BatchOptions(chunk_size=5))] == [5, 5, 2]


def test_a_run_whose_worker_dies_once_is_retried_alone_and_its_chunk_mates_finish(toy_batch):
    plans, out, run, pools = toy_batch
    victim = plans[1]
    counts = run(deaths={victim.run_id: 1}, chunk_size=4)
    assert (counts.done, counts.failed, counts.retried) == (12, 0, 3)  # victim + 2 after it
    assert set(rows(out)) == {p.run_id for p in plans}
    assert all(r["status"] == "ok" for r in rows(out).values())
    assert pools[0].closed == "closed"


def test_a_run_that_always_kills_its_worker_is_recorded_failed_and_the_batch_goes_on(
        toy_batch):
    plans, out, run, _ = toy_batch
    victim = plans[0]
    counts = run(deaths={victim.run_id: 99}, chunk_size=4, retries=2)
    assert (counts.done, counts.failed) == (12, 1)
    record = rows(out)[victim.run_id]
    assert record["status"] == "failed"
    assert "killed by SIGKILL" in record["error"] and "tried 3 times" in record["error"]
    assert json.loads(record["config"]) == victim.config


def test_finished_runs_are_skipped_and_failed_ones_only_rerun_when_asked(toy_batch):
    plans, out, run, _ = toy_batch
    run(deaths={plans[0].run_id: 99}, retries=0)
    again = run()
    assert (again.skipped, again.skipped_failed, again.done) == (12, 1, 0)
    retry = run(retry_failed=True)
    assert (retry.skipped, retry.done, retry.failed) == (11, 1, 0)
    assert rows(out)[plans[0].run_id]["status"] == "ok"


def test_leftover_temporary_files_are_ignored_then_removed(toy_batch, tmp_path):
    plans, out, run, _ = toy_batch
    half = out / "runs" / f"{plans[0].run_id}.parquet.999999.tmp"
    half.write_bytes(b"PAR1 half a file")
    assert finished_run_ids(out) == set()
    counts = run()
    assert counts.done == 12 and not half.exists()
    assert clean_temporary(out) == 0
    assert pq.read_table(out / "runs" / f"{plans[0].run_id}.parquet").num_rows == 1


def test_bad_options_name_the_flag():
    with pytest.raises(ConfigError, match="--workers"):
        BatchOptions(workers=0)
    with pytest.raises(ConfigError, match="--backend"):
        BatchOptions(backend="slurm")
    with pytest.raises(ConfigError, match="--address.*--backend ray"):
        BatchOptions(address="127.0.0.1:6379")


def test_one_and_two_worker_processes_give_the_same_table(one_worker_table, tmp_path, capsys):
    scenario = write_scenario(tmp_path / "study.yaml", ECONOMY)
    out = tmp_path / "two"
    assert main(["batch", str(scenario), "--out", str(out), "--workers", "2"]) == 0
    two = query(out, SQL).to_pylist()
    assert two == one_worker_table and len(two) == 12
    assert len({r["kappa"] for r in two}) == 3
    printed = capsys.readouterr().out
    assert "economy_study" in printed and "runs/s" in printed


def test_failed_runs_are_recorded_and_counted_in_the_exit_status(tmp_path, capsys):
    # evaluation.max_steps 1 is too short for the two-step episode: those runs fail
    data = {**ECONOMY, "sweep": {"parameters": {"evaluation.max_steps": {"values": [1, 9]},
                                                 "world.params.num_workers": {"values": [4]}}}}
    scenario = write_scenario(tmp_path / "study.yaml", data)
    out = tmp_path / "results"
    assert main(["batch", str(scenario), "--out", str(out), "--workers", "1"]) == 2 + 4
    failed = query(out, "SELECT error, traceback FROM runs WHERE status = 'failed'")
    assert failed.num_rows == 4
    assert all("evaluation.max_steps" in e for e in failed.column("error").to_pylist())
    assert all("Traceback" in t for t in failed.column("traceback").to_pylist())
    assert "4 run(s) failed" in capsys.readouterr().out
    # started again, nothing is rerun and the status still says 4 failed
    assert main(["batch", str(scenario), "--out", str(out)]) == 2 + 4


def test_workers_do_not_rerun_the_drivers_main_script(tmp_path, monkeypatch):
    # A driver inside Streamlit has a page script as __main__; multiprocessing would run
    # that file again in every worker. A main script that fails when run must not matter.
    import sys
    import types

    script = tmp_path / "page.py"
    script.write_text("raise RuntimeError('the main script ran in a worker')\n")
    page = types.ModuleType("__main__")
    page.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", page)
    scenario = write_scenario(tmp_path / "study.yaml", ECONOMY)
    out = tmp_path / "out"
    assert main(["batch", str(scenario), "--out", str(out), "--workers", "1"]) == 0
    assert sys.modules["__main__"] is page
    assert query(out, "SELECT count(*) AS n FROM runs").to_pylist() == [{"n": 12}]
