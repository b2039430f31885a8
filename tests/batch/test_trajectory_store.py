"""The store keeps a run's recorded episode next to its Parquet file."""

import os

import numpy as np
import pyarrow.parquet as pq

from sandbox.batch.store import (
    TMP_SUFFIX,
    TRAJECTORIES_DIR,
    clean_temporary,
    trajectory_path,
    write_run,
)
from sandbox.scenario.run import RunPlan, RunResult


def result(run_id: str, trajectory=None) -> RunResult:
    plan = RunPlan("demo", "abc", "free market", 0, {"roles": {}}, run_id)
    return RunResult(plan=plan, metrics={"productivity": 1.0}, trajectory=trajectory)


def test_a_recorded_episode_is_written_beside_the_run_and_named_in_its_row(tmp_path):
    arrays = {"position": np.arange(12, dtype=np.int16).reshape(3, 2, 2),
              "format": np.array("demo"), "rates": np.full((2, 3), 0.25, np.float32)}
    path = write_run(tmp_path, result("r1", arrays))
    row = pq.read_table(path).to_pylist()[0]
    assert row["trajectory"] == f"{TRAJECTORIES_DIR}/r1.npz"
    stored = trajectory_path(tmp_path, "r1")
    assert stored == tmp_path / row["trajectory"]
    with np.load(stored, allow_pickle=False) as data:
        assert sorted(data.files) == sorted(arrays)
        for key, value in arrays.items():
            assert np.array_equal(data[key], value) and data[key].dtype == value.dtype
    assert not list((tmp_path / TRAJECTORIES_DIR).glob(f"*{TMP_SUFFIX}"))


def test_runs_without_an_episode_have_no_file_and_no_column(tmp_path):
    path = write_run(tmp_path, result("r2"))
    assert "trajectory" not in pq.read_schema(path).names
    assert not (tmp_path / TRAJECTORIES_DIR).exists()


def test_a_killed_writers_episode_file_is_cleaned(tmp_path):
    folder = tmp_path / TRAJECTORIES_DIR
    folder.mkdir()
    (tmp_path / "runs").mkdir()
    dead = folder / f"r3.npz.999999999{TMP_SUFFIX}"
    live = folder / f"r4.npz.{os.getpid()}{TMP_SUFFIX}"
    dead.write_bytes(b"half")
    live.write_bytes(b"being written")
    assert clean_temporary(tmp_path) == 1
    assert not dead.exists() and live.exists()
