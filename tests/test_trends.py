"""Trends and uncertainty (docs/metrics.md, "Trends" and "Uncertainty") on the session's small
authority (tests/fixtures/nightly.py):

- a window is a window: ``outcome_trends`` (counted from ranges of window months) equals
  ``outcome_metrics`` (counted row by row in the fct_* models) built with the rolling windows put
  in ``programme_windows``, for every window, segment and metric;
- every rate's interval is SciPy's Wilson interval, every comparison's p-value SciPy's z-test and
  its interval Newcombe's, written out here from the papers' formulas;
- the published and released trends and comparisons are the suppressed ones, and the disclosure
  audit of the trends ran and passed.
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from fiw.settings import DBT_PROJECT_DIR
from scipy.stats import binomtest, norm

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
FCT_PATH = (
    "int_case_segments fct_case_windows fct_referral_windows fct_cp_plan_windows"
    " fct_period_of_care_windows outcome_metrics"
)
Z = norm.ppf(0.975)


def _rows(path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def home(nightly_home: Path) -> Path:
    return nightly_home


@pytest.fixture(scope="module")
def windowed(home: Path, tmp_path_factory) -> Path:
    """A copy of the warehouse whose programme_windows are the trends' rolling windows, the
    programme-window path rebuilt on them."""
    root = tmp_path_factory.mktemp("windowed")
    warehouse = root / "warehouse.duckdb"
    shutil.copy(home / "warehouse.duckdb", warehouse)
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(
            "create or replace table reference.programme_windows as select window_name,"
            " window_start, window_end from intermediate.int_trend_windows"
        )
    finally:
        con.close()
    env = {**os.environ, "FIW_WAREHOUSE_PATH": str(warehouse)}
    target = root / "target"
    done = subprocess.run(
        [str(BIN / "dbt"), "run", "--select", *FCT_PATH.split(), "--profiles-dir",
         str(DBT_PROJECT_DIR), "--target-path", str(target), "--log-path", str(target / "logs")],
        cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:]
    return warehouse


def _same(x: float | None, y: float | None) -> bool:
    return (x is None and y is None) or (
        x is not None and y is not None and math.isclose(x, y, abs_tol=1e-12)
    )


def test_a_rolling_window_counts_as_a_programme_window(windowed: Path) -> None:
    sql = (
        "select window_name, window_start, window_end, segment, metric, numerator, denominator,"
        " rate, ci_low, ci_high from marts.{} order by window_name, segment, metric"
    )
    trends = _rows(windowed, sql.format("outcome_trends"))
    programme = _rows(windowed, sql.format("outcome_metrics"))
    windows = {r[0] for r in trends}
    assert len(windows) >= 70  # 2010-11 to 2017-10: every month end of the records
    assert len(trends) == len(windows) * 9 * 11  # 7 units' segments, unassigned, all
    assert sum(r[6] for r in trends) > 100_000  # not a table of zeros
    # cell by cell, naming only the cells that differ (window, segment, metric: trends, programme)
    by_cell = {(r[0], r[3], r[4]): r for r in programme}
    differing = {}
    for a in trends:
        key = (a[0], a[3], a[4])
        b = by_cell.pop(key, None)
        if b is None or a[:7] != b[:7] or not all(map(_same, a[7:], b[7:])):
            differing[key] = (a[5:], b and b[5:])
    differing.update({key: (None, b[5:]) for key, b in by_cell.items()})
    assert not differing, f"{len(differing)} cells differ, e.g. " + "; ".join(
        f"{k}: {v}" for k, v in sorted(differing.items())[:12]
    )


def test_the_windows_run_from_the_first_whole_year_to_as_of_date(home: Path) -> None:
    (first_referral,) = _rows(
        home / "warehouse.duckdb", "select min(referral_date) from staging.stg_ssd__cin_episodes"
    )[0]
    windows = _rows(
        home / "warehouse.duckdb",
        "select window_start, window_end from intermediate.int_trend_windows order by 1",
    )
    first_start = windows[0][0]
    assert first_start.day == 1 and first_start >= first_referral
    assert (first_start.year * 12 + first_start.month) - (
        first_referral.year * 12 + first_referral.month
    ) == (0 if first_referral.day == 1 else 1)
    (as_of,) = _rows(home / "warehouse.duckdb", "select as_of_date from marts.outcome_trends")[0]
    last_end = windows[-1][1]
    assert last_end <= as_of and (last_end + timedelta(days=1)).day == 1
    assert last_end == as_of  # 2017-11-30 is a month end: the last window ends on it
    months = [start.year * 12 + start.month for start, _ in windows]
    assert months == list(range(months[0], months[0] + len(windows)))  # one window a month
    for start, end in windows:  # each 12 months long, from a 1st to a month end
        after = end + timedelta(days=1)
        assert start.day == 1 and (after.year, after.month) == (start.year + 1, start.month)


def _wilson(n: int, d: int) -> tuple[float, float]:
    ci = binomtest(n, d).proportion_ci(confidence_level=0.95, method="wilson")
    return ci.low, ci.high


def test_every_interval_is_scipys_wilson_interval(home: Path) -> None:
    rows = _rows(
        home / "warehouse.duckdb",
        "select numerator, denominator, ci_low, ci_high from marts.outcome_metrics union all"
        " select numerator, denominator, ci_low, ci_high from marts.outcome_trends"
        " where window_end in ('2012-06-30', '2015-05-31', '2016-10-31')",
    )
    assert len(rows) > 300
    for n, d, low, high in rows:
        if d == 0:
            assert (low, high) == (None, None)
            continue
        want = _wilson(n, d)
        assert math.isclose(low, want[0], abs_tol=1e-9) and math.isclose(
            high, want[1], abs_tol=1e-9
        )


def test_every_comparison_is_the_z_test_and_newcombes_interval(home: Path) -> None:
    rows = _rows(
        home / "warehouse.duckdb",
        "select segment, metric, previous_numerator, previous_denominator, programme_numerator,"
        " programme_denominator, difference, ci_low, ci_high, p_value, verdict"
        " from marts.metric_differences",
    )
    assert len(rows) == 9 * 11
    compared = 0
    for segment, metric, n1, d1, n2, d2, diff, low, high, p, verdict in rows:
        if d1 == 0 or d2 == 0:
            assert (diff, low, high, p) == (None, None, None, None)
            assert verdict == "not comparable: a window has nothing to count"
            continue
        compared += 1
        p1, p2 = n1 / d1, n2 / d2
        (l1, u1), (l2, u2) = _wilson(n1, d1), _wilson(n2, d2)
        assert math.isclose(diff, p2 - p1, abs_tol=1e-12)
        assert math.isclose(low, p2 - p1 - math.hypot(p2 - l2, u1 - p1), abs_tol=1e-9)
        assert math.isclose(high, p2 - p1 + math.hypot(u2 - p2, p1 - l1), abs_tol=1e-9)
        pooled = (n1 + n2) / (d1 + d2)
        se = math.sqrt(pooled * (1 - pooled) * (1 / d1 + 1 / d2))
        want_p = 1.0 if se == 0 else 2 * norm.sf(abs(p2 - p1) / se)
        assert math.isclose(p, want_p, rel_tol=2e-7, abs_tol=1e-12), (segment, metric, p, want_p)
        if low > 0 or high < 0:
            assert "unlikely to be noise" in verdict, verdict
        else:
            assert "could be noise" in verdict or verdict.startswith("no difference"), verdict
        assert verdict.startswith("lower" if diff < 0 else "higher" if diff > 0 else "no")
    assert compared >= 11  # segment all at least (the units began with Family Insights)


def test_the_release_holds_the_suppressed_trends_and_comparisons(home: Path) -> None:
    published = home / "published.duckdb"
    hidden = _rows(published, "select count(*) from outcome_trends where suppressed")[0][0]
    shown = _rows(published, "select count(*) from outcome_trends where not suppressed")[0][0]
    assert hidden > 0 and shown > 1000  # 1,500 children in 7 units: many small cells
    small = _rows(
        published,
        "select count(*) from outcome_trends where not suppressed and (numerator between 1 and 5"
        " or denominator between 1 and 5 or denominator - numerator between 1 and 5)",
    )[0][0]
    assert small == 0
    # the monthly rolling windows stay with analysts; the release holds the financial years,
    # segment all, the same figures as published.duckdb's outcome_years
    assert not (home / "release" / "outcome_trends.csv").exists()
    with open(home / "release" / "outcome_years.csv", encoding="utf-8", newline="") as f:
        released = list(csv.DictReader(f))
    years = _rows(
        published,
        "select window_end, metric, suppressed, numerator, denominator from outcome_years",
    )
    assert len(released) == len(years) >= 5 * 11  # 2011-12 to 2016-17 at least
    assert {r["segment"] for r in released} == {"all"}
    assert {(r["window_start"][5:], r["window_end"][5:]) for r in released} == {("04-01", "03-31")}
    by_year = {(str(e), m): (s, n, d) for e, m, s, n, d in years}
    for r in released:
        hidden_row, n, d = by_year[(r["window_end"], r["metric"])]
        assert (r["rate"] == "c") == hidden_row
        if not hidden_row:
            assert (int(r["numerator"]), int(r["denominator"])) == (n, d)
    assert all(r["ci_low"] == "c" for r in released if r["rate"] == "c")
    # a comparison is hidden exactly when a cell it compares is
    mismatched = _rows(
        published,
        "select d.segment, d.metric from metric_differences as d join (select segment, metric,"
        " bool_or(suppressed) as hidden from outcome_metrics group by all) as m"
        " using (segment, metric) where d.suppressed <> m.hidden",
    )
    assert mismatched == []
    audits = _rows(
        published,
        "select table_name, success from dq_results where suite = 'disclosure'"
        " and snapshot_date = date '2017-11-30'",
    )
    # the whole release audited at once, and the analysts' monthly trends window by window
    assert ("marts.outcome_metrics_suppressed", True) in audits
    assert ("marts.outcome_trends_suppressed", True) in audits
