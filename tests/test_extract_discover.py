"""Snapshot discovery: folder names, _SUCCESS markers, checksums, order."""

from __future__ import annotations

from fiw.extract import INCOMPLETE, LOADED, NOT_A_SNAPSHOT
from fiw.extract.discover import checksum_folder, find_snapshot_folders, parse_snapshot_date

from tests.fixtures.extract_helpers import load, query, settings_for
from tests.fixtures.ssd_builder import write_snapshot


def test_parse_snapshot_date_accepts_only_real_iso_dates():
    assert parse_snapshot_date("2026-11-24").isoformat() == "2026-11-24"
    for name in ("2026-02-30", "20261124", "2026-1-24", "latest", "2026-11-24x"):
        assert parse_snapshot_date(name) is None


def test_non_date_folder_is_reported_and_ignored(tmp_path):
    exports = tmp_path / "exports"
    write_snapshot(exports, "2026-11-24")
    write_snapshot(exports, "scratch")
    report = load(settings_for(tmp_path))
    by_name = {o.name: o for o in report.outcomes}
    assert by_name["scratch"].status == NOT_A_SNAPSHOT
    assert "'scratch' is not a YYYY-MM-DD extract date" in by_name["scratch"].reason
    assert by_name["2026-11-24"].status == LOADED
    assert report.ok
    settings = settings_for(tmp_path)
    assert query(settings, "select count(*) from audit.snapshots") == [(1,)]


def test_folder_without_success_is_incomplete_when_exporter_writes_markers(tmp_path):
    exports = tmp_path / "exports"
    write_snapshot(exports, "2026-11-24", success=True)
    write_snapshot(exports, "2026-11-25", success=False)
    settings = settings_for(tmp_path)
    report = load(settings)
    by_name = {o.name: o for o in report.outcomes}
    assert by_name["2026-11-24"].status == LOADED
    assert by_name["2026-11-25"].status == INCOMPLETE
    assert "no _SUCCESS marker in 2026-11-25/" in by_name["2026-11-25"].reason
    assert query(settings, "select snapshot_date::varchar from audit.snapshots") == [
        ("2026-11-24",)
    ]
    assert query(settings, "select distinct _snapshot_date::varchar from raw.ssd_person") == [
        ("2026-11-24",)
    ]


def test_without_any_marker_every_date_folder_is_complete(tmp_path):
    exports = tmp_path / "exports"
    write_snapshot(exports, "2026-11-25")
    write_snapshot(exports, "2026-11-24")
    found, skipped = find_snapshot_folders(exports)
    assert [d.isoformat() for d, _ in found] == ["2026-11-24", "2026-11-25"]  # oldest first
    assert skipped == []


def test_snapshot_id_depends_on_content_not_folder_name(tmp_path):
    a = write_snapshot(tmp_path, "2026-11-24")
    b = write_snapshot(tmp_path, "2026-11-25")
    id_a = checksum_folder(parse_snapshot_date(a.name), a).snapshot_id
    assert id_a == checksum_folder(parse_snapshot_date(b.name), b).snapshot_id
    (b / "ssd_person.csv").write_text((b / "ssd_person.csv").read_text() + "P9,,,,,,,\n")
    assert checksum_folder(parse_snapshot_date(b.name), b).snapshot_id != id_a
