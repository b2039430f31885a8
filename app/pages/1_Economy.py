"""Economy: the one-step tax economy under two planner policies, side by side."""

import json

import pandas as pd
import streamlit as st

from sandbox.core.errors import ConfigError
from sandbox.report.figures import by_skill_figure, distribution_figure, tax_schedule_figure
from sandbox.scenario import evaluate, parse_scenario, validate_scenario
from sandbox.scenario.training_runs import RUNS_FOLDER, list_planners

POLICIES = {
    "Free market": "free_market",
    "US federal": "us_federal",
    "Saez": "saez",
    "Search optimum": "search_optimum",
    "Fixed rates": "fixed_rates",
    "Learned checkpoint": "checkpoint",
}
#: Headline metrics and their short labels (the full names show as help).
HEADLINE = {"inverse_income_weighted_utility": "welfare (inverse-income)",
            "equality_times_productivity": "equality × productivity",
            "productivity": "productivity", "equality": "equality", "revenue": "revenue",
            "mean_hours": "mean hours"}
BRACKETS = 7
OTHER_FILE = "another file..."

st.set_page_config(page_title="Economy - Policy Sandbox", layout="wide")
st.title("One-step tax economy")
st.caption("Workers with different skills choose their hours; the planner sets a marginal "
           "rate per bracket and returns the revenue as an equal lump sum.")

with st.sidebar:
    st.header("Economy")
    skill_source = st.selectbox("Skill distribution", ["foundation", "us_wages"], key="skills")
    num_workers = st.slider("Workers", 2, 1000, 100, key="workers")
    form = st.selectbox("Utility", ["isoelastic", "quasilinear"], key="form")
    if form == "isoelastic":
        utility = {"form": form,
                   "eta": st.slider("eta (curvature of consumption)", 0.0, 2.0, 0.0, 0.05,
                                    key="eta"),
                   "kappa": st.number_input("kappa (labour cost)", 0.0001, 10.0, 0.015,
                                            format="%.4f", key="kappa"),
                   "delta": st.slider("delta (labour exponent)", 1.1, 4.0, 2.0, 0.1,
                                      key="delta")}
    else:
        utility = {"form": form,
                   "kappa": st.number_input("kappa (labour cost)", 0.0001, 10.0, 0.015,
                                            format="%.4f", key="kappa_q"),
                   "elasticity": st.slider("elasticity of labour supply", 0.05, 2.0, 0.5,
                                           0.05, key="elasticity")}
    objective = st.selectbox("Planner objective", ["inverse_income_weighted_utility",
                                                   "equality_times_productivity",
                                                   "utilitarian_welfare"], key="objective")
    seed = st.number_input("Seed", 0, 10_000, 0, key="seed")


def policy_widgets(column, label: str, default: str, key: str) -> dict:
    """Widgets choosing one planner policy; returns its scenario entry."""
    with column:
        name = st.selectbox(label, list(POLICIES), index=list(POLICIES).index(default), key=key)
        entry = {"policy": POLICIES[name], "label": f"{label[-1]}: {name}"}
        if POLICIES[name] == "fixed_rates":
            rates = [st.slider(f"bracket {k + 1} rate", 0.0, 1.0, 0.2, 0.05, key=f"{key}_r{k}")
                     for k in range(BRACKETS)]
            entry["params"] = {"rates": rates}
        elif POLICIES[name] == "checkpoint":
            entry["params"] = {"path": checkpoint_widgets(key)}
        return entry


def checkpoint_widgets(key: str) -> str:
    """Pick a planner trained on the Training page, or type another checkpoint's path."""
    folder = st.session_state.get("runs_folder", str(RUNS_FOLDER))
    choices = {str(c.path): c.label for c in list_planners(folder)}
    preset = st.session_state.get(f"{key}_checkpoint")  # e.g. sent by the Training page
    if preset and preset != OTHER_FILE and preset not in choices:
        choices[preset] = preset
    options = [*choices, OTHER_FILE]
    picked = st.selectbox("Trained planner", options, format_func=lambda p: choices.get(p, p),
                          key=f"{key}_checkpoint",
                          help=f"planners of the training runs in {folder} (Training page)")
    if picked != OTHER_FILE:
        return picked
    return st.text_input("Checkpoint file", key=f"{key}_path")


left, right = st.columns(2)
policy_a = policy_widgets(left, "Policy A", "US federal", "policy_a")
policy_b = policy_widgets(right, "Policy B", "Saez", "policy_b")

world = {"name": "onestep_economy",
         "params": {"num_workers": int(num_workers), "skill_source": skill_source,
                    "utility": utility, "planner_objective": objective}}


def side_scenario(policy: dict) -> dict:
    """The scenario of one compared policy (each side is computed, and cached, alone)."""
    return {"name": "economy_page", "world": world,
            "roles": {"workers": {"policy": "best_response"}, "planner": policy},
            "evaluation": {"episodes": 1, "seeds": [int(seed)], "deterministic": True}}


@st.cache_data(show_spinner="Computing best responses...", max_entries=64)
def compute(config_json: str) -> dict:
    """Metrics and per-worker tables of one policy's run (cached on the resolved config).

    A side's run depends only on the economy and its own policy, so changing one policy
    recomputes that side alone. A failed run is checked again by validation, which names
    the bad field.
    """
    spec = parse_scenario(json.loads(config_json))
    (result,) = evaluate(spec)
    if result.status != "ok":
        validate_scenario(spec)  # raises the ConfigError naming the field, if there is one
    return {"label": result.plan.variant, "status": result.status, "error": result.error,
            "metrics": result.metrics, "tables": result.tables}


try:
    outcomes = [compute(json.dumps(side_scenario(p), sort_keys=True))
                for p in (policy_a, policy_b)]
except ConfigError as exc:
    st.error(f"**{exc.field}**: got `{exc.value!r}`; expected {exc.expected}.")
    st.stop()

failed = [o for o in outcomes if o["status"] != "ok"]
for outcome in failed:
    st.error(f"{outcome['label']} failed: {outcome['error']}")
if failed:
    st.stop()

a, b = outcomes
for column, outcome, other in ((left, a, None), (right, b, a)):
    with column:
        cells = st.columns(2)
        for i, (metric, label) in enumerate(HEADLINE.items()):
            value = outcome["metrics"][metric]
            delta = None if other is None else value - other["metrics"][metric]
            cells[i % 2].metric(label, f"{value:.4g}",
                                None if delta is None else f"{delta:+.3g} vs A", help=metric)

schedules = {o["label"]: o["tables"]["schedule"] for o in outcomes}
agents = {o["label"]: o["tables"]["agents"] for o in outcomes}
top = max(max(t["income"]) for t in agents.values()) * 1.1
st.plotly_chart(tax_schedule_figure(schedules, max_income=max(top, 1.0)),
                width="stretch")
c1, c2 = st.columns(2)
c1.plotly_chart(by_skill_figure(agents, "hours", title="Hours by skill"),
                width="stretch")
c2.plotly_chart(by_skill_figure(agents, "income", title="Pre-tax income by skill"),
                width="stretch")
st.plotly_chart(distribution_figure({k: v["utility"] for k, v in agents.items()},
                                    title="Distribution of utility", axis="utils"),
                width="stretch")
with st.expander("All metrics"):
    st.dataframe(pd.DataFrame({o["label"]: o["metrics"] for o in outcomes}),
                 width="stretch")
