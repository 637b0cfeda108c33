"""The volume rule (exports.md): an object that lost more than FIW_VOLUME_DROP of its rows, or
every row, since the last accepted snapshot refuses the snapshot (``failed_volume``)."""

from __future__ import annotations

from datetime import date

import pytest
from fiw import snapshots
from fiw.extract import FAILED_VOLUME, LOADED, LoadReport, SnapshotOutcome, load_new_snapshots
from fiw.extract.database_source import SNAPSHOT_DATE_ENV
from fiw.extract.volume import percent
from fiw.warehouse import connect

from tests.fixtures.extract_helpers import query, settings_for
from tests.fixtures.ssd_builder import minimal_snapshot, write_snapshot, write_sqlite

DAY1, DAY2, DAY3, DAY4 = "2026-11-22", "2026-11-23", "2026-11-24", "2026-11-25"
TODAY = date(2026, 12, 31)  # every folder here is in the past, whatever the machine's date

HEADER_ONLY = "an exporter whose query failed often still writes the header; check the export"
CUT_SHORT = (
    "an export cut short or filtered by mistake looks like this; check the export "
    "(if the drop is real, raise FIW_VOLUME_DROP for the next run)"
)


def _involvements(n: int) -> list[dict[str, str | None]]:
    """``n`` valid ssd_involvements rows (workers, teams and children of the minimal snapshot)."""
    return [
        {
            "invo_involvements_id": f"I{i}",
            "invo_professional_id": f"W{i % 2 + 1}",
            "invo_professional_team": f"T10{i % 2 + 1}",
            "invo_person_id": f"P{i % 2 + 1}",
            "invo_referral_id": None,
            "invo_involvement_start_date": "2025-02-01",
            "invo_involvement_end_date": None,
        }
        for i in range(1, n + 1)
    ]


def _snapshot(involvements: int):
    data = minimal_snapshot()
    data["ssd_involvements"] = _involvements(involvements)
    return data


def _load_report(tmp_path, day: str, data, **settings) -> tuple[LoadReport, SnapshotOutcome]:
    """Write ``data`` as the folder ``day``, load; the report and that folder's outcome.
    The first team's name carries the date, so that no two dates are duplicates."""
    if data["ssd_department"]:
        data["ssd_department"][0]["dept_team_name"] = f"Unit 1 ({day})"
    write_snapshot(tmp_path / "exports", day, data)
    report = load_new_snapshots(settings_for(tmp_path, **settings), today=TODAY)
    (outcome,) = [o for o in report.outcomes if o.name == day and not o.already_known]
    return report, outcome


def _load(tmp_path, day: str, involvements: int, **settings) -> SnapshotOutcome:
    return _load_report(tmp_path, day, _snapshot(involvements), **settings)[1]


def _statuses(tmp_path) -> list[tuple]:
    return query(
        settings_for(tmp_path),
        "select cast(snapshot_date as varchar), status from audit.snapshots "
        "order by snapshot_date, loaded_at",
    )


def test_header_only_object_after_a_full_one_is_refused_with_the_reason(tmp_path):
    """The issue's case: a header-only ssd_involvements.csv was published, exit 0."""
    assert _load(tmp_path, DAY1, 1200).status == LOADED
    report, outcome = _load_report(tmp_path, DAY2, _snapshot(0))
    reason = (
        "ssd_involvements.csv: 0 rows, 1,200 in the last accepted snapshot (2026-11-22): "
        f"lost 100% (more than FIW_VOLUME_DROP=0.5): {HEADER_ONLY}"
    )
    assert outcome.status == FAILED_VOLUME
    assert outcome.reason == reason
    assert report.refused == [outcome]  # the run fails: `fiw run` exits 2 (snapshots.REFUSED)
    assert FAILED_VOLUME in snapshots.REFUSED
    settings, day2 = settings_for(tmp_path), date.fromisoformat(DAY2)
    assert query(
        settings, "select status, reason from audit.snapshots where snapshot_date = ?", [day2]
    ) == [(FAILED_VOLUME, reason)]
    # Nothing that arrives is lost: its rows are in raw, like a failed_quarantine snapshot's.
    assert report.newly_loaded == [outcome]
    assert query(
        settings, "select count(*) from raw.ssd_person where _snapshot_date = ?", [day2]
    ) == [(2,)]
    assert query(
        settings,
        "select rows from audit.snapshot_objects o join audit.snapshots s using (snapshot_id) "
        "where s.snapshot_date = ? and o.object = 'ssd_involvements'",
        [day2],
    ) == [(0,)]
    # Never built nor published: the candidate stays the good snapshot before it.
    with connect(settings) as con:
        assert snapshots.candidate(con).snapshot_date == date(2026, 11, 22)


