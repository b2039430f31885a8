"""``sandbox run`` then ``sandbox report`` on the toy world: the real pipeline end to end."""

import json
import re

import yaml

from sandbox.cli import main
from sandbox.scenario import load_scenario_text
from tests.core import toy_registry  # noqa: F401  (registers the toy world)
from tests.scenario.test_scenario import BASE


def test_run_then_report_shows_what_the_results_hold(tmp_path, capsys):
    scenario = tmp_path / "toy.yaml"
    scenario.write_text(yaml.safe_dump({**BASE, "question": "Do ones beat zeros?"}))
    results = tmp_path / "results"
    assert main(["run", str(scenario), "--out", str(results)]) == 0
    out = tmp_path / "toy_report.html"
    assert main(["report", str(results), "--out", str(out)]) == 0
    assert "toy_report.html" in capsys.readouterr().out
    page = out.read_text()
    found = json.loads(out.with_suffix(".json").read_text())["scenarios"][0]
    assert found["question"] in page and found["policies"] == ["ones", "zeros"]
    # toy totals are the same for every seed: 2 steps x 3 workers x action 1 = 6, or 0
    headline = found["headline"]
    assert (headline["best"], headline["mean"], headline["half_width"]) == ("ones", 6.0, 0.0)
    assert headline["significant"] and "ones gives the highest total" in headline["text"]
    # the world's class docstring opens the methods; no pictures (the toy has no tables)
    assert "Workers add their action to a running total" in page
    assert found["figures"] == [] and 'id="s-toy-pictures"' not in page
    assert 'id="s-toy-sweep"' not in page and 'id="s-toy-training"' not in page
    # plotly.js is embedded once; no script, style or image is loaded from elsewhere
    assert page.count("* plotly.js v") == 1
    assert re.search(r"<(script|link|img)[^>]+(src|href)=", page) is None


def test_the_reproduction_file_is_the_scenario_that_ran(tmp_path, capsys):
    scenario = tmp_path / "toy.yaml"
    scenario.write_text(yaml.safe_dump(BASE))
    results = tmp_path / "results"
    main(["run", str(scenario), "--out", str(results)])
    assert main(["report", str(results)]) == 0  # default: FOLDER/report.html
    found = json.loads((results / "report.json").read_text())["scenarios"][0]
    reproduce = found["provenance"]["reproduce"]
    assert reproduce["exact"]
    assert reproduce["commands"][-2] == f"sandbox run toy.yaml --out {results}"
    assert load_scenario_text(reproduce["yaml"]).content_hash() == found["scenario_hash"]
    assert found["provenance"]["seeds"] == [0, 1]
    assert len(found["provenance"]["run_ids"]) == 4
    assert found["provenance"]["versions"][0]["runs"] == 4
