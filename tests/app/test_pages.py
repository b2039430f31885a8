"""The app's pages, driven headless by Streamlit's AppTest: numbers equal the library's."""

from pathlib import Path

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from sandbox.scenario import evaluate, parse_scenario

APP = Path(__file__).resolve().parents[2] / "app"
TIMEOUT = 120


def economy_scenario(policy_a, policy_b, *, num_workers=100):
    return {
        "name": "economy_page",
        "world": {"name": "onestep_economy",
                  "params": {"num_workers": num_workers, "skill_source": "foundation",
                             "utility": {"form": "isoelastic", "eta": 0.0, "kappa": 0.015,
                                         "delta": 2.0},
                             "planner_objective": "inverse_income_weighted_utility"}},
        "roles": {"workers": {"policy": "best_response"},
                  "planner": [{"policy": policy_a, "label": "A"},
                              {"policy": policy_b, "label": "B"}]},
        "evaluation": {"episodes": 1, "seeds": [0], "deterministic": True},
    }


def test_home_lists_worlds_and_scenarios():
    app = AppTest.from_file(str(APP / "Home.py"), default_timeout=TIMEOUT).run()
    assert not app.exception
    worlds = app.dataframe[0].value["world"].tolist()
    assert "onestep_economy" in worlds
    files = app.dataframe[1].value["file"].tolist()
    assert "onestep_tax.yaml" in files


def test_home_upload_reports_the_bad_field_and_accepts_a_good_file():
    app = AppTest.from_file(str(APP / "Home.py"), default_timeout=TIMEOUT).run()
    bad = economy_scenario("free_market", "us_federal")
    bad["world"]["params"]["num_workers"] = -5
    app.text_area(key="pasted").input(yaml.safe_dump(bad)).run()
    assert not app.exception
    assert "world.params.num_workers" in app.error[0].value
    assert not app.success
    good = economy_scenario("free_market", "us_federal", num_workers=10)
    app.text_area(key="pasted").input(yaml.safe_dump(good)).run()
    assert not app.error and "economy_page" in app.success[0].value


@pytest.mark.parametrize("policy_b", ["Saez", "Search optimum"])
def test_economy_page_shows_the_library_numbers(policy_b):
    app = AppTest.from_file(str(APP / "pages" / "1_Economy.py"), default_timeout=TIMEOUT)
    app.run()
    app.selectbox(key="policy_b").select(policy_b).run()
    assert not app.exception
    names = {"Saez": "saez", "Search optimum": "search_optimum"}
    results = evaluate(parse_scenario(economy_scenario("us_federal", names[policy_b])))
    expected = [r.metrics for r in results]
    shown = [(m.help, m.value) for m in app.metric]  # help holds the metric's name
    assert len(shown) == 12
    for i, (name, value) in enumerate(shown):
        assert value == f"{expected[i // 6][name]:.4g}"
