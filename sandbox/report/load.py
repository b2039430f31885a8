"""Reading a results folder for a report: one light scan, then the few run files drawn.

A 10,000-run sweep is 10,000 Parquet files, and opening each one dominates the cost. So
the report reads every run once, in one DuckDB query that keeps only the light columns
(ids, status, policies, parameters, metrics, versions), and opens single run files
(their ``config`` and ``table.*`` columns) only for the few runs it draws.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow.parquet as pq

from sandbox.batch.store import HEAVY_COLUMNS, HEAVY_PREFIXES, MANIFEST, RUNS_DIR, read_manifest
from sandbox.core.errors import ConfigError, SandboxError

#: Light columns that describe a run rather than measure it.
DESCRIPTIVE = ("run_id", "scenario", "scenario_hash", "variant", "seed", "status", "error",
               "started_at", "duration_s", "steps", "checkpoint", "versions", "trajectory")
#: Heavy columns the light scan leaves out (``versions`` is kept: provenance needs it).
_SKIPPED = tuple(c for c in HEAVY_COLUMNS if c != "versions")


@dataclass
class ScenarioResults:
    """The runs of one scenario version in a results folder.

    Attributes:
        folder: the results folder.
        name: the scenario's name.
        scenario_hash: hash of the scenario spec the runs came from.
        spec: the scenario spec from ``scenario.json`` when it describes these runs.
        runs: light columns, one entry per run (numpy arrays of equal length).
        metrics: metric columns holding at least one value.
        params: swept parameter columns (``param.<path>``) holding at least one value.
        variants: the compared policy combinations, in the scenario's order.
        title: how the report names this scenario (name, plus the hash when needed).
    """

    folder: Path
    name: str
    scenario_hash: str
    spec: dict | None
    runs: dict[str, np.ndarray]
    metrics: tuple[str, ...]
    params: tuple[str, ...]
    variants: tuple[str, ...]
    title: str = ""
    _configs: dict[str, dict] = field(default_factory=dict, repr=False)

    @property
    def count(self) -> int:
        """Runs of the scenario."""
        return len(self.runs["run_id"])

    @property
    def ok(self) -> np.ndarray:
        """``[runs]`` bool: the run finished."""
        return self.runs["status"] == "ok"

    def mask(self, variant: str, *, ok: bool = True) -> np.ndarray:
        """``[runs]`` bool: the (successful, when ``ok``) runs of ``variant``."""
        chosen = self.runs["variant"] == variant
        return chosen & self.ok if ok else chosen

    def sample(self, metric: str, variant: str) -> np.ndarray:
        """``[n]`` float64: ``metric`` over the successful runs of ``variant``, NaNs dropped."""
        values = self.runs[metric][self.mask(variant)].astype(np.float64)
        return values[~np.isnan(values)]

    def drawn_runs(self, variant: str, limit: int = 1) -> list[str]:
        """Ids of up to ``limit`` successful runs of ``variant``: lowest seeds first."""
        index = np.flatnonzero(self.mask(variant))
        order = sorted(index, key=lambda i: (self.runs["seed"][i], self.runs["started_at"][i],
                                             self.runs["run_id"][i]))
        return [str(self.runs["run_id"][i]) for i in order[:limit]]

    def run_file(self, run_id: str) -> Path:
        """The Parquet file of one run."""
        return self.folder / RUNS_DIR / f"{run_id}.parquet"

    def config(self, run_id: str | None = None) -> dict:
        """The resolved configuration of a run (default: the first successful, else any)."""
        if run_id is None:
            ok = np.flatnonzero(self.ok)
            run_id = str(self.runs["run_id"][ok[0] if len(ok) else 0])
        if run_id not in self._configs:
            table = pq.read_table(self.run_file(run_id), columns=["config"])
            self._configs[run_id] = json.loads(table.column("config")[0].as_py())
        return self._configs[run_id]

    def tables(self, run_id: str) -> dict[str, dict[str, list]]:
        """The ``table.<name>`` columns of one run: name -> column -> values."""
        path = self.run_file(run_id)
        names = [n for n in pq.read_schema(path).names if n.startswith("table.")]
        if not names:
            return {}
        row = pq.read_table(path, columns=names).to_pylist()[0]
        return {n.removeprefix("table."): row[n] for n in names if row[n]}


def _light_scan(folder: Path) -> dict[str, np.ndarray]:
    """Every run's light columns, in one query over the folder's Parquet files."""
    pattern = str(folder / RUNS_DIR / "*.parquet").replace("'", "''")
    skipped = ", ".join(f"'{c}'" for c in _SKIPPED)
    prefixes = " OR ".join(f"starts_with(c, '{p}')" for p in HEAVY_PREFIXES)
    keep = f"NOT ({prefixes}) AND c NOT IN ({skipped})"
    con = duckdb.connect()
    # DuckDB 1.3 added Python-style lambdas and later releases refuse the arrow form
    for selector in (f"lambda c: {keep}", f"c -> {keep}"):
        sql = (f"SELECT COLUMNS({selector}) "
               f"FROM read_parquet('{pattern}', union_by_name = true)")
        try:
            table = con.sql(sql).to_arrow_table()
            break
        except duckdb.ParserException:
            continue
        except duckdb.Error as exc:
            raise SandboxError(f"{folder}: the run files could not be read ({exc})") from None
    else:
        raise SandboxError(f"{folder}: this DuckDB version cannot select columns by lambda")
    return {name: table.column(name).to_numpy(zero_copy_only=False)
            for name in table.column_names}


def _is_numeric(values: np.ndarray) -> bool:
    return values.dtype.kind in "fiu" or all(
        v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in values)


def _has_values(values: np.ndarray) -> bool:
    if values.dtype.kind == "f":
        return bool((~np.isnan(values)).any())
    return any(v is not None and not (isinstance(v, float) and math.isnan(v)) for v in values)


def _manifest(folder: Path) -> dict[str, dict]:
    """Scenario name -> ``{"scenario_hash", "spec"}`` from ``scenario.json`` ({} if unreadable).

    Reads the store's layout (``{"scenarios": {...}}``) and the earlier one-scenario
    layout (``{"name", "scenario_hash", "spec"}``) alike; a report can be made without it.
    """
    try:
        found = read_manifest(folder)
        if found:
            return found
        data = json.loads((folder / MANIFEST).read_text())
    except (SandboxError, OSError, json.JSONDecodeError):
        return {}
    if isinstance(data, dict) and isinstance(data.get("spec"), dict) and data.get("name"):
        return {data["name"]: {"scenario_hash": data.get("scenario_hash"), "spec": data["spec"]}}
    return {}


def _variant_order(spec: dict | None, seen: list[str]) -> tuple[str, ...]:
    """The scenario's order of policy combinations (first-seen order for unknown ones)."""
    order: list[str] = []
    if spec:
        try:
            from sandbox.scenario import parse_scenario
            from sandbox.scenario.run import variant_label

            parsed = parse_scenario(spec)
            variants = parsed.role_variants()
            roles = list(variants)
            for combo in itertools.product(*(variants[r] for r in roles)):
                order.append(variant_label(parsed, dict(zip(roles, combo))))
        except SandboxError:
            order = []
    return tuple([v for v in order if v in seen] + [v for v in seen if v not in order])