@pytest.mark.parametrize(("after", "status"), [(50, LOADED), (49, FAILED_VOLUME)])
def test_losing_exactly_half_passes_and_more_than_half_is_refused(tmp_path, after, status):
    """More than half: 100 -> 50 (lost 50%) passes, 100 -> 49 (lost 51%) is refused."""
    _load(tmp_path, DAY1, 100)
    outcome = _load(tmp_path, DAY2, after)
    assert outcome.status == status
    if status == FAILED_VOLUME:
        assert outcome.reason == (
            "ssd_involvements.csv: 49 rows, 100 in the last accepted snapshot (2026-11-22): "
            f"lost 51% (more than FIW_VOLUME_DROP=0.5): {CUT_SHORT}"
        )
    else:
        assert outcome.reason is None


def test_a_small_object_halved_passes(tmp_path):
    """The minimal snapshot's 2 involvements down to 1: exactly half, still accepted."""
    _load(tmp_path, DAY1, 2)
    assert _load(tmp_path, DAY2, 1).status == LOADED


def test_a_higher_setting_accepts_a_bigger_drop(tmp_path):
    _load(tmp_path, DAY1, 100)
    assert _load(tmp_path, DAY2, 40, volume_drop=0.9).status == LOADED  # lost 60%
    outcome = _load(tmp_path, DAY3, 2, volume_drop=0.9)  # lost 95% of the 40
    assert outcome.status == FAILED_VOLUME
    assert outcome.reason == (
        "ssd_involvements.csv: 2 rows, 40 in the last accepted snapshot (2026-11-23): "
        f"lost 95% (more than FIW_VOLUME_DROP=0.9): {CUT_SHORT}"
    )


def test_an_object_that_had_rows_and_now_has_none_always_counts(tmp_path):
    _load(tmp_path, DAY1, 100)
    assert _load(tmp_path, DAY2, 1, volume_drop=1.0).status == LOADED  # lost 99%: allowed
    outcome = _load(tmp_path, DAY3, 0, volume_drop=1.0)
    assert outcome.status == FAILED_VOLUME
    assert outcome.reason == (
        "ssd_involvements.csv: 0 rows, 1 in the last accepted snapshot (2026-11-23): lost 100% "
        "(an object that had rows and now has none is refused even with FIW_VOLUME_DROP=1): "
        f"{HEADER_ONLY}"
    )


def test_the_first_snapshot_ever_has_nothing_to_compare_with(tmp_path):
    outcome = _load(tmp_path, DAY1, 0)
    assert outcome.status == LOADED and outcome.reason is None


@pytest.mark.parametrize(("first", "then"), [(0, 0), (0, 5)])
def test_an_object_with_no_rows_before_cannot_lose_any(tmp_path, first, then):
    _load(tmp_path, DAY1, first)
    assert _load(tmp_path, DAY2, then).status == LOADED


def test_growth_passes(tmp_path):
    _load(tmp_path, DAY1, 2)
    assert _load(tmp_path, DAY2, 200).status == LOADED


@pytest.mark.parametrize(("late", "status"), [(4, LOADED), (1, FAILED_VOLUME)])
def test_a_late_arrival_is_compared_with_the_accepted_snapshot_before_it(tmp_path, late, status):
    """11-22 (4 rows) and 11-24 (10 rows) are loaded, then 11-23 arrives: it is compared with
    11-22, not with 11-24, the newest loaded (4 of 10 would be a 60% loss)."""
    _load(tmp_path, DAY1, 4)
    _load(tmp_path, DAY3, 10)
    outcome = _load(tmp_path, DAY2, late)
    assert outcome.status == status
    if status == FAILED_VOLUME:
        assert outcome.reason.startswith(
            "ssd_involvements.csv: 1 row, 4 in the last accepted snapshot (2026-11-22): lost 75%"
        )


def test_a_refused_snapshot_is_never_the_reference(tmp_path):
    """A run of bad nights is compared with the last good one, not with each other."""
    _load(tmp_path, DAY1, 100)
    assert _load(tmp_path, DAY2, 40).status == FAILED_VOLUME  # lost 60% of 100
    outcome = _load(tmp_path, DAY3, 30)  # 25% fewer than the refused 40, 70% fewer than 100
    assert outcome.status == FAILED_VOLUME
    assert outcome.reason.startswith(
        "ssd_involvements.csv: 30 rows, 100 in the last accepted snapshot (2026-11-22): lost 70%"
    )
    assert _load(tmp_path, DAY4, 60).status == LOADED  # 40% fewer than 100
    assert _statuses(tmp_path) == [
        (DAY1, LOADED),
        (DAY2, FAILED_VOLUME),
        (DAY3, FAILED_VOLUME),
        (DAY4, LOADED),
    ]


