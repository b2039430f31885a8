"""The results store: one Parquet file per run in ``<folder>/runs/``, read with DuckDB.

Each run is written atomically (temporary file, fsync, rename, fsync of the folder), so
a reader never sees half a run and a killed writer leaves only a ``*.tmp`` file that
is ignored and overwritten when the run is redone. The folder also holds
``scenario.json``: for each scenario whose runs it stores, the spec and its hash.

A run's row: ``run_id``, ``scenario``, ``scenario_hash``, ``variant``, ``seed``,
``status`` (``ok`` or ``failed``), ``error``, ``traceback``, ``started_at``,
``duration_s``, ``steps``, one ``policy.<role>`` column per role, one column per
metric (the mean over recorded episodes), one ``param.<path>`` column per swept
parameter, ``episodes`` (a list of per-episode metric structs), ``table.<name>``
structs of lists (e.g. every worker's income), ``config`` and ``versions`` (JSON) and
``checkpoint`` (path of a learned policy's checkpoint, or empty).

Runs of worlds that record an episode (Gather-Trade-Build: ``RunResult.trajectory``)
also have ``trajectories/<run_id>.npz``, a compressed numpy archive of named arrays
(the layout is the world's: ``sandbox/worlds/economy/gtb/trajectory.py``), written
atomically before the run's Parquet file; the row's ``trajectory`` column holds its
path relative to the folder.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sandbox.core.errors import ConfigError, SandboxError
from sandbox.scenario.run import RunResult

RUNS_DIR = "runs"
#: Folder of the runs' recorded episodes (``<run_id>.npz``).
TRAJECTORIES_DIR = "trajectories"
MANIFEST = "scenario.json"
#: Suffix of files being written (a killed writer leaves one behind; it is ignored).
TMP_SUFFIX = ".tmp"
#: Columns too heavy for a one-row-per-run listing.
HEAVY_COLUMNS = ("episodes", "config", "versions", "traceback")
HEAVY_PREFIXES = ("table.",)


def run_row(result: RunResult) -> dict[str, Any]:
    """The Parquet row of a run result (plain Python values)."""
    plan = result.plan
    row: dict[str, Any] = {
        "run_id": plan.run_id, "scenario": plan.scenario, "scenario_hash": plan.scenario_hash,
        "variant": plan.variant, "seed": plan.seed, "status": result.status,
        "error": result.error, "traceback": result.traceback,
        "started_at": result.started_at, "duration_s": result.duration_s,
        "steps": result.steps, "checkpoint": plan.config.get("checkpoint", ""),
    }
    for role, pconf in plan.config.get("roles", {}).items():
        row[f"policy.{role}"] = pconf["label"]
    for path, value in plan.config.get("sweep_point", {}).items():
        row[f"param.{path}"] = value
    row.update({name: float(value) for name, value in result.metrics.items()})
    if result.episodes:
        row["episodes"] = result.episodes
    for name, columns in result.tables.items():
        row[f"table.{name}"] = columns
    if result.trajectory is not None:
        row["trajectory"] = f"{TRAJECTORIES_DIR}/{plan.run_id}.npz"
    row["config"] = json.dumps(plan.config, sort_keys=True)
    row["versions"] = json.dumps(result.versions, sort_keys=True)
    return row


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_manifest(folder: str | Path) -> dict[str, dict]:
    """The scenarios whose runs a folder holds: name -> ``{"scenario_hash", "spec"}``."""
    manifest = Path(folder) / MANIFEST
    if not manifest.exists():
        return {}
    try:
        return json.loads(manifest.read_text()).get("scenarios", {})
    except (json.JSONDecodeError, AttributeError):
        raise SandboxError(f"{manifest}: not a results manifest (corrupt JSON); move it "
                           "aside to start a new folder") from None


def check_version(folder: str | Path, *, name: str, scenario_hash: str,
                  force_new: bool = False) -> None:
    """Refuse a folder holding runs of another version of scenario ``name`` (writes nothing).

    Raises:
        ConfigError: naming ``--out``, both hashes and ``--force-new`` (unless
            ``force_new``).
    """
    existing = read_manifest(folder).get(name)
    if existing and existing.get("scenario_hash") != scenario_hash and not force_new:
        raise ConfigError(
            "--out", str(folder),
            f"a results folder for this scenario version: it holds runs of scenario "
            f"{name!r} with hash {existing.get('scenario_hash')}, this file's hash is "
            f"{scenario_hash}; use another folder or --force-new")


def prepare_folder(folder: str | Path, *, scenario_hash: str, spec_json: dict, force_new=False):
    """Create (or check) a results folder for a scenario.

    A folder may hold several scenarios; for each it records the spec and its hash.

    Raises:
        ConfigError: the folder cannot be written, or it holds runs of a different version
            of the same scenario (unless ``force_new``, which records the new version).
    """
    folder = Path(folder)
    try:
        (folder / RUNS_DIR).mkdir(parents=True, exist_ok=True)
        probe = folder / RUNS_DIR / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError("--out", str(folder),
                          f"a folder this user can write ({exc.strerror or exc})") from None
    name = spec_json.get("name")
    check_version(folder, name=name, scenario_hash=scenario_hash, force_new=force_new)
    scenarios = read_manifest(folder)
    scenarios[name] = {"scenario_hash": scenario_hash, "spec": spec_json}
    write_atomic(folder / MANIFEST,
                 json.dumps({"scenarios": scenarios}, indent=2, sort_keys=True).encode())
    return folder


def write_atomic(path: Path, data: bytes, *, sync_dir: bool = True) -> None:
    """Write ``data`` to ``path`` so that readers see either nothing or all of it.

    Args:
        path: the final file name.
        data: the whole content.
        sync_dir: also fsync the folder, so the rename itself survives a power cut (a
            batch worker syncs once per chunk instead; a run whose rename was lost is
            simply redone).
    """
    tmp = path.with_name(path.name + f".{os.getpid()}{TMP_SUFFIX}")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    if sync_dir:
        _fsync_dir(path.parent)


def run_path(folder: str | Path, run_id: str) -> Path:
    """Where the Parquet file of run ``run_id`` lives in ``folder``."""
    return Path(folder) / RUNS_DIR / f"{run_id}.parquet"


def trajectory_path(folder: str | Path, run_id: str) -> Path:
    """Where the recorded episode of run ``run_id`` lives in ``folder``."""
    return Path(folder) / TRAJECTORIES_DIR / f"{run_id}.npz"


def write_run(folder: str | Path, result: RunResult, *, sync_dir: bool = True) -> Path:
    """Write one run's Parquet file atomically; returns its path.

    Args:
        folder: the results folder.
        result: the run's result.
        sync_dir: fsync the ``runs`` folder after the rename (see :func:`write_atomic`).
    """
    path = run_path(folder, result.plan.run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    if result.trajectory is not None:  # first: a run on disk always has its episode
        episode = trajectory_path(folder, result.plan.run_id)
        episode.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **result.trajectory)
        write_atomic(episode, buffer.getvalue(), sync_dir=sync_dir)
    table = pa.Table.from_pylist([run_row(result)])
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    write_atomic(path, sink.getvalue().to_pybytes(), sync_dir=sync_dir)
    return path


def sync_runs(folder: str | Path) -> None:
    """Flush the ``runs`` folder to disk (after writes made with ``sync_dir=False``)."""
    _fsync_dir(Path(folder) / RUNS_DIR)


def clean_temporary(folder: str | Path) -> int:
    """Remove the ``*.tmp`` files killed writers left behind; returns how many.

    Looks in ``runs/`` and ``trajectories/``. A file whose writer (the process id in its
    name) still runs on this machine is kept.
    """
    removed = 0
    folder = Path(folder)
    for path in [*(folder / RUNS_DIR).glob(f"*{TMP_SUFFIX}"),
                 *(folder / TRAJECTORIES_DIR).glob(f"*{TMP_SUFFIX}")]:
        pid = path.name.removesuffix(TMP_SUFFIX).rpartition(".")[2]
        if pid.isdigit() and _alive(int(pid)):
            continue
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def run_status(folder: str | Path, run_id: str) -> str | None:
    """The recorded status (``ok`` / ``failed``) of a finished run, None if not finished."""
    path = run_path(folder, run_id)
    if not path.exists():
        return None
    return pq.read_table(path, columns=["status"]).column(0)[0].as_py()


def failed_run_ids(folder: str | Path) -> set[str]:
    """Ids of the finished runs of ``folder`` whose status is ``failed``."""
    if not finished_run_ids(folder):
        return set()
    con = duckdb.connect()
    rows = con.execute(f"SELECT run_id FROM read_parquet('{_glob(Path(folder))}', "
                       "union_by_name = true) WHERE status <> 'ok'").fetchall()
    return {row[0] for row in rows}


def finished_run_ids(folder: str | Path) -> set[str]:
    """Ids of the runs whose files are complete in ``folder`` (temporary files ignored)."""
    runs = Path(folder) / RUNS_DIR
    if not runs.is_dir():
        return set()
    return {p.stem for p in runs.glob("*.parquet")}


def _glob(folder: Path) -> str:
    return str(folder / RUNS_DIR / "*.parquet").replace("'", "''")


def connect(folder: str | Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with a view ``runs`` over every run of ``folder``.

    Raises:
        SandboxError: the folder holds no finished runs.
    """
    folder = Path(folder)
    if not finished_run_ids(folder):
        raise SandboxError(f"{folder}: no results here (expected {RUNS_DIR}/*.parquet files "
                           "written by 'sandbox run' or 'sandbox batch')")
    con = duckdb.connect()
    con.execute(f"CREATE VIEW runs AS SELECT * FROM read_parquet('{_glob(folder)}', "
                "union_by_name = true)")
    return con


def light_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Columns of ``runs`` worth showing one row per run (no lists, JSON or tracebacks)."""
    names = [row[0] for row in con.execute("DESCRIBE runs").fetchall()]
    return [n for n in names if n not in HEAVY_COLUMNS and not n.startswith(HEAVY_PREFIXES)]


def query(folder: str | Path, sql: str | None = None) -> pa.Table:
    """Run ``sql`` against the view ``runs`` (default: one light row per run).

    Raises:
        SandboxError: no results, or the query failed (DuckDB's message is kept).
    """
    con = connect(folder)
    if sql is None:
        cols = ", ".join(f'"{c}"' for c in light_columns(con))
        sql = f"SELECT {cols} FROM runs ORDER BY scenario, variant, seed, run_id"
    try:
        return con.sql(sql).to_arrow_table()
    except duckdb.Error as exc:
        raise SandboxError(f"the query failed: {exc}") from None
