"""Bad input to ``sandbox batch``: one clear paragraph, exit status 2, nothing written."""

import json
import socket
import subprocess
import sys
import time

import pytest
import yaml

from sandbox.batch.ray_backend import check_address
from sandbox.cli import main
from sandbox.core import ConfigError
from tests.batch.conftest import ECONOMY


def write(tmp_path, data, name="study.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def refused(capsys, argv, out, *expected):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for text in expected:
        assert text in err, err
    assert not out.exists()
    return err


@pytest.mark.parametrize("parameters, expected", [
    ({"world.params.colour": {"values": [1, 2]}},
     ("sweep.parameters.world.params.colour", "num_workers")),
    ({"world.params.utility.kappa": {"min": 0.5, "max": 0.1}},
     ("sweep.parameters.world.params.utility.kappa", "min (0.5) must not exceed max (0.1)")),
    ({"roles.planner.saez.params.elasticity": {"values": [0.5]}},
     ("roles.planner is a list of policies (free_market, us_federal)",)),
    ({"world.params.num_workers": {"values": [1]}}, ("num_workers", "from 2")),
])
def test_bad_sweeps_are_refused_before_anything_runs(parameters, expected, tmp_path, capsys):
    scenario = write(tmp_path, {**ECONOMY, "sweep": {"parameters": parameters}})
    out = tmp_path / "never"
    refused(capsys, ["batch", str(scenario), "--out", str(out)], out, *expected)


def test_a_folder_of_another_scenario_version_is_refused_unless_force_new(tmp_path, capsys):
    small = {**ECONOMY, "sweep": None, "evaluation": {"seeds": [0], "deterministic": True}}
    out = tmp_path / "results"
    assert main(["batch", str(write(tmp_path, small)), "--out", str(out)]) == 0
    manifest = (out / "scenario.json").read_text()
    changed = write(tmp_path, {**small, "evaluation": {"seeds": [0, 1], "deterministic": True}},
                    "changed.yaml")
    assert main(["batch", str(changed), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--force-new" in err and "economy_study" in err and "hash" in err
    assert (out / "scenario.json").read_text() == manifest
    before = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*.parquet")}
    assert len(before) == 2
    # with --force-new: the new version is recorded; runs whose config is unchanged stay
    assert main(["batch", str(changed), "--out", str(out), "--force-new"]) == 0
    assert len(list((out / "runs").glob("*.parquet"))) == 4
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in before.items())
    spec = json.loads((out / "scenario.json").read_text())["scenarios"]["economy_study"]
    assert spec["spec"]["evaluation"]["seeds"] == [0, 1]


def test_a_results_folder_that_cannot_be_written_is_refused(tmp_path, capsys):
    scenario = write(tmp_path, ECONOMY)
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    out = blocker / "results"  # a folder under a regular file cannot be created, even by root
    refused(capsys, ["batch", str(scenario), "--out", str(out)], out,
            "--out", "a folder this user can write")
    assert main(["batch", str(scenario), "--out", str(blocker)]) == 2  # the file itself
    assert blocker.read_text() == ""


def test_an_unreachable_ray_address_fails_fast_and_writes_nothing(tmp_path, capsys):
    scenario = write(tmp_path, ECONOMY)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out, start = tmp_path / "never", time.time()
    refused(capsys, ["batch", str(scenario), "--out", str(out), "--backend", "ray",
                     "--address", f"127.0.0.1:{port}"], out, "--address", "answers within")
    assert time.time() - start < 20


def test_an_address_that_never_answers_times_out():
    # a listening socket whose backlog is full drops new connection requests unanswered
    with socket.socket() as server, socket.socket() as first:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        first.connect(server.getsockname())
        start = time.time()
        with pytest.raises(ConfigError, match="--address.*answers within 0.5 s"):
            check_address(f"127.0.0.1:{server.getsockname()[1]}", timeout=0.5)
        assert time.time() - start < 5
    with pytest.raises(ConfigError, match="host:port"):
        check_address("head-node:port", timeout=0.5)


@pytest.mark.slow
def test_an_address_where_something_else_listens_fails_within_the_join_timeout(tmp_path):
    scenario = write(tmp_path, ECONOMY)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        code = ("import sys; from sandbox.batch import ray_backend; "
                "ray_backend.JOIN_TIMEOUT_S = 5; from sandbox.cli import main; "
                f"sys.exit(main(['batch', {str(scenario)!r}, '--out', "
                f"{str(tmp_path / 'never')!r}, '--backend', 'ray', '--address', "
                f"'127.0.0.1:{server.getsockname()[1]}']))")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=120)
    assert done.returncode == 2 and "no Ray cluster answered" in done.stderr
    assert not (tmp_path / "never").exists()
