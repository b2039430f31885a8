"""The Gather-Trade-Build page shows the library's episode for its settings."""

from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from sandbox.report.gtb_figures import EpisodeSetup, episode_summary, run_episode

PAGE = str(Path(__file__).resolve().parents[2] / "app" / "pages" / "6_Gather_Trade_Build.py")


def test_the_displayed_coin_per_agent_is_the_librarys_for_the_same_settings():
    app = AppTest.from_file(PAGE, default_timeout=120)
    app.run()
    app.selectbox(key="layout").set_value("uniform")
    app.slider(key="num_workers").set_value(3)
    app.selectbox(key="planner").set_value("Free market")
    app.number_input(key="seed").set_value(5)
    app.slider(key="steps").set_value(60)
    app.run()
    assert not app.exception and not app.error
    expected = run_episode(EpisodeSetup(layout="uniform", num_workers=3, planner="free_market",
                                        seed=5, steps=60))
    table = app.dataframe[0].value
    assert list(table["agent"]) == [0, 1, 2]
    np.testing.assert_allclose(table["coin"].to_numpy(), expected.final_coin, atol=1e-6)
    np.testing.assert_allclose(table["labour"].to_numpy(), expected.labour[-1], atol=1e-6)
    summary = episode_summary(expected)
    shown = {m.help: m.value for m in app.metric}
    assert shown["productivity"] == f"{summary['productivity']:.1f}"
    assert shown["trades"] == f"{summary['trades']:.0f}"
    charts = app.get("plotly_chart")
    assert len(charts) == 4  # map, inventories, trades, tax schedule


def test_a_missing_checkpoint_is_reported_not_raised(tmp_path):
    app = AppTest.from_file(PAGE, default_timeout=120)
    app.run()
    app.selectbox(key="workers").set_value("Learned checkpoint").run()
    app.text_input(key="workers_path").set_value("").run()
    assert not app.exception
    assert "workers_path" in app.error[0].value
    missing = str(tmp_path / "nowhere.pt")
    app.text_input(key="workers_path").set_value(missing).run()
    assert not app.exception
    assert "nowhere.pt" in app.error[0].value
