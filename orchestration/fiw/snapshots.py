"""Which snapshot the run works on, and how its status moves (the ``audit.snapshots`` log).

A run loads every new snapshot, then builds, validates and publishes one *candidate*: the newest
``loaded`` snapshot that is not older than the current publication. A snapshot older than the
publication (a late arrival) is loaded and recorded but never becomes a candidate.

:func:`stale_since` says whether the publication has gone stale (``FIW_STALE_HOURS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import duckdb

# Statuses a snapshot can hold (see docs/design.md).
REJECTED = "rejected"
FAILED_QUARANTINE = "failed_quarantine"
FAILED_VOLUME = "failed_volume"
DUPLICATE = "duplicate"
LOADED = "loaded"
FAILED_VALIDATION = "failed_validation"
VALIDATED = "validated"
PUBLISHED = "published"
SUPERSEDED = "superseded"

REFUSED = (REJECTED, FAILED_QUARANTINE, FAILED_VOLUME, FAILED_VALIDATION)
# Loaded and not refused: what the volume rule compares a new snapshot with (extract/volume.py).
ACCEPTED = (LOADED, VALIDATED, PUBLISHED, SUPERSEDED)


@dataclass(frozen=True)
class Snapshot:
    snapshot_id: str
    snapshot_date: date


def candidate(con: duckdb.DuckDBPyConnection, status: str = LOADED) -> Snapshot | None:
    """The snapshot to build (``loaded``) or to publish (``validated``) now: the newest one in
    ``status`` that is not older than the publication; None when there is none."""
    row = con.execute(
        """
        select snapshot_id, snapshot_date
        from audit.snapshots
        where status = ?
          and snapshot_date >= coalesce(
              (select max(snapshot_date) from audit.snapshots where status = ?), date '0001-01-01')
        order by snapshot_date desc, loaded_at desc
        limit 1
        """,
        [status, PUBLISHED],
    ).fetchone()
    return Snapshot(row[0], row[1]) if row else None


def published(con: duckdb.DuckDBPyConnection) -> Snapshot | None:
    row = con.execute(
        "select snapshot_id, snapshot_date from audit.snapshots where status = ? "
        "order by published_at desc limit 1",
        [PUBLISHED],
    ).fetchone()
    return Snapshot(row[0], row[1]) if row else None


def set_status(
    con: duckdb.DuckDBPyConnection, snapshot_id: str, status: str, reason: str | None = None
) -> None:
    con.execute(
        "update audit.snapshots set status = ?, reason = coalesce(?, reason) where snapshot_id = ?",
        [status, reason, snapshot_id],
    )


def stale_since(
    con: duckdb.DuckDBPyConnection, stale_hours: float, now: datetime | None = None
) -> datetime | None:
    """When the data went stale: the time of the last publication when nothing has been
    published for more than ``stale_hours`` (``FIW_STALE_HOURS``); None while it is fresh.

    "More than": exactly ``stale_hours`` after the publication is still fresh. A warehouse that
    has never published is measured from the first snapshot it recorded (``loaded_at``); one that
    has recorded nothing at all has nothing to be stale about (None). ``now`` defaults to the
    current time; a naive ``now`` is taken as UTC. The result is in UTC (timezone-aware).
    """
    now = utc_now() if now is None else as_utc(now)
    since = last_published_at(con)
    if since is None:
        first = con.execute("select min(loaded_at) from audit.snapshots").fetchall()[0][0]
        if first is None:
            return None
        since = first.astimezone(UTC)  # loaded_at is naive, in the machine's local time
    return since if now - since > timedelta(hours=stale_hours) else None


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime; a naive one is taken as UTC (as the audit log's
    publication times are)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def last_published_at(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """When the newest publication was made (aware, UTC); None when nothing ever was."""
    times = [
        con.execute(f"select max(published_at) from audit.{table}").fetchall()[0][0]
        for table in ("publications", "snapshots")
    ]
    times = [t for t in times if t is not None]
    return as_utc(max(times)) if times else None
