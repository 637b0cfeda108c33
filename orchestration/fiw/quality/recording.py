"""Every result, Great Expectations' and dbt's tests', kept in ``audit.dq_results``.

Each row has the check's severity (``error`` blocks publication, ``warning`` is published and
shown) and, in ``details`` (JSON), what can be said of the failure without personal data:
``values`` holds the offending codes, team ids and counts (``fiw.contract.value_is_shareable``),
published with the rest; ``examples`` holds up to three offending rows as found (they can hold
case-system ids) and never leaves the warehouse.

A failed dbt test (a generic or singular data test; unit tests check the code, not the data, and
fail the build as errors) refuses the snapshot: its status becomes ``failed_validation`` and the
reason names the test, the table, the column, how many rows failed and the shareable values.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

from fiw import snapshots
from fiw.quality.results import MAX_EXAMPLES, QualityReport, shareable_values
from fiw.resources import dbt_project

log = logging.getLogger(__name__)

INSERT = (
    "insert into audit.dq_results (run_id, checked_at, snapshot_id, snapshot_date, suite,"
    " table_name, expectation, column_name, severity, success, unexpected_count, details)"
    " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# Columns of dbt's generic tests' failure rows that hold the tested column's values.
_DBT_VALUE_COLUMNS = {"value_field", "unique_field", "from_field", "child", "field"}


def record_results(
    con: duckdb.DuckDBPyConnection, report: QualityReport, checked_at: datetime
) -> None:
    rows = [
        (
            report.run_id,
            checked_at,
            report.snapshot_id,
            report.snapshot_date,
            r.suite,
            r.table_name,
            r.expectation,
            r.column_name,
            r.severity,
            r.success,
            r.unexpected_count,
            r.details(),
        )
        for r in report.results
    ]
    if rows:
        con.executemany(INSERT, rows)


@dataclass
class DbtOutcome:
    snapshot: snapshots.Snapshot
    failed_tests: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        head = f"snapshot {self.snapshot.snapshot_date}"
        if self.failed_tests:
            return f"{head} refused by dbt tests: " + "; ".join(self.failed_tests)
        if self.errors:
            return f"{head}: dbt build errors: " + "; ".join(self.errors)
        return f"{head}: dbt build passed ({len(self.warnings)} warnings)"


@cache
def _manifest_nodes(path: Path, mtime: float) -> dict[str, Any]:
    return json.loads(path.read_text())["nodes"]


def _nodes() -> dict[str, Any]:
    path = Path(dbt_project.manifest_path)
    return _manifest_nodes(path, path.stat().st_mtime)


def _describe(node: dict[str, Any], nodes: dict[str, Any]) -> tuple[str, str | None, str]:
    """(table, column, test name) of a dbt test node."""
    attached = nodes.get(node.get("attached_node") or "", {})
    table = f"{attached.get('schema', '?')}.{attached.get('name', '?')}" if attached else "?"
    column = node.get("column_name")
    name = (node.get("test_metadata") or {}).get("name") or node.get("name", "?")
    return table, column, name


def record_dbt_results(
    con: duckdb.DuckDBPyConnection,
    snapshot: snapshots.Snapshot,
    run_id: str,
    run_results: dict[str, Any],
) -> DbtOutcome:
    """Write every dbt data-test result to ``audit.dq_results``; refuse the snapshot on failures."""
    nodes = _nodes()
    outcome = DbtOutcome(snapshot)
    checked_at = datetime.now()
    rows = []
    for result in run_results.get("results", []):
        uid = result["unique_id"]
        status = result["status"]
        node = nodes.get(uid, {})
        if uid.startswith("test."):
            table, column, name = _describe(node, nodes)
            failures = result.get("failures") or 0
            values = _failing_values(con, result, column) if status in ("fail", "warn") else []
            # dbt's status says what the test came to (a warn_if threshold can warn a test whose
            # configured severity is error); the configured severity says it for a pass.
            configured = (node.get("config") or {}).get("severity", "ERROR").lower()
            severity = "warn" if status == "warn" else configured
            where = f"{table}.{column}" if column else table
            line = f"{name} on {where} failed on {failures} rows"
            if values:
                line += ", e.g. " + "; ".join(json.dumps(v, default=str) for v in values)
            if status == "fail":
                outcome.failed_tests.append(line)
            elif status == "warn":
                outcome.warnings.append(line)
            elif status == "error":
                outcome.errors.append(f"{uid}: {result.get('message')}")
            rows.append(
                (
                    run_id,
                    checked_at,
                    snapshot.snapshot_id,
                    snapshot.snapshot_date,
                    "dbt_tests",
                    table,
                    name,
                    column,
                    "warning" if severity == "warn" else "error",
                    status == "pass",
                    failures,
                    _dbt_details(result, values),
                )
            )
        elif status == "error":
            outcome.errors.append(f"{uid}: {(result.get('message') or '').strip()[:300]}")
    if rows:
        con.executemany(INSERT, rows)
    if outcome.failed_tests:
        snapshots.set_status(
            con, snapshot.snapshot_id, snapshots.FAILED_VALIDATION, outcome.summary()[:2000]
        )
    return outcome


def _failing_values(
    con: duckdb.DuckDBPyConnection, result: dict[str, Any], column: str | None
) -> list[Any]:
    """The shareable part of a failed dbt test's first rows: its compiled query run again (only
    when a test fails, so a good night costs nothing)."""
    sql = (result.get("compiled_code") or "").strip().rstrip(";")
    if not sql:
        return []
    cur = con.cursor()
    try:
        rel = cur.execute(f"select * from ({sql}) as failures limit {MAX_EXAMPLES}")
        names = [column if d[0] in _DBT_VALUE_COLUMNS and column else d[0] for d in rel.description]
        rows = [dict(zip(names, row, strict=True)) for row in rel.fetchall()]
    except duckdb.Error as exc:  # values are a courtesy; the result is recorded without them
        log.warning("could not fetch the failing values of %s: %s", result.get("unique_id"), exc)
        return []
    finally:
        cur.close()
    return shareable_values(rows)


def _dbt_details(result: dict[str, Any], values: list[Any]) -> str:
    d: dict[str, Any] = {}
    message = (result.get("message") or "").strip()
    if message:
        d["message"] = message[:300]
    if values:
        d["values"] = values
    return json.dumps(d, default=str)
