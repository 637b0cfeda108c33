"""Folders skipped by a load (incomplete, or not named as a date) are listed in
``audit.skipped_folders``, replaced by each load, and shown by ``fiw status``."""

from __future__ import annotations

import shutil
import time

import duckdb
from fiw.extract import INCOMPLETE, LOADED, NOT_A_SNAPSHOT, load_new_snapshots
from fiw.warehouse import connect
from rich.console import Console

from tests.fixtures.extract_helpers import dump_all, query, settings_for
from tests.fixtures.ssd_builder import write_snapshot


def _skipped(settings) -> list[tuple]:
    return query(
        settings, "select folder, status, reason from audit.skipped_folders order by folder"
    )


def test_skipped_folders_are_recorded_and_replaced_by_each_load(tmp_path):
    exports = tmp_path / "exports"
    write_snapshot(exports, "2026-11-24", success=True)
    write_snapshot(exports, "2026-11-25", success=False)
    write_snapshot(exports, "scratch")
    settings = settings_for(tmp_path)
    load_new_snapshots(settings)
    assert _skipped(settings) == [
        (
            "2026-11-25",
            INCOMPLETE,
            "no _SUCCESS marker in 2026-11-25/ although the exporter writes them: "
            "still being written, not loaded",
        ),
        (
            "scratch",
            NOT_A_SNAPSHOT,
            "folder name 'scratch' is not a YYYY-MM-DD extract date: ignored",
        ),
    ]
    (seen_at,) = {r[0] for r in query(settings, "select seen_at from audit.skipped_folders")}
    assert seen_at is not None
    # Still not in audit.snapshots, as before.
    assert query(settings, "select snapshot_date::varchar from audit.snapshots") == [
        ("2026-11-24",)
    ]

    # The exporter finishes 2026-11-25 and someone removes scratch/: the listing is replaced.
    (exports / "2026-11-25" / "_SUCCESS").write_text("")
    shutil.rmtree(exports / "scratch")
    report = load_new_snapshots(settings)
    assert {o.name: o.status for o in report.outcomes}["2026-11-25"] != INCOMPLETE
    assert _skipped(settings) == []


def test_an_unchanged_listing_is_not_rewritten_and_keeps_when_it_was_first_seen(tmp_path):
    exports = tmp_path / "exports"
    write_snapshot(exports, "2026-11-24", success=True)
    write_snapshot(exports, "2026-11-25", success=False)
    settings = settings_for(tmp_path)
    load_new_snapshots(settings)
    first = query(settings, "select * from audit.skipped_folders")
    with connect(settings) as con:
        before = dump_all(con)
    time.sleep(1.1)  # seen_at has whole seconds: a rewrite would show

    # Nothing new: every audit table, the listing included, stays exactly as it was.
    report = load_new_snapshots(settings)
    assert all(o.already_known for o in report.outcomes if o.status == LOADED)
    assert query(settings, "select * from audit.skipped_folders") == first
    with connect(settings) as con:
        assert dump_all(con) == before

    # A new skipped folder: listed now; 2026-11-25 keeps the time it was first seen skipped.
    (exports / "notes").mkdir()
    load_new_snapshots(settings)
    rows = query(settings, "select folder, seen_at from audit.skipped_folders order by folder")
    assert [r[0] for r in rows] == ["2026-11-25", "notes"]
    assert rows[0][1] == first[0][3]
    assert rows[1][1] > rows[0][1]


def _status_text(settings) -> str:
    from fiw.report import _print_status

    console = Console(record=True, width=220)
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        _print_status(console, con, "audit")
    finally:
        con.close()
    return console.export_text()


def test_status_shows_the_skipped_folders(tmp_path):
    from fiw.report import skipped_folders_table

    exports = tmp_path / "exports"
    write_snapshot(exports, "2026-11-24", success=True)
    write_snapshot(exports, "2026-11-25", success=False)
    settings = settings_for(tmp_path)
    load_new_snapshots(settings)
    with connect(settings, read_only=True) as con:
        table = skipped_folders_table(con)
    assert table is not None and table.row_count == 1
    text = _status_text(settings)
    assert "Folders skipped by the latest load" in text
    assert "2026-11-25" in text and INCOMPLETE in text
    assert "no _SUCCESS marker in 2026-11-25/" in text


def test_status_without_skipped_folders_shows_no_table(tmp_path):
    from fiw.report import skipped_folders_table

    write_snapshot(tmp_path / "exports", "2026-11-24")
    settings = settings_for(tmp_path)
    load_new_snapshots(settings)
    with connect(settings, read_only=True) as con:
        assert skipped_folders_table(con) is None
    assert "Folders skipped" not in _status_text(settings)


def test_skipped_folders_table_is_none_for_a_warehouse_that_predates_it(tmp_path):
    from fiw.report import skipped_folders_table

    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    try:
        con.execute("create schema audit")
        assert skipped_folders_table(con) is None
    finally:
        con.close()
