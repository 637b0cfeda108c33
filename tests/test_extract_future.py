"""A folder dated after the machine's date is refused as future-dated: recorded once, not loaded,
never a candidate for publication; it loads normally once its date arrives."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

from fiw import snapshots
from fiw.extract import LOADED, REJECTED, load_new_snapshots
from fiw.extract.discover import checksum_folder
from fiw.warehouse import connect

from tests.fixtures.extract_helpers import dump_all, query, settings_for
from tests.fixtures.ssd_builder import minimal_snapshot, write_snapshot


def test_future_dated_folder_is_rejected_once_and_loads_when_its_date_arrives(tmp_path):
    today = date.today()
    tomorrow = today + timedelta(days=1)
    later = minimal_snapshot()
    later["ssd_department"][0]["dept_team_name"] = "Unit One"
    write_snapshot(tmp_path / "exports", today.isoformat())
    future = write_snapshot(tmp_path / "exports", tomorrow.isoformat(), later)
    content_id = checksum_folder(tomorrow, future).snapshot_id
    settings = settings_for(tmp_path)

    report = load_new_snapshots(settings)  # the machine's own date
    by_name = {o.name: o for o in report.outcomes}
    refused = by_name[tomorrow.isoformat()]
    assert refused.status == REJECTED
    assert refused.reason == (
        f"folder {tomorrow} is dated after today ({today}): future-dated, not loaded; "
        "check the exporter's clock or the folder name"
    )
    assert report.refused == [refused]
    assert (
        refused.snapshot_id
        == hashlib.sha256(f"future:{tomorrow}:{content_id}".encode()).hexdigest()
    )
    assert refused.snapshot_id != content_id
    assert by_name[today.isoformat()].status == LOADED
    assert query(settings, "select distinct _snapshot_date from raw.ssd_person") == [(today,)]
    assert query(
        settings, "select status, reason from audit.snapshots where snapshot_date = ?", [tomorrow]
    ) == [(REJECTED, refused.reason)]
    with connect(settings) as con:
        assert snapshots.candidate(con).snapshot_date == today  # never the future one
        before = dump_all(con)

    # The next run, still before its date: already known, not a new refusal, nothing written.
    again = load_new_snapshots(settings)
    known = {o.name: o for o in again.outcomes}[tomorrow.isoformat()]
    assert known.already_known and known.status == REJECTED
    assert again.refused == [] and again.ok
    with connect(settings) as con:
        assert dump_all(con) == before

    # Its date arrives: it loads under its content's id, and becomes the candidate.
    arrived = load_new_snapshots(settings, today=tomorrow)
    loaded = {o.name: o for o in arrived.outcomes}[tomorrow.isoformat()]
    assert (loaded.status, loaded.snapshot_id, loaded.already_known) == (LOADED, content_id, False)
    assert query(settings, "select distinct _snapshot_date from raw.ssd_person order by 1") == [
        (today,),
        (tomorrow,),
    ]
    assert query(
        settings,
        "select status from audit.snapshots where snapshot_date = ? order by status",
        [tomorrow],
    ) == [(LOADED,), (REJECTED,)]  # the refusal stays in the log
    with connect(settings) as con:
        assert snapshots.candidate(con).snapshot_id == content_id


def test_folder_dated_today_is_not_future_dated(tmp_path):
    write_snapshot(tmp_path / "exports", "2026-11-24")
    settings = settings_for(tmp_path)
    (outcome,) = load_new_snapshots(settings, today=date(2026, 11, 24)).outcomes
    assert outcome.status == LOADED


def test_only_future_folders_leave_nothing_to_publish(tmp_path):
    write_snapshot(tmp_path / "exports", "2031-01-01")
    settings = settings_for(tmp_path)
    (outcome,) = load_new_snapshots(settings, today=date(2026, 11, 30)).outcomes
    assert outcome.status == REJECTED
    assert outcome.reason.startswith(
        "folder 2031-01-01 is dated after today (2026-11-30): future-dated, not loaded"
    )
    for obj in ("ssd_person", "ssd_cin_episodes", "ssd_department"):
        assert query(settings, f"select count(*) from raw.{obj}") == [(0,)]
    assert query(settings, "select count(*) from audit.snapshot_objects") == [(0,)]
    with connect(settings) as con:
        assert snapshots.candidate(con) is None


def test_two_future_folders_with_the_same_content_are_each_refused(tmp_path):
    write_snapshot(tmp_path / "exports", "2031-01-01")
    write_snapshot(tmp_path / "exports", "2031-01-02")
    settings = settings_for(tmp_path)
    report = load_new_snapshots(settings, today=date(2026, 11, 30))
    assert [(o.name, o.status) for o in report.outcomes] == [
        ("2031-01-01", REJECTED),
        ("2031-01-02", REJECTED),
    ]
    assert all("future-dated" in o.reason for o in report.outcomes)
