"""Idempotency: a run with nothing new changes nothing; the same snapshot gives the same data.

``clean`` and ``retention`` (tests/fixtures/pipeline.py) are two fresh homes that loaded the same
three snapshots with the same pseudonymisation key (they differ only in how long raw snapshots are
kept, which acts on the raw layer after publication).
"""

from __future__ import annotations

import pytest
from dagster import DagsterInstance, RunsFilter

from tests.fixtures import pipeline as p

pytestmark = pytest.mark.slow

AUDIT = ("snapshots", "snapshot_objects", "quarantine", "dq_results", "publications", "hash_key")


def _dagster_runs(home) -> int:
    instance = DagsterInstance.from_config(str(home.home / "dagster"))
    try:
        return len(instance.get_run_records(RunsFilter(job_name="nightly")))
    finally:
        instance.dispose()


@pytest.fixture(scope="module")
def rerun(tmp_path_factory):
    home = p.clean(tmp_path_factory).copy(tmp_path_factory.mktemp("rerun"))
    before = {
        "sha": p.sha256(home.published),
        "audit": p.table_contents(home.warehouse, "audit"),
        "raw": p.table_contents(home.warehouse, "raw"),
        "marts": p.table_contents(home.warehouse, "marts"),
        "runs": _dagster_runs(home),
    }
    result = p.run(home.exports, home.home)
    return home, before, result


def test_a_run_with_nothing_new_publishes_nothing(rerun):
    home, before, result = rerun
    assert result.returncode == 0, result.stdout + result.stderr
    out = p.plain(result.stdout)
    assert "Nothing new: every snapshot found was already loaded." in out
    assert "Published: snapshot 2017-11-30" in out
    assert p.sha256(home.published) == before["sha"]


def test_a_run_with_nothing_new_changes_no_table_only_adds_a_dagster_run(rerun):
    home, before, _ = rerun
    assert p.table_contents(home.warehouse, "audit") == before["audit"]
    assert p.table_contents(home.warehouse, "raw") == before["raw"]
    assert p.table_contents(home.warehouse, "marts") == before["marts"]
    assert _dagster_runs(home) == before["runs"] + 1


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    return p.clean(tmp_path_factory), p.retention(tmp_path_factory)


def test_the_same_snapshot_publishes_the_same_data_in_two_fresh_homes(twins):
    a, b = twins
    tables_a = p.data_tables(a.published)
    assert all(tables_a[t] for t in p.DATA_TABLES)
    assert tables_a == p.data_tables(b.published)


def test_published_rows_are_stored_in_the_same_order(twins):
    """publish.py writes every data table ORDER BY all its columns: even the bytes of the table
    data are stable, not only the set of rows."""
    a, b = twins
    stored = p.data_tables_as_stored(a.published)
    assert stored == p.data_tables_as_stored(b.published)
    assert stored == p.data_tables(a.published)


def test_only_run_ids_and_timestamps_differ_between_the_two_publications(twins):
    a, b = twins
    dq = "snapshot_date, suite, table_name, expectation, column_name, success, unexpected_count"
    snaps = "snapshot_date, checksum, status, reason, rows_loaded, rows_quarantined"
    for table, cols in (("dq_results", dq), ("snapshots", snaps)):
        rows_a = sorted(p.query(a.published, f"select {cols} from {table}"), key=repr)
        assert rows_a == sorted(p.query(b.published, f"select {cols} from {table}"), key=repr)
    run_ids = [
        {r[0] for r in p.query(h.published, "select distinct run_id from dq_results")}
        for h in twins
    ]
    assert run_ids[0] and run_ids[0].isdisjoint(run_ids[1])
