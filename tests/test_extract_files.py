"""File-level contract: what rejects a snapshot whole, and what a file may look like."""

from __future__ import annotations

import pytest
from fiw.contract import OBJECTS
from fiw.extract import LOADED, REJECTED

from tests.fixtures.extract_helpers import load, query, settings_for
from tests.fixtures.ssd_builder import write_snapshot

DAY = "2026-11-24"
PERSON_HEADER = ",".join(OBJECTS["ssd_person"].column_names)


def _person_file(tmp_path, body: bytes):
    folder = write_snapshot(tmp_path / "exports", DAY)
    (folder / "ssd_person.csv").write_bytes(body)
    return folder


def _rejected(tmp_path) -> str:
    """Load, assert the snapshot was rejected with nothing in raw, and return the reason."""
    settings = settings_for(tmp_path)
    report = load(settings)
    (outcome,) = report.outcomes
    assert outcome.status == REJECTED
    assert report.refused == [outcome] and not report.ok
    assert query(settings, "select status, reason from audit.snapshots") == [
        (REJECTED, outcome.reason)
    ]
    for obj in OBJECTS:
        assert query(settings, f"select count(*) from raw.{obj}") == [(0,)]
    assert query(settings, "select count(*) from audit.snapshot_objects") == [(0,)]
    return outcome.reason


def _loaded(tmp_path):
    settings = settings_for(tmp_path)
    report = load(settings)
    (outcome,) = report.outcomes
    assert outcome.status == LOADED, outcome.reason
    return settings, outcome


def test_missing_object_file_rejects(tmp_path):
    folder = write_snapshot(tmp_path / "exports", DAY)
    (folder / "ssd_cp_plans.csv").unlink()
    reason = _rejected(tmp_path)
    assert reason == (
        "rejected whole, nothing loaded: required file ssd_cp_plans.csv is missing from 2026-11-24/"
    )


def test_missing_required_column_rejects_naming_file_and_column(tmp_path):
    cols = [c for c in OBJECTS["ssd_cin_episodes"].column_names if c != "cine_referral_date"]
    write_snapshot(tmp_path / "exports", DAY, columns={"ssd_cin_episodes": cols})
    reason = _rejected(tmp_path)
    assert reason.endswith(
        "ssd_cin_episodes.csv: required column cine_referral_date missing from the header (line 1)"
    )


def test_every_problem_of_a_snapshot_is_named(tmp_path):
    folder = write_snapshot(tmp_path / "exports", DAY)
    (folder / "ssd_department.csv").unlink()
    (folder / "ssd_person.csv").write_text("pers_person_id\nP1\n")
    reason = _rejected(tmp_path)
    assert "required file ssd_department.csv is missing" in reason
    assert "ssd_person.csv: required columns pers_forename, pers_surname" in reason


def test_invalid_utf8_rejects_naming_file_line_and_column(tmp_path):
    body = f"{PERSON_HEADER}\nP1,Alex,Smith,M,WBRI,2015-03-01,1,\nP2,Sam,J\xf6nes,F,WBRI,,,\n"
    _person_file(tmp_path, body.encode("latin-1"))
    reason = _rejected(tmp_path)
    assert reason.endswith("ssd_person.csv: line 3, column pers_surname: not valid UTF-8")


def test_invalid_utf8_in_header_rejects(tmp_path):
    _person_file(tmp_path, (PERSON_HEADER + ",n\xf6te\nP1,,,,,,,,\n").encode("latin-1"))
    assert "ssd_person.csv: line 1 (header) is not valid UTF-8" in _rejected(tmp_path)


def test_unterminated_quote_rejects(tmp_path):
    body = f'{PERSON_HEADER}\nP1,Alex,Smith,M,WBRI,2015-03-01,1,\nP2,"Sam,Jones,F,WBRI,,,\n'
    _person_file(tmp_path, body.encode())
    reason = _rejected(tmp_path)
    assert "ssd_person.csv: line 3, column pers_forename: not valid CSV" in reason
    assert "unterminated quote" in reason


@pytest.mark.parametrize(
    ("row", "found"), [("P2,Sam,Jones,F,WBRI,,", 7), ("P2,Sam,Jones,F,WBRI,,,,x", 9)]
)
def test_wrong_field_count_rejects(tmp_path, row, found):
    # Line 3 holds a quoted newline, so the bad record starts on physical line 5.
    body = f'{PERSON_HEADER}\nP1,Alex,Smith,M,WBRI,2015-03-01,1,\nP3,"Jo\nJo",X,M,,,,\n{row}\n'
    _person_file(tmp_path, body.encode())
    reason = _rejected(tmp_path)
    assert f"ssd_person.csv: line 5 has {found} fields where the header has 8" in reason


