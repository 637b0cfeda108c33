"""The open-data release (docs/audiences.md "Release files"): symbols c and z, the caseload
threshold, exact headers and metadata, a CSV that reads back as the table, no personal data."""

from __future__ import annotations

import csv
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest
from fiw.publish.database import NOT_PERSONAL, PERSONAL_COLUMN
from fiw.publish.release import META_HEADER, ReleaseError, write_release

THRESHOLD = 5
AS_OF = date(2017, 11, 30)
FI = ("family_insights", date(2015, 6, 1), date(2016, 10, 31))
PM = ("previous_model", date(2014, 1, 1), date(2015, 5, 31))

# audiences.md "Release files", word for word.
OUTCOME_COLUMNS = [
    "as_of_date", "window_name", "window_start", "window_end", "segment", "metric", "numerator",
    "denominator", "rate", "ci_low", "ci_high",
]  # fmt: skip
TREND_COLUMNS = [
    "as_of_date", "window_start", "window_end", "segment", "metric", "numerator", "denominator",
    "rate", "ci_low", "ci_high",
]  # fmt: skip
DIFFERENCE_COLUMNS = [
    "as_of_date", "segment", "metric", "previous_rate", "family_insights_rate", "difference",
    "ci_low", "ci_high", "p_value", "verdict",
]  # fmt: skip
CASELOAD_COLUMNS = [
    "team_id", "unit_name", "segment", "month_end", "open_children", "workers", "fte",
    "children_per_fte",
]  # fmt: skip
MATCHED_OUTCOME_COLUMNS = [
    "as_of_date", "treated_window", "control_window", "follow_up_months", "outcome",
    "comparison", "treated_cases", "treated_count", "treated_rate", "control_cases",
    "control_count", "control_rate", "difference", "ci_lower", "ci_upper", "treated_matched",
    "treated_dropped", "control_matched", "control_dropped",
]  # fmt: skip
MATCHED_BALANCE_COLUMNS = [
    "as_of_date", "treated_window", "control_window", "characteristic", "category",
    "used_in_matching", "treated_mean_before", "control_mean_before", "std_diff_before",
    "treated_mean_after", "control_mean_after", "std_diff_after",
]  # fmt: skip
# outcome, comparison, cases / count / rate treated, then control, difference, interval, suppressed
MATCHED_OUTCOME_ROWS = [
    ("closed", "matched", 2425, 516, 0.21278, 2129, 690, 0.31313, -0.10035, -0.12634, -0.07436,
     False),
    ("closed", "unmatched", 2622, 563, 0.21472, 2325, 750, 0.32258, -0.10786, -0.1335, -0.0822,
     False),
    ("returned_home", "matched", None, None, None, None, None, None, None, None, None, True),
    ("de_escalated", "matched", 0, 0, None, 40, 20, 0.5, None, None, None, False),  # no treated
]  # fmt: skip
MATCHED_SAMPLE = (2425, 197, 2129, 196)
# characteristic, category, before: treated, control, std; after: treated, control, std; suppressed
MATCHED_BALANCE_ROWS = [
    ("sex", "M", 0.511, 0.508, 0.006, 0.518, 0.5180000000001, 0.0, False),
    ("sex", "U", None, None, None, None, None, None, True),
    ("referred_in_previous_12_months", "true", 0.0234, 0.0451, -0.11982, 0.009, 0.009, -0.0,
     False),
]  # fmt: skip

# (window, segment, metric, numerator, denominator, rate, suppressed), in no particular order.
OUTCOME_ROWS = [
    (FI, "neglect", "closure_rate", None, None, None, True),  # suppressed (primary)
    (FI, "all", "closure_rate", 22, 100, 0.22, False),
    (FI, "abuse", "closure_rate", None, None, None, True),  # suppressed (complementary)
    (PM, "all", "closure_rate", 0, 40, 0.0, False),  # 0 is not small
    (PM, "all", "returned_home_rate", 0, 0, None, False),  # 0 / 0: rate not applicable
    (PM, "neglect", "returned_home_rate", None, None, None, True),  # suppressed, maybe 0 / 0
    (FI, "all", "re_referral_rate", 20, 30, 20 / 30, False),  # 0.6667
    (FI, "all", "repeat_cp_plan_rate", 10, 320, 10 / 320, False),  # 0.03125: half up, 0.0313
    (FI, "all", "cp_plan_2yr_plus_rate", 6, 200_000, 6 / 200_000, False),  # rounds to 0: low
    (FI, "all", "closure_nfa_share", 100, 100, 1.0, False),
]


