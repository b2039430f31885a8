"""Bad input to ``sandbox report``: a clear message (exit 2) or a report that says so."""

import json

import pytest

from sandbox.cli import main
from tests.report.synthetic import write_folder


def run(argv, capsys):
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_empty_and_missing_folders_exit_2_and_write_nothing(tmp_path, capsys):
    (tmp_path / "empty" / "runs").mkdir(parents=True)
    for folder in (tmp_path / "empty", tmp_path / "nowhere"):
        out = tmp_path / f"{folder.name}.html"
        status, _, err = run(["report", str(folder), "--out", str(out)], capsys)
        assert status == 2 and "no results here" in err and "Traceback" not in err
        assert not out.exists() and not out.with_suffix(".json").exists()


def test_several_scenarios_one_section_each_or_the_one_asked_for(mixed_folder, tmp_path,
                                                                 capsys, mixed_report):
    sidecar = json.loads(mixed_report.sidecar.read_text())
    assert [s["name"] for s in sidecar["scenarios"]] == ["tax", "tax_sweep"]
    page = mixed_report.html.read_text()
    assert page.count('<article class="scenario"') == 2
    out = tmp_path / "one.html"
    status, printed, _ = run(["report", str(mixed_folder), "--out", str(out),
                              "--scenario", "tax_sweep"], capsys)
    assert status == 0 and str(out) in printed
    assert [s["name"] for s in json.loads(out.with_suffix(".json").read_text())["scenarios"]] \
        == ["tax_sweep"]
    status, _, err = run(["report", str(mixed_folder), "--out", str(out),
                          "--scenario", "nope"], capsys)
    assert status == 2 and "--scenario" in err and "tax (" in err and "tax_sweep (" in err


def test_all_runs_failed_says_so_and_lists_the_errors(tmp_path, capsys):
    folder = write_folder(tmp_path / "failed", labels=["Saez", "US federal"], seeds=(0, 1, 2),
                          fail=lambda label, seed: True)
    out = tmp_path / "failed.html"
    status, _, _ = run(["report", str(folder), "--out", str(out)], capsys)
    assert status == 0
    page = out.read_text()
    assert "All 6 runs of this scenario failed" in page
    for label in ("Saez", "US federal"):
        for seed in (0, 1, 2):
            assert f"synthetic failure of {label}, seed {seed}" in page
    found = json.loads(out.with_suffix(".json").read_text())["scenarios"][0]
    assert found["all_failed"] and found["headline"] is None
    assert "comparison" not in found["tables"] and found["figures"] == []
    assert len(found["tables"]["failures"]["records"]) == 6
    assert sum(r["runs"] for r in found["tables"]["failure_groups"]["records"]) == 6
    assert 'id="s-synthetic-comparison"' not in page and 'id="s-synthetic-failures"' in page


def test_some_failed_runs_are_listed_and_left_out_of_the_statistics(tmp_path, capsys):
    folder = write_folder(tmp_path / "some", labels=["Free market", "Saez"],
                          fail=lambda label, seed: label == "Saez" and seed == 1)
    out = tmp_path / "some.html"
    assert run(["report", str(folder), "--out", str(out)], capsys)[0] == 0
    found = json.loads(out.with_suffix(".json").read_text())["scenarios"][0]
    counts = {r["policy"]: r["n"] for r in found["tables"]["comparison"]["records"]
              if r["metric"] == "productivity"}
    assert counts == {"Free market": 3, "Saez": 2}
    assert found["runs"] == {"total": 6, "ok": 5, "failed": 1}
    assert [r["seed"] for r in found["tables"]["failures"]["records"]] == [1]
    assert not found["all_failed"]


@pytest.mark.parametrize(("option", "value", "field"), [
    ("--reference", "Nobody", "--reference"),
    ("--headline", "happiness", "--headline"),
    ("--out", "report.txt", "--out"),
])
def test_bad_options_exit_2_naming_the_option(tmp_path, capsys, option, value, field):
    folder = write_folder(tmp_path / "r", labels=["Free market", "Saez"], seeds=(0, 1))
    argv = ["report", str(folder), "--out", str(tmp_path / "r.html"), option, value]
    if option == "--out":
        argv = ["report", str(folder), "--out", str(tmp_path / value)]
    status, _, err = run(argv, capsys)
    assert status == 2 and field in err and "Traceback" not in err


def test_one_seed_gives_means_without_intervals_or_tests(tmp_path, capsys):
    folder = write_folder(tmp_path / "one", labels=["Free market", "Saez"], seeds=(0,))
    out = tmp_path / "one.html"
    assert run(["report", str(folder), "--out", str(out)], capsys)[0] == 0
    found = json.loads(out.with_suffix(".json").read_text())["scenarios"][0]
    assert "one seed, so no interval" in found["headline"]["text"]
    assert all(r["half_width"] is None and r["n"] == 1
               for r in found["tables"]["comparison"]["records"])
    assert all(r["p_value"] is None and not r["significant"]
               for r in found["tables"]["differences"]["records"])
    assert out.read_text().count(">n.s.</span>") == 4
