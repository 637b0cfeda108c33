"""The dbt macros behind every interval and p-value (dbt_project/macros/outcome_metric_names.sql)
rendered as they are and run in DuckDB on every count up to 2,500, against SciPy: the Wilson
bounds hold the rate (exactly 0 and 1 at the ends: computed, 969 / 969 once gave an upper bound
of 0.9999999999999999, which refused a snapshot) and the p-value is the normal's."""

from __future__ import annotations

from pathlib import Path

import duckdb
import jinja2
import pytest
from scipy.stats import binomtest, norm

MACROS = Path(__file__).resolve().parents[1] / "dbt_project" / "macros" / "outcome_metric_names.sql"


@pytest.fixture(scope="module")
def macros():
    return jinja2.Environment().from_string(MACROS.read_text(encoding="utf-8")).module


@pytest.fixture(scope="module")
def bounds(macros):
    con = duckdb.connect()
    low, high = (macros.wilson_bound("n", "d", b) for b in ("low", "high"))
    return con.execute(
        f"select n, d, {low} as low, {high} as high from range(0, 2501) as ds (d),"
        " range(0, 2501) as ns (n) where n <= d"
    ).fetchall()


def test_the_wilson_bounds_hold_the_rate_for_every_count(bounds) -> None:
    assert len(bounds) == 2501 * 2502 // 2
    bad = [
        (n, d, low, high)
        for n, d, low, high in bounds
        if (d == 0 and (low, high) != (None, None))
        or (d > 0 and not (0 <= low <= n / d <= high <= 1))
        or (d > 0 and n == 0 and low != 0.0)
        or (d > 0 and n == d and high != 1.0)
    ]
    assert bad == []


@pytest.mark.parametrize(("n", "d"), [(0, 1), (1, 1), (3, 7), (969, 969), (30, 535), (1, 2500)])
def test_the_wilson_bounds_are_scipys(bounds, n, d) -> None:
    got = {(n_, d_): (lo, hi) for n_, d_, lo, hi in bounds}[(n, d)]
    want = binomtest(n, d).proportion_ci(confidence_level=0.95, method="wilson")
    assert got == pytest.approx((want.low, want.high), abs=1e-12)


def test_the_p_value_is_the_normals(macros) -> None:
    con = duckdb.connect()
    p = macros.normal_two_sided_p("z")
    rows = con.execute(
        f"select z, {p} from (select (i - 4000) / 500.0 as z from range(0, 8001) as r (i))"
    ).fetchall()
    for z, got in rows:
        want = 2 * norm.sf(abs(z))
        assert got == pytest.approx(want, rel=2e-7, abs=1e-15), z
    assert con.execute(f"select {p} from (select null::double as z)").fetchone() == (None,)


def test_a_huge_statistic_gives_a_tiny_p_value_on_both_databases(macros, postgres_server) -> None:
    """At 200,000 children a difference can have |z| over 37, where exp(-z^2/2) underflows:
    PostgreSQL raised an error there (metric_differences failed to build), DuckDB gave 0."""
    p = macros.normal_two_sided_p("z")
    zs = (-1e6, -100.0, -38.0, 37.5, 40.0, 1e6)
    query = "select z, {p} from (values {values}) as t (z) order by z"
    values = ", ".join(f"(cast({z} as double precision))" for z in zs)
    on_duckdb = duckdb.connect().execute(query.format(p=p, values=values)).fetchall()
    with postgres_server.connect() as con:
        on_postgres = con.execute(query.format(p=p, values=values)).fetchall()
    for rows in (on_duckdb, on_postgres):
        assert [z for z, _ in rows] == sorted(zs)
        assert all(0 < got < 1e-300 for _, got in rows), rows
    with postgres_server.connect() as con:  # and the ordinary range is SciPy's there too
        for z in (0.0, 1.96, 5.0, 8.0):
            (got,) = con.execute(f"select {p} from (select {z}::float8 as z) as t").fetchone()
            assert got == pytest.approx(2 * norm.sf(z), rel=2e-7, abs=1e-15), z