# Trends: (window_end, segment, metric, numerator, denominator, suppressed).
TREND_ROWS = [
    (date(2016, 10, 31), "all", "closure_rate", 300, 1200, False),
    (date(2016, 10, 31), "neglect", "closure_rate", None, None, True),
    (date(2016, 9, 30), "all", "returned_home_rate", 0, 0, False),
]
# Comparisons: (segment, metric, previous n / d, programme n / d, difference, ci_low, ci_high,
# p_value, verdict, suppressed).
DIFFERENCE_ROWS = [
    ("all", "closure_rate", (1912, 4373), (1066, 5073), -0.22711, -0.24551, -0.20849, 1e-9,
     "lower under Family Insights; unlikely to be noise (the 95% interval excludes 0)", False),
    ("all", "repeat_cp_plan_rate", (30, 535), (36, 515), 0.01382, -0.01590, 0.04410, 0.356,
     "higher under Family Insights, but could be noise (the 95% interval includes 0)", False),
    ("neglect", "closure_rate", (None, None), (None, None), None, None, None, None,
     "not comparable: a figure is suppressed to protect small numbers", True),
    ("all", "returned_home_rate", (0, 0), (12, 40), None, None, None, None,
     "not comparable: a window has nothing to count", False),
]  # fmt: skip


def wilson(n: int | None, d: int | None) -> tuple[float | None, float | None]:
    """The 95% Wilson interval, written out independently of dbt's macro."""
    if not d:
        return None, None
    z, p = 1.959963984540054, n / d
    centre, half = p + z * z / (2 * d), z * (p * (1 - p) / d + z * z / (4 * d * d)) ** 0.5
    return (centre - half) / (1 + z * z / d), (centre + half) / (1 + z * z / d)


def caseload_rows(threshold: int) -> list[tuple]:
    """(team_id, unit_name, month_end, open_children, workers, fte, children_per_fte): the
    threshold's edges, a suppressed row with no FTE, a text that needs quoting, a NULL name."""
    t = threshold
    rows = [
        ("T1", "Unit 1, North", date(2017, 9, 30), 0, 0, "0.0000", None),  # 0: published, z
        ("T1", "Unit 1, North", date(2017, 10, 31), 1, 1, "1.0000", 1.0),  # 1: c
        ("T1", "Unit 1, North", date(2017, 11, 30), t, 2, "1.5000", t / 1.5),  # threshold: c
        ("T2", 'Équipe "deux"', date(2017, 10, 31), t + 1, 3, "2.5000", (t + 1) / 2.5),  # c
        ("T2", 'Équipe "deux"', date(2017, 9, 30), t + 2, 3, "2.5000", (t + 2) / 2.5),
        ("T2", 'Équipe "deux"', date(2017, 11, 30), 12, 3, "2.5000", 4.8),
        ("T3", None, date(2017, 11, 30), min(2, t), 1, "0.0000", None),  # c beats z
        ("T3", None, date(2017, 10, 31), 40, 4, "3.0000", 40 / 3),
    ]
    return list(reversed(rows))


