"""Loading as a whole: idempotence, duplicates, transactions, database source, pruning."""

from __future__ import annotations

from datetime import date

import pytest
from fiw.contract import LOAD_ORDER, OBJECTS
from fiw.extract import (
    DUPLICATE,
    LOADED,
    REJECTED,
    load,
    load_new_snapshots,
    prune_after_publication,
    prune_raw,
)
from fiw.extract.database_source import SNAPSHOT_DATE_ENV
from fiw.warehouse import connect

from tests.fixtures.extract_helpers import dump_all, query, settings_for
from tests.fixtures.ssd_builder import minimal_snapshot, write_snapshot, write_sqlite

DAY = "2026-11-24"


def test_loading_twice_changes_nothing(tmp_path):
    data = minimal_snapshot()
    data["ssd_person"][1]["pers_sex"] = "Z"
    write_snapshot(tmp_path / "exports", DAY, data)
    settings = settings_for(tmp_path)
    first = load_new_snapshots(settings)
    assert not first.outcomes[0].already_known
    with connect(settings) as con:
        before = dump_all(con)
    second = load_new_snapshots(settings)
    (outcome,) = second.outcomes
    assert outcome.already_known and outcome.status == first.outcomes[0].status
    assert outcome.objects == first.outcomes[0].objects
    assert second.newly_loaded == [] and second.refused == []
    with connect(settings) as con:
        assert dump_all(con) == before


def test_rejected_snapshot_is_not_recorded_twice(tmp_path):
    folder = write_snapshot(tmp_path / "exports", DAY)
    (folder / "ssd_person.csv").unlink()
    settings = settings_for(tmp_path)
    assert load_new_snapshots(settings).outcomes[0].status == REJECTED
    again = load_new_snapshots(settings)
    assert again.outcomes[0].already_known and again.outcomes[0].status == REJECTED
    assert again.ok  # nothing newly refused
    assert query(settings, "select count(*) from audit.snapshots") == [(1,)]


def test_same_content_under_another_folder_is_a_duplicate(tmp_path):
    write_snapshot(tmp_path / "exports", "2026-11-24")
    write_snapshot(tmp_path / "exports", "2026-11-25")
    settings = settings_for(tmp_path)
    report = load_new_snapshots(settings)
    first, second = report.outcomes
    assert (first.name, first.status) == ("2026-11-24", LOADED)
    assert (second.name, second.status) == ("2026-11-25", DUPLICATE)
    assert second.snapshot_id == f"{first.snapshot_id}@2026-11-25"
    assert second.reason.startswith("same content as the snapshot of 2026-11-24 (status loaded")
    assert query(settings, "select distinct _snapshot_date::varchar from raw.ssd_person") == [
        ("2026-11-24",)
    ]
    with connect(settings) as con:
        before = dump_all(con)
    assert all(o.already_known for o in load_new_snapshots(settings).outcomes)
    with connect(settings) as con:
        assert dump_all(con) == before


def test_snapshots_load_oldest_first_and_keep_history(tmp_path):
    later = minimal_snapshot()
    later["ssd_person"][0]["pers_ethnicity"] = "WOTH"
    write_snapshot(tmp_path / "exports", "2026-11-25", later)
    write_snapshot(tmp_path / "exports", "2026-11-24")
    settings = settings_for(tmp_path)
    report = load_new_snapshots(settings)
    assert [(o.name, o.status) for o in report.outcomes] == [
        ("2026-11-24", LOADED),
        ("2026-11-25", LOADED),
    ]
    assert query(
        settings,
        "select snapshot_date::varchar from audit.snapshots order by loaded_at, snapshot_date",
    ) == [("2026-11-24",), ("2026-11-25",)]
    assert query(
        settings,
        "select _snapshot_date::varchar, pers_ethnicity from raw.ssd_person "
        "where pers_person_id = 'P1' order by 1",
    ) == [("2026-11-24", "WBRI"), ("2026-11-25", "WOTH")]


