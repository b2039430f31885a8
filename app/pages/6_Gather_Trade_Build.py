"""Gather-Trade-Build: one episode of the spatial economy, drawn step by step."""

import dataclasses
from pathlib import Path

import pandas as pd
import streamlit as st

from sandbox.core.errors import CheckpointError, ConfigError
from sandbox.report.gtb_figures import (
    EpisodeSetup,
    agent_table,
    episode_figures,
    episode_summary,
    run_episode,
)

PLANNERS = {"US federal": "us_federal", "Free market": "free_market",
            "Random rates": "random", "Learned checkpoint": "checkpoint"}
WORKERS = {"Random valid actions": "random", "Learned checkpoint": "checkpoint"}
#: Episode settings: Foundation's, and the learning study's (scenarios/gtb_ai_economist.yaml),
#: which learned checkpoints expect (their observations include the episode phase).
EPISODES = {"1,000 steps, tax every 100 (Foundation)": (1000, 100),
            "200 steps, tax every 50 (learning study)": (200, 50)}
#: The learned policies of the learning study's first seed (benchmarks/two_level_gtb.py;
#: data/gtb/learned/study.json holds the study's figures).
STUDY = Path(__file__).resolve().parents[2] / "data" / "gtb" / "learned"

st.set_page_config(page_title="Gather-Trade-Build - Policy Sandbox", layout="wide")
st.title("Gather-Trade-Build")
st.caption("Workers move on a 25 × 25 map, gather wood and stone, trade them in a double "
           "auction and build houses for coin; the planner sets bracket tax rates at the "
           "start of every tax period and returns the revenue as an equal lump sum.")

with st.sidebar:
    st.header("Episode")
    layout = st.selectbox("Map layout", ["quadrant", "uniform"], key="layout")
    num_workers = st.slider("Workers", 1, 10, 4, key="num_workers")
    planner_label = st.selectbox("Planner policy", list(PLANNERS), key="planner")
    planner_path = None
    if PLANNERS[planner_label] == "checkpoint":
        planner_path = st.text_input("Planner checkpoint (planner.pt)",
                                     str(STUDY / "planner.pt"), key="planner_path")
    workers_label = st.selectbox("Worker policy", list(WORKERS), key="workers")
    workers_path = None
    if WORKERS[workers_label] == "checkpoint":
        workers_path = st.text_input("Workers checkpoint (workers.pt)",
                                     str(STUDY / "workers.pt"), key="workers_path")
    episode_label = st.selectbox("Episode", list(EPISODES), key="episode")
    length, period = EPISODES[episode_label]
    seed = st.number_input("Seed", 0, 10_000, 0, key="seed")
    steps = st.slider("Steps", 10, length, min(200, length), 10, key="steps")

setup = EpisodeSetup(layout=layout, num_workers=int(num_workers),
                     planner=PLANNERS[planner_label], workers=WORKERS[workers_label],
                     planner_path=planner_path or None, workers_path=workers_path or None,
                     seed=int(seed), steps=int(steps), episode_length=length,
                     tax_period=period)


@st.cache_data(max_entries=8, show_spinner=False)
def cached_episode(config: dict):
    """The recorded episode and its figures for one setup (cached on the setup)."""
    episode = run_episode(EpisodeSetup(**config))
    return episode, episode_figures(episode)


try:
    with st.spinner(f"Running {setup.steps} steps..."):
        episode, figures = cached_episode(dataclasses.asdict(setup))
except (ConfigError, CheckpointError, OSError) as exc:
    st.error(str(exc))
    st.stop()

summary = episode_summary(episode)
cols = st.columns(5)
cols[0].metric("Total coin", f"{summary['productivity']:.1f}", help="productivity")
cols[1].metric("Equality (1 - Gini)", f"{summary['equality']:.3f}", help="equality")
cols[2].metric("Houses built", f"{summary['houses_built']:.0f}", help="houses_built")
cols[3].metric("Trades", f"{summary['trades']:.0f}", help="trades")
cols[4].metric("Tax collected", f"{summary['revenue']:.1f}", help="revenue")

left, right = st.columns([3, 2])
left.plotly_chart(figures["map"], width="stretch", key="map")
with right:
    st.subheader("Agents after the last step")
    columns = ("agent", "coin", "houses", "build_payment", "wood", "stone", "labour")
    table = pd.DataFrame(agent_table(episode))[list(columns)]
    number = st.column_config.NumberColumn
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "build_payment": number("pay/house", format="%.1f", help="coin per house built"),
        "coin": number("coin", format="%.2f"), "labour": number("labour", format="%.0f")})
    st.plotly_chart(figures["inventory"], width="stretch", key="inventory")
left, right = st.columns(2)
left.plotly_chart(figures["trades"], width="stretch", key="trades")
right.plotly_chart(figures["tax"], width="stretch", key="tax")
