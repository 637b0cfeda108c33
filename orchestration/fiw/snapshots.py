"""Which snapshot the run works on, and how its status moves (the ``audit.snapshots`` log).

A run loads every new snapshot, then builds, validates and publishes one *candidate*: the newest
``loaded`` snapshot that is not older than the current publication. A snapshot older than the
publication (a late arrival) is loaded and recorded but never becomes a candidate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

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
