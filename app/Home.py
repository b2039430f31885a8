"""Policy Sandbox: the app's home page (worlds, scenario files, and scenario uploads)."""

from pathlib import Path

import pandas as pd
import streamlit as st

from sandbox.core.errors import ConfigError
from sandbox.core.registry import WORLDS
from sandbox.scenario import evaluate, load_scenario, load_scenario_text, validate_scenario

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"

st.set_page_config(page_title="Policy Sandbox", layout="wide")
st.title("Policy Sandbox")
st.markdown(
    "Agent-based worlds in which a **planner** sets a policy and many **workers** respond. "
    "Compare analytic, optimized and learned policies; every number on these pages is "
    "computed by the `sandbox` library, so the app, the command line and reports agree."
)

st.header("Pages")
st.markdown(
    "- **Economy**: two planner policies side by side on a configurable economy (free market, "
    "US federal, Saez, search optimum, fixed rates, or a trained planner).\n"
    "- **Training**: two-level planner/worker training in the background; watch welfare and "
    "losses live, stop, resume, and use the trained planner on the Economy page.\n"
    "- **Batches**: filter a results folder, plot metrics against swept parameters, launch "
    "a batch.\n"
    "- **Report**: build and download the policy-analysis report of a results folder.\n"
    "- **Traffic testing**: estimate an automated vehicle's crash rate by crude Monte Carlo "
    "or NADE, watch the estimate converge, and replay a test on the road.\n"
    "- **Gather Trade Build**: one episode of the spatial economy, drawn step by step."
)

st.header("Worlds")
rows = []
for name in WORLDS.names():
    doc = (WORLDS.get(name).__doc__ or "").strip().splitlines()
    rows.append({"world": name, "what it is": doc[0] if doc else ""})
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


@st.cache_data(show_spinner=False)
def scenario_catalogue(folder: str) -> list[dict]:
    """Name, question and file of every valid scenario in ``folder``."""
    entries = []
    for path in sorted(Path(folder).glob("*.yaml")):
        try:
            spec = load_scenario(path)
        except ConfigError as exc:
            entries.append({"file": path.name, "scenario": "(invalid)", "question": str(exc)})
            continue
        entries.append({"file": path.name, "scenario": spec.name, "question": spec.question})
    return entries


st.header("Scenario files")
catalogue = scenario_catalogue(str(SCENARIOS))
st.dataframe(pd.DataFrame(catalogue), hide_index=True, width="stretch")
chosen = st.selectbox("Open a scenario file", [e["file"] for e in catalogue], index=None,
                      key="scenario_file")
if chosen:
    st.code((SCENARIOS / chosen).read_text(), language="yaml")


@st.cache_data(show_spinner="Running the scenario...")
def run_scenario_text(text: str) -> pd.DataFrame:
    """Metrics of every run of a scenario given as YAML text (cached on the text)."""
    spec = load_scenario_text(text)
    results = evaluate(spec)
    return pd.DataFrame([{"policy": r.plan.variant, "seed": r.plan.seed, "status": r.status,
                          **r.metrics} for r in results])


st.header("Upload a scenario")
st.caption("The file is validated with the same schema as `sandbox run`; it is read in "
           "memory and never written or executed.")
upload = st.file_uploader("Scenario YAML", type=["yaml", "yml"], key="upload")
text = upload.getvalue().decode("utf-8", errors="replace") if upload else None
pasted = st.text_area("...or paste YAML", key="pasted", height=120)
text = text or (pasted or None)
if text:
    try:
        spec = load_scenario_text(text, source="uploaded scenario")
        validate_scenario(spec)
    except ConfigError as exc:
        st.error(f"**{exc.field}**: got `{exc.value!r}`; expected {exc.expected}.")
    else:
        st.success(f"Valid scenario **{spec.name}**: {spec.question}")
        if st.button("Run it", key="run_upload"):
            st.dataframe(run_scenario_text(text), hide_index=True, width="stretch")
