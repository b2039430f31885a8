"""Traffic testing: estimate an automated vehicle's crash rate, by crude Monte Carlo or NADE."""

import math

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from sandbox.core.errors import ConfigError
from sandbox.scenario.traffic_testing import (
    AVS,
    METHODS,
    TestingSetup,
    record_episode,
    run_testing,
)
from sandbox.worlds.traffic.testing import TARGET_RHW

#: Tests replayed to find one worth showing.
REPLAYED = 64

st.set_page_config(page_title="Traffic testing - Policy Sandbox", layout="wide")
st.title("Testing an automated vehicle")
st.caption("The AV (IDM car following, MOBIL lane changes) drives 400 m of a three-lane highway "
           "among naturalistic drivers. Crude Monte Carlo counts its crashes; NADE makes the "
           "critical drivers misbehave more often and reweights each test by p/q, so the "
           "estimate stays unbiased and converges with far fewer tests.")

with st.sidebar:
    st.header("Vehicle under test")
    preset = st.selectbox("Preset", list(AVS), key="av_preset")
    base = AVS[preset]
    slot = list(AVS).index(preset)  # widgets per preset, so that a preset sets their values
    av = {"max_decel": st.slider("Hardest braking (m/s²)", 0.5, 8.0, float(base["max_decel"]),
                                 0.1, key=f"av_decel_{slot}"),
          "time_headway": st.slider("Time headway (s)", 0.3, 3.0, float(base["time_headway"]),
                                    0.1, key=f"av_headway_{slot}"),
          "lane_changes": st.checkbox("Changes lanes", bool(base["lane_changes"]),
                                      key=f"av_lanes_{slot}")}
    st.header("Traffic")
    noise = st.slider("Naturalistic acceleration noise (m/s²)", 0.3, 2.5, 1.5, 0.1,
                      key="accel_noise")

left, middle, right = st.columns(3)
method = left.radio("Testing method", list(METHODS), format_func=METHODS.get, key="method")
eps = middle.slider("NADE's eps (share of naturalistic draws)", 0.0, 1.0, 0.1, 0.05, key="eps",
                    disabled=method == "nde")
eps_error = middle.empty()
controls = middle.number_input("Controlled steps per test (0: no limit)", 0, 60,
                               1 if preset.startswith("weak") else 0, key="max_controls",
                               disabled=method == "nde")
n_tests = right.number_input("Tests", 2, 1_000_000, 1024, step=256, key="n_tests")
seed = right.number_input("Seed", 0, 1_000_000, 0, key="traffic_seed")
with right.expander("Batch size"):
    num_envs = st.number_input("Tests simulated together", 1, 16_384, 256, key="num_envs")

try:
    setup = TestingSetup(av=av, method=method, n_tests=int(n_tests), eps=float(eps),
                         max_controls=int(controls) or None if method != "nde" else None,
                         num_envs=int(num_envs), accel_noise=float(noise), seed=int(seed))
except ConfigError as exc:
    eps_error.error(f"**{exc.field}**: got `{exc.value!r}`; expected {exc.expected}.")
    st.stop()

if st.button("Run the tests", key="run_tests", type="primary"):
    bar = st.progress(0.0, text=f"0 of {setup.n_tests} tests")

    def show(done: int, total: int) -> None:
        bar.progress(done / total, text=f"{done} of {total} tests")

    st.session_state["traffic_result"] = (setup, run_testing(setup, on_progress=show))
    bar.empty()

if "traffic_result" not in st.session_state:
    st.info("Choose the vehicle and the method, then run the tests.")
    st.stop()
tested, outcome = st.session_state["traffic_result"]
if tested != setup:
    st.caption("The results below are for the previous settings: run the tests again.")

est = outcome.estimate
cells = st.columns(5)
cells[0].metric("crash rate per test", f"{est.mean:.3g}", help="mean")
cells[1].metric("90 % half-width", f"± {est.half_width:.2g}", help="half_width")
cells[2].metric("relative half-width", f"{est.relative_half_width:.3g}",
                help="relative_half_width")
cells[3].metric("crashes / tests", f"{est.crashes} / {est.n}", help="crashes")
cells[4].metric("tests to reach 0.3", str(outcome.converged_at or "not yet"),
                help="converged_at")
