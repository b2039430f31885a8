"""Every number of the report's tables is the sidecar's, and the sidecar's is DuckDB's."""

import json
import math
from html.parser import HTMLParser

import numpy as np
import pytest
from scipy import stats

from sandbox.batch.store import connect
from sandbox.report.format import format_estimate
from tests.report.conftest import SWEEP_POLICIES


class Cells(HTMLParser):
    """Collects the report's table cells: attributes and text, per scenario article."""

    def __init__(self):
        super().__init__()
        self.cells, self.scenario, self._open = [], None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "article":
            self.scenario = attrs["id"]
        elif tag == "td":
            self._open = {"attrs": attrs, "text": "", "scenario": self.scenario}
        elif tag == "span" and self._open is not None:
            self._open["text"] += "|"

    def handle_data(self, data):
        if self._open is not None:
            self._open["text"] += data

    def handle_endtag(self, tag):
        if tag == "td" and self._open is not None:
            self.cells.append(self._open)
            self._open = None


@pytest.fixture(scope="module")
def parsed(mixed_report):
    cells = Cells()
    cells.feed(mixed_report.html.read_text(encoding="utf-8"))
    sidecar = json.loads(mixed_report.sidecar.read_text())
    return cells.cells, sidecar


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def scenario(sidecar, name):
    return next(s for s in sidecar["scenarios"] if s["name"] == name)


def test_every_numeric_cell_is_a_sidecar_record(parsed):
    cells, sidecar = parsed
    numeric = [c for c in cells if "num" in c["attrs"].get("class", "").split()]
    assert len(numeric) >= 68  # 36 of "tax", 32 of "tax_sweep"
    by_id = {f"s-{s['name']}": s for s in sidecar["scenarios"]}
    for cell in numeric:
        text = cell["text"].strip()
        if text == "—":
            continue
        attrs = cell["attrs"]
        assert "data-table" in attrs, f"numeric cell without a record: {cell}"
        record = by_id[cell["scenario"]]["tables"][attrs["data-table"]]["records"][
            int(attrs["data-record"])]
        for field, value in json.loads(attrs["data-values"]).items():
            assert record[field] == value, (attrs, field)


def test_comparison_cells_show_their_values(parsed):
    cells, sidecar = parsed
    records = scenario(sidecar, "tax")["tables"]["comparison"]["records"]
    shown = [c for c in cells if c["attrs"].get("data-table") == "comparison"
             and c["scenario"] == "s-tax"]
    assert len(shown) == len(records) == 4 * 4
    for cell in shown:
        record = records[int(cell["attrs"]["data-record"])]
        assert cell["text"].strip() == format_estimate(record["mean"], record["half_width"])


@pytest.mark.parametrize("name", ["tax", "tax_sweep"])
def test_comparison_equals_duckdb(parsed, mixed_folder, name):
    _, sidecar = parsed
    records = scenario(sidecar, name)["tables"]["comparison"]["records"]
    con = connect(mixed_folder)
    for metric in ("productivity", "equality", "inverse_income_weighted_utility", "mean_hours"):
        rows = con.execute(
            f"SELECT variant, avg({metric}), stddev_samp({metric}), count({metric}) FROM runs "
            f"WHERE status = 'ok' AND scenario = '{name}' GROUP BY variant").fetchall()
        assert rows
        for variant, mean, sd, n in rows:
            record = next(r for r in records if r["policy"] == variant and r["metric"] == metric)
            half = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
            assert close(record["mean"], mean) and record["n"] == n
            assert close(record["half_width"], half)


def test_differences_equal_welch_from_duckdb_aggregates(parsed, mixed_folder):
    _, sidecar = parsed
    found = scenario(sidecar, "tax")
    records = found["tables"]["differences"]["records"]
    reference = found["reference"]
    assert reference == "Free market" and len(records) == 3 * 4
    con = connect(mixed_folder)
    for record in records:
        metric = record["metric"]
        rows = dict((r[0], r[1:]) for r in con.execute(
            f"SELECT variant, avg({metric}), var_samp({metric}), count(*) FROM runs "
            "WHERE status = 'ok' AND scenario = 'tax' GROUP BY variant").fetchall())
        (ma, va, na), (mb, vb, nb) = rows[record["policy"]], rows[reference]
        se2 = va / na + vb / nb
        df = se2**2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
        assert close(record["difference"], ma - mb)
        assert close(record["half_width"], stats.t.ppf(0.975, df) * math.sqrt(se2))
        p = 2 * stats.t.sf(abs(ma - mb) / math.sqrt(se2), df)
        assert close(record["p_value"], p)
        assert record["significant"] == (p < 0.05)


