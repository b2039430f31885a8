from pathlib import Path

from streamlit.testing.v1 import AppTest

from sandbox.batch.store import prepare_folder, query, write_run
from sandbox.scenario import execute_run, parse_scenario, plan_runs

PAGE = Path(__file__).resolve().parents[2] / "app" / "pages" / "3_Batches.py"
SCENARIO = {
    "name": "page_study",
    "world": {"name": "onestep_economy", "params": {"num_workers": 10}},
    "roles": {"workers": {"policy": "best_response"},
              "planner": [{"policy": "free_market"}, {"policy": "us_federal"}]},
    "evaluation": {"seeds": [0]},
    "sweep": {"design": "grid",
              "parameters": {"world.params.utility.kappa": {"values": [0.01, 0.02, 0.03]}}},
}


def test_batches_page_lists_and_filters_the_stored_runs(tmp_path):
    spec = parse_scenario(SCENARIO)
    prepare_folder(tmp_path, scenario_hash=spec.content_hash(),
                   spec_json=spec.model_dump(mode="json"))
    for plan in plan_runs(spec):
        write_run(tmp_path, execute_run(plan))
    app = AppTest.from_file(str(PAGE), default_timeout=60).run()
    app.text_input(key="folder").input(str(tmp_path)).run()
    assert not app.exception
    assert "6 runs" in [m.value for m in app.markdown]
    app.text_input(key="where").input("variant = 'us_federal'").run()
    assert "3 runs" in [m.value for m in app.markdown]
    expected = query(tmp_path, "SELECT count(*) AS n FROM runs WHERE variant = 'us_federal'")
    assert expected.to_pylist() == [{"n": 3}]
    assert app.selectbox(key="axis").value == "param.world.params.utility.kappa"


def test_bad_filter_shows_the_error(tmp_path):
    spec = parse_scenario(SCENARIO)
    prepare_folder(tmp_path, scenario_hash=spec.content_hash(),
                   spec_json=spec.model_dump(mode="json"))
    write_run(tmp_path, execute_run(plan_runs(spec)[0]))
    app = AppTest.from_file(str(PAGE), default_timeout=60).run()
    app.text_input(key="folder").input(str(tmp_path)).run()
    app.text_input(key="where").input("no_such_column > 1").run()
    assert not app.exception
    assert "the query failed" in app.error[0].value
