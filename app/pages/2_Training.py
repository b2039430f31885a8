"""Training: two-level planner/worker training in a background process, watched live."""

import time
from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from sandbox.core.errors import ConfigError, SandboxError
from sandbox.scenario import load_scenario
from sandbox.scenario.training_runs import (
    RUNS_FOLDER,
    export_planner,
    free_run_name,
    list_runs,
    read_training_log,
    resume_training,
    run_folder,
    start_training,
    stop_training,
    training_spec,
    training_status,
)

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
FLAGSHIP = "onestep_ai_economist.yaml"
#: Log columns drawn, with their labels.
WELFARE = {"return_planner": "welfare (the planner's return)"}
POLICY_LOSSES = {"workers_policy_loss": "workers", "planner_policy_loss": "planner"}
VALUE_LOSSES = {"workers_value_loss": "workers", "planner_value_loss": "planner"}
SHARES = {"equality": "equality", "rate_cap": "rate cap"}
REFRESH_S = 2.0

st.set_page_config(page_title="Training - Policy Sandbox", layout="wide")
st.title("Two-level training")
st.caption("Workers first learn alone in a free market; then a planner learns a tax with them "
           "while its maximum rate rises (the AI Economist's curriculum, `sandbox train`). "
           "Training runs in its own process: this page stays usable, and Stop ends it at once "
           "(checkpoints stay whole).")

with st.sidebar:
    st.header("Runs folder")
    runs_folder = st.text_input("Training runs are kept in", str(RUNS_FOLDER), key="runs_folder")


def show_error(exc: SandboxError, where=st) -> None:
    """A bad input, named, beside the widget that caused it."""
    if isinstance(exc, ConfigError):
        where.error(f"**{exc.field}**: got `{exc.value!r}`; expected {exc.expected}.")
    else:
        where.error(str(exc))


def scenario_with_train(name: str):
    """The scenario file ``name`` and its ``train:`` section's settings."""
    spec = load_scenario(SCENARIOS / name)
    return spec, dict(spec.train or {})


with st.expander("Start a new run", expanded=not list_runs(runs_folder)):
    files = sorted(p.name for p in SCENARIOS.glob("*.yaml"))
    default = files.index(FLAGSHIP) if FLAGSHIP in files else 0
    left, right = st.columns(2)
    chosen = left.selectbox("Scenario file (with a `train:` section)", files, index=default,
                            key="train_scenario")
    spec, section = scenario_with_train(chosen)
    if not section:
        left.error(f"**train**: `{chosen}` has no `train:` section; choose a file that has one "
                   "(e.g. onestep_ai_economist.yaml).")
    name = right.text_input("Run name", free_run_name(runs_folder, Path(chosen).stem),
                            key="run_name")
    name_error = right.empty()
    cells = st.columns(5)
    num_envs = cells[0].number_input("Environments", 1, 65_536, spec.world.num_envs,
                                     key="train_envs")
    phase1 = cells[1].number_input("Phase-1 updates (workers alone)", 0, 100_000,
                                   int(section.get("phase1_updates", 50)), key="train_phase1")
    phase2 = cells[2].number_input("Phase-2 updates (with the planner)", 0, 100_000,
                                   int(section.get("phase2_updates", 150)), key="train_phase2")
    every = cells[3].number_input("Checkpoint every (updates)", 1, 100_000,
                                  int(section.get("checkpoint_every", 25)), key="train_every")
    seed = cells[4].number_input("Seed", 0, 1_000_000, int(section.get("seed", 0)),
                                 key="train_seed")
    settings_error = st.empty()
    if st.button("Start training", key="start_training", type="primary", disabled=not section):
        try:
            folder = run_folder(runs_folder, name)
        except ConfigError as exc:
            show_error(exc, name_error)
        else:
            try:
                resolved = training_spec(spec, num_envs=int(num_envs), seed=int(seed),
                                         phase1_updates=int(phase1), phase2_updates=int(phase2),
                                         checkpoint_every=int(every))
                start_training(resolved, folder)
            except ConfigError as exc:
                show_error(exc, name_error if exc.field == "run name" else settings_error)
            else:
                st.session_state["training_run"] = name
                st.rerun()

