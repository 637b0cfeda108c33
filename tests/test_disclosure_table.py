"""The dbt model outcome_metrics_suppressed's own logic (fiw.disclosure.table), on hand-made
tables: the primary rule's edges (the dbt unit tests of the SQL model it replaced), the
threshold, and the column types the published table keeps."""

from __future__ import annotations

import duckdb
import pytest
from fiw.disclosure.table import suppress_relation

COLUMNS = (
    "window_name varchar, window_start date, window_end date, segment varchar, metric varchar,"
    " numerator bigint, denominator bigint, rate double, ci_low double, ci_high double,"
    " as_of_date date"
)


def _suppressed(rows: list[tuple], threshold: int = 5) -> dict[tuple[str, str], tuple]:
    """rows of (segment, metric, numerator, denominator) in one window; the result by cell."""
    con = duckdb.connect()
    con.execute(f"create table om ({COLUMNS})")
    con.executemany(
        "insert into om values ('w', date '2015-06-01', date '2016-10-31', ?, ?, ?, ?,"
        " case when ? = 0 then null else ? / ? end, 0.01, 0.99, date '2017-11-30')",
        [(s, m, n, d, d, n, d) for s, m, n, d in rows],
    )
    out = suppress_relation(con, con.table("om"), threshold)
    got = {}
    for s, m, n, d, low, high, sup in out.project(
        "segment, metric, numerator, denominator, ci_low, ci_high, suppressed"
    ).fetchall():
        # a hidden cell loses its interval with its counts (it would tell the rate)
        assert (low, high) == ((None, None) if sup else (0.01, 0.99))
        got[(s, m)] = (n, d, sup)
    return got


@pytest.mark.parametrize(
    ("numerator", "denominator", "small"),
    [
        (0, 0, False),  # zero is not a small number
        (0, 6, False),
        (0, 3, True),
        (1, 10, True),
        (5, 20, True),
        (6, 20, False),
        (6, 6, False),  # denominator - numerator 0: not small
        (6, 7, True),  # denominator - numerator 1
        (6, 11, True),  # denominator - numerator 5
        (6, 12, False),  # denominator - numerator 6
    ],
)
def test_primary_rule_edges(numerator, denominator, small):
    # returned_home_rate has no segment total, so only the primary rule acts on it.
    got = _suppressed([("a", "returned_home_rate", numerator, denominator)])
    assert got[("a", "returned_home_rate")][2] is small
    if small:
        assert got[("a", "returned_home_rate")][:2] == (None, None)


def test_the_threshold_is_a_parameter():
    rows = [("a", "returned_home_rate", 3, 20), ("b", "returned_home_rate", 2, 20)]
    got = _suppressed(rows, threshold=2)
    assert got[("a", "returned_home_rate")] == (3, 20, False)
    assert got[("b", "returned_home_rate")] == (None, None, True)


def test_a_suppressed_segment_takes_a_complementary_one_and_the_total_stays():
    # The finding: one segment suppressed beside published others and `all` was
    # recovered by subtraction; now a second segment is hidden with it.
    rows = [
        ("generic", "closure_rate", 4, 7),
        ("neglect", "closure_rate", 63, 300),
        ("adolescents", "closure_rate", 92, 400),
        ("all", "closure_rate", 159, 707),
    ]
    got = _suppressed(rows)
    assert got[("generic", "closure_rate")][2] is True
    assert got[("neglect", "closure_rate")] == (None, None, True)  # the smaller one protects it
    assert got[("adolescents", "closure_rate")] == (92, 400, False)
    assert got[("all", "closure_rate")] == (159, 707, False)


def test_column_types_are_kept():
    con = duckdb.connect()
    con.execute(f"create table om ({COLUMNS})")
    con.execute(
        "insert into om values ('w', date '2015-06-01', date '2016-10-31', 'all',"
        " 'closure_rate', 10, 40, 0.25, 0.14, 0.41, date '2017-11-30')"
    )
    out = suppress_relation(con, con.table("om"), 5)
    assert dict(zip(out.columns, map(str, out.types), strict=True)) == {
        "window_name": "VARCHAR",
        "window_start": "DATE",
        "window_end": "DATE",
        "segment": "VARCHAR",
        "metric": "VARCHAR",
        "numerator": "BIGINT",
        "denominator": "BIGINT",
        "rate": "DOUBLE",
        "ci_low": "DOUBLE",
        "ci_high": "DOUBLE",
        "suppressed": "BOOLEAN",
        "as_of_date": "DATE",
    }
