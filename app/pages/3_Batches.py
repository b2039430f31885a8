"""Batches: query a results folder, plot metrics against swept parameters, launch a batch."""

from pathlib import Path

import plotly.express as px
import streamlit as st

from sandbox.batch.runner import BatchOptions, run_batch
from sandbox.batch.store import connect, prepare_folder, query, read_manifest
from sandbox.core.errors import ConfigError, SandboxError
from sandbox.report.summary import metric_columns
from sandbox.scenario import load_scenario, plan_runs, validate_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

st.set_page_config(page_title="Batches - Policy Sandbox", layout="wide")
st.title("Batches")

folder = st.text_input("Results folder", "results/batch", key="folder")

with st.expander("Launch a batch (local process pool)"):
    files = sorted(p.name for p in SCENARIOS.glob("*.yaml"))
    chosen = st.selectbox("Scenario file", files, key="batch_scenario")
    workers = st.number_input("Worker processes", 1, 64, 2, key="batch_workers")
    if st.button("Run the batch", key="run_batch"):
        try:
            spec = load_scenario(SCENARIOS / chosen)
            validate_scenario(spec)
            plans = plan_runs(spec)
            prepare_folder(folder, scenario_hash=spec.content_hash(),
                           spec_json=spec.model_dump(mode="json"))
        except SandboxError as exc:
            st.error(str(exc))
        else:
            bar = st.progress(0.0, text=f"{len(plans)} runs")

            def show(p):
                finished = p.skipped + p.done
                bar.progress(finished / p.total,
                             text=f"{finished}/{p.total} runs, {p.failed} failed, "
                                  f"{p.rate:.1f} runs/s")

            counts = run_batch(plans, folder, options=BatchOptions(workers=int(workers)),
                               on_progress=show)
            st.success(f"{counts.done} runs done ({counts.skipped} were already there), "
                       f"{counts.failed} failed.")

if not Path(folder, "runs").is_dir():
    st.info("No results in this folder yet: launch a batch, or run `sandbox batch` or "
            "`sandbox run` with `--out` pointing here.")
    st.stop()

scenarios = read_manifest(folder)
st.caption("Scenarios in this folder: " + ", ".join(scenarios) if scenarios else "")
where = st.text_input("Filter runs (a DuckDB WHERE clause over the view `runs`)",
                      "status = 'ok'", key="where")
try:
    table = query(folder, f"SELECT * EXCLUDE (traceback, config, versions) FROM runs "
                          f"WHERE {where or 'true'}")
except (SandboxError, ConfigError) as exc:
    st.error(str(exc))
    st.stop()
rows = [{k: v for k, v in r.items() if k != "episodes" and not k.startswith("table.")}
        for r in table.to_pylist()]
st.write(f"{len(rows)} runs")
st.dataframe(rows, width="stretch", height=260)

metrics = metric_columns(connect(folder))
params = [c for c in table.column_names if c.startswith("param.")]
if rows and metrics:
    left, right = st.columns(2)
    metric = left.selectbox("Metric", metrics, key="metric")
    axis = right.selectbox("Against", params or ["seed"], key="axis")
    figure = px.scatter(rows, x=axis, y=metric, color="variant",
                        title=f"{metric} against {axis.removeprefix('param.')}")
    st.plotly_chart(figure, width="stretch")
