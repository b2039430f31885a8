from pathlib import Path

from streamlit.testing.v1 import AppTest

from sandbox.batch.store import prepare_folder, write_run
from sandbox.scenario import execute_run, parse_scenario, plan_runs
from tests.app.test_batches_page import SCENARIO

PAGE = Path(__file__).resolve().parents[2] / "app" / "pages" / "4_Report.py"


def test_report_page_builds_a_downloadable_report(tmp_path):
    spec = parse_scenario(SCENARIO)
    prepare_folder(tmp_path, scenario_hash=spec.content_hash(),
                   spec_json=spec.model_dump(mode="json"))
    for plan in plan_runs(spec)[:2]:
        write_run(tmp_path, execute_run(plan))
    app = AppTest.from_file(str(PAGE), default_timeout=120).run()
    app.text_input(key="report_folder").input(str(tmp_path)).run()
    app.button(key="build_report").click().run()
    assert not app.exception and not app.error
    html = app.session_state["report_html"]
    assert html.startswith("<!DOCTYPE html>") and "page_study" in html


def test_report_page_explains_an_empty_folder(tmp_path):
    app = AppTest.from_file(str(PAGE), default_timeout=60).run()
    app.text_input(key="report_folder").input(str(tmp_path)).run()
    app.button(key="build_report").click().run()
    assert not app.exception
    assert app.error and "report_html" not in app.session_state
