"""Retention: raw snapshots older than FIW_RETENTION_DAYS (counted back from the newest extract
date) leave the raw layer after a publication; the marts and the audit history stay whole.

``retention`` and ``clean`` (tests/fixtures/pipeline.py) loaded the same three snapshots (OLD,
30 days before DAY2; DAY1; DAY2) with the same key; ``retention`` keeps 5 days of raw.
"""

from __future__ import annotations

import pytest

from tests.fixtures import pipeline as p

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def homes(tmp_path_factory):
    return p.retention(tmp_path_factory), p.clean(tmp_path_factory)


def test_old_raw_snapshots_are_pruned_recent_and_published_kept(homes):
    kept, full = homes
    assert kept.result.returncode == 0
    assert p.statuses(kept.home) == {p.OLD: "loaded", p.DAY1: "loaded", p.DAY2: "published"}
    full_raw = p.raw_counts(full.home)
    assert {k[1] for k in full_raw} == {p.OLD, p.DAY1, p.DAY2}
    assert p.raw_counts(kept.home) == {k: n for k, n in full_raw.items() if k[1] != p.OLD}


def test_pruning_leaves_the_marts_unchanged(homes):
    kept, full = homes
    marts = p.table_contents(kept.warehouse, "marts")
    assert marts and all(marts.values())
    assert marts == p.table_contents(full.warehouse, "marts")


def test_pruning_leaves_the_audit_history_whole(homes):
    kept, full = homes
    for table, cols in (
        ("snapshots", "snapshot_id, snapshot_date, checksum, status, reason, rows_loaded,"
                      " rows_quarantined"),
        ("snapshot_objects", "*"),
        ("quarantine", "*"),
        ("dq_results", "snapshot_id, suite, table_name, expectation, success, unexpected_count"),
    ):  # fmt: skip
        assert p.audit_rows(kept.home, table, cols) == p.audit_rows(full.home, table, cols), table
    # The pruned snapshot's history is still there: its objects and its quarantined rows.
    old_quarantine = p.query(
        kept.warehouse, "select count(*) from audit.quarantine where snapshot_date = ?", [p.OLD]
    )[0][0]
    old_objects = p.query(
        kept.warehouse,
        "select count(*) from audit.snapshot_objects o join audit.snapshots s using (snapshot_id)"
        " where s.snapshot_date = ?",
        [p.OLD],
    )[0][0]
    assert old_quarantine > 0 and old_objects == 9


def test_pruning_leaves_the_publication_content_unchanged(homes):
    kept, full = homes
    assert p.data_tables(kept.published) == p.data_tables(full.published)
