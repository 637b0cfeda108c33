"""Bad input, as real extracts deliver it, with the exact outcome of each case.

Already proven at the extract level elsewhere, not repeated here: BOM, CRLF, quoted newlines and
commas, header-only and zero-byte files, unterminated quote, wrong field counts, invalid UTF-8 in
a value and in the header, missing file or column (tests/test_extract_files.py); every row rule
and the quarantine threshold (tests/test_extract_quarantine.py); a folder without ``_SUCCESS``, a
folder name that is not a date (tests/test_extract_discover.py); same content under two folder
names, loading twice (tests/test_extract_load.py).

Added here: Windows-1252 names, a file cut off mid-record (with and without an open quote, and
inside the last field), a header row repeated (as a data row, twice at the top, doubled in one
line); and, through ``fiw run`` on a home that already publishes DAY1, what the on-call engineer
sees for a rejected file, a quarantine over the threshold, a late snapshot and the same snapshot
under two folder names: exit code, message, ``fiw status`` and the untouched publication.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fiw.contract import OBJECTS
from fiw.extract import LOADED, REJECTED

from tests.fixtures import pipeline as p
from tests.fixtures.extract_helpers import load, query, settings_for
from tests.fixtures.ssd_builder import write_snapshot

DAY = "2026-11-24"
HEADER = {name: ",".join(obj.column_names) for name, obj in OBJECTS.items()}
P1 = "P1,Alex,Smith,M,WBRI,2015-03-01,9990000001,"
P2 = "P2,Sam,Jones,F,WIRI,2012-07-15,9990000002,"


def _load_person_file(tmp_path: Path, body: bytes):
    folder = write_snapshot(tmp_path / "exports", DAY)
    (folder / "ssd_person.csv").write_bytes(body)
    settings = settings_for(tmp_path, quarantine_threshold=1.0)
    (outcome,) = load(settings).outcomes
    return settings, outcome


def _rejected_nothing_loaded(settings, outcome) -> str:
    assert outcome.status == REJECTED
    for obj in OBJECTS:
        assert query(settings, f"select count(*) from raw.{obj}") == [(0,)]
    assert query(settings, "select status from audit.snapshots") == [(REJECTED,)]
    return outcome.reason


# --------------------------------------------------------------------------- extract level


def test_windows_1252_names_reject_the_snapshot_naming_line_and_column(tmp_path):
    body = f"{HEADER['ssd_person']}\n{P1}\nP2,Zoë,O’Brien,F,WIRI,2012-07-15,,\n".encode("cp1252")
    assert b"Zo\xeb" in body and b"O\x92Brien" in body
    settings, outcome = _load_person_file(tmp_path, body)
    reason = _rejected_nothing_loaded(settings, outcome)
    assert reason == (
        "rejected whole, nothing loaded: ssd_person.csv: line 3, column pers_forename: "
        "not valid UTF-8"
    )


def test_file_cut_mid_record_rejects_on_the_field_count(tmp_path):
    body = f"{HEADER['ssd_person']}\n{P1}\nP2,Sam,Jo".encode()
    settings, outcome = _load_person_file(tmp_path, body)
    reason = _rejected_nothing_loaded(settings, outcome)
    assert reason == (
        "rejected whole, nothing loaded: ssd_person.csv: line 3 has 3 fields where the header has "
        "8: an unquoted comma in a value (or a field left out) shifts every later value of the "
        "record, so the file is not loaded as it stands"
    )


def test_file_cut_inside_an_open_quote_rejects(tmp_path):
    body = f'{HEADER["ssd_person"]}\n{P1}\nP2,"Sam'.encode()
    settings, outcome = _load_person_file(tmp_path, body)
    reason = _rejected_nothing_loaded(settings, outcome)
    assert reason == (
        "rejected whole, nothing loaded: ssd_person.csv: line 3, column pers_forename: not valid "
        "CSV (UNQUOTED VALUE: Value with unterminated quote found.)"
    )


def test_file_cut_inside_the_last_field_is_caught_only_by_the_row_rules(tmp_path):
    """RFC 4180 lets the last record end without a line break, so a cut that keeps the field
    count loads; here the cut value is no longer a date and the row is quarantined (a cut inside
    free text would load unnoticed: see docs/when-things-go-wrong.md)."""
    body = (
        f"{HEADER['ssd_person']}\n{P1}\nP2,Sam,Jones,F,WIRI,2012-07-15,9990000002,2020-0".encode()
    )
    settings, outcome = _load_person_file(tmp_path, body)
    assert outcome.status == LOADED
    assert query(
        settings, "select line_number, record_id, reasons from audit.quarantine where object = ?",
        ["ssd_person"],
    ) == [(3, "P2", "pers_death_date '2020-0' is not a real date (YYYY-MM-DD)")]  # fmt: skip


@pytest.mark.parametrize("obj", list(OBJECTS))
def test_header_repeated_as_a_data_row_is_quarantined_in_every_object(tmp_path, obj):
    """Two exports concatenated: the second header lands mid-file as a record."""
    folder = write_snapshot(tmp_path / "exports", DAY)
    f = folder / f"{obj}.csv"
    lines = f.read_text().splitlines(keepends=True)
    f.write_text(lines[0] + lines[1] + lines[0].upper() + "".join(lines[2:]))
    settings = settings_for(tmp_path, quarantine_threshold=1.0)
    (outcome,) = load(settings).outcomes
    assert outcome.status == LOADED
    (row,) = query(
        settings,
        "select line_number, reasons from audit.quarantine where object = ? and line_number = 3",
        [obj],
    )
    assert row[1].startswith("the record repeats the header row"), row
    assert query(settings, f"select _quarantined from raw.{obj} where _line_number = 3") == [
        (True,)
    ]


def test_header_written_twice_at_the_top_quarantines_line_2_only(tmp_path):
    h = HEADER["ssd_department"]
    folder = write_snapshot(tmp_path / "exports", DAY)
    (folder / "ssd_department.csv").write_text(f"{h}\n{h}\nT101,Unit 1,\nT102,Unit 2,T101\n")
    settings = settings_for(tmp_path, quarantine_threshold=1.0)
    (outcome,) = load(settings).outcomes
    assert outcome.status == LOADED
    assert query(
        settings, "select line_number, record_id, reasons from audit.quarantine"
    ) == [(2, "dept_team_id", "the record repeats the header row")]  # fmt: skip
    assert query(
        settings,
        "select dept_team_id from raw.ssd_department where not _quarantined order by 1",
    ) == [("T101",), ("T102",)]


def test_header_doubled_in_one_line_rejects_naming_each_column(tmp_path):
    h = HEADER["ssd_person"]
    settings, outcome = _load_person_file(tmp_path, f"{h},{h}\n{P1},{P1}\n".encode())
    reason = _rejected_nothing_loaded(settings, outcome)
    for i, col in enumerate(OBJECTS["ssd_person"].column_names, start=1):
        assert (
            f"ssd_person.csv: line 1 (header): column {col} appears twice in the header "
            f"(columns {i} and {i + 8})"
        ) in reason


# --------------------------------------------------------------------------- through fiw run


@pytest.fixture(scope="module")
def published_day1(tmp_path_factory) -> tuple[p.Home, Path]:
    """The shared home that has published DAY1, and the snapshot folders to add to a copy."""
    return p.baseline(tmp_path_factory), p.source(tmp_path_factory)


def _assert_publication_untouched(home: p.Home, sha_before: str) -> None:
    assert p.sha256(home.published) == sha_before
    p.assert_valid_publication(home.published, p.DAY1)
    assert p.audit_rows(home.home, "publications", "snapshot_date") == [(p.DAY1,)]


def _status(home: p.Home) -> str:
    status = p.fiw("status", "--home", str(home.home))
    assert status.returncode == 0, status.stdout + status.stderr
    return p.plain(status.stdout)


def test_run_with_a_rejected_file_exits_2_naming_snapshot_file_line_and_column(
    published_day1, tmp_path
):
    base, source = published_day1
    home = base.copy(tmp_path)
    before, raw_before = p.sha256(home.published), p.raw_counts(home.home)
    folder = p.add_snapshot(source, home.exports, p.DAY2)
    person = folder / "ssd_person.csv"
    lines = person.read_text(encoding="utf-8").splitlines(keepends=True)
    # Line 5's forename becomes "Zoë" in Windows-1252, the way a misconfigured export writes it.
    fields = lines[4].split(",")
    fields[1] = "Zoë"
    lines[4] = ",".join(fields)
    person.write_bytes(b"".join(line.encode("cp1252") for line in lines))

    result = p.run(home.exports, home.home)
    out = p.plain(result.stdout)
    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        "snapshot 2017-11-30 rejected: rejected whole, nothing loaded: ssd_person.csv: line 5, "
        "column pers_forename: not valid UTF-8"
    ) in out
    assert "Published: snapshot 2017-11-29" in out
    _assert_publication_untouched(home, before)
    assert p.statuses(home.home) == {p.DAY1: "published", p.DAY2: "rejected"}
    assert p.raw_counts(home.home) == raw_before
    assert person.exists()  # the files stay where they are

    status = _status(home)
    assert "2017-11-30 │ rejected" in status
    assert "ssd_person.csv: line 5, column pers_forename: not valid UTF-8" in status
    assert "Last publication: snapshot 2017-11-29" in status


def test_run_with_quarantine_over_the_threshold_exits_2_and_publishes_nothing(
    published_day1, tmp_path
):
    base, source = published_day1
    home = base.copy(tmp_path)
    before = p.sha256(home.published)
    folder = p.add_snapshot(source, home.exports, p.DAY2)
    plans = folder / "ssd_cp_plans.csv"
    lines = plans.read_text(encoding="utf-8").splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    start = header.index("cppl_cp_plan_start_date")
    broken = 0
    for n in range(1, len(lines), 5):  # every fifth plan: a start date that is not a date
        fields = lines[n].split(",")
        fields[start] = "31/02/2017"
        lines[n] = ",".join(fields)
        broken += 1
    plans.write_text("".join(lines), encoding="utf-8")
    rows = len(lines) - 1

    result = p.run(home.exports, home.home)
    out = p.plain(result.stdout)
    assert result.returncode == 2, result.stdout + result.stderr
    quarantined = p.query(
        home.warehouse,
        "select o.rows_quarantined from audit.snapshot_objects o join audit.snapshots s"
        " using (snapshot_id) where s.snapshot_date = ? and o.object = 'ssd_cp_plans'",
        [p.DAY2],
    )[0][0]
    assert quarantined >= broken
    assert (
        f"snapshot 2017-11-30 failed_quarantine: ssd_cp_plans.csv: {quarantined} of {rows} rows "
        f"quarantined ({quarantined / rows:.1%}), above the 5.0% threshold"
    ) in out
    _assert_publication_untouched(home, before)
    assert p.statuses(home.home) == {p.DAY1: "published", p.DAY2: "failed_quarantine"}
    # Kept in raw (flagged) and in audit.quarantine with the column named, never built.
    reasons = p.query(
        home.warehouse,
        "select reasons from audit.quarantine where snapshot_date = ? and object = 'ssd_cp_plans'"
        " and reasons like '%cppl_cp_plan_start_date ''31/02/2017'' is not a real date%'",
        [p.DAY2],
    )
    assert len(reasons) == broken
    status = _status(home)
    assert "2017-11-30 │ failed_quarantine" in status
    assert "Last publication: snapshot 2017-11-29" in status


def test_late_snapshot_is_loaded_and_recorded_but_never_replaces_the_publication(
    published_day1, tmp_path
):
    base, source = published_day1
    home = base.copy(tmp_path)
    before = p.sha256(home.published)
    p.add_snapshot(source, home.exports, p.OLD)

    result = p.run(home.exports, home.home)
    out = p.plain(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2017-10-31 │ loaded" in out
    assert "Published: snapshot 2017-11-29" in out
    _assert_publication_untouched(home, before)
    assert p.statuses(home.home) == {p.OLD: "loaded", p.DAY1: "published"}
    assert {k[1] for k in p.raw_counts(home.home)} == {p.OLD, p.DAY1}


def test_same_snapshot_under_two_folder_names_is_loaded_once(published_day1, tmp_path):
    base, source = published_day1
    home = base.copy(tmp_path)
    before, raw_before = p.sha256(home.published), p.raw_counts(home.home)
    p.add_snapshot(source, home.exports, p.DAY1, as_name="2017-12-01")

    result = p.run(home.exports, home.home)
    out = p.plain(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2017-12-01 │ duplicate" in out
    (reason,) = p.query(
        home.warehouse, "select reason from audit.snapshots where status = 'duplicate'"
    )[0]
    assert reason.startswith("same content as the snapshot of 2017-11-29 (status published, id ")
    assert reason.endswith("): not loaded again")
    _assert_publication_untouched(home, before)
    assert p.raw_counts(home.home) == raw_before
    assert p.query(home.warehouse, "select count(*) from audit.snapshot_objects") == [
        (len(OBJECTS),)
    ]
    assert "2017-12-01 │ duplicate" in _status(home)