@pytest.mark.parametrize(
    ("day2_status", "reference"),
    [
        (snapshots.LOADED, DAY2),
        (snapshots.VALIDATED, DAY2),
        (snapshots.PUBLISHED, DAY2),
        (snapshots.SUPERSEDED, DAY2),
        (snapshots.FAILED_VALIDATION, DAY1),
        (snapshots.FAILED_QUARANTINE, DAY1),
        (snapshots.FAILED_VOLUME, DAY1),
    ],
)
def test_which_statuses_are_accepted(tmp_path, day2_status, reference):
    """Loaded and not refused (loaded, validated, published, superseded) is accepted."""
    _load(tmp_path, DAY1, 100)
    day2 = _load(tmp_path, DAY2, 40, volume_drop=0.9)
    with connect(settings_for(tmp_path)) as con:
        snapshots.set_status(con, day2.snapshot_id, day2_status)
    outcome = _load(tmp_path, DAY3, 30)  # 25% fewer than 40, 70% fewer than 100
    if reference == DAY2:
        assert outcome.status == LOADED
    else:
        assert outcome.status == FAILED_VOLUME
        assert "100 in the last accepted snapshot (2026-11-22)" in outcome.reason


def test_a_reexport_of_a_loaded_date_is_compared_with_that_date(tmp_path):
    """The folder of 11-22 rewritten header-only after it was loaded is a new snapshot of the
    same date: it is compared with the earlier load of that date."""
    _load(tmp_path, DAY1, 10)
    outcome = _load(tmp_path, DAY1, 0)
    assert outcome.status == FAILED_VOLUME
    assert outcome.reason.startswith(
        "ssd_involvements.csv: 0 rows, 10 in the last accepted snapshot (2026-11-22)"
    )


def test_the_rule_counts_every_row_that_arrived_quarantined_or_not(tmp_path):
    """3 of 4 rows quarantined is the quarantine threshold's business, not a lost volume."""
    _load(tmp_path, DAY1, 4)
    data = _snapshot(4)
    for row in data["ssd_involvements"][:3]:
        row["invo_involvement_start_date"] = "not a date"
    _, outcome = _load_report(tmp_path, DAY2, data, quarantine_threshold=1.0)
    assert outcome.status == LOADED
    assert outcome.objects["ssd_involvements"].rows_quarantined == 3


def test_volume_reasons_come_before_the_quarantine_they_cause(tmp_path):
    """A header-only ssd_person leaves every reference to a person dangling: the status and the
    first reasons name the lost rows, the cause; every object that broke the rule is named."""
    _load(tmp_path, DAY1, 2)
    data = _snapshot(2)
    data["ssd_person"] = []
    data["ssd_department"] = data["ssd_department"][:0]
    _, outcome = _load_report(tmp_path, DAY2, data)
    assert outcome.status == FAILED_VOLUME
    parts = outcome.reason.split("; check the export; ")
    assert parts[0] == (
        "ssd_department.csv: 0 rows, 2 in the last accepted snapshot (2026-11-22): lost 100% "
        "(more than FIW_VOLUME_DROP=0.5): an exporter whose query failed often still writes "
        "the header"
    )
    assert parts[1].startswith("ssd_person.csv: 0 rows, 2 in the last accepted snapshot")
    assert "rows quarantined" in parts[2] and "above the 5.0% threshold" in parts[2]


def test_a_database_source_names_the_table(tmp_path, monkeypatch):
    monkeypatch.setenv(SNAPSHOT_DATE_ENV, DAY1)
    url1 = write_sqlite(tmp_path / "day1.db", _snapshot(2))
    assert load_new_snapshots(settings_for(tmp_path, exports=url1)).outcomes[0].status == LOADED
    monkeypatch.setenv(SNAPSHOT_DATE_ENV, DAY2)
    url2 = write_sqlite(tmp_path / "day2.db", _snapshot(0))
    (outcome,) = load_new_snapshots(settings_for(tmp_path, exports=url2)).outcomes
    assert outcome.status == FAILED_VOLUME
    assert outcome.reason == (
        "table:ssd_involvements: 0 rows, 2 in the last accepted snapshot (2026-11-22): "
        f"lost 100% (more than FIW_VOLUME_DROP=0.5): {HEADER_ONLY}"
    )


@pytest.mark.parametrize(
    ("share", "setting", "text"),
    [
        (1.0, 0.5, "100%"),
        (0.51, 0.5, "51%"),
        (0.504, 0.5, "50.4%"),  # not "50%" beside a 50% setting
        (0.9996, 0.5, "99.96%"),  # rows remain: not "100%"
        (1.0, 1.0, "100%"),
    ],
)
def test_the_share_lost_never_reads_as_the_setting(share, setting, text):
    assert percent(share, setting) == text