def build(con, threshold: int = THRESHOLD) -> None:
    con.execute("create schema if not exists marts")
    con.execute(
        "create or replace table marts.outcome_metrics_suppressed (window_name varchar,"
        " window_start date, window_end date, segment varchar, metric varchar, numerator bigint,"
        " denominator bigint, rate double, ci_low double, ci_high double, suppressed boolean,"
        " as_of_date date)"
    )
    for (window, start, end), segment, metric, n, d, rate, suppressed in OUTCOME_ROWS:
        con.execute(
            "insert into marts.outcome_metrics_suppressed values"
            " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [window, start, end, segment, metric, n, d, rate, *wilson(n, d), suppressed, AS_OF],
        )
    con.execute(
        "create or replace table marts.outcome_years_suppressed as"
        " select * from marts.outcome_metrics_suppressed limit 0"
    )
    for end, segment, metric, n, d, suppressed in TREND_ROWS:
        start = date(end.year - 1, end.month % 12 + 1, 1)
        rate = n / d if d else None
        con.execute(
            "insert into marts.outcome_years_suppressed values"
            " ('12_months_to_' || ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [str(end), start, end, segment, metric, n, d, rate, *wilson(n, d), suppressed, AS_OF],
        )
    con.execute(
        "create or replace table marts.metric_differences_suppressed (segment varchar,"
        " metric varchar, previous_window varchar, previous_numerator bigint,"
        " previous_denominator bigint, previous_rate double, programme_window varchar,"
        " programme_numerator bigint, programme_denominator bigint, programme_rate double,"
        " difference double, ci_low double, ci_high double, p_value double, verdict varchar,"
        " suppressed boolean, as_of_date date)"
    )
    for segment, metric, (n1, d1), (n2, d2), diff, low, high, p, verdict, hidden in DIFFERENCE_ROWS:
        con.execute(
            "insert into marts.metric_differences_suppressed values"
            " (?, ?, 'previous_model', ?, ?, ?, 'family_insights', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [segment, metric, n1, d1, n1 / d1 if d1 else None, n2, d2, n2 / d2 if d2 else None,
             diff, low, high, p, verdict, hidden, AS_OF],
        )  # fmt: skip
    # As dbt builds it (caseload_monthly, then its suppressed copy: 1 to threshold + 1 hidden),
    # plus a column the release must never carry.
    con.execute(
        "create or replace table marts.caseload_monthly (team_id varchar, unit_name varchar,"
        " segment varchar, month_end date, open_children bigint, workers bigint,"
        " fte decimal(12, 4), children_per_fte double, child_key varchar)"
    )
    for team, unit, month_end, children, workers, fte, per_fte in caseload_rows(threshold):
        con.execute(
            "insert into marts.caseload_monthly values (?, ?, 'neglect', ?, ?, ?, ?, ?, 'ab12')",
            [team, unit, month_end, children, workers, Decimal(fte), per_fte],
        )
    con.execute(
        "create or replace table marts.caseload_monthly_suppressed as select team_id, unit_name,"
        " segment, month_end, case when not s then open_children end as open_children, workers,"
        " fte, case when not s then children_per_fte end as children_per_fte, s as suppressed,"
        " child_key from (select *, open_children between 1 and ? as s"
        " from marts.caseload_monthly)",
        [threshold + 1],
    )
    build_matched(con, MATCHED_OUTCOME_ROWS, MATCHED_SAMPLE)


def build_matched(con, outcome_rows, sample) -> None:
    """marts.matched_outcomes_suppressed and marts.matched_balance_suppressed as dbt builds them
    (docs/matching.md)."""
    con.execute(
        "create or replace table marts.matched_outcomes_suppressed (treated_window varchar,"
        " control_window varchar, follow_up_months integer, outcome varchar, comparison varchar,"
        " treated_cases bigint, treated_count bigint, treated_rate double, control_cases bigint,"
        " control_count bigint, control_rate double, difference double, ci_lower double,"
        " ci_upper double, treated_matched bigint, treated_dropped bigint,"
        " control_matched bigint, control_dropped bigint, suppressed boolean, as_of_date date)"
    )
    for row in outcome_rows:
        con.execute(
            "insert into marts.matched_outcomes_suppressed values"
            " ('family_insights', 'previous_model', 12, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " ?, ?, ?, ?)",
            [*row[:-1], *sample, row[-1], AS_OF],
        )
    con.execute(
        "create or replace table marts.matched_balance_suppressed (treated_window varchar,"
        " control_window varchar, characteristic varchar, category varchar,"
        " used_in_matching boolean, treated_mean_before double, control_mean_before double,"
        " std_diff_before double, treated_mean_after double, control_mean_after double,"
        " std_diff_after double, suppressed boolean, as_of_date date)"
    )
    for row in MATCHED_BALANCE_ROWS:
        con.execute(
            "insert into marts.matched_balance_suppressed values"
            " ('family_insights', 'previous_model', ?, ?, true, ?, ?, ?, ?, ?, ?, ?, ?)",
            [*row, AS_OF],
        )


