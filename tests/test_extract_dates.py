"""Dates as real extracts write them (exports.md): ISO dates, and SQL Server's datetime text.

Most SSD extracts run on SQL Server, whose default text for a ``datetime`` is
``2016-10-31 00:00:00.000`` (``datetime2``: up to seven fractional digits). A date column accepts
``YYYY-MM-DD``, or ``YYYY-MM-DD HH:MM:SS`` / ``YYYY-MM-DDTHH:MM:SS`` with up to seven fractional
digits, truncated to its date; anything else is a bad date and quarantines its row. Raw keeps the
text as it arrived; staging (``ssd_date``) takes its first ten characters.
"""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pytest
from fiw.extract import LOADED, database_source
from fiw.extract.database_source import SNAPSHOT_DATE_ENV
from fiw.extract.load import load_new_snapshots
from fiw.extract.rules import date_sql, valid_date_sql

from tests.fixtures.extract_helpers import load, quarantine, query, settings_for
from tests.fixtures.ssd_builder import minimal_snapshot, write_snapshot, write_sqlite

DAY = "2026-11-24"

GOOD = [
    "2024-06-30",
    "2024-06-30 00:00:00",
    "2024-06-30T00:00:00",
    "2024-06-30 00:00:00.000",  # SQL Server datetime, the default text of most SSD extracts
    "2024-06-30T17:45:09.5",
    "2024-06-30 23:59:59.9999999",  # datetime2(7)
    "2024-06-30 00:00:00.123456",  # Python's isoformat of a datetime with microseconds
]

BAD = [
    "2024-06-30 00:00:00.12345678",  # eight fractional digits
    "2024-06-30 25:00:00",  # no such hour
    "2024-06-30 24:00:00",
    "2024-06-30 12:60:00",
    "2024-06-30 12:00:60",  # no leap second
    "2024-06-30 9:00:00",
    "2024-06-30 00:00",  # no seconds
    "2024-06-30 00:00:00.",  # a point without digits
    "2024-06-30 00:00:00 AM",  # trailing junk
    "2024-06-30 00:00:00Z",  # no time zone
    "2024-06-30T00:00:00+01:00",
    "2024-06-30 ",  # trailing space
    " 2024-06-30",  # leading space
    "2024-06-30  00:00:00",  # two spaces
    "2024-06-30t00:00:00",  # lower-case t
    "2024-06-30_00:00:00",
    "2024-02-30 00:00:00.000",  # not a real date, whatever the time
    "30/06/2024 00:00:00",
    "2024-06-30x",
]


def _load(tmp_path, data):
    write_snapshot(tmp_path / "exports", DAY, data)
    settings = settings_for(tmp_path, quarantine_threshold=1.0)
    (outcome,) = load(settings).outcomes
    return settings, outcome


@pytest.mark.parametrize("text", GOOD)
def test_date_or_sql_server_datetime_is_accepted_and_kept_as_it_arrived(tmp_path, text):
    data = minimal_snapshot()
    data["ssd_cin_episodes"][0]["cine_close_date"] = text  # R1 closes 2024-06-30
    settings, outcome = _load(tmp_path, data)
    assert outcome.status == LOADED and outcome.rows_quarantined == 0, outcome.reason
    assert query(
        settings, "select cine_close_date from raw.ssd_cin_episodes where cine_referral_id = 'R1'"
    ) == [(text,)]


@pytest.mark.parametrize("text", BAD)
def test_anything_else_is_a_bad_date(tmp_path, text):
    data = minimal_snapshot()
    data["ssd_cin_episodes"][0]["cine_close_date"] = text
    settings, outcome = _load(tmp_path, data)
    assert outcome.status == LOADED  # one row of two: within the threshold of 1.0
    assert quarantine(settings, "ssd_cin_episodes") == [
        (
            "ssd_cin_episodes.csv",
            2,
            "R1",
            f"cine_close_date '{text}' is not a real date (YYYY-MM-DD)",
        )
    ]


def test_a_datetime_is_truncated_to_its_date_for_the_interval_rules(tmp_path):
    data = minimal_snapshot()
    # Same day, close earlier in the day than the referral: not "end before start".
    data["ssd_cin_episodes"][0]["cine_referral_date"] = "2024-01-10 17:00:00.000"
    data["ssd_cin_episodes"][0]["cine_close_date"] = "2024-01-10T09:00:00.0000000"
    settings, outcome = _load(tmp_path, data)
    assert outcome.rows_quarantined == 0, quarantine(settings, "ssd_cin_episodes")
    # The day before is still caught, whichever way the dates are written.
    data["ssd_cin_episodes"][0]["cine_close_date"] = "2024-01-09 23:59:59.997"
    write_snapshot(tmp_path / "later" / "exports", DAY, data)
    settings = settings_for(tmp_path / "later", quarantine_threshold=1.0)
    load(settings)
    assert quarantine(settings, "ssd_cin_episodes") == [
        (
            "ssd_cin_episodes.csv",
            2,
            "R1",
            "cine_close_date '2024-01-09 23:59:59.997' is before cine_referral_date "
            "'2024-01-10 17:00:00.000'",
        )
    ]


def test_sql_server_datetime_text_through_the_database_path(tmp_path, monkeypatch):
    """SQLite holds dates as text, as SQL Server's text arrives through a driver that returns
    strings (or a view that converts them): the same rule applies to both sources."""
    monkeypatch.setenv(SNAPSHOT_DATE_ENV, DAY)
    data = minimal_snapshot()
    data["ssd_person"][0]["pers_dob"] = "2015-03-01 00:00:00.000"
    data["ssd_cin_episodes"][0]["cine_referral_date"] = "2024-01-10T00:00:00.0000000"
    data["ssd_cin_episodes"][1]["cine_referral_date"] = "2025-02-01 00:00:00.00000000"
    url = write_sqlite(tmp_path / "ssd.sqlite", data)
    settings = settings_for(tmp_path, exports=url, quarantine_threshold=1.0)
    (outcome,) = load_new_snapshots(settings).outcomes
    assert outcome.status == LOADED
    assert quarantine(settings, "ssd_person") == []
    assert quarantine(settings, "ssd_cin_episodes") == [
        (
            "table:ssd_cin_episodes",
            2,
            "R2",
            "cine_referral_date '2025-02-01 00:00:00.00000000' is not a real date (YYYY-MM-DD)",
        )
    ]
    assert query(settings, "select pers_dob from raw.ssd_person where pers_person_id = 'P1'") == [
        ("2015-03-01 00:00:00.000",)
    ]


@pytest.mark.parametrize(
    "value",
    [
        date(2015, 3, 1),
        datetime(2015, 3, 1),
        datetime(2015, 3, 1, 10, 11, 12, 345678),
        "2015-03-01 00:00:00.000",
    ],
)
def test_what_a_driver_returns_for_a_date_is_text_the_rule_accepts(value):
    """Drivers of SQL Server and PostgreSQL return ``date`` / ``datetime`` objects: their text
    (microseconds when there are any) is a date the rule accepts, truncated to the same day."""
    text = database_source._text(value)
    con = duckdb.connect()
    valid, day = con.execute(
        f"select {valid_date_sql('t')}, {date_sql('t')} from (select ? as t)", [text]
    ).fetchone()
    assert valid and day == date(2015, 3, 1), text
