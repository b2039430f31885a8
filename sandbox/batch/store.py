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
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from sandbox.core.errors import ConfigError, SandboxError
from sandbox.scenario.run import RunResult

RUNS_DIR = "runs"
MANIFEST = "scenario.json"
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
    scenarios = read_manifest(folder)
    name = spec_json.get("name")
    existing = scenarios.get(name)
    if existing and existing.get("scenario_hash") != scenario_hash and not force_new:
        raise ConfigError(
            "--out", str(folder),
            f"a results folder for this scenario version: it holds runs of scenario "
            f"{name!r} with hash {existing.get('scenario_hash')}, this file's hash is "
            f"{scenario_hash}; use another folder or --force-new")
    scenarios[name] = {"scenario_hash": scenario_hash, "spec": spec_json}
    write_atomic(folder / MANIFEST,
                 json.dumps({"scenarios": scenarios}, indent=2, sort_keys=True).encode())
    return folder


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either nothing or all of it."""
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def write_run(folder: str | Path, result: RunResult) -> Path:
    """Write one run's Parquet file atomically; returns its path."""
    runs = Path(folder) / RUNS_DIR
    runs.mkdir(parents=True, exist_ok=True)
    path = runs / f"{result.plan.run_id}.parquet"
    table = pa.Table.from_pylist([run_row(result)])
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    write_atomic(path, sink.getvalue().to_pybytes())
    return path


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
