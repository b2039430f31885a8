"""The Traffic testing page: it shows the library's estimate; bad input is named."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from sandbox.scenario.traffic_testing import AVS, TestingSetup, record_episode, run_testing

PAGE = str(Path(__file__).resolve().parents[2] / "app" / "pages" / "5_Traffic_testing.py")


def test_the_displayed_estimate_is_the_library_estimate_for_the_same_settings():
    app = AppTest.from_file(PAGE, default_timeout=60).run()
    assert "run the tests" in app.info[0].value
    app.radio(key="method").set_value("nade")
    app.number_input(key="n_tests").set_value(64)
    app.number_input(key="num_envs").set_value(32)
    app.number_input(key="traffic_seed").set_value(3)
    app.button(key="run_tests").click().run()
    assert not app.exception and not app.error
    weak = list(AVS)[0]
    setup = TestingSetup(av=dict(AVS[weak]), method="nade", n_tests=64, eps=0.1,
                         max_controls=1, num_envs=32, seed=3)
    expected = run_testing(setup)
    shown = {m.help: m.value for m in app.metric}
    assert shown["mean"] == f"{expected.estimate.mean:.3g}"
    assert shown["relative_half_width"] == f"{expected.estimate.relative_half_width:.3g}"
    assert shown["crashes"] == f"{expected.estimate.crashes} / 64"
    assert len(app.get("plotly_chart")) == 3  # estimate, half-width, the replayed test
    trace = record_episode(setup, seed=0, batch=64)
    seconds = trace.rows[-1]["time"]
    assert f"after {seconds:.0f} s (test {trace.env + 1} of 64)" in app.markdown[-1].value


def test_an_invalid_eps_is_reported_beside_the_field():
    app = AppTest.from_file(PAGE, default_timeout=60).run()
    app.radio(key="method").set_value("nade").run()
    app.slider(key="eps").set_value(0.0).run()
    assert not app.exception
    assert "**eps**" in app.error[0].value and "(0, 1]" in app.error[0].value
    assert not app.button  # nothing can run until it is fixed