st.caption(f"{METHODS[tested.method]}; mean weight {outcome.mean_weight:.3g} (1 in expectation)"
           + ("; surrogate mix after the last re-fit: "
              + ", ".join(f"{c:.2f}" for c in outcome.coefficients[-1])
              if outcome.coefficients else ""))

curve = pd.DataFrame({"tests": outcome.tests, "estimate": outcome.mean,
                      "relative half-width": outcome.relative_half_width})
curve["half-width"] = curve["relative half-width"] * curve["estimate"]
finite = curve[curve["relative half-width"].map(math.isfinite)]
charts = st.columns(2)
estimate_figure = go.Figure([
    go.Scatter(x=finite["tests"], y=finite["estimate"] + finite["half-width"], mode="lines",
               line={"width": 0}, showlegend=False, hoverinfo="skip"),
    go.Scatter(x=finite["tests"], y=(finite["estimate"] - finite["half-width"]).clip(lower=0),
               mode="lines", line={"width": 0}, fill="tonexty", name="90 % interval",
               fillcolor="rgba(99,110,250,0.2)"),
    go.Scatter(x=curve["tests"], y=curve["estimate"], mode="lines", name="estimate",
               line={"color": "#636efa"}),
])
estimate_figure.update_layout(title="Crash-rate estimate", xaxis_title="tests",
                              yaxis_title="crashes per test", height=360, xaxis_type="log",
                              legend={"orientation": "h", "y": -0.25},
                              margin={"l": 10, "r": 10, "t": 40, "b": 10})
charts[0].plotly_chart(estimate_figure, width="stretch")
rhw_figure = px.line(finite, x="tests", y="relative half-width", log_x=True, log_y=True,
                     title="Relative half-width of the 90 % interval")
rhw_figure.add_hline(y=TARGET_RHW, line_dash="dash", line_color="firebrick",
                     annotation_text="0.3 (converged)", annotation_position="top left")
rhw_figure.update_layout(height=360, margin={"l": 10, "r": 10, "t": 40, "b": 10})
if len(finite):  # keep the 0.3 line in view (the axis is logarithmic)
    top = max(float(finite["relative half-width"].max()) * 1.2, 1.0)
    bottom = min(float(finite["relative half-width"].min()) / 1.2, TARGET_RHW / 1.5)
    rhw_figure.update_yaxes(range=[math.log10(bottom), math.log10(top)])
charts[1].plotly_chart(rhw_figure, width="stretch")


@st.cache_data(show_spinner="Replaying tests...", max_entries=16)
def episode(setup: TestingSetup, seed: int, prefer_crash: bool):
    """One recorded test (cached on the settings)."""
    return record_episode(setup, seed=seed, batch=REPLAYED, prefer_crash=prefer_crash)


st.header("One test, step by step")
a, b = st.columns([1, 3])
episode_seed = a.number_input("Replay seed", 0, 1_000_000, 0, key="episode_seed")
prefer_crash = a.checkbox("Prefer a test with a crash", True, key="prefer_crash",
                          help=f"replay {REPLAYED} tests and show the first that crashed")
trace = episode(tested, int(episode_seed), prefer_crash)
a.write(f"{'**Crash**' if trace.crash else 'No crash'} after {trace.rows[-1]['time']:.0f} s "
        f"(test {trace.env + 1} of {REPLAYED}).")
frames = pd.DataFrame(trace.rows)
road = px.scatter(frames, x="position", y="lane", animation_frame="time",
                  animation_group="vehicle", color="role", hover_data=["vehicle", "speed"],
                  color_discrete_map={"AV": "crimson", "background": "#4c78a8"},
                  range_x=[0, trace.road_length], range_y=[-0.6, trace.n_lanes - 0.4],
                  title="Vehicles on the road (the ring's 1,200 m; the AV in red)")
road.update_traces(marker={"symbol": "square", "size": 10})
road.update_yaxes(tickvals=list(range(trace.n_lanes)), title="lane (0 = rightmost)")
road.update_xaxes(title="position (m)")
road.update_layout(height=380, margin={"l": 10, "r": 10, "t": 40, "b": 10})
b.plotly_chart(road, width="stretch")