@pytest.fixture
def con():
    with duckdb.connect() as c:
        build(c)
        yield c


@pytest.fixture
def release(con, tmp_path: Path) -> Path:
    folder = tmp_path / "release"
    folder.mkdir()
    write_release(con, folder, THRESHOLD)
    return folder


def read(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def by_key(rows: list[dict[str, str]], *key: str) -> dict[tuple[str, ...], dict[str, str]]:
    out = {tuple(r[k] for k in key): r for r in rows}
    assert len(out) == len(rows)
    return out


def four_places(value) -> str:
    return str(Decimal(repr(value)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


# --------------------------------------------------------------------------- files


def test_writes_twelve_files_and_returns_them(con, tmp_path: Path) -> None:
    folder = tmp_path / "release"
    folder.mkdir()
    written = write_release(con, folder, THRESHOLD)
    assert [p.name for p in written] == [
        "outcome_metrics.csv",
        "outcome_metrics.meta.csv",
        "outcome_years.csv",
        "outcome_years.meta.csv",
        "metric_differences.csv",
        "metric_differences.meta.csv",
        "caseload_monthly.csv",
        "caseload_monthly.meta.csv",
        "matched_outcomes.csv",
        "matched_outcomes.meta.csv",
        "matched_balance.csv",
        "matched_balance.meta.csv",
    ]
    assert all(p.parent == folder for p in written)
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in written)


def test_exact_headers_utf8_lf_and_stable_bytes(con, release: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    again.mkdir()
    write_release(con, again, THRESHOLD)
    for name, header in (
        ("outcome_metrics.csv", OUTCOME_COLUMNS),
        ("outcome_years.csv", TREND_COLUMNS),
        ("metric_differences.csv", DIFFERENCE_COLUMNS),
        ("caseload_monthly.csv", CASELOAD_COLUMNS),
        ("matched_outcomes.csv", MATCHED_OUTCOME_COLUMNS),
        ("matched_balance.csv", MATCHED_BALANCE_COLUMNS),
        ("outcome_metrics.meta.csv", list(META_HEADER)),
        ("caseload_monthly.meta.csv", list(META_HEADER)),
    ):
        data = (release / name).read_bytes()
        assert not data.startswith(b"\xef\xbb\xbf"), name  # no byte-order mark
        assert b"\r" not in data and data.endswith(b"\n"), name
        assert data.decode("utf-8").split("\n", 1)[0] == ",".join(header), name
        assert (again / name).read_bytes() == data, name  # same marts, same bytes
    assert META_HEADER == (
        "col_name", "col_type", "label", "indicator_grouping", "indicator_unit", "indicator_dp",
        "filter_hint", "filter_grouping_column",
    )  # fmt: skip


def test_only_aggregate_columns_no_personal_data(release: Path) -> None:
    for name, header in (
        ("outcome_metrics.csv", OUTCOME_COLUMNS),
        ("outcome_years.csv", TREND_COLUMNS),
        ("metric_differences.csv", DIFFERENCE_COLUMNS),
        ("caseload_monthly.csv", CASELOAD_COLUMNS),
        ("matched_outcomes.csv", MATCHED_OUTCOME_COLUMNS),
        ("matched_balance.csv", MATCHED_BALANCE_COLUMNS),
    ):
        with open(release / name, encoding="utf-8", newline="") as f:
            got = next(csv.reader(f))
        assert got == header  # child_key, in the source table, is not released
        assert [c for c in got if PERSONAL_COLUMN.search(c) and c not in NOT_PERSONAL] == []
    assert "ab12" not in (release / "caseload_monthly.csv").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- outcome metrics


def test_outcome_symbols(release: Path) -> None:
    rows = by_key(read(release / "outcome_metrics.csv"), "window_name", "segment", "metric")
    cells = {k: (r["numerator"], r["denominator"], r["rate"]) for k, r in rows.items()}
    intervals = {k: (r["ci_low"], r["ci_high"]) for k, r in rows.items()}
    assert intervals[("family_insights", "neglect", "closure_rate")] == ("c", "c")
    assert intervals[("previous_model", "all", "returned_home_rate")] == ("z", "z")
    assert intervals[("family_insights", "all", "closure_rate")] == tuple(
        four_places(v) for v in wilson(22, 100)
    )
    assert intervals[("previous_model", "all", "closure_rate")] == (
        "0.0000",
        four_places(3.84146 / 43.84146),
    )
    assert intervals[("family_insights", "all", "closure_nfa_share")][1] == "1.0000"
    assert cells[("family_insights", "neglect", "closure_rate")] == ("c", "c", "c")
    assert cells[("family_insights", "abuse", "closure_rate")] == ("c", "c", "c")
    assert cells[("previous_model", "neglect", "returned_home_rate")] == ("c", "c", "c")
    assert cells[("family_insights", "all", "closure_rate")] == ("22", "100", "0.2200")
    assert cells[("previous_model", "all", "closure_rate")] == ("0", "40", "0.0000")
    assert cells[("previous_model", "all", "returned_home_rate")] == ("0", "0", "z")
    assert cells[("family_insights", "all", "re_referral_rate")] == ("20", "30", "0.6667")
    assert cells[("family_insights", "all", "repeat_cp_plan_rate")] == ("10", "320", "0.0313")
    assert cells[("family_insights", "all", "cp_plan_2yr_plus_rate")] == ("6", "200000", "low")
    assert cells[("family_insights", "all", "closure_nfa_share")] == ("100", "100", "1.0000")
    for r in rows.values():
        assert r["as_of_date"] == "2017-11-30"
        assert (r["window_start"], r["window_end"]) in {
            ("2015-06-01", "2016-10-31"),
            ("2014-01-01", "2015-05-31"),
        }


def test_outcome_round_trip_and_order(con, release: Path) -> None:
    got = read(release / "outcome_metrics.csv")
    table = con.execute(
        "select as_of_date, window_name, window_start, window_end, segment, metric, numerator,"
        " denominator, rate, suppressed from marts.outcome_metrics_suppressed"
        " order by window_start, window_end, window_name, segment, metric"
    ).fetchall()
    assert len(got) == len(table) == len(OUTCOME_ROWS)
    for row, (as_of, window, start, end, segment, metric, n, d, rate, suppressed) in zip(
        got, table, strict=True
    ):
        assert list(row) == OUTCOME_COLUMNS
        assert (row["as_of_date"], row["window_name"], row["window_start"], row["window_end"]) == (
            as_of.isoformat(),
            window,
            start.isoformat(),
            end.isoformat(),
        )
        assert (row["segment"], row["metric"]) == (segment, metric)
        if suppressed:
            assert (row["numerator"], row["denominator"], row["rate"]) == ("c", "c", "c")
            assert (row["ci_low"], row["ci_high"]) == ("c", "c")
            continue
        assert (int(row["numerator"]), int(row["denominator"])) == (n, d)
        if d == 0:
            assert row["rate"] == "z"
        elif row["rate"] == "low":
            assert 0 < rate < 0.00005
        else:
            assert row["rate"] == four_places(rate)
            assert abs(Decimal(row["rate"]) - Decimal(repr(rate))) <= Decimal("0.00005")


def test_trends_and_differences(release: Path) -> None:
    trends = by_key(read(release / "outcome_years.csv"), "window_end", "segment", "metric")
    assert [list(r) for r in trends.values()][0] == TREND_COLUMNS  # no window name: its dates
    row = trends[("2016-10-31", "all", "closure_rate")]
    assert (row["window_start"], row["numerator"], row["denominator"], row["rate"]) == (
        "2015-11-01", "300", "1200", "0.2500",
    )  # fmt: skip
    assert (row["ci_low"], row["ci_high"]) == tuple(four_places(v) for v in wilson(300, 1200))
    hidden = trends[("2016-10-31", "neglect", "closure_rate")]
    assert [hidden[c] for c in TREND_COLUMNS[5:]] == ["c"] * 5
    empty = trends[("2016-09-30", "all", "returned_home_rate")]
    assert [empty[c] for c in TREND_COLUMNS[5:]] == ["0", "0", "z", "z", "z"]

    diffs = by_key(read(release / "metric_differences.csv"), "segment", "metric")
    closure = diffs[("all", "closure_rate")]
    assert [closure[c] for c in DIFFERENCE_COLUMNS[3:9]] == [
        "0.4372", "0.2101", "-0.2271", "-0.2455", "-0.2085", "low",
    ]  # fmt: skip
    assert closure["verdict"].startswith("lower under Family Insights; unlikely to be noise")
    repeat = diffs[("all", "repeat_cp_plan_rate")]
    assert [repeat[c] for c in ("difference", "ci_low", "ci_high", "p_value")] == [
        "0.0138", "-0.0159", "0.0441", "0.3560",
    ]  # fmt: skip
    assert "could be noise" in repeat["verdict"]
    suppressed = diffs[("neglect", "closure_rate")]
    assert [suppressed[c] for c in DIFFERENCE_COLUMNS[3:9]] == ["c"] * 6
    assert "suppressed" in suppressed["verdict"]
    none = diffs[("all", "returned_home_rate")]
    assert [none[c] for c in DIFFERENCE_COLUMNS[3:9]] == ["z", "0.3000", "z", "z", "z", "z"]


def test_differences_refuse_a_small_number(con, tmp_path: Path) -> None:
    con.execute(
        "update marts.metric_differences_suppressed set programme_numerator = 3"
        " where segment = 'all' and metric = 'closure_rate'"
    )
    folder = tmp_path / "release"
    folder.mkdir()
    with pytest.raises(ReleaseError, match="metric_differences all / closure_rate: unsuppressed"):
        write_release(con, folder, THRESHOLD)


def test_outcome_refuses_an_unsuppressed_small_number(con, tmp_path: Path) -> None:
    for n, d in ((3, 100), (6, 9), (6, 2)):  # a small numerator, a small d - n, n > d
        con.execute(
            "update marts.outcome_metrics_suppressed set numerator = ?, denominator = ?,"
            " rate = ? where window_name = 'family_insights' and segment = 'all'"
            " and metric = 'closure_rate'",
            [n, d, n / d],
        )
        folder = tmp_path / f"release-{n}-{d}"
        folder.mkdir()
        with pytest.raises(ReleaseError, match="closure_rate"):
            write_release(con, folder, THRESHOLD)
        assert list(folder.iterdir()) == []  # nothing half-written


# --------------------------------------------------------------------------- caseloads


@pytest.mark.parametrize("threshold", [1, 5, 10])
def test_caseload_threshold_edges(tmp_path: Path, threshold: int) -> None:
    with duckdb.connect() as c:
        build(c, threshold)
        c.execute("delete from marts.outcome_metrics_suppressed")  # its counts fit threshold 5
        write_release(c, tmp_path, threshold)
    assert (tmp_path / "outcome_metrics.csv").read_text() == ",".join(OUTCOME_COLUMNS) + "\n"
    rows = by_key(read(tmp_path / "caseload_monthly.csv"), "team_id", "month_end")
    cells = {k: (r["open_children"], r["children_per_fte"]) for k, r in rows.items()}
    assert cells[("T1", "2017-09-30")] == ("0", "z")  # zero is not small; no FTE
    assert cells[("T1", "2017-10-31")] == ("c", "c")  # 1
    assert cells[("T1", "2017-11-30")] == ("c", "c")  # the threshold
    assert cells[("T2", "2017-10-31")] == ("c", "c")  # threshold + 1: c stands for 1 to it
    assert cells[("T2", "2017-09-30")] == (
        str(threshold + 2),
        four_places((threshold + 2) / 2.5),
    )  # threshold + 2
    assert cells[("T3", "2017-11-30")] == ("c", "c")  # suppressed with no FTE: c, not z
    for r in rows.values():
        assert (r["open_children"] == "c") == (r["children_per_fte"] == "c")
        # workers and fte count professionals: always published
        assert r["workers"].isdigit()
        assert Decimal(r["fte"]) >= 0


def test_caseload_round_trip_and_order(con, release: Path) -> None:
    got = read(release / "caseload_monthly.csv")
    table = con.execute(
        "select team_id, unit_name, segment, month_end, open_children, workers, fte,"
        " children_per_fte from marts.caseload_monthly order by team_id, month_end"  # unsuppressed
    ).fetchall()
    assert len(got) == len(table)
    for row, (team, unit, segment, month_end, children, workers, fte, per_fte) in zip(
        got, table, strict=True
    ):
        assert list(row) == CASELOAD_COLUMNS
        assert (row["team_id"], row["segment"], row["month_end"]) == (
            team,
            segment,
            month_end.isoformat(),
        )
        assert row["unit_name"] == ("x" if unit is None else unit)  # quoting survives
        assert int(row["workers"]) == workers
        assert Decimal(row["fte"]) == fte and row["fte"] == f"{fte:.4f}"
        if 1 <= children <= THRESHOLD + 1:
            assert (row["open_children"], row["children_per_fte"]) == ("c", "c")
            continue
        assert int(row["open_children"]) == children
        if per_fte is None:
            assert fte == 0 and row["children_per_fte"] == "z"
        else:
            assert row["children_per_fte"] == four_places(per_fte)
            # published figures agree with each other: children_per_fte * fte = open_children
            assert abs(float(row["children_per_fte"]) * float(fte) - children) < 0.001


# --------------------------------------------------------------------------- metadata


@pytest.mark.parametrize(
    ("name", "columns", "indicators"),
    [
        ("outcome_metrics", OUTCOME_COLUMNS, set(OUTCOME_COLUMNS[6:])),
        ("outcome_years", TREND_COLUMNS, set(TREND_COLUMNS[5:])),
        ("metric_differences", DIFFERENCE_COLUMNS, set(DIFFERENCE_COLUMNS[3:9])),
        (
            "caseload_monthly",
            CASELOAD_COLUMNS,
            {"open_children", "workers", "fte", "children_per_fte"},
        ),
        ("matched_outcomes", MATCHED_OUTCOME_COLUMNS, set(MATCHED_OUTCOME_COLUMNS[6:])),
        ("matched_balance", MATCHED_BALANCE_COLUMNS, set(MATCHED_BALANCE_COLUMNS[6:])),
    ],
)
def test_meta_lists_every_column_once(
    release: Path, name: str, columns: list[str], indicators: set[str]
) -> None:
    meta = read(release / f"{name}.meta.csv")
    with open(release / f"{name}.csv", encoding="utf-8", newline="") as f:
        header = next(csv.reader(f))
    assert [m["col_name"] for m in meta] == header == columns  # each exactly once, in order
    for m in meta:
        assert list(m) == list(META_HEADER)
        assert m["col_type"] in {"Filter", "Indicator"}
        assert (m["col_type"] == "Indicator") == (m["col_name"] in indicators)
        assert m["label"].strip()
        assert m["indicator_unit"] in {"", "£", "£m", "%", "pp"}  # EES's units
        assert m["filter_grouping_column"] == ""
        if m["col_type"] == "Indicator":
            assert m["indicator_dp"].isdigit() and m["filter_hint"] == ""
        else:
            assert m["indicator_dp"] == ""
    dp = {m["col_name"]: m["indicator_dp"] for m in meta}
    for column in indicators:  # indicator_dp says how many places the file holds
        places = {
            len(v.split(".")[1]) if "." in v else 0
            for v in (r[column] for r in read(release / f"{name}.csv"))
            if v not in {"c", "z", "x", "low"}
        }
        assert places <= {int(dp[column])}, column


# --------------------------------------------------------------------------- matching


def test_matched_outcomes_symbols_and_signs(release: Path) -> None:
    rows = by_key(read(release / "matched_outcomes.csv"), "outcome", "comparison")
    assert list(rows) == [  # ordered by outcome, comparison
        ("closed", "matched"), ("closed", "unmatched"), ("de_escalated", "matched"),
        ("returned_home", "matched"),
    ]  # fmt: skip
    closed = rows[("closed", "matched")]
    assert [closed[c] for c in MATCHED_OUTCOME_COLUMNS[:6]] == [
        "2017-11-30", "family_insights", "previous_model", "12", "closed", "matched",
    ]  # fmt: skip
    assert [closed[c] for c in MATCHED_OUTCOME_COLUMNS[6:]] == [
        "2425", "516", "0.2128", "2129", "690", "0.3131", "-0.1004", "-0.1263", "-0.0744",
        "2425", "197", "2129", "196",
    ]  # fmt: skip
    hidden = rows[("returned_home", "matched")]
    assert [hidden[c] for c in MATCHED_OUTCOME_COLUMNS[6:15]] == ["c"] * 9
    assert hidden["treated_matched"] == "2425"  # the sample is not small: shown
    no_treated = rows[("de_escalated", "matched")]
    assert [no_treated[c] for c in ("treated_rate", "difference", "ci_lower")] == ["z"] * 3


def test_matched_outcomes_refuse_a_small_number(con, tmp_path: Path) -> None:
    small = [("closed", "matched", 100, 3, 0.03, 100, 20, 0.2, -0.17, -0.2, -0.1, False)]
    build_matched(con, small, MATCHED_SAMPLE)
    with pytest.raises(ReleaseError, match="small"):
        write_release(con, tmp_path, THRESHOLD)
    assert list(tmp_path.iterdir()) == []
    build_matched(con, MATCHED_OUTCOME_ROWS, (2425, 3, 2129, 196))  # a dropped group of 3
    with pytest.raises(ReleaseError, match="small"):
        write_release(con, tmp_path, THRESHOLD)
    build_matched(con, MATCHED_OUTCOME_ROWS, (None, None, None, None))  # withheld: c
    write_release(con, tmp_path, THRESHOLD)
    first = read(tmp_path / "matched_outcomes.csv")[0]
    assert [first[c] for c in MATCHED_OUTCOME_COLUMNS[-4:]] == ["c"] * 4


def test_matched_balance(release: Path) -> None:
    rows = by_key(read(release / "matched_balance.csv"), "characteristic", "category")
    assert [rows[("sex", "M")][c] for c in MATCHED_BALANCE_COLUMNS[5:]] == [
        "true", "0.5110", "0.5080", "0.0060", "0.5180", "0.5180", "0.0000",
    ]  # fmt: skip
    assert [rows[("sex", "U")][c] for c in MATCHED_BALANCE_COLUMNS[6:]] == ["c"] * 6
    previous = rows[("referred_in_previous_12_months", "true")]
    assert (previous["std_diff_before"], previous["std_diff_after"]) == ("-0.1198", "0.0000")


# --------------------------------------------------------------------------- misuse


def test_never_overwrites_and_rejects_bad_thresholds(con, tmp_path: Path) -> None:
    (tmp_path / "outcome_metrics.csv").write_text("keep\n")
    with pytest.raises(FileExistsError):
        write_release(con, tmp_path, THRESHOLD)
    assert (tmp_path / "outcome_metrics.csv").read_text() == "keep\n"
    assert [p.name for p in tmp_path.iterdir()] == ["outcome_metrics.csv"]
    for bad in (-1, True, 5.0, "5"):
        with pytest.raises(ValueError):
            write_release(con, tmp_path, bad)  # type: ignore[arg-type]


def test_caseload_refuses_an_unsuppressed_small_number(con, tmp_path: Path) -> None:
    # defence in depth behind the dbt model: 1 to threshold + 1 shown is refused, whatever the
    # suppressed column says
    con.execute(
        "update marts.caseload_monthly_suppressed set suppressed = false, open_children = ?,"
        " children_per_fte = 1 where team_id = 'T1' and month_end = date '2017-10-31'",
        [THRESHOLD + 1],
    )
    with pytest.raises(ReleaseError, match="small number"):
        write_release(con, tmp_path, THRESHOLD)
    assert list(tmp_path.iterdir()) == []