runs = list_runs(runs_folder)
if not runs:
    st.info(f"No training runs in `{runs_folder}` yet: start one above.")
    st.stop()
if st.session_state.get("training_run") not in runs:
    st.session_state["training_run"] = runs[0]
run = st.selectbox("Training run", runs, key="training_run")
folder = run_folder(runs_folder, run)


def line_chart(rows: list[dict], columns: dict, title: str, *, log_y: bool = False):
    """Plotly lines of log ``columns`` against the update count."""
    frame = pd.DataFrame(rows)
    present = [c for c in columns if c in frame]
    long = frame.melt(id_vars="update", value_vars=present, var_name="series").dropna()
    long["series"] = long["series"].map(columns)
    figure = px.line(long, x="update", y="value", color="series", title=title, log_y=log_y,
                     labels={"value": "", "update": "update", "series": ""})
    figure.update_layout(height=320, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                         legend={"orientation": "h", "y": -0.25})
    return figure


def actions(status) -> None:
    """Stop, Resume and Use-on-Economy buttons for the run's state."""
    stop_col, resume_col, use_col, _ = st.columns([1, 1, 3, 2])
    if stop_col.button("Stop", key="stop_training", disabled=status.state != "running",
                       width="stretch"):
        stop_training(status.folder)
        st.rerun(scope="app")
    can_resume = status.state in ("stopped", "failed") and status.checkpoint is not None
    if resume_col.button("Resume", key="resume_training", disabled=not can_resume,
                         help="continue from the latest checkpoint", width="stretch"):
        try:
            resume_training(status.folder)
        except SandboxError as exc:
            show_error(exc)
        else:
            st.rerun(scope="app")
    usable = status.planner is not None or (status.state != "running" and status.checkpoint)
    if use_col.button("Use the planner on the Economy page", key="use_planner",
                      disabled=not usable):
        path = status.planner or export_planner(status.folder, status.checkpoint)
        st.session_state["policy_b"] = "Learned checkpoint"
        st.session_state["policy_b_checkpoint"] = str(path)
        st.switch_page("pages/1_Economy.py")


@st.fragment(run_every=REFRESH_S if training_status(folder).state == "running" else None)
def monitor() -> None:
    """The run's progress, latest numbers and curves (refreshed while it runs)."""
    # The same elements in the same places on every refresh, so that a redraw replaces
    # them in place and leaves nothing stale behind.
    status = training_status(folder)
    rows = read_training_log(folder)
    st.progress(status.fraction, text=f"{status.state}: update {status.update} of {status.total}")
    message = st.empty()
    if status.error:
        message.error(f"The run failed: {status.error}")
    elif status.state == "stopped":
        where = status.checkpoint.name if status.checkpoint else "no checkpoint yet"
        message.info(f"Stopped after update {status.update}; Resume continues from {where}.")
    elif not rows:
        message.caption("Waiting for the first update...")
    actions(status)
    last = rows[-1] if rows else {}
    shown = {"update": "update", "return_planner": "welfare", "productivity": "productivity",
             "equality": "equality", "rate_cap": "rate cap"}
    for cell, (key, label) in zip(st.columns(5), shown.items()):
        if key in last:
            value = f"{int(last[key])}" if key == "update" else f"{last[key]:.4g}"
            cell.metric(label, value, help=key)
    top, bottom = st.columns(2), st.columns(2)
    if rows:
        top[0].plotly_chart(line_chart(rows, WELFARE, "Welfare"), width="stretch")
        top[1].plotly_chart(line_chart(rows, SHARES, "Equality and the planner's rate cap"),
                            width="stretch")
        bottom[0].plotly_chart(line_chart(rows, POLICY_LOSSES, "Policy losses"),
                               width="stretch")
        bottom[1].plotly_chart(line_chart(rows, VALUE_LOSSES, "Value losses", log_y=True),
                               width="stretch")
    if status.state == "running":
        st.session_state["training_watched"] = str(folder)
        st.caption(f"Refreshing every {REFRESH_S:.0f} s (last at {time.strftime('%H:%M:%S')}).")
    elif st.session_state.pop("training_watched", None) == str(folder):
        st.rerun(scope="app")  # the run has ended: redraw the page without the refresh


monitor()
