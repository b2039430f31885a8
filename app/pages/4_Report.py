"""Report: build the policy-analysis report of a results folder and download it."""

import tempfile
from pathlib import Path

import streamlit as st
import streamlit.components.v1 as components

from sandbox.core.errors import SandboxError
from sandbox.report.build import build_report

st.set_page_config(page_title="Report - Policy Sandbox", layout="wide")
st.title("Policy-analysis report")
st.caption("One self-contained HTML file (figures included, opens offline), the same as "
           "`sandbox report FOLDER`.")

folder = st.text_input("Results folder", "results/onestep_tax", key="report_folder")
scenario = st.text_input("Scenario (only when the folder holds several)", "",
                         key="report_scenario")

if st.button("Build the report", key="build_report"):
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "report.html"
        try:
            with st.spinner("Building the report..."):
                build_report(folder, out, scenario=scenario or None,
                             command=f"sandbox report {folder}")
        except SandboxError as exc:
            st.error(str(exc))
        else:
            st.session_state["report_html"] = out.read_text(encoding="utf-8")
            st.session_state["report_name"] = f"{Path(folder).name or 'results'}_report.html"

if "report_html" in st.session_state:
    html = st.session_state["report_html"]
    st.download_button("Download report.html", html, file_name=st.session_state["report_name"],
                       mime="text/html", key="download_report")
    st.caption(f"{len(html) / 1e6:.1f} MB")
    components.html(html, height=900, scrolling=True)
