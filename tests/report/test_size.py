"""The report aggregates before plotting: its size does not grow with the number of runs."""

import warnings

from sandbox.report import sensitivity
from sandbox.report.build import build_report
from tests.report.synthetic import sweep_points, write_folder

LIMIT_BYTES = 20_000_000


def sweep_report(tmp_path, name: str, samples: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Sobol balance: power of 2 points
        points, section = sweep_points("sobol", samples)
    folder = write_folder(tmp_path / name, name="size", labels=["US federal", "Saez"],
                          points=points, sweep=section, seeds=(0,), workers=100,
                          durable=False)
    return build_report(folder, tmp_path / f"{name}.html")


def test_report_size_is_bounded_and_independent_of_the_run_count(tmp_path, monkeypatch):
    # above this many runs per policy the sweep figure draws only its aggregated curve,
    # and both folders fill all of its bins
    monkeypatch.setattr(sensitivity, "MAX_RAW_POINTS", 20)
    monkeypatch.setattr(sensitivity, "MIN_PER_BIN", 1)
    small = sweep_report(tmp_path, "small", 30)
    large = sweep_report(tmp_path, "large", 120)
    small_bytes, large_bytes = small.html.stat().st_size, large.html.stat().st_size
    assert large_bytes < LIMIT_BYTES
    # 180 more runs add their ids to the provenance list (about 17 bytes each) and
    # nothing to the figures: far less than a row of data per run would
    assert large_bytes - small_bytes < 180 * 40, (small_bytes, large_bytes)