def test_crash_mid_write_leaves_no_partial_snapshot(tmp_path, monkeypatch):
    write_snapshot(tmp_path / "exports", DAY)
    settings = settings_for(tmp_path)

    def crash(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(load, "_write_audit", crash)  # after raw rows were inserted
    with pytest.raises(RuntimeError, match="disk full"):
        load_new_snapshots(settings)
    for obj in OBJECTS:
        assert query(settings, f"select count(*) from raw.{obj}") == [(0,)]
    assert query(settings, "select count(*) from audit.snapshots") == [(0,)]
    monkeypatch.undo()
    assert load_new_snapshots(settings).outcomes[0].status == LOADED


def _raw_without_location(settings) -> dict[str, list[tuple]]:
    out = {}
    with connect(settings) as con:
        for obj in LOAD_ORDER:
            rows = con.execute(
                f"select * exclude (_source_file, _line_number, _snapshot_id) from raw.{obj}"
            ).fetchall()
            out[obj] = sorted(rows, key=repr)
    return out


def test_database_source_gives_the_same_raw_tables_as_csv(tmp_path, monkeypatch):
    data = minimal_snapshot()
    data["ssd_person"][1]["pers_sex"] = "Z"  # a quarantined row too
    data["ssd_department"][0]["dept_cost_centre"] = "CC1"  # an extra column
    write_snapshot(tmp_path / "csv" / "exports", DAY, data)
    csv_settings = settings_for(tmp_path / "csv", quarantine_threshold=1.0)
    assert load_new_snapshots(csv_settings).outcomes[0].status == LOADED

    monkeypatch.setenv(SNAPSHOT_DATE_ENV, DAY)
    url = write_sqlite(tmp_path / "ssd.sqlite", data)
    db_settings = settings_for(tmp_path / "db", exports=url, quarantine_threshold=1.0)
    report = load_new_snapshots(db_settings)
    (outcome,) = report.outcomes
    assert outcome.status == LOADED and outcome.snapshot_date == date(2026, 11, 24)
    assert outcome.objects["ssd_person"].source_file == "table:ssd_person"
    assert _raw_without_location(db_settings) == _raw_without_location(csv_settings)
    assert query(db_settings, "select object, record_id, reasons from audit.quarantine") == query(
        csv_settings, "select object, record_id, reasons from audit.quarantine"
    )
    # Same rows again: already known, nothing changes.
    again = load_new_snapshots(db_settings)
    assert again.outcomes[0].already_known


def test_database_snapshot_id_ignores_row_and_column_order(tmp_path, monkeypatch):
    monkeypatch.setenv(SNAPSHOT_DATE_ENV, DAY)
    data = minimal_snapshot()
    a = load_new_snapshots(
        settings_for(tmp_path / "a", exports=write_sqlite(tmp_path / "a.db", data))
    )
    for rows in data.values():
        rows.reverse()
    b = load_new_snapshots(
        settings_for(tmp_path / "b", exports=write_sqlite(tmp_path / "b.db", data))
    )
    assert a.outcomes[0].snapshot_id == b.outcomes[0].snapshot_id


def test_database_missing_table_is_rejected(tmp_path, monkeypatch):
    monkeypatch.setenv(SNAPSHOT_DATE_ENV, DAY)
    data = minimal_snapshot()
    del data["ssd_cla_episodes"]
    settings = settings_for(tmp_path, exports=write_sqlite(tmp_path / "ssd.db", data))
    (outcome,) = load_new_snapshots(settings).outcomes
    assert outcome.status == REJECTED
    assert "required table ssd_cla_episodes is missing from sqlite:///" in outcome.reason
    assert query(settings, "select count(*) from raw.ssd_person") == [(0,)]


def test_database_snapshot_date_defaults_to_today(tmp_path, monkeypatch):
    monkeypatch.delenv(SNAPSHOT_DATE_ENV, raising=False)
    settings = settings_for(tmp_path, exports=write_sqlite(tmp_path / "ssd.db"))
    assert load_new_snapshots(settings).outcomes[0].snapshot_date == date.today()


def test_prune_raw_keeps_recent_kept_and_published_snapshots_and_all_audit(tmp_path):
    days = ["2025-01-01", "2025-01-02", "2025-01-03", "2025-06-01"]
    for i, day in enumerate(days):
        data = minimal_snapshot()
        data["ssd_department"][0]["dept_team_name"] = f"Unit {i}"  # different content each day
        write_snapshot(tmp_path / "exports", day, data)
    settings = settings_for(tmp_path)
    ids = {o.name: o.snapshot_id for o in load_new_snapshots(settings).outcomes}
    with connect(settings) as con:
        con.execute(
            "update audit.snapshots set status = 'published' where snapshot_id = ?",
            [ids["2025-01-02"]],
        )
        audit_before = con.execute("select count(*) from audit.quarantine").fetchone()
        deleted = prune_raw(con, 30, [ids["2025-01-03"]], today=date(2025, 6, 10))
        kept = con.execute(
            "select distinct _snapshot_date::varchar from raw.ssd_person order by 1"
        ).fetchall()
        assert con.execute("select count(*) from audit.snapshots").fetchone() == (4,)
        assert con.execute("select count(*) from audit.quarantine").fetchone() == audit_before
    assert deleted["ssd_person"] == 2
    assert kept == [("2025-01-02",), ("2025-01-03",), ("2025-06-01",)]


def test_pruning_after_publication_counts_days_from_the_newest_extract_not_the_wall_clock(
    tmp_path,
):
    """Extracts from years ago (a replay, or the synthetic authority) are not wiped because the
    wall clock says they are old; the publication and snapshots awaiting their build are kept."""
    days = ["2017-01-01", "2017-11-28", "2017-11-29", "2017-11-30"]
    for i, day in enumerate(days):
        data = minimal_snapshot()
        data["ssd_department"][0]["dept_team_name"] = f"Unit {i}"
        write_snapshot(tmp_path / "exports", day, data)
    settings = settings_for(tmp_path)
    ids = {o.name: o.snapshot_id for o in load_new_snapshots(settings).outcomes}
    with connect(settings) as con:
        con.execute(
            "update audit.snapshots set status = 'published' where snapshot_id = ?",
            [ids["2017-11-29"]],
        )
        deleted = prune_after_publication(con, retention_days=2)
        kept = con.execute(
            "select distinct _snapshot_date::varchar from raw.ssd_person order by 1"
        ).fetchall()
    # 2017-11-30 is newer than the publication and still awaits its build: kept.
    # 2017-11-29 is the publication: kept. 2017-11-28 is two days old by the data's clock: kept;
    # 2017-01-01 is older than the two days of retention: pruned.
    assert kept == [("2017-11-28",), ("2017-11-29",), ("2017-11-30",)]
    assert deleted["ssd_person"] > 0
