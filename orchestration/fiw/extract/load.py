"""Load every new snapshot into ``raw.<object>`` and record it in ``audit`` (one transaction each).

First the source is checked (:func:`check_source`): an exports folder that does not exist or
cannot be listed, or an exports database that cannot be reached, raises :class:`FiwError` and
nothing is written. The folders skipped as not (yet) snapshots (incomplete, not named as a date)
replace the listing in ``audit.skipped_folders`` (unchanged rows keep their ``seen_at``). Then for
each snapshot found at the source, oldest first:

0. a folder dated after today (the machine's date) is recorded ``rejected`` as future-dated under
   the id ``sha256("future:<date>:<checksum>")``, so that it loads normally once its date arrives;
   a folder with a file that cannot be read is recorded ``rejected`` under an id marking that file
   unreadable (``discover``), so that it loads once readable; neither loads anything;
1. already in ``audit.snapshots`` (same content checksum, same extract date): skip, change nothing;
2. same content already seen under another date: record ``duplicate`` (id ``<checksum>@<date>``),
   load nothing;
3. read every object into temp tables; a file-level breach records ``rejected``, loads nothing;
4. apply the row rules in ``contract.LOAD_ORDER`` (references see accepted rows only);
5. compare each object's rows with the last accepted snapshot (``volume``: an object that lost
   more than ``settings.volume_drop`` of its rows, or every row, fails the volume rule; only the
   objects the snapshot's kind carries are compared: returns hold no workers or teams);
6. in one transaction write raw rows (quarantined ones flagged), ``audit.quarantine``,
   ``audit.snapshot_objects`` and ``audit.snapshots``: ``failed_volume`` when the volume rule
   failed (its reasons first, then any quarantine ones: a header-only ``ssd_person`` also leaves
   every reference to it dangling, and the cause is the missing rows), else ``failed_quarantine``
   when an object's quarantined share exceeds ``settings.quarantine_threshold``, else ``loaded``.
   A refused snapshot's rows are still written to raw (nothing that arrives is lost); it is never
   published, and never the reference of the volume rule.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

from fiw.contract import LOAD_ORDER, OBJECTS
from fiw.extract import csv_source, database_source, discover, returns, rules, volume
from fiw.extract.report import LoadReport, ObjectCounts, SnapshotOutcome, SnapshotRejected
from fiw.extract.staged import StagedObject, first_row
from fiw.faults import pause_point
from fiw.settings import Settings
from fiw.snapshots import DUPLICATE, FAILED_QUARANTINE, FAILED_VOLUME, LOADED, REJECTED
from fiw.warehouse import connect

STAGE_PREFIX = "_fiw_stage_"
QUARANTINE_PREFIX = "_fiw_quarantine_"
ACCEPTED_PREFIX = "_fiw_accepted_"
RAW_META_COLUMNS = (
    ("_extra", "varchar"),
    ("_snapshot_id", "varchar"),
    ("_snapshot_date", "date"),
    ("_source_file", "varchar"),
    ("_line_number", "bigint"),
    ("_quarantined", "boolean"),
)


def ensure_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``raw.<object>`` for the nine objects (docs/design.md, "Raw layer") if missing."""
    con.execute("create schema if not exists raw")
    for obj in OBJECTS.values():
        cols = [f"{c} varchar" for c in obj.column_names]
        cols += [f"{name} {kind}" for name, kind in RAW_META_COLUMNS]
        con.execute(f"create table if not exists raw.{obj.name} ({', '.join(cols)})")


def check_source(settings: Settings) -> None:
    """Raise :class:`FiwError` (cause, then what to do) unless the exports can be read: a folder
    that exists and can be listed, or a database that can be reached (for SQLite, an existing
    file). Writes nothing anywhere; the run launcher calls it before starting anything."""
    if settings.exports_is_database:
        database_source.check_database(settings.exports)
    else:
        discover.check_exports_folder(Path(settings.exports))


def load_new_snapshots(
    settings: Settings,
    con: duckdb.DuckDBPyConnection | None = None,
    *,
    today: date | None = None,
) -> LoadReport:
    """Load every snapshot at ``settings.exports`` not loaded yet; report on each one found.

    Raises :class:`FiwError` before touching the warehouse when the exports cannot be read
    (:func:`check_source`). ``today`` (default the machine's date) is the date after which a
    folder is future-dated.
    """
    check_source(settings)
    today = today or date.today()
    if con is None:
        with connect(settings) as own:
            return _load_all(settings, own, today)
    return _load_all(settings, con, today)


