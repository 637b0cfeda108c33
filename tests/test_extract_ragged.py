"""A record whose number of fields differs from its header's rejects the snapshot (exports.md).

An unquoted comma in a name shifts every later value of the record; when the record's last field
is empty, DuckDB's reader would on its own drop the extra empty field and load the shifted values.
The rejection names the file and the line, the physical line (1 = the header) on which the record
starts, newlines inside quoted fields of earlier records counted. Quoted commas and newlines are
fine. Files with a newline inside a quoted field take another way through the reader (DuckDB's
parallel reader cannot pad them), so each case runs both ways.
"""

from __future__ import annotations

import pytest
from fiw.contract import OBJECTS
from fiw.extract import LOADED, REJECTED

from tests.fixtures.extract_helpers import load, query, settings_for
from tests.fixtures.ssd_builder import write_snapshot

DAY = "2026-11-24"
HEADER = ",".join(OBJECTS["ssd_department"].column_names)  # 3 fields
GOOD = "T101,Unit 1,\nT102,Unit 2,T101\n"
# Line 2 is a record over two physical lines: the next record starts on line 4.
QUOTED_NEWLINE = 'T101,"Unit 1\nNorth",\nT102,Unit 2,T101\n'


def _department(tmp_path, body: str, newline: str = "\n"):
    folder = write_snapshot(tmp_path / "exports", DAY)
    (folder / "ssd_department.csv").write_bytes(body.replace("\n", newline).encode())
    settings = settings_for(tmp_path)
    (outcome,) = load(settings).outcomes
    return settings, outcome


def _rejected(tmp_path, body: str, newline: str = "\n") -> str:
    settings, outcome = _department(tmp_path, body, newline)
    assert outcome.status == REJECTED, outcome.reason
    for obj in OBJECTS:
        assert query(settings, f"select count(*) from raw.{obj}") == [(0,)]
    prefix = "rejected whole, nothing loaded: "
    assert outcome.reason.startswith(prefix)
    return outcome.reason[len(prefix) :]


def _message(line: int, fields: int) -> str:
    return (
        f"ssd_department.csv: line {line} has {fields} field{'s' if fields > 1 else ''} where the "
        "header has 3: an unquoted comma in a value (or a field left out) shifts every later value "
        "of the record, so the file is not loaded as it stands"
    )


def test_unquoted_comma_before_an_empty_last_field_rejects(tmp_path):
    """The case of the issue: it used to load as name "Children's social care" and parent
    " North and East"."""
    body = f"{HEADER}\n{GOOD}D100,Children's social care, North and East,\n"
    assert _rejected(tmp_path, body) == _message(4, 4)


RAGGED = [
    ("T103,Unit 3,T101,", 4),  # one extra empty field
    ('T103,Unit 3,T101,""', 4),  # one extra quoted empty field
    ("T103,Unit 3,T101,,", 5),  # two extra empty fields
    ("T103,Unit 3,T101,,,,", 7),
    ("T103,Unit 3,T101,x", 4),
    ("T103,Unit 3,T101,,x", 5),
    ("T103,Unit 3", 2),  # fewer
    ("T103", 1),
    ("   ", 1),  # a line of spaces is a record of one field
]


@pytest.mark.parametrize(("before", "line"), [(GOOD, 4), (QUOTED_NEWLINE, 5)])
@pytest.mark.parametrize(("row", "fields"), RAGGED)
def test_more_or_fewer_fields_than_the_header_rejects_naming_file_and_line(
    tmp_path, before, line, row, fields
):
    body = f"{HEADER}\n{before}{row}\nT104,Unit 4,T101\n"
    assert _rejected(tmp_path, body) == _message(line, fields)


@pytest.mark.parametrize("before", [GOOD, QUOTED_NEWLINE])
def test_crlf_and_a_last_record_without_line_end(tmp_path, before):
    body = f"{HEADER}\n{before}T103,Unit 3,T101,"
    assert _rejected(tmp_path, body, newline="\r\n").startswith(
        "ssd_department.csv: line 4 has 4 fields"
        if before == GOOD
        else "ssd_department.csv: line 5"
    )