def test_policy_counts_headline_and_pareto_equal_duckdb(parsed, mixed_folder):
    _, sidecar = parsed
    found = scenario(sidecar, "tax")
    con = connect(mixed_folder)
    counts = con.execute("SELECT variant, count(*) FILTER (status = 'ok'), "
                         "count(*) FILTER (status <> 'ok') FROM runs WHERE scenario = 'tax' "
                         "GROUP BY variant").fetchall()
    records = found["tables"]["policies"]["records"]
    assert {(r["policy"], r["runs_ok"], r["runs_failed"]) for r in records} == set(counts)
    # the headline speaks of the world's first metric to raise: productivity
    headline = found["headline"]
    means = dict(con.execute("SELECT variant, avg(productivity) FROM runs "
                             "WHERE scenario = 'tax' GROUP BY variant").fetchall())
    assert headline["metric"] == "productivity"
    assert headline["best"] == max(means, key=means.get)
    assert close(headline["mean"], means[headline["best"]])
    plane = {r["policy"]: r for r in found["tables"]["plane"]["records"]}
    points = dict((r[0], r[1:]) for r in con.execute(
        "SELECT variant, avg(productivity), avg(equality) FROM runs "
        "WHERE scenario = 'tax' GROUP BY variant").fetchall())
    for policy, (x, y) in points.items():
        dominated = any(a >= x and b >= y and (a, b) != (x, y) for a, b in points.values())
        assert plane[policy]["pareto"] is not dominated
        assert close(plane[policy]["productivity"], x) and close(plane[policy]["equality"], y)


def test_sobol_indices_equal_an_ntile_query(parsed, mixed_folder):
    _, sidecar = parsed
    found = scenario(sidecar, "tax_sweep")
    assert found["sweep"]["design"] == "sobol" and found["sweep"]["points"] == 16
    records = found["tables"]["sensitivity"]["records"]
    assert len(records) == len(SWEEP_POLICIES) * 4 * 2
    con = connect(mixed_folder)
    for record in records:
        bins, column, metric = record["bins"], record["parameter"], record["metric"]
        sql = f"""
            WITH r AS (SELECT {metric} AS y, ntile({bins}) OVER (ORDER BY "{column}") AS b
                       FROM runs WHERE scenario = 'tax_sweep' AND status = 'ok'
                       AND variant = '{record["policy"]}'),
                 g AS (SELECT b, count(*) AS n, avg(y) AS m FROM r GROUP BY b)
            SELECT (SELECT sum(n * (m - (SELECT avg(y) FROM r)) ^ 2) FROM g),
                   (SELECT sum((y - (SELECT avg(y) FROM r)) ^ 2) FROM r), (SELECT count(*) FROM r)
        """
        between, total, n = con.execute(sql).fetchone()
        within = (total - between) / (n - bins)
        expected = min(1.0, max(0.0, (between - (bins - 1) * within) / total))
        assert close(record["index"], expected), record
    # the synthetic productivity is driven by elasticity, equality by kappa
    top = {(r["policy"], r["metric"]): r["parameter"] for r in records if r["rank"] == 1}
    for policy in SWEEP_POLICIES:
        assert top[(policy, "productivity")].endswith("elasticity")
        assert top[(policy, "equality")].endswith("kappa")


def test_regression_ranking_equals_least_squares_on_duckdb_rows(tmp_path):
    from sandbox.report.load import load_results
    from sandbox.report.sensitivity import sensitivity_table
    from tests.report.synthetic import sweep_points, write_folder

    points, section = sweep_points("grid", 5)
    folder = write_folder(tmp_path / "grid", name="grid", labels=["Saez"], points=points,
                          sweep=section, seeds=(0, 1), durable=False)
    table = sensitivity_table(load_results(folder)[0], "grid")
    con = connect(folder)
    columns = ['"param.world.params.utility.elasticity"', '"param.world.params.utility.kappa"']
    rows = np.array(con.execute(f"SELECT {', '.join(columns)}, productivity FROM runs "
                                "WHERE status = 'ok'").fetchall())
    x, y = rows[:, :2], rows[:, 2]
    z = (x - x.mean(0)) / x.std(0)
    beta = np.linalg.lstsq(z, (y - y.mean()) / y.std(), rcond=None)[0]
    found = [r for r in table.records if r["metric"] == "productivity"]
    assert [r["parameter"] for r in found] == [c.strip('"') for c in columns]
    assert all(close(r["index"], b) for r, b in zip(found, beta))
    assert found[0]["rank"] == 1 and found[0]["r_squared"] > 0.9


def test_element_ids_are_unique(mixed_report):
    # a figure whose div id repeated a section's id was drawn into the section
    class Ids(HTMLParser):
        def __init__(self):
            super().__init__()
            self.ids = []

        def handle_starttag(self, tag, attrs):
            self.ids += [v for k, v in attrs if k == "id"]

    found = Ids()
    found.feed(mixed_report.html.read_text(encoding="utf-8"))
    assert len(found.ids) > 30 and len(found.ids) == len(set(found.ids))
