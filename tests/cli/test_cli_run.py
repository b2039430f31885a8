import json

import pyarrow.parquet as pq
import pytest
import yaml

from sandbox.cli import main
from tests.core import toy_registry  # noqa: F401  (registers the toy world)
from tests.scenario.test_scenario import BASE


@pytest.fixture
def scenario_file(tmp_path):
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(BASE))
    return path


def test_run_writes_one_file_per_run_and_prints_the_comparison(scenario_file, tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["run", str(scenario_file), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ones" in printed and "zeros" in printed
    files = sorted((out / "runs").glob("*.parquet"))
    assert len(files) == 4
    row = pq.read_table(files[0]).to_pylist()[0]
    assert row["status"] == "ok" and json.loads(row["config"])["scenario"] == "toy"
    manifest = json.loads((out / "scenario.json").read_text())
    assert manifest["scenarios"]["toy"]["spec"]["name"] == "toy"
    # a second run of the same command rewrites the same four runs, no duplicates
    assert main(["run", str(scenario_file), "--out", str(out)]) == 0
    assert len(list((out / "runs").glob("*.parquet"))) == 4


def test_results_query_formats_and_export(scenario_file, tmp_path, capsys):
    out = tmp_path / "results"
    main(["run", str(scenario_file), "--out", str(out)])
    capsys.readouterr()
    sql = "SELECT variant, avg(total) AS total FROM runs GROUP BY variant ORDER BY variant"
    assert main(["results", str(out), "--sql", sql, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == [{"variant": "ones", "total": 6.0}, {"variant": "zeros", "total": 0.0}]
    assert main(["results", str(out), "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 5 and "run_id" in lines[0] and "traceback" not in lines[0]
    export = tmp_path / "all.parquet"
    assert main(["results", str(out), "--export", str(export)]) == 0
    assert pq.read_table(export).num_rows == 4


def test_bad_input_exits_2_with_one_paragraph_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**BASE, "world": {"name": "nowhere"}}))
    out = tmp_path / "never"
    assert main(["run", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "world.name" in err and "Traceback" not in err
    assert not out.exists()


def test_unwritable_output_folder(scenario_file, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert main(["run", str(scenario_file), "--out", str(blocker / "sub")]) == 2
    assert "a folder this user can write" in capsys.readouterr().err


def test_folder_of_another_scenario_version_is_refused(scenario_file, tmp_path, capsys):
    out = tmp_path / "results"
    main(["run", str(scenario_file), "--out", str(out)])
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump({**BASE, "question": "another question"}))
    assert main(["run", str(changed), "--out", str(out)]) == 2
    assert "--force-new" in capsys.readouterr().err
    assert main(["run", str(changed), "--out", str(out), "--force-new"]) == 0


def test_results_of_empty_folder(tmp_path, capsys):
    assert main(["results", str(tmp_path)]) == 2
    assert "no results here" in capsys.readouterr().err


def test_bad_sql_is_reported(scenario_file, tmp_path, capsys):
    out = tmp_path / "results"
    main(["run", str(scenario_file), "--out", str(out)])
    assert main(["results", str(out), "--sql", "SELECT nope FROM runs"]) == 2
    assert "the query failed" in capsys.readouterr().err
