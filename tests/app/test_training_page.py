"""The Training page: a background run, watched, stopped, resumed, and used on the Economy page."""

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from sandbox.policies import NeuralPolicy
from sandbox.scenario import evaluate, parse_scenario
from sandbox.scenario.training_runs import (
    RUNS_FOLDER,
    export_planner,
    list_planners,
    list_runs,
    read_training_log,
    stop_training,
    training_status,
)
from tests.app.test_pages import economy_scenario

APP = Path(__file__).resolve().parents[2] / "app"
PAGE = str(APP / "pages" / "2_Training.py")
TIMEOUT = 60


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A fresh working folder for the app; every run still going at the end is stopped."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    for name in list_runs(RUNS_FOLDER):
        stop_training(RUNS_FOLDER / name)


def start_run(*, phase1: int, phase2: int, every: int) -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    app.number_input(key="train_envs").set_value(8)
    app.number_input(key="train_phase1").set_value(phase1)
    app.number_input(key="train_phase2").set_value(phase2)
    app.number_input(key="train_every").set_value(every)
    app.button(key="start_training").click().run()
    assert not app.exception
    assert not app.error
    return app


def wait_for(condition, *, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the training run did not get there in time"
        time.sleep(0.2)


def test_a_run_is_watched_stopped_resumed_and_its_planner_used_on_the_economy_page(workdir):
    app = start_run(phase1=1, phase2=50, every=2)
    folder = RUNS_FOLDER / "onestep_ai_economist"
    assert app.selectbox(key="training_run").value == "onestep_ai_economist"
    assert not app.button(key="stop_training").disabled  # drawn while it runs
    wait_for(lambda: training_status(folder).update >= 3)
    app.button(key="stop_training").click().run()
    stopped = training_status(folder)
    assert stopped.state == "stopped" and 3 <= stopped.update < stopped.total == 51
    assert "Stopped after update" in app.info[0].value
    before = read_training_log(folder)
    checkpoint = int(stopped.checkpoint.stem.split("_")[1])
    assert checkpoint % 2 == 0 and checkpoint <= stopped.update
    # a stopped run's planner is exported from its latest checkpoint and offered
    exported = export_planner(folder)
    (choice,) = list_planners(RUNS_FOLDER)
    assert (choice.path, choice.final, choice.update) == (exported, False, checkpoint)
    assert NeuralPolicy.load(exported).role.name == "planner"

    app.button(key="resume_training").click().run()
    assert not app.exception
    wait_for(lambda: training_status(folder).state != "running")
    app.run()
    status = training_status(folder)
    assert (status.state, status.update) == ("finished", 51)
    after = read_training_log(folder)
    assert [r["update"] for r in after] == list(range(1, 52))
    assert after[:checkpoint] == before[:checkpoint]  # kept as they were
    # the updates redone after the checkpoint repeat the interrupted run's exactly
    untimed = [{k: v for k, v in r.items() if k != "seconds"} for r in after + before]
    assert untimed[checkpoint:len(before)] == untimed[len(after) + checkpoint:]
    # the page shows the log's last row
    shown = {m.help: m.value for m in app.metric}
    assert shown["update"] == "51"
    assert shown["return_planner"] == f"{after[-1]['return_planner']:.4g}"
    assert shown["productivity"] == f"{after[-1]['productivity']:.4g}"
    assert app.get("progress")[0].value == 100
    assert len(app.get("plotly_chart")) == 4

    economy = AppTest.from_file(str(APP / "pages" / "1_Economy.py"), default_timeout=120).run()
    economy.selectbox(key="policy_b").select("Learned checkpoint").run()
    picker = economy.selectbox(key="policy_b_checkpoint")
    assert picker.value == str(status.planner)  # the final planner is offered first
    assert "onestep_ai_economist: final planner (update 51)" in picker.options
    assert not economy.exception and not economy.error
    learned = economy_scenario("us_federal", "checkpoint")
    learned["roles"]["planner"][1]["params"] = {"path": str(status.planner)}
    expected = [r.metrics for r in evaluate(parse_scenario(learned))]
    shown = [(m.help, m.value) for m in economy.metric]
    assert len(shown) == 12
    for i, (name, value) in enumerate(shown):
        assert value == f"{expected[i // 6][name]:.4g}"


def test_bad_run_name_is_reported_beside_the_field_and_nothing_starts(workdir):
    app = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    app.text_input(key="run_name").input("../outside").run()
    app.button(key="start_training").click().run()
    assert not app.exception
    assert "run name" in app.error[0].value
    assert list_runs(RUNS_FOLDER) == [] and not (workdir / "results" / "outside").exists()
    app.selectbox(key="train_scenario").select("onestep_tax.yaml").run()
    assert "**train**" in app.error[0].value
    assert app.button(key="start_training").disabled
