"""The whole nightly path through ``fiw run``: generated exports -> published.duckdb.

One small authority is generated and run once per module; the tests then read what landed.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from pathlib import Path

import duckdb
import pytest

from bench.baseline import compute as baseline_metrics
from bench.baseline import differences
from tests.fixtures.nightly import AS_OF, fiw

pytestmark = pytest.mark.slow

INTERFACE = Path(__file__).resolve().parents[1] / "docs" / "interface.md"


def _promised_columns() -> dict[str, list[str]]:
    """interface.md's "Published tables" table: the promise, read from the contract itself."""
    text = INTERFACE.read_text(encoding="utf-8")
    section = text.split("## Published tables", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \|$", section, re.MULTILINE)
    return {table: [c.strip() for c in cols.split(",")] for table, cols in rows}


PUBLISHED_COLUMNS = _promised_columns()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_first_run_publishes_the_newest_snapshot(nightly):
    exports, home, first = nightly
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Published: snapshot 2017-11-30" in first.stdout
    con = duckdb.connect(str(home / "published.duckdb"), read_only=True)
    try:
        statuses = dict(con.execute("select snapshot_date, status from snapshots").fetchall())
        as_of = con.execute("select distinct as_of_date from outcome_metrics").fetchall()
    finally:
        con.close()
    assert statuses == {date(2017, 11, 29): "loaded", date(2017, 11, 30): "published"}
    assert as_of == [(AS_OF,)]


def test_published_tables_have_exactly_the_promised_columns(nightly):
    _, home, _ = nightly
    con = duckdb.connect(str(home / "published.duckdb"), read_only=True)
    try:
        tables = {
            t: [c[0] for c in con.execute(f"describe {t}").fetchall()]
            for (t,) in con.execute("select table_name from information_schema.tables").fetchall()
        }
    finally:
        con.close()
    assert tables == PUBLISHED_COLUMNS


def test_marts_agree_with_the_plain_duckdb_baseline(nightly):
    """A second, independent implementation of metrics.md must give the same counts."""
    exports, home, _ = nightly
    snapshot = exports / AS_OF.isoformat()
    assert differences(snapshot, home / "warehouse.duckdb") == {}
    assert sum(r[6] for r in baseline_metrics(snapshot)) > 0  # not an agreement on nothing


def test_a_second_run_with_nothing_new_changes_nothing(nightly):
    exports, home, _ = nightly
    before = sha256(home / "published.duckdb")
    again = fiw("run", "--exports", str(exports), "--home", str(home))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Nothing new" in again.stdout
    assert sha256(home / "published.duckdb") == before


def test_status_and_metrics_commands_read_the_home_folder(nightly):
    _, home, _ = nightly
    status = fiw("status", "--home", str(home))
    assert status.returncode == 0, status.stderr
    assert "published" in status.stdout and "2017-11-30" in status.stdout
    metrics = fiw("metrics", "--home", str(home))
    assert metrics.returncode == 0, metrics.stderr
    assert "de_escalation_rate" in metrics.stdout
    assert "family_insights" in metrics.stdout and "previous_model" in metrics.stdout


def test_runs_are_recorded_in_the_dagster_instance(nightly):
    _, home, _ = nightly
    from dagster import DagsterInstance, RunsFilter

    instance = DagsterInstance.from_config(str(home / "dagster"))
    try:
        runs = instance.get_run_records(RunsFilter(job_name="nightly"))
    finally:
        instance.dispose()
    assert len(runs) >= 1


def test_completeness_suite_refuses_a_snapshot_whose_rows_went_missing(nightly, tmp_path):
    """Every row rule passes on empty tables; the completeness suite must not."""
    import shutil

    from fiw.quality import execution
    from fiw.settings import Settings
    from fiw.warehouse import connect

    _, home, _ = nightly
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    settings = Settings.resolve(home=copy, exports=str(tmp_path))
    with connect(settings) as con:
        (snapshot_id,) = con.execute(
            "select snapshot_id from audit.snapshots where status = 'published'"
        ).fetchone()
        intact = execution.run_suites(settings, con, snapshot_id, "intact", suites=["completeness"])
        con.execute("delete from raw.ssd_cp_plans where _snapshot_id = ?", [snapshot_id])
        broken = execution.run_suites(settings, con, snapshot_id, "broken", suites=["completeness"])
    assert intact.success, intact.summary()
    failed = [r for r in broken.blocking_failures]
    assert [r.expectation for r in failed] == ["raw_holds_every_accepted_row"]
    assert failed[0].unexpected_count == 1
    assert "ssd_cp_plans" in failed[0].describe()
