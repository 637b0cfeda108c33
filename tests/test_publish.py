"""Publication: exactly the published tables, no personal data, an atomic swap that never
disturbs a reader, and a failed run that leaves the old file byte for byte."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import duckdb
import pytest
from fiw import publish as pub
from fiw.settings import Settings
from fiw.warehouse import connect

OLD, NEW = "1" * 64, "2" * 64
OLD_DATE, NEW_DATE = date(2017, 11, 29), date(2017, 11, 30)
THRESHOLD = 5  # dbt var suppression_threshold (metrics.md), default


def key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


OUTCOME_COLUMNS = (
    "(window_name, window_start, window_end, segment, metric, numerator, denominator, rate,"
    " suppressed, as_of_date)"
)


def build_marts(con, as_of: date) -> None:
    """Hand-made marts for snapshot ``as_of`` (what dbt builds), including a suppressed row."""
    con.execute(
        "create or replace table marts.outcome_metrics_suppressed (window_name varchar,"
        " window_start date, window_end date, segment varchar, metric varchar, numerator bigint,"
        " denominator bigint, rate double, suppressed boolean, as_of_date date, ci_low double,"
        " ci_high double)"
    )
    con.execute(
        "insert into marts.outcome_metrics_suppressed"
        f" {OUTCOME_COLUMNS} values"
        " ('family_insights', '2015-06-01', '2016-10-31', 'all', 'closure_rate', 22, 100, 0.22,"
        " false, $d),"
        " ('family_insights', '2015-06-01', '2016-10-31', 'neglect', 'closure_rate', null, null,"
        " null, true, $d),"
        " ('previous_model', '2014-01-01', '2015-05-31', 'all', 'closure_rate', 0, 40, 0.0,"
        " false, $d)",
        {"d": as_of},
    )
    con.execute(
        "update marts.outcome_metrics_suppressed set ci_low = greatest(rate - 0.05, 0),"
        " ci_high = least(rate + 0.05, 1)"
        " where not suppressed"
    )
    con.execute(
        "create or replace table marts.outcome_trends_suppressed as select"
        " '12_months_to_2016-10-31' as window_name, date '2015-11-01' as window_start,"
        " date '2016-10-31' as window_end, * exclude (window_name, window_start, window_end)"
        " from marts.outcome_metrics_suppressed where window_name = 'family_insights'"
    )
    con.execute(
        "create or replace table marts.outcome_years_suppressed as select"
        " '12_months_to_2016-03-31' as window_name, date '2015-04-01' as window_start,"
        " date '2016-03-31' as window_end, * exclude (window_name, window_start, window_end)"
        " from marts.outcome_metrics_suppressed where window_name = 'family_insights'"
        " and segment = 'all'"
    )
    con.execute(
        "create or replace table marts.metric_differences_suppressed as select 'all' as segment,"
        " 'closure_rate' as metric, 'previous_model' as previous_window,"
        " 0 as previous_numerator, 40 as previous_denominator, 0.0 as previous_rate,"
        " 'family_insights' as programme_window, 22 as programme_numerator,"
        " 100 as programme_denominator, 0.22 as programme_rate, 0.22 as difference,"
        " 0.1 as ci_low, 0.3 as ci_high, 0.001 as p_value,"
        " 'higher under Family Insights; unlikely to be noise' as verdict, false as suppressed,"
        " ? as as_of_date",
        [as_of],
    )
    con.execute(
        "create or replace table marts.plan_episodes as select ? as plan_episode_id,"
        " ? as child_key, ? as case_key, 'CP' as plan_type, 2 as level,"
        " date '2015-07-01' as start_date, date '2016-01-10' as end_date,"
        " null::varchar as end_reason, 'neglect' as segment",
        [key("CP1"), key("C1"), key("R1")],
    )
    con.execute(
        "create or replace table marts.plan_transitions as select ? as from_plan_episode_id,"
        " ? as to_plan_episode_id, ? as child_key, 'CP' as from_type, 'CIN' as to_type,"
        " 'de-escalation' as direction, date '2016-01-10' as from_end_date,"
        " date '2016-01-10' as to_start_date",
        [key("CP1"), key("CINP1"), key("C1")],
    )
    con.execute(
        "create or replace table marts.caseload_monthly as select 'T103' as team_id,"
        " 'Unit 3 - Neglect' as unit_name, 'neglect' as segment, ? as month_end,"
        " 12 as open_children, 3 as workers, 2.5 as fte, 4.8 as children_per_fte",
        [as_of],
    )
    con.execute(
        "create or replace table marts.caseload_monthly_suppressed as select *,"
        " false as suppressed from marts.caseload_monthly"
    )
    build_matched_marts(con, as_of)


def build_matched_marts(con, as_of: date) -> None:
    """Hand-made matched_outcomes_suppressed and matched_balance_suppressed (docs/matching.md),
    one row suppressed in each."""
    con.execute(
        "create or replace table marts.matched_outcomes_suppressed as select * from (values"
        " ('family_insights', 'previous_model', 12, 'closed', 'matched', 2425, 516, 0.2128,"
        "  2129, 690, 0.3131, -0.1003, -0.1263, -0.0743, 2425, 197, 2129, 196, false, $d),"
        " ('family_insights', 'previous_model', 12, 'returned_home', 'matched', null, null, null,"
        "  null, null, null, null, null, null, 2425, 197, 2129, 196, true, $d)"
        ") as t (treated_window, control_window, follow_up_months, outcome, comparison,"
        " treated_cases, treated_count, treated_rate, control_cases, control_count, control_rate,"
        " difference, ci_lower, ci_upper, treated_matched, treated_dropped, control_matched,"
        " control_dropped, suppressed, as_of_date)",
        {"d": as_of},
    )
    con.execute(
        "create or replace table marts.matched_balance_suppressed as select * from (values"
        " ('family_insights', 'previous_model', 'sex', 'M', true, 0.511, 0.508, 0.006, 0.518,"
        "  0.518, 0.0, false, $d),"
        " ('family_insights', 'previous_model', 'sex', 'U', true, null, null, null, null, null,"
        "  null, true, $d)"
        ") as t (treated_window, control_window, characteristic, category, used_in_matching,"
        " treated_mean_before, control_mean_before, std_diff_before, treated_mean_after,"
        " control_mean_after, std_diff_after, suppressed, as_of_date)",
        {"d": as_of},
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.resolve(home=tmp_path / "home", exports=str(tmp_path / "exports"))


@pytest.fixture
def con(settings):
    with connect(settings) as c:
        c.execute(
            "insert into audit.snapshots (snapshot_id, snapshot_date, source, checksum, status,"
            " rows_loaded, rows_quarantined, loaded_at) values"
            " (?, ?, '/exports/2017-11-29', ?, 'validated', 10, 0, now()),"
            " (?, ?, '/exports/2017-11-30', ?, 'validated', 11, 1, now())",
            [OLD, OLD_DATE, OLD, NEW, NEW_DATE, NEW],
        )
        c.execute(
            "insert into audit.dq_results values ('run-1', now(), ?, ?, 'raw_statutory',"
            " 'raw.ssd_cp_plans', 'no_overlapping_cp_plans', null, 'error', false, 1,"
            " ?)",
            [NEW, NEW_DATE, json.dumps({"ref": "CIN 8940", "examples": [{"person": "C1"}]})],
        )
        build_marts(c, OLD_DATE)
        yield c


def read(path: Path, sql: str):
    with duckdb.connect(str(path), read_only=True) as c:
        return c.execute(sql).fetchall()


def disclosure_violations(con, table: str, threshold: int = THRESHOLD) -> list[tuple]:
    """metrics.md Disclosure control as a check: a row with numerator, denominator or
    denominator - numerator in [1, threshold] must be suppressed (figures NULL, suppressed true);
    a suppressed row shows no figure; an unsuppressed one shows no small number."""
    rows = con.execute(
        f"select window_name, segment, metric, numerator, denominator, rate, suppressed"
        f" from {table}"
    ).fetchall()
    bad = []
    for row in rows:
        n, d, rate, suppressed = row[3:]
        if suppressed is None:
            bad.append(row)
        elif suppressed:
            if (n, d, rate) != (None, None, None):
                bad.append(row)
        elif n is None or d is None or any(1 <= v <= threshold for v in (n, d, d - n)):
            bad.append(row)
    return bad


# --------------------------------------------------------------------------- content


def test_publishes_exactly_the_interface_tables_without_personal_data(settings, con) -> None:
    path = pub.publish(settings, con, OLD, "run-1")
    assert path == settings.home / "published.duckdb"
    # FIW_ANALYST_GROUP unset: the analysts' tier is the owner's alone (docs/audiences.md)
    assert (path.stat().st_mode & 0o777) == 0o600
    assert sorted(p.name for p in settings.home.iterdir() if "published" in p.name) == [
        "published.duckdb"
    ]
    with duckdb.connect(str(path), read_only=True) as c:
        columns: dict[str, list[str]] = {}
        for t, col in c.execute(
            "select table_name, column_name from duckdb_columns()"
            " where database_name = current_database() order by table_name, column_index"
        ).fetchall():
            columns.setdefault(t, []).append(col)
        assert columns == {t: list(cols) for t, (_, cols) in pub.PUBLISHED.items()}
        personal = [
            c_ for cols in columns.values() for c_ in cols if pub.PERSONAL_COLUMN.search(c_)
        ]
        assert sorted(personal) == [
            "column_name", "table_name", "unit_name", "window_name", "window_name",
            "window_name",
        ]  # fmt: skip
        # No case-system id anywhere: the only trace of C1 / CP1 / R1 is their keyed hash.
        text = json.dumps(
            [c.execute(f"select * from {t}").fetchall() for t in columns], default=str
        )
        for raw_id in ('"C1"', '"CP1"', '"R1"', "/exports/"):
            assert raw_id not in text
        assert key("C1") in text
        assert c.execute("select details from dq_results").fetchall() == [('{"ref":"CIN 8940"}',)]
        assert c.execute(
            "select snapshot_date, status, rows_quarantined from snapshots order by 1"
        ).fetchall() == [(OLD_DATE, "published", 0), (NEW_DATE, "validated", 1)]
        assert disclosure_violations(c, "outcome_metrics") == []
        assert c.execute("select count(*) from outcome_metrics").fetchone() == (3,)


def test_the_release_holds_the_report_and_the_data_quality_line(settings, con) -> None:
    """The evaluation report and ``data_quality.csv`` are written into the new release folder
    before it is swapped in, for everyone to read, and say what the release files say."""
    build_marts(con, NEW_DATE)
    pub.publish(settings, con, NEW, "run-1")
    release = settings.home / "release"
    assert os.readlink(release) == ".release-run-1"
    assert (release / "data_quality.csv").read_text() == (
        "as_of_date,checks,failed_errors,failed_warnings\n2017-11-30,1,1,0\n"
    )
    page = release / "report.html"
    assert (page.stat().st_mode & 0o777) == 0o644
    text = page.read_text(encoding="utf-8")
    assert "Cases closed: 22.0% under Family Insights against 0.0% under the previous model" in text
    assert 'data-key="family_insights|neglect|closure_rate" data-col="rate" data-value="c"' in text
    assert "CIN 8940" not in text and "no_overlapping_cp_plans" not in text
    assert "1 blocking check</span>" not in text  # counts only, each in its own figure
    assert ">1</span> blocking check failed" in text


def test_audit_records_the_publication(settings, con) -> None:
    pub.publish(settings, con, OLD, "run-1")
    build_marts(con, NEW_DATE)
    pub.publish(settings, con, NEW, "run-2")
    assert con.execute(
        "select snapshot_date, status, published_at is not null from audit.snapshots order by 1"
    ).fetchall() == [(OLD_DATE, "superseded", True), (NEW_DATE, "published", True)]
    assert con.execute(
        "select run_id, snapshot_id, snapshot_date from audit.publications order by published_at"
    ).fetchall() == [("run-1", OLD, OLD_DATE), ("run-2", NEW, NEW_DATE)]
    assert read(
        settings.published_path, "select snapshot_date, status from snapshots order by 1"
    ) == [
        (OLD_DATE, "superseded"),
        (NEW_DATE, "published"),
    ]


def test_refuses_a_failed_or_older_snapshot(settings, con) -> None:
    con.execute(
        "update audit.snapshots set status = 'failed_validation' where snapshot_id = ?", [OLD]
    )
    with pytest.raises(pub.PublishError, match="failed_validation"):
        pub.publish(settings, con, OLD, "run-1")
    pub.publish(settings, con, NEW, "run-2")
    con.execute("update audit.snapshots set status = 'validated' where snapshot_id = ?", [OLD])
    with pytest.raises(pub.PublishError, match="older than the publication of 2017-11-30"):
        pub.publish(settings, con, OLD, "run-3")
    assert read(settings.published_path, "select distinct as_of_date from outcome_metrics") == [
        (OLD_DATE,)  # the marts built for run-2 in this test were OLD's; NEW stays published
    ]


# --------------------------------------------------------------------------- the swap


READER = textwrap.dedent(
    """
    import sys, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    q = "select distinct as_of_date from outcome_metrics"
    print(con.execute(q).fetchall()[0][0], flush=True)
    sys.stdin.readline()  # publish runs meanwhile
    print(con.execute(q).fetchall()[0][0], flush=True)
    """
)


def test_reader_keeps_the_old_file_while_publish_swaps_in_the_new(settings, con) -> None:
    path = pub.publish(settings, con, OLD, "run-1")
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == str(OLD_DATE)
        # An in-process reader too, holding the old file open.
        in_process = duckdb.connect(str(path), read_only=True)
        build_marts(con, NEW_DATE)
        pub.publish(settings, con, NEW, "run-2")  # does not wait for, or disturb, the readers
        out, err = reader.communicate("go\n", timeout=60)
    finally:
        if reader.poll() is None:
            reader.kill()
    assert reader.returncode == 0, err
    assert out.strip() == str(OLD_DATE)  # the open reader still reads the old file
    q = "select distinct as_of_date from outcome_metrics"
    assert in_process.execute(q).fetchall() == [(OLD_DATE,)]
    in_process.close()
    new = subprocess.run(
        [sys.executable, "-c", f"import duckdb; print(duckdb.connect({str(path)!r},"
         f" read_only=True).execute({q!r}).fetchall()[0][0])"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert new.stdout.strip() == str(NEW_DATE)
    assert read(path, q) == [(NEW_DATE,)]  # and in this process, once the old reader closed


def _drop_caseload(con) -> None:
    con.execute("drop table marts.caseload_monthly_suppressed")  # built after three were written


def _unhashed_key(con) -> None:
    con.execute("update marts.plan_episodes set child_key = 'C1'")


def _failing_rename(con, monkeypatch) -> None:
    def boom(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)


@pytest.mark.parametrize(
    "breaker, error",
    [
        (_drop_caseload, duckdb.CatalogException),
        (_unhashed_key, pub.PublishError),
        (_failing_rename, OSError),
    ],
    ids=["missing-mart-mid-build", "case-system-id-in-key", "rename-fails"],
)
def test_failed_publish_leaves_the_old_file_byte_for_byte(
    settings, con, monkeypatch, breaker, error
) -> None:
    path = pub.publish(settings, con, OLD, "run-1")
    before = sha256(path)
    release_before = {f.name: sha256(f) for f in (settings.home / "release").iterdir()}
    build_marts(con, NEW_DATE)
    if breaker is _failing_rename:
        breaker(con, monkeypatch)
    else:
        breaker(con)
    with pytest.raises(error):
        pub.publish(settings, con, NEW, "run-2")
    assert sha256(path) == before
    assert sorted(p.name for p in settings.home.iterdir() if "published" in p.name) == [
        "published.duckdb"
    ]
    # the release and the catalogue are the old ones too, and nothing half-written is left
    assert {f.name: sha256(f) for f in (settings.home / "release").iterdir()} == release_before
    assert os.readlink(settings.home / "release") == ".release-run-1"
    assert os.readlink(settings.home / "catalog") == ".catalog-run-1"
    assert not [p for p in settings.home.iterdir() if "run-2" in p.name]
    assert con.execute(
        "select snapshot_date, status from audit.snapshots order by 1"
    ).fetchall() == [(OLD_DATE, "published"), (NEW_DATE, "validated")]
    assert con.execute("select count(*) from audit.publications").fetchone() == (1,)
    # the warehouse connection is left usable, with nothing attached
    assert con.execute(
        "select count(*) from duckdb_databases() where database_name like 'fiw_publish%'"
    ).fetchone() == (0,)


# --------------------------------------------------------------------------- disclosure check


def test_disclosure_check_catches_unsuppressed_small_numbers(con) -> None:
    """The suppression itself is dbt's (marts.outcome_metrics_suppressed); this is the check
    that what publish copies obeys metrics.md, on a hand-made table with one row of each kind."""
    assert disclosure_violations(con, "marts.outcome_metrics_suppressed") == []
    con.execute(
        "insert into marts.outcome_metrics_suppressed"
        f" {OUTCOME_COLUMNS} values"
        " ('family_insights', '2015-06-01', '2016-10-31', 'generic', 'closure_rate', 3, 40,"
        " 0.075, false, '2017-11-29'),"  # small numerator
        " ('family_insights', '2015-06-01', '2016-10-31', 'generic', 'closure_nfa_share', 38, 40,"
        " 0.95, false, '2017-11-29'),"  # denominator - numerator = 2
        " ('family_insights', '2015-06-01', '2016-10-31', 'disability', 'closure_rate', 0, 4,"
        " 0.0, false, '2017-11-29'),"  # small denominator
        " ('family_insights', '2015-06-01', '2016-10-31', 'disability', 'closure_nfa_share', 9,"
        " null, null, true, '2017-11-29'),"  # suppressed but a figure shows
        " ('family_insights', '2015-06-01', '2016-10-31', 'early permanence', 'closure_rate', 0,"
        " 0, null, false, '2017-11-29'),"  # zeros are not small: fine
        " ('family_insights', '2015-06-01', '2016-10-31', 'early permanence', 'closure_nfa_share',"
        " 6, 6, 1.0, false, '2017-11-29')"  # 6 of 6: above the threshold, difference 0: fine
    )
    got = disclosure_violations(con, "marts.outcome_metrics_suppressed")
    assert [(r[1], r[2]) for r in got] == [
        ("generic", "closure_rate"),
        ("generic", "closure_nfa_share"),
        ("disability", "closure_rate"),
        ("disability", "closure_nfa_share"),
    ]