def _load_all(settings: Settings, con: duckdb.DuckDBPyConnection, today: date) -> LoadReport:
    report = LoadReport()
    if settings.exports_is_database:
        ensure_raw_tables(con)
        _record_skipped(con, [])
        report.outcomes.append(_load_database(settings, con))
        return report
    found, skipped = discover.find_snapshot_folders(Path(settings.exports))
    ensure_raw_tables(con)
    _record_skipped(con, skipped)
    outcomes = [
        SnapshotOutcome(s.name, discover.parse_snapshot_date(s.name), None, s.status, s.reason)
        for s in skipped
    ]
    for when, path in found:
        folder = returns.checksum_folder(when, path) or discover.checksum_folder(when, path)
        outcomes.append(_load_folder(settings, con, folder, today))
    report.outcomes = sorted(outcomes, key=lambda o: o.name)
    return report


def _record_skipped(con: duckdb.DuckDBPyConnection, skipped: list[discover.SkippedFolder]) -> None:
    """Replace ``audit.skipped_folders`` with the folders this load skipped.

    ``seen_at`` is when a load first saw the folder skipped for that reason, kept while it stays
    so (a folder incomplete since three nights ago says the exporter failed); when the listing has
    not changed nothing is written, so a run with nothing new leaves every audit table as it was.
    """
    before = {
        (folder, status, reason): seen_at
        for folder, status, reason, seen_at in con.execute(
            "select folder, status, reason, seen_at from audit.skipped_folders"
        ).fetchall()
    }
    now = {(s.name, s.status, s.reason) for s in skipped}
    if set(before) == now:
        return
    seen_at = _now()
    con.begin()
    try:
        con.execute("delete from audit.skipped_folders")
        if now:
            con.executemany(
                "insert into audit.skipped_folders (folder, status, reason, seen_at) "
                "values (?, ?, ?, ?)",
                [[*key, before.get(key, seen_at)] for key in sorted(now)],
            )
        con.commit()
    except BaseException:
        con.rollback()
        raise


def future_id(snapshot_id: str, when: date) -> str:
    """The id a future-dated folder is recorded under: never its content's own id (so it loads
    once its date arrives), and one per folder (two future folders are not duplicates)."""
    return hashlib.sha256(f"future:{when.isoformat()}:{snapshot_id}".encode()).hexdigest()


def _load_folder(
    settings: Settings,
    con: duckdb.DuckDBPyConnection,
    folder: discover.SnapshotFolder,
    today: date,
) -> SnapshotOutcome:
    name, when, checksum = folder.path.name, folder.snapshot_date, folder.snapshot_id
    if when > today:
        return _refuse_future(con, folder, today)
    seen = _already_seen(con, name, checksum, when)
    if seen is not None:
        return seen
    if folder.unreadable:
        error = SnapshotRejected(folder.unreadable_problems(), folder.unreadable)
        return _record_refusal(con, name, when, checksum, checksum, str(folder.path), error)
    try:
        reader = returns if isinstance(folder, returns.ReturnsFolder) else csv_source
        staged = reader.stage_folder(con, folder, STAGE_PREFIX)
    except SnapshotRejected as e:
        if e.unreadable:  # a file stopped being readable after its checksum
            checksum = folder.id_with_unreadable(e.unreadable)
            seen = _already_seen(con, name, checksum, when)
            if seen is not None:
                return seen
        return _record_refusal(con, name, when, checksum, checksum, str(folder.path), e)
    carried = returns.CARRIED if isinstance(folder, returns.ReturnsFolder) else None
    return _write_snapshot(settings, con, name, when, checksum, str(folder.path), staged, carried)


def _refuse_future(
    con: duckdb.DuckDBPyConnection, folder: discover.SnapshotFolder, today: date
) -> SnapshotOutcome:
    """Record a folder dated after today as rejected, once; nothing of it is read."""
    name, when = folder.path.name, folder.snapshot_date
    sid = future_id(folder.snapshot_id, when)
    seen = _already_seen(con, name, sid, when)
    if seen is not None:
        return seen
    reason = (
        f"folder {name} is dated after today ({today.isoformat()}): future-dated, not loaded; "
        "check the exporter's clock or the folder name"
    )
    _insert_snapshot(con, sid, when, str(folder.path), sid, REJECTED, reason, None, None)
    return SnapshotOutcome(name, when, sid, REJECTED, reason)


def _load_database(settings: Settings, con: duckdb.DuckDBPyConnection) -> SnapshotOutcome:
    when = database_source.snapshot_date()
    source = database_source.display_url(settings.exports)
    try:
        staged, checksum = database_source.stage_database(con, settings.exports, STAGE_PREFIX)
    except SnapshotRejected as e:
        checksum = database_source.rejection_id(when, e.problems)
        seen = _already_seen(con, source, checksum, when)
        if seen is not None:
            return seen
        return _record_refusal(con, source, when, checksum, checksum, source, e)
    seen = _already_seen(con, source, checksum, when)
    if seen is not None:
        _drop(con, staged.values(), [])
        return seen
    return _write_snapshot(settings, con, source, when, checksum, source, staged)


