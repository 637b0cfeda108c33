"""What a failed check may say outside the warehouse: the offending codes, team ids and counts,
never a name, a date or a case-system id (fiw.contract.value_is_shareable), for the Great
Expectations suites and dbt's tests alike."""

from __future__ import annotations

import json
from datetime import date

import duckdb
import pytest
from fiw.contract import value_is_shareable
from fiw.quality.recording import record_dbt_results
from fiw.quality.results import ExpectationResult, shareable_values, values_text
from fiw.snapshots import Snapshot
from fiw.warehouse import ensure_schema


@pytest.mark.parametrize(
    ("column", "shareable"),
    [
        ("team_id", True),
        ("cine_referral_team", True),
        ("cine_close_reason", True),  # a code
        ("prof_full_time_equivalency", True),
        ("records", True),
        ("n_records", True),
        ("pers_person_id", False),  # case-system ids
        ("cine_referral_id", False),
        ("child_key", False),  # a keyed hash is still about one child
        ("pers_forename", False),
        ("pers_dob", False),
        ("cine_referral_date", False),  # dates are never shown
        ("pers_common_child_id", False),
        ("something_new", False),  # unknown: not shown
        (None, False),
    ],
)
def test_which_values_may_leave_the_warehouse(column, shareable):
    assert value_is_shareable(column) is shareable


def test_rows_keep_only_their_shareable_columns():
    rows = [
        {"cine_referral_id": "R1", "cine_referral_team": "T9", "cine_referral_date": "2016-01-02"},
        {"cine_referral_id": "R2", "cine_referral_date": "2016-01-03"},  # nothing shareable left
    ]
    assert shareable_values(rows) == [{"cine_referral_team": "T9"}]
    # a column expectation's value counts: kept for a code column, dropped for an id column
    counts = [{"value": "RC99", "count": 4}]
    assert shareable_values(counts, "cine_close_reason") == [
        {"cine_close_reason": "RC99", "count": 4}
    ]
    assert shareable_values(counts, "cine_person_id") == []
    assert shareable_values(["RC99"], "cine_close_reason") == [{"cine_close_reason": "RC99"}]
    assert shareable_values(["P77"], "pers_person_id") == []


def test_a_result_shown_outside_the_warehouse_names_values_not_rows():
    result = ExpectationResult(
        "marts",
        "marts.outcome_metrics",
        "every_team_is_a_unit",
        "unexpected_rows_expectation",
        None,
        "warning",
        False,
        1,
        examples=[{"team_id": "T999", "records": 3, "cine_referral_id": "R12345"}],
        values=shareable_values([{"team_id": "T999", "records": 3, "cine_referral_id": "R12345"}]),
    )
    public = result.describe(examples=False)
    assert "T999" in public and "R12345" not in public
    assert "R12345" in result.describe()  # the warehouse's own log keeps the row
    details = json.loads(result.details())
    assert details["values"] == [{"team_id": "T999", "records": 3}]
    assert values_text(result.details()) == "team_id=T999, records=3"
    assert values_text("not json") == "" and values_text(None) == ""


ACCEPTED = "test.fiw.accepted_values_int_plan_episodes_plan_type__CIN__CP__LAC.9094223a2d"
UNIQUE = "test.fiw.unique_int_cases_case_key.c652c742b9"
NOT_NULL = "test.fiw.not_null_int_plan_episodes_plan_type.ae6303cc67"


@pytest.fixture
def con():
    c = duckdb.connect()
    ensure_schema(c)
    c.execute("create table plans as select * from (values ('XX', 'k1'), ('XX', 'k2')) t(p, k)")
    yield c
    c.close()


def test_dbt_failures_keep_the_codes_and_drop_the_keys(con):
    """dbt's failing rows are read again from the test's compiled query: an unknown plan type is
    kept (a code), a repeated case key is not (a hash of a case-system id); only counts stay."""
    run_results = {
        "results": [
            {
                "unique_id": ACCEPTED,
                "status": "warn",
                "failures": 1,
                "message": "Got 1 result, configured to warn if != 0",
                "compiled_code": "select p as value_field, count(*) as n_records from plans"
                " group by p",
            },
            {
                "unique_id": UNIQUE,
                "status": "fail",
                "failures": 1,
                "message": "Got 1 result, configured to fail if != 0",
                "compiled_code": "select k as unique_field, 2 as n_records from plans limit 1",
            },
            {"unique_id": NOT_NULL, "status": "pass", "failures": 0, "compiled_code": "select 1"},
        ]
    }
    outcome = record_dbt_results(con, Snapshot("s", date(2017, 11, 30)), "run-1", run_results)
    rows = {
        r[0]: (r[1], r[2], json.loads(r[3]))
        for r in con.execute(
            "select expectation, severity, success, details from audit.dq_results"
        ).fetchall()
    }
    assert rows["not_null"] == ("error", True, {})
    assert rows["accepted_values"][:2] == ("warning", False)
    assert rows["accepted_values"][2]["values"] == [{"plan_type": "XX", "n_records": 2}]
    assert rows["unique"][:2] == ("error", False)
    assert "values" not in rows["unique"][2]  # k1 is a case key: only the count is kept
    assert "k1" not in json.dumps(rows["unique"][2])
    assert outcome.failed_tests and "k1" not in outcome.summary()
    assert 'e.g. {"plan_type": "XX"' in outcome.warnings[0]


def test_a_failing_values_query_that_breaks_is_recorded_without_values(con):
    run_results = {
        "results": [
            {
                "unique_id": ACCEPTED,
                "status": "warn",
                "failures": 3,
                "compiled_code": "select * from a_table_that_is_gone",
            }
        ]
    }
    record_dbt_results(con, Snapshot("s", date(2017, 11, 30)), "run-1", run_results)
    n, details = con.execute("select unexpected_count, details from audit.dq_results").fetchone()
    assert n == 3 and "values" not in json.loads(details)