def test_zero_byte_file_rejects_as_missing_columns(tmp_path):
    _person_file(tmp_path, b"")
    reason = _rejected(tmp_path)
    assert "ssd_person.csv: file is empty (no header row), so every required column is missing" in (
        reason
    )
    assert "pers_person_id" in reason


def test_duplicate_column_in_header_rejects(tmp_path):
    _person_file(tmp_path, f"{PERSON_HEADER},PERS_DOB\n".encode())
    reason = _rejected(tmp_path)
    assert "ssd_person.csv: line 1 (header): column pers_dob appears twice" in reason


def test_header_only_file_is_valid_with_zero_rows(tmp_path):
    _person_file(tmp_path, f"{PERSON_HEADER}\n".encode())
    settings = settings_for(tmp_path)
    report = load(settings)
    (outcome,) = report.outcomes
    # Every row referring to a person now dangles, but the file itself is fine.
    assert outcome.status != REJECTED
    assert outcome.objects["ssd_person"].rows == 0
    assert query(settings, "select count(*) from raw.ssd_person") == [(0,)]


def test_bom_crlf_case_order_and_spaces_in_header_are_accepted(tmp_path):
    cols = list(reversed(OBJECTS["ssd_department"].column_names))
    header = ",".join(f" {c.upper()} " for c in cols)
    body = f'\ufeff{header}\r\n,Unit 1,T101\r\nT101,"Unit, 2",T102\r\n'
    folder = write_snapshot(tmp_path / "exports", DAY)
    (folder / "ssd_department.csv").write_bytes(body.encode())
    settings, outcome = _loaded(tmp_path)
    rows = query(
        settings,
        "select dept_team_id, dept_team_name, dept_team_parent_id, _line_number, _extra "
        "from raw.ssd_department order by _line_number",
    )
    assert rows == [("T101", "Unit 1", None, 2, None), ("T102", "Unit, 2", "T101", 3, None)]


def test_quoted_newlines_keep_physical_line_numbers(tmp_path):
    body = (
        f"{PERSON_HEADER}\r\n"
        'P1,"Alex\r\nAlexander",Smith,M,WBRI,2015-03-01,1,\r\n'
        'P2,"Sam\n\nSammy",Jones,F,WBRI,2012-07-15,2,\r\n'
        "P3,Kim,Lee,U,WBRI,2013-05-05,3,\r\n"
        "P3,Kim,Lee,U,WBRI,2013-05-05,3,\r\n"
    )
    _person_file(tmp_path, body.encode())
    settings = settings_for(tmp_path, quarantine_threshold=1.0)
    load(settings)
    lines = query(
        settings, "select pers_person_id, _line_number from raw.ssd_person order by _line_number"
    )
    assert lines == [("P1", 2), ("P2", 4), ("P3", 7), ("P3", 8)]
    assert query(settings, "select pers_forename from raw.ssd_person where _line_number = 4") == [
        ("Sam\n\nSammy",)
    ]
    dup = query(
        settings,
        "select line_number, reasons from audit.quarantine where object = 'ssd_person' "
        "order by line_number",
    )
    assert dup == [
        (7, "pers_person_id 'P3' is duplicated (also on line 8)"),
        (8, "pers_person_id 'P3' is duplicated (also on line 7)"),
    ]


def test_empty_field_is_null_and_extra_columns_go_to_extra(tmp_path):
    data_cols = OBJECTS["ssd_department"].column_names + ["dept_cost_centre", "Dept_Note"]
    body = "\n".join([",".join(data_cols), 'T101,Unit 1,,CC1,""', "T102,Unit 2,T101,,hello"])
    folder = write_snapshot(tmp_path / "exports", DAY)
    (folder / "ssd_department.csv").write_text(body + "\n")
    settings, _ = _loaded(tmp_path)
    rows = query(
        settings,
        "select dept_team_id, dept_team_parent_id, _extra from raw.ssd_department "
        "order by _line_number",
    )
    assert rows == [
        ("T101", None, '{"dept_cost_centre":"CC1","dept_note":null}'),
        ("T102", "T101", '{"dept_cost_centre":null,"dept_note":"hello"}'),
    ]
