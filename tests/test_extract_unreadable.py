"""A file (or a snapshot folder) that cannot be read rejects its snapshot, never the run.

The tests run as root, which reads a file of mode 000 anyway, so each load runs in a process that
has dropped the capabilities that bypass file permissions (``setpriv``; see extract_helpers): the
real ``PermissionError``, nothing monkeypatched.
"""

from __future__ import annotations

import json

from fiw.extract import LOADED, REJECTED
from fiw.extract.discover import checksum_folder, file_info, parse_snapshot_date, snapshot_id_of

from tests.fixtures.extract_helpers import (
    load_honouring_permissions,
    query,
    run_python_without_file_permission_override,
    settings_for,
)
from tests.fixtures.ssd_builder import minimal_snapshot, write_snapshot

ACTION = "check the exporter's file permissions"


def _two_snapshots(tmp_path, success: bool = False):
    """2026-11-24 and 2026-11-25, with different content; return both folders."""
    first = write_snapshot(tmp_path / "exports", "2026-11-24", success=success)
    later = minimal_snapshot()
    later["ssd_department"][0]["dept_team_name"] = "Unit One"
    second = write_snapshot(tmp_path / "exports", "2026-11-25", later, success=success)
    return first, second


def _content_id(folder) -> str:
    return checksum_folder(parse_snapshot_date(folder.name), folder).snapshot_id


def test_unreadable_file_rejects_its_snapshot_and_later_snapshots_still_load(tmp_path):
    first, _ = _two_snapshots(tmp_path)
    person = first / "ssd_person.csv"
    person.chmod(0o000)
    outcomes = {o[0]: o for o in load_honouring_permissions(tmp_path)}

    name, status, sid, reason, known = outcomes["2026-11-24"]
    assert (status, known) == (REJECTED, False)
    assert reason == (
        "rejected whole, nothing loaded: 2026-11-24/ssd_person.csv cannot be read ([Errno 13] "
        "Permission denied); check the exporter's file permissions (the user running fiw must be "
        "able to read every file of the folder; for an I/O error, the disk or share the exports "
        "are on): the folder loads on a later run once it can be read"
    )
    assert outcomes["2026-11-25"][1] == LOADED  # the later snapshot was not stopped

    # The id stands the unreadable file as "<name>:unreadable" in place of its checksum.
    others = [file_info(p) for p in sorted(first.glob("*.csv")) if p != person]
    lines = [f"{i.name}:{i.sha256}" for i in others] + ["ssd_person.csv:unreadable"]
    assert sid == snapshot_id_of(lines)

    settings = settings_for(tmp_path)
    assert query(
        settings, "select snapshot_date::varchar, status from audit.snapshots order by 1"
    ) == [("2026-11-24", REJECTED), ("2026-11-25", LOADED)]
    assert query(settings, "select distinct _snapshot_date::varchar from raw.ssd_person") == [
        ("2026-11-25",)
    ]
    assert query(
        settings, "select count(*) from audit.snapshot_objects where snapshot_id = ?", [sid]
    ) == [(0,)]

    # Still unreadable the next night: already known, not recorded or refused again.
    again = {o[0]: o for o in load_honouring_permissions(tmp_path)}
    assert again["2026-11-24"][1:] == [REJECTED, sid, reason, True]
    assert query(settings, "select count(*) from audit.snapshots") == [(2,)]

    # Permissions fixed: the same folder now has its content's id, so it loads.
    person.chmod(0o644)
    fixed = {o[0]: o for o in load_honouring_permissions(tmp_path)}
    assert fixed["2026-11-24"][1:3] == [LOADED, _content_id(first)]
    assert fixed["2026-11-24"][2] != sid
    assert query(
        settings, "select distinct _snapshot_date::varchar from raw.ssd_person order by 1"
    ) == [("2026-11-24",), ("2026-11-25",)]


def test_snapshot_folder_that_cannot_be_listed_is_rejected_and_later_ones_load(tmp_path):
    first, _ = _two_snapshots(tmp_path, success=True)
    first.chmod(0o000)
    try:
        outcomes = {o[0]: o for o in load_honouring_permissions(tmp_path)}
    finally:
        first.chmod(0o755)
    name, status, sid, reason, _ = outcomes["2026-11-24"]
    assert status == REJECTED
    assert reason.startswith(
        "rejected whole, nothing loaded: folder 2026-11-24/ cannot be listed ([Errno 13] "
        "Permission denied); check the exporter's file permissions"
    )
    assert sid == snapshot_id_of(["2026-11-24/:unreadable"])
    assert outcomes["2026-11-25"][1] == LOADED
    # Readable again: it loads under its content's id.
    fixed = {o[0]: o for o in load_honouring_permissions(tmp_path)}
    assert fixed["2026-11-24"][1:3] == [LOADED, _content_id(first)]


_RACE = """
import json, sys
from datetime import date
from pathlib import Path
import fiw.extract.load as load
from fiw.extract.discover import checksum_folder
from fiw.warehouse import connect
from tests.fixtures.extract_helpers import settings_for

tmp = Path(sys.argv[1])
folder_path = tmp / "exports" / "2026-11-24"
folder = checksum_folder(date(2026, 11, 24), folder_path)  # every file readable here
(folder_path / "ssd_person.csv").chmod(0o000)  # ... and no longer when it is read
settings = settings_for(tmp)
with connect(settings) as con:
    load.ensure_raw_tables(con)
    o = load._load_folder(settings, con, folder, date(2026, 11, 30))
print(json.dumps([o.status, o.snapshot_id, o.reason, folder.snapshot_id,
                  folder.id_with_unreadable(["ssd_person.csv"])]))
"""


def test_file_unreadable_after_its_checksum_is_rejected_under_the_unreadable_id(tmp_path):
    write_snapshot(tmp_path / "exports", "2026-11-24")
    out = run_python_without_file_permission_override(_RACE, str(tmp_path))
    status, sid, reason, content_id, unreadable_id = json.loads(out)
    assert status == REJECTED
    assert "2026-11-24/ssd_person.csv cannot be read ([Errno 13] Permission denied)" in reason
    assert ACTION in reason
    assert sid == unreadable_id != content_id
    (tmp_path / "exports" / "2026-11-24" / "ssd_person.csv").chmod(0o644)
    fixed = load_honouring_permissions(tmp_path)
    assert [o[1:3] for o in fixed] == [[LOADED, content_id]]
