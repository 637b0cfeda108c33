"""Extract: discover nightly snapshots, check them against the export contract, load raw + audit.

Public API (plain Python, no Dagster):

- :func:`check_source` raises :class:`fiw.errors.FiwError` when the exports cannot be read (a
  folder that does not exist, a database that cannot be reached); it writes nothing;
- :func:`load_new_snapshots` loads every snapshot not loaded yet and returns a :class:`LoadReport`;
- :func:`prune_raw` deletes raw rows of snapshots older than the retention period.

Environment: ``$FIW_SNAPSHOT_DATE`` (``YYYY-MM-DD``) sets the extract date of a database source
(default today); folder sources take it from the folder name.
"""

from fiw.extract.load import (
    check_source,
    ensure_raw_tables,
    load_new_snapshots,
    prune_after_publication,
    prune_raw,
)
from fiw.extract.report import (
    INCOMPLETE,
    NOT_A_SNAPSHOT,
    LoadReport,
    ObjectCounts,
    SnapshotOutcome,
)
from fiw.snapshots import DUPLICATE, FAILED_QUARANTINE, FAILED_VOLUME, LOADED, REJECTED

__all__ = [
    "DUPLICATE",
    "FAILED_QUARANTINE",
    "FAILED_VOLUME",
    "INCOMPLETE",
    "LOADED",
    "NOT_A_SNAPSHOT",
    "REJECTED",
    "LoadReport",
    "ObjectCounts",
    "SnapshotOutcome",
    "check_source",
    "ensure_raw_tables",
    "load_new_snapshots",
    "prune_after_publication",
    "prune_raw",
]
