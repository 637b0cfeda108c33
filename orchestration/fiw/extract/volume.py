"""The volume rule (docs/exports.md, "What bad input gets"): a required object that has lost more
than ``FIW_VOLUME_DROP`` of its rows since the last accepted snapshot refuses the snapshot, and an
object that had rows and now has none always does: an exporter whose query failed often still
writes the header, and a header-only file passes every other rule.

- *The last accepted snapshot* is the newest snapshot not dated after this one (by extract date,
  then by load time) whose status is loaded, validated, published or superseded
  (``snapshots.ACCEPTED``): a refused snapshot never becomes the reference, so a run of bad nights
  is compared with the last good one; a late arrival is compared with the snapshot before it, not
  with the newest one loaded; a re-export of an already loaded date is compared with that date's
  earlier load. The first snapshot ever has nothing to compare with and passes.
- Counts are all the rows of the object as they arrived (``audit.snapshot_objects.rows``),
  quarantined ones included: the rule is about what the exporter wrote; what the row rules refused
  is the quarantine threshold's business, so each refusal points at one cause.
- "More than": a loss of exactly ``FIW_VOLUME_DROP`` (half the rows, by default) passes.
- Only the objects the snapshot's kind carries are compared (``carried``): statutory returns
  (docs/returns.md) never carry ``ssd_involvements``, ``ssd_professionals`` or
  ``ssd_department``, so a returns snapshot after an SSD one is not refused for their absence,
  while every object returns do carry (persons, referrals, plans, episodes of care) is compared
  with the last accepted snapshot whatever its kind.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

import duckdb

from fiw.extract.report import ObjectCounts
from fiw.snapshots import ACCEPTED

SETTING = "FIW_VOLUME_DROP"


@dataclass(frozen=True)
class Reference:
    """The last accepted snapshot and its rows per object."""

    snapshot_id: str
    snapshot_date: date
    rows: dict[str, int]


def last_accepted(con: duckdb.DuckDBPyConnection, when: date) -> Reference | None:
    """The newest accepted snapshot not dated after ``when``; None when there is none."""
    marks = ", ".join("?" for _ in ACCEPTED)
    rows = con.execute(
        f"""select snapshot_id, snapshot_date from audit.snapshots
            where status in ({marks}) and snapshot_date <= ?
            order by snapshot_date desc, loaded_at desc limit 1""",
        [*ACCEPTED, when],
    ).fetchall()
    if not rows:
        return None
    sid, day = rows[0]
    counts = con.execute(
        "select object, rows from audit.snapshot_objects where snapshot_id = ?", [sid]
    ).fetchall()
    return Reference(sid, day, {obj: n for obj, n in counts if n is not None})


def lost(before: int, after: int, volume_drop: float) -> bool:
    """True when going from ``before`` to ``after`` rows breaks the rule."""
    if before <= 0:
        return False  # nothing to lose: 0 -> 0 and 0 -> n pass
    return after == 0 or (before - after) / before > volume_drop


def problems(
    con: duckdb.DuckDBPyConnection,
    when: date,
    counts: dict[str, ObjectCounts],
    volume_drop: float,
    carried: Collection[str] | None = None,
) -> list[str]:
    """One reason per object of ``counts`` that broke the rule against the last accepted
    snapshot not dated after ``when``, in the order of ``counts``; empty when none did.
    ``carried``: the objects this snapshot's kind can hold (None: every object); the others
    are not compared."""
    reference = last_accepted(con, when)
    if reference is None:
        return []
    reasons = []
    for c in counts.values():
        if carried is not None and c.object not in carried:
            continue
        before = reference.rows.get(c.object)
        if before is not None and lost(before, c.rows, volume_drop):
            reasons.append(
                describe(c.source_file, before, c.rows, reference.snapshot_date, volume_drop)
            )
    return reasons


def describe(source_file: str, before: int, after: int, day: date, volume_drop: float) -> str:
    """The reason, e.g. ``ssd_involvements.csv: 0 rows, 27,383 in the last accepted snapshot
    (2017-11-29): lost 100% (more than FIW_VOLUME_DROP=0.5): ...; check the export``."""
    share = (before - after) / before
    setting = f"{SETTING}={volume_drop:g}"
    if after == 0:
        why = (
            f"more than {setting}"
            if share > volume_drop
            else f"an object that had rows and now has none is refused even with {setting}"
        )
        hint = "an exporter whose query failed often still writes the header; check the export"
    else:
        why = f"more than {setting}"
        hint = (
            "an export cut short or filtered by mistake looks like this; check the export "
            f"(if the drop is real, raise {SETTING} for the next run)"
        )
    return (
        f"{source_file}: {after:,} {'row' if after == 1 else 'rows'}, {before:,} in the last "
        "accepted snapshot "
        f"({day.isoformat()}): lost {percent(share, volume_drop)} ({why}): {hint}"
    )


def percent(share: float, setting: float) -> str:
    """``share`` as a percentage with as many decimals as it takes (up to 4) to read neither as
    the setting (50.4% lost is not "50%" beside a 50% setting) nor, when rows remain, as 100%."""
    decimals = 0
    while decimals < 4 and share != setting:
        text = f"{share:.{decimals}%}"
        if text != f"{setting:.{decimals}%}" and (share == 1 or text != f"{1:.{decimals}%}"):
            break
        decimals += 1
    return f"{share:.{decimals}%}"