def _already_seen(
    con: duckdb.DuckDBPyConnection, name: str, checksum: str, when: date
) -> SnapshotOutcome | None:
    """The outcome for content already in audit.snapshots: known (skip) or a new duplicate."""
    row = first_row(
        con,
        """select snapshot_id, status, reason from audit.snapshots
           where checksum = ? and snapshot_date = ? order by loaded_at limit 1""",
        [checksum, when],
    )
    if row is not None:
        sid, status, reason = row
        return SnapshotOutcome(name, when, sid, status, reason, True, _object_counts(con, sid))
    original = first_row(
        con,
        """select snapshot_date, status from audit.snapshots
           where snapshot_id = ? and status <> ?""",
        [checksum, DUPLICATE],
    )
    if original is None:
        return None
    sid = f"{checksum}@{when.isoformat()}"
    reason = (
        f"same content as the snapshot of {original[0]:%Y-%m-%d} (status {original[1]}, "
        f"id {checksum[:12]}): not loaded again"
    )
    _insert_snapshot(con, sid, when, name, checksum, DUPLICATE, reason, None, None)
    return SnapshotOutcome(name, when, sid, DUPLICATE, reason)


def _object_counts(con: duckdb.DuckDBPyConnection, sid: str) -> dict[str, ObjectCounts]:
    rows = con.execute(
        "select object, source_file, rows, rows_quarantined from audit.snapshot_objects "
        "where snapshot_id = ?",
        [sid],
    ).fetchall()
    return {r[0]: ObjectCounts(*r) for r in rows}


def _record_refusal(
    con: duckdb.DuckDBPyConnection,
    name: str,
    when: date,
    sid: str,
    checksum: str,
    source: str,
    error: SnapshotRejected,
) -> SnapshotOutcome:
    reason = f"rejected whole, nothing loaded: {error}"
    _insert_snapshot(con, sid, when, source, checksum, REJECTED, reason, None, None)
    return SnapshotOutcome(name, when, sid, REJECTED, reason)