@pytest.mark.parametrize("before", [GOOD, QUOTED_NEWLINE])
def test_the_first_record_is_named_and_the_others_counted(tmp_path, before):
    body = f"{HEADER}\n{before}T103,a,b,\nT104,Unit 4,T101\nT105,c\nT106,d,e,f\n"
    line = 4 if before == GOOD else 5
    assert _rejected(tmp_path, body) == (
        _message(line, 4) + " (2 more records of the file also differ)"
    )


def test_every_ragged_file_of_the_snapshot_is_named(tmp_path):
    folder = write_snapshot(tmp_path / "exports", DAY)
    (folder / "ssd_department.csv").write_text(f"{HEADER}\n{GOOD}T103,a,b,\n")
    professionals = (folder / "ssd_professionals.csv").read_text()
    (folder / "ssd_professionals.csv").write_text(professionals + "W9,Smith, Jo,Worker,1\n")
    settings = settings_for(tmp_path)
    (outcome,) = load(settings).outcomes
    assert outcome.status == REJECTED
    assert "ssd_department.csv: line 4 has 4 fields where the header has 3" in outcome.reason
    assert "ssd_professionals.csv: line 4 has 5 fields where the header has 4" in outcome.reason


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_quoted_commas_and_newlines_and_empty_last_fields_still_load(tmp_path, newline):
    body = (
        f"{HEADER}\n"
        'T101,"Children\'s social care, North and East",\n'
        'T102,"Unit 2\nsecond line, with a comma",T101\n'
        'T103,"Unit ""3""",\n'
        "T104,,\n"
    )
    settings, outcome = _department(tmp_path, body, newline)
    assert outcome.status == LOADED, outcome.reason
    rows = query(
        settings,
        "select dept_team_id, dept_team_name, dept_team_parent_id, _line_number "
        "from raw.ssd_department order by _line_number",
    )
    assert rows == [
        ("T101", "Children's social care, North and East", None, 2),
        ("T102", f"Unit 2{newline}second line, with a comma", "T101", 3),
        ("T103", 'Unit "3"', None, 5),
        ("T104", None, None, 6),
    ]


def test_a_header_with_a_trailing_comma_makes_an_extra_column(tmp_path):
    body = f"{HEADER},\nT101,Unit 1,,\nT102,Unit 2,T101,x\n"
    settings, outcome = _department(tmp_path, body)
    assert outcome.status == LOADED, outcome.reason
    assert query(settings, "select _extra from raw.ssd_department order by _line_number") == [
        ('{"_column_4":null}',),
        ('{"_column_4":"x"}',),
    ]


@pytest.mark.parametrize(
    "last",
    ['T103,"Unit 3,T101', 'T103,Unit 3,"T101', '"T103,Unit 3,T101', 'T103,Unit 3,T101,"x'],
)
@pytest.mark.parametrize("before", [GOOD, QUOTED_NEWLINE])
def test_a_quote_left_open_at_the_end_rejects_as_such(tmp_path, before, last):
    line = 4 if before == GOOD else 5
    reason = _rejected(tmp_path, f"{HEADER}\n{before}{last}\n")
    assert reason.startswith(f"ssd_department.csv: line {line}")
    assert "unterminated quote" in reason


def test_header_only_and_single_column_values_are_fine(tmp_path):
    settings, outcome = _department(tmp_path, f"{HEADER}\n")
    assert outcome.status != REJECTED
    assert outcome.objects["ssd_department"].rows == 0


@pytest.mark.parametrize("before", [GOOD, QUOTED_NEWLINE])
def test_records_the_reader_itself_rejects_count_with_the_others(tmp_path, before):
    """Two or more fields too many: DuckDB rejects the record itself (it is not in the table);
    the first record is still the one named, whichever way it was found."""
    line = 4 if before == GOOD else 5
    body = f"{HEADER}\n{before}T103,a,b,,x\nT104,Unit 4,T101\nT105,c\n"
    assert _rejected(tmp_path, body) == (
        _message(line, 5) + " (1 more record of the file also differs)"
    )
    body = f"{HEADER}\n{before}T105,c\nT104,Unit 4,T101\nT103,a,b,,x\n"
    assert _rejected(tmp_path / "2", body) == (
        _message(line, 2) + " (1 more record of the file also differs)"
    )
