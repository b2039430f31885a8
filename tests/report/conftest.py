"""Results folders and reports shared by the report tests (built once per session)."""

import warnings

import pytest

from sandbox.report.build import build_report
from tests.report.synthetic import sweep_points, write_folder

#: Policies of the sweep scenario.
SWEEP_POLICIES = ("US federal", "Saez")


@pytest.fixture(scope="session")
def mixed_folder(tmp_path_factory):
    """Two scenarios in one folder: a 4-policy x 3-seed comparison whose learned-looking
    policy logs training, and a 16-point Sobol sweep of two policies."""
    folder = tmp_path_factory.mktemp("mixed") / "results"
    write_folder(folder, name="tax", training=lambda label: label == "Search optimum")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Sobol balance: power of 2 points
        points, section = sweep_points("sobol", 16)
    write_folder(folder, name="tax_sweep", labels=SWEEP_POLICIES, points=points,
                 sweep=section, seeds=(0,), seed=1)
    return folder


@pytest.fixture(scope="session")
def mixed_report(mixed_folder, tmp_path_factory):
    """The report of both scenarios of ``mixed_folder``."""
    out = tmp_path_factory.mktemp("mixed_report") / "report.html"
    return build_report(mixed_folder, out, command="sandbox report results --out report.html")