def _select(columns: dict[str, np.ndarray], chosen: np.ndarray) -> dict[str, np.ndarray]:
    return {name: values[chosen] for name, values in columns.items()}


def _scenario(folder: Path, columns, name: str, spec_hash: str, manifest: dict[str, dict]):
    entry = manifest.get(name) or {}
    spec = entry.get("spec") if entry.get("scenario_hash") == spec_hash else None
    metrics, params = [], []
    for column, values in columns.items():
        if column in DESCRIPTIVE or column.startswith("policy.") or not _has_values(values):
            continue
        if column.startswith("param."):
            params.append(column)
        elif _is_numeric(values):
            metrics.append(column)
    first_seen = np.argsort(columns["started_at"].astype(np.float64), kind="stable")
    seen = list(dict.fromkeys(str(columns["variant"][i]) for i in first_seen))
    order = _variant_order(spec, seen)
    rank = {v: i for i, v in enumerate(order)}
    rows = sorted(range(len(columns["run_id"])), key=lambda i: (
        rank[str(columns["variant"][i])], columns["seed"][i], str(columns["run_id"][i])))
    runs = _select(columns, np.asarray(rows, dtype=np.int64))
    for metric in metrics:
        runs[metric] = np.array([np.nan if v is None else v for v in runs[metric]],
                                dtype=np.float64)
    return ScenarioResults(folder, name, spec_hash, spec, runs, tuple(metrics), tuple(params),
                           order, title=name)


def load_results(folder: str | Path, *, scenario: str | None = None) -> list[ScenarioResults]:
    """The runs of a results folder, one :class:`ScenarioResults` per scenario version.

    Args:
        folder: a results folder written by ``sandbox run`` or ``sandbox batch``.
        scenario: keep only this scenario (its name, or its spec hash).

    Raises:
        SandboxError: the folder holds no runs.
        ConfigError: ``scenario`` names no scenario of the folder.
    """
    folder = Path(folder)
    runs_dir = folder / RUNS_DIR
    if not runs_dir.is_dir() or not any(runs_dir.glob("*.parquet")):
        raise SandboxError(f"{folder}: no results here (expected {RUNS_DIR}/*.parquet files "
                           "written by 'sandbox run' or 'sandbox batch')")
    columns = _light_scan(folder)
    keys = list(dict.fromkeys(zip(columns["scenario"].tolist(),
                                  columns["scenario_hash"].tolist())))
    if scenario is not None:
        chosen = [k for k in keys if scenario in k]
        if not chosen:
            known = ", ".join(f"{n} ({h})" for n, h in keys)
            raise ConfigError("--scenario", scenario, f"a scenario of this folder: {known}")
        keys = chosen
    manifest = _manifest(folder)
    names = [n for n, _ in keys]
    results = []
    for name, spec_hash in sorted(keys):
        chosen = (columns["scenario"] == name) & (columns["scenario_hash"] == spec_hash)
        result = _scenario(folder, _select(columns, chosen), name, spec_hash, manifest)
        if names.count(name) > 1:
            result.title = f"{name} (version {spec_hash})"
        results.append(result)
    return results


def scenario_spec(results: ScenarioResults) -> dict[str, Any]:
    """The scenario's spec: ``scenario.json``'s when it matches, else rebuilt from a run.

    The rebuilt spec names the world, its parameters and each variant's policies, which is
    what a run's configuration records; the question and sweep section are then unknown.
    """
    if results.spec:
        return results.spec
    config = results.config()
    return {"name": results.name, "question": "", "world": config.get("world", {}),
            "roles": config.get("roles", {}), "sweep": None}
