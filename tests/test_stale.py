"""Freshness: ``snapshots.stale_since`` (FIW_STALE_HOURS, interface.md) and its line in
``fiw status``."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import duckdb
import pytest
from fiw.report import _print_status, print_status
from fiw.snapshots import stale_since
from fiw.warehouse import connect
from rich.console import Console

from tests.fixtures.extract_helpers import settings_for

PUBLISHED_AT = datetime(2026, 11, 24, 2, 15)  # naive UTC, as the audit log holds it
HOURS = 36.0


def _warehouse(tmp_path, published_at=(), loaded_at: datetime | None = None):
    """A warehouse whose audit log holds one snapshot per publication time (the newest
    ``published``, the others ``superseded``), or one ``loaded`` snapshot loaded at
    ``loaded_at`` (naive local time, as the load writes it)."""
    settings = settings_for(tmp_path)
    with connect(settings) as con:
        for i, at in enumerate(sorted(published_at)):
            status = "published" if i == len(published_at) - 1 else "superseded"
            con.execute(
                "insert into audit.snapshots (snapshot_id, snapshot_date, status, loaded_at,"
                " published_at) values (?, ?, ?, ?, ?)",
                [f"S{i}", date(2026, 11, 20 + i), status, at, at],
            )
            con.execute(
                "insert into audit.publications values (?, ?, ?, ?)",
                [f"run{i}", f"S{i}", date(2026, 11, 20 + i), at],
            )
        if loaded_at is not None:
            con.execute(
                "insert into audit.snapshots (snapshot_id, snapshot_date, status, loaded_at)"
                " values ('L', date '2026-11-24', 'loaded', ?)",
                [loaded_at],
            )
    return settings


def _stale(settings, now, hours=HOURS):
    with connect(settings) as con:
        return stale_since(con, hours, now)


def test_an_empty_warehouse_is_not_stale(tmp_path):
    settings = _warehouse(tmp_path)
    assert _stale(settings, PUBLISHED_AT + timedelta(days=30)) is None


def test_exactly_stale_hours_after_the_publication_is_still_fresh(tmp_path):
    settings = _warehouse(tmp_path, [PUBLISHED_AT])
    at = PUBLISHED_AT.replace(tzinfo=UTC)
    assert _stale(settings, at + timedelta(hours=1)) is None
    assert _stale(settings, at + timedelta(hours=36)) is None
    assert _stale(settings, at + timedelta(hours=36, seconds=1)) == at
    assert _stale(settings, at + timedelta(days=10)) == at


def test_now_may_be_naive_utc_or_in_any_timezone(tmp_path):
    settings = _warehouse(tmp_path, [PUBLISHED_AT])
    at = PUBLISHED_AT.replace(tzinfo=UTC)
    assert _stale(settings, PUBLISHED_AT + timedelta(hours=36)) is None  # naive: UTC
    assert _stale(settings, PUBLISHED_AT + timedelta(hours=36, seconds=1)) == at
    paris = timezone(timedelta(hours=1))
    assert _stale(settings, (at + timedelta(hours=36)).astimezone(paris)) is None
    assert _stale(settings, (at + timedelta(hours=37)).astimezone(paris)) == at


def test_the_newest_publication_counts(tmp_path):
    newer = PUBLISHED_AT + timedelta(hours=30)
    settings = _warehouse(tmp_path, [PUBLISHED_AT, newer])
    assert _stale(settings, newer + timedelta(hours=36)) is None
    assert _stale(settings, newer + timedelta(hours=37)) == newer.replace(tzinfo=UTC)


def test_the_setting_is_honoured_to_the_second(tmp_path):
    settings = _warehouse(tmp_path, [PUBLISHED_AT])
    at = PUBLISHED_AT.replace(tzinfo=UTC)
    assert _stale(settings, at + timedelta(hours=1.5), hours=1.5) is None
    assert _stale(settings, at + timedelta(hours=1.5, seconds=1), hours=1.5) == at


def test_never_published_is_measured_from_the_first_snapshot_recorded(tmp_path):
    loaded_at = datetime(2026, 11, 24, 8, 0)  # local time, as audit.snapshots.loaded_at
    settings = _warehouse(tmp_path, loaded_at=loaded_at)
    first = loaded_at.astimezone(UTC)
    assert _stale(settings, first + timedelta(hours=36)) is None
    assert _stale(settings, first + timedelta(hours=36, seconds=1)) == first


def test_now_defaults_to_the_clock(tmp_path):
    recent = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=2)
    assert _stale(_warehouse(tmp_path / "a", [recent]), None) is None
    old = recent - timedelta(hours=40)
    assert _stale(_warehouse(tmp_path / "b", [old]), None) == old.replace(tzinfo=UTC)


def _status(settings, now=None, hours=HOURS) -> str:
    console = Console(record=True, width=220)
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        _print_status(console, con, "audit", stale_hours=hours, now=now)
    finally:
        con.close()
    return console.export_text()


def test_status_says_when_the_data_is_stale(tmp_path):
    settings = _warehouse(tmp_path, [PUBLISHED_AT])
    at = PUBLISHED_AT.replace(tzinfo=UTC)
    assert "stale" not in _status(settings, at + timedelta(hours=36))
    text = _status(settings, at + timedelta(hours=41))
    assert (
        "Data is stale: nothing published since 2026-11-24 02:15 UTC, 41 hours ago "
        "(FIW_STALE_HOURS=36)"
    ) in text


def test_status_says_when_nothing_was_ever_published(tmp_path):
    loaded_at = datetime(2026, 11, 24, 8, 0)
    settings = _warehouse(tmp_path, loaded_at=loaded_at)
    first = loaded_at.astimezone(UTC)
    text = _status(settings, first + timedelta(hours=50), hours=48)
    assert (
        f"Data is stale: nothing published yet; first snapshot recorded {first:%Y-%m-%d %H:%M} "
        "UTC, 50 hours ago (FIW_STALE_HOURS=48)"
    ) in text


@pytest.mark.parametrize(("age", "stale"), [(10, False), (40, True)])
def test_fiw_status_uses_the_setting(tmp_path, age, stale):
    published_at = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=age)
    settings = _warehouse(tmp_path, [published_at])
    console = Console(record=True, width=220)
    assert print_status(console, settings) == 0
    assert ("Data is stale" in console.export_text()) == stale


def test_status_finds_a_publication_older_than_the_30_snapshots_it_lists(tmp_path):
    """Thirty-one refused nights after the publication: the table shows the newest 30, and the
    last publication is still named (it was searched for only among the rows shown)."""
    settings = _warehouse(tmp_path, [PUBLISHED_AT])
    with connect(settings) as con:
        for i in range(31):
            con.execute(
                "insert into audit.snapshots (snapshot_id, snapshot_date, status, reason,"
                " loaded_at) values (?, ?, 'failed_volume', 'lost rows', ?)",
                [f"R{i}", date(2026, 12, 1) + timedelta(days=i), PUBLISHED_AT],
            )
    text = _status(settings, now=PUBLISHED_AT.replace(tzinfo=UTC))
    assert "Last publication: snapshot 2026-11-20" in text
    assert "2026-11-20" not in text.split("Last publication")[0]  # not among the rows listed