def _insert_snapshot(
    con: duckdb.DuckDBPyConnection,
    sid: str,
    when: date,
    source: str,
    checksum: str,
    status: str,
    reason: str | None,
    rows: int | None,
    quarantined: int | None,
) -> None:
    con.execute(
        """insert into audit.snapshots (snapshot_id, snapshot_date, source, checksum, status,
               reason, rows_loaded, rows_quarantined, loaded_at)
           values (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [sid, when, source, checksum, status, reason, rows, quarantined, _now()],
    )


def _now() -> datetime:
    return datetime.now().replace(microsecond=0)


def _write_snapshot(
    settings: Settings,
    con: duckdb.DuckDBPyConnection,
    name: str,
    when: date,
    sid: str,
    source: str,
    staged: dict[str, StagedObject],
    carried: tuple[str, ...] | None = None,
) -> SnapshotOutcome:
    """``carried``: the objects this kind of snapshot can hold (None: all), the only ones the
    volume rule compares."""
    quarantine_tables: dict[str, str] = {}
    accepted_tables: list[str] = []
    try:
        counts: dict[str, ObjectCounts] = {}
        accepted: dict[str, str] = {}
        for obj_name in LOAD_ORDER:
            s = staged[obj_name]
            q = quarantine_tables[obj_name] = f"{QUARANTINE_PREFIX}{obj_name}"
            n = rules.quarantine(con, s, q, accepted)
            accepted[obj_name] = rules.accepted_keys(con, s, q, f"{ACCEPTED_PREFIX}{obj_name}")
            accepted_tables.append(f"{ACCEPTED_PREFIX}{obj_name}")
            counts[obj_name] = ObjectCounts(obj_name, s.source_file, s.rows, n)
        over = [
            f"{c.source_file}: {c.rows_quarantined} of {c.rows} rows quarantined "
            f"({c.share_quarantined:.1%}), above the {settings.quarantine_threshold:.1%} "
            "threshold"
            for c in counts.values()
            if c.share_quarantined > settings.quarantine_threshold
        ]
        dropped = volume.problems(con, when, counts, settings.volume_drop, carried)
        status = FAILED_VOLUME if dropped else FAILED_QUARANTINE if over else LOADED
        reason = "; ".join(dropped + over) or None
        con.begin()
        try:
            for obj_name in LOAD_ORDER:
                _write_raw(con, staged[obj_name], quarantine_tables[obj_name], sid, when)
            _write_audit(con, staged, quarantine_tables, counts, sid, when, source, status, reason)
            pause_point("load")  # test hook (fiw.faults): a kill here must leave nothing behind
            con.commit()
        except BaseException:
            con.rollback()
            raise
    finally:
        _drop(con, staged.values(), [*quarantine_tables.values(), *accepted_tables])
    return SnapshotOutcome(name, when, sid, status, reason, False, counts)


def _write_raw(
    con: duckdb.DuckDBPyConnection, s: StagedObject, q: str, sid: str, when: date
) -> None:
    cols = ", ".join(f"s.{c}" for c in s.obj.column_names)
    # Raw is a set (each row carries its _line_number): letting DuckDB write rows in any order
    # makes the insert of millions of rows about a quarter faster and buffer less.
    previous = first_row(con, "select current_setting('preserve_insertion_order')")[0]
    con.execute("set preserve_insertion_order = false")
    try:
        con.execute(
            f"""
            insert into raw.{s.obj.name} by name
            select {cols}, {s.extra_json_sql()} as _extra, ? as _snapshot_id,
                cast(? as date) as _snapshot_date, {s.source_file_sql()} as _source_file,
                s._line_number, q._line_number is not null as _quarantined
            from {s.table} s left join {q} q on s._line_number = q._line_number
            """,
            [sid, when],
        )
    finally:
        con.execute(f"set preserve_insertion_order = {bool(previous)}")


def _write_audit(
    con: duckdb.DuckDBPyConnection,
    staged: dict[str, StagedObject],
    quarantine_tables: dict[str, str],
    counts: dict[str, ObjectCounts],
    sid: str,
    when: date,
    source: str,
    status: str,
    reason: str | None,
) -> None:
    for obj_name in LOAD_ORDER:
        s, q, c = staged[obj_name], quarantine_tables[obj_name], counts[obj_name]
        con.execute(
            f"""
            insert into audit.quarantine
            select ?, cast(? as date), ?, {s.source_file_sql()}, q._line_number,
                s.{s.obj.primary_key}, q.reasons, {s.record_json_sql()}
            from {q} q join {s.table} s on s._line_number = q._line_number
            order by q._line_number
            """,
            [sid, when, obj_name],
        )
        con.execute(
            "insert into audit.snapshot_objects values (?, ?, ?, ?, ?)",
            [sid, obj_name, c.source_file, c.rows, c.rows_quarantined],
        )
    rows = sum(c.rows for c in counts.values())
    quarantined = sum(c.rows_quarantined for c in counts.values())
    _insert_snapshot(con, sid, when, source, sid, status, reason, rows, quarantined)


def _drop(con: duckdb.DuckDBPyConnection, staged, other_tables) -> None:
    for table in [s.table for s in staged] + list(other_tables):
        con.execute(f"drop table if exists {table}")


def prune_raw(
    con: duckdb.DuckDBPyConnection,
    retention_days: int,
    keep_snapshot_ids: list[str] | tuple[str, ...] | set[str] = (),
    today: date | None = None,
) -> dict[str, int]:
    """Delete raw rows of snapshots extracted more than ``retention_days`` before ``today``.

    Never deletes rows of ``keep_snapshot_ids`` nor of a snapshot whose audit status is
    ``published``; never touches ``audit``. Returns the rows deleted per object.
    """
    ensure_raw_tables(con)
    cutoff = (today or date.today()) - timedelta(days=retention_days)
    published = con.execute(
        "select snapshot_id from audit.snapshots where status = 'published'"
    ).fetchall()
    keep = sorted(set(keep_snapshot_ids) | {r[0] for r in published})
    deleted: dict[str, int] = {}
    con.begin()
    try:
        for obj_name in LOAD_ORDER:
            row = first_row(
                con,
                f"""delete from raw.{obj_name} where _snapshot_date < ?
                    and not list_contains(cast(? as varchar[]), _snapshot_id)""",
                [cutoff, keep],
            )
            deleted[obj_name] = row[0] if row else 0
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return deleted


def prune_after_publication(con: duckdb.DuckDBPyConnection, retention_days: int) -> dict[str, int]:
    """Prune raw after a publication, measuring age from the newest extract date seen (the data's
    own clock, so a backlog or a replay of old extracts is not wiped by the wall clock). Keeps the
    publication and every snapshot not older than it that still awaits its build."""
    newest, published_date = con.execute(
        "select max(snapshot_date), max(snapshot_date) filter (where status = 'published') "
        "from audit.snapshots"
    ).fetchall()[0]
    if newest is None:
        return {}
    awaiting = con.execute(
        "select snapshot_id from audit.snapshots where status in ('loaded', 'validated') "
        "and snapshot_date >= coalesce(?, date '0001-01-01')",
        [published_date],
    ).fetchall()
    return prune_raw(con, retention_days, [r[0] for r in awaiting], today=newest)
