"""What a load run reports back: one :class:`SnapshotOutcome` per snapshot found at the source.

The orchestrator and the CLI read this; ``audit.snapshots`` holds the same facts durably.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

# Statuses written to audit.snapshots by the extract step (docs/design.md).
from fiw.snapshots import FAILED_QUARANTINE, FAILED_VOLUME, LOADED, REJECTED

# Outcomes of folders that are not (yet) snapshots: never in audit.snapshots, listed (as of the
# latest load) in audit.skipped_folders.
INCOMPLETE = "incomplete"  # no _SUCCESS marker while the exporter writes them
NOT_A_SNAPSHOT = "not_a_snapshot"  # folder name is not a YYYY-MM-DD date

REFUSED = (REJECTED, FAILED_QUARANTINE, FAILED_VOLUME)  # what the extract step itself refuses
WRITTEN = (LOADED, FAILED_QUARANTINE, FAILED_VOLUME)  # statuses whose rows went to raw


class SnapshotRejected(Exception):
    """A file-level contract breach: the snapshot is rejected whole, nothing goes to raw.

    ``unreadable`` names the files that could not be read (file name -> the OS error): the
    snapshot is then recorded under an id that marks them unreadable (``discover``), so that it
    loads once they can be read.
    """

    def __init__(self, problems: list[str], unreadable: dict[str, str] | None = None):
        self.problems = problems
        self.unreadable = dict(unreadable or {})
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class ObjectCounts:
    object: str
    source_file: str
    rows: int
    rows_quarantined: int

    @property
    def share_quarantined(self) -> float:
        return self.rows_quarantined / self.rows if self.rows else 0.0


@dataclass
class SnapshotOutcome:
    """One snapshot found at the source and what happened to it in this run."""

    name: str  # folder name, or the database source (password hidden)
    snapshot_date: date | None
    snapshot_id: str | None
    status: str
    reason: str | None = None
    already_known: bool = False  # True: its id was already in audit.snapshots, nothing changed
    objects: dict[str, ObjectCounts] = field(default_factory=dict)

    @property
    def rows_loaded(self) -> int:
        return sum(c.rows for c in self.objects.values())

    @property
    def rows_quarantined(self) -> int:
        return sum(c.rows_quarantined for c in self.objects.values())

    @property
    def newly_loaded(self) -> bool:
        return not self.already_known and self.status in WRITTEN

    def describe(self) -> str:
        what = f"snapshot {self.name}"
        if self.already_known:
            return f"{what}: already known ({self.status}), skipped"
        text = f"{what}: {self.status}"
        if self.objects:
            text += f" ({self.rows_loaded} rows, {self.rows_quarantined} quarantined)"
        return f"{text}: {self.reason}" if self.reason else text


@dataclass
class LoadReport:
    outcomes: list[SnapshotOutcome] = field(default_factory=list)

    @property
    def newly_loaded(self) -> list[SnapshotOutcome]:
        """Snapshots written to raw by this run (``loaded``, ``failed_quarantine`` or
        ``failed_volume``)."""
        return [o for o in self.outcomes if o.newly_loaded]

    @property
    def refused(self) -> list[SnapshotOutcome]:
        """Snapshots this run refused: rejected whole, over the quarantine threshold, or
        failing the volume rule."""
        return [o for o in self.outcomes if not o.already_known and o.status in REFUSED]

    @property
    def ok(self) -> bool:
        return not self.refused

    def summary(self) -> str:
        if not self.outcomes:
            return "no snapshots found"
        return "\n".join(o.describe() for o in self.outcomes)
