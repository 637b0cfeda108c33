"""dbt's own test results, recorded beside the Great Expectations results in ``audit.dq_results``.

A failed dbt test (a generic or singular data test; unit tests check the code, not the data, and
fail the build as errors) refuses the snapshot: its status becomes ``failed_validation`` and the
reason names the test, the table, the column and how many rows failed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

from fiw import snapshots
from fiw.resources import dbt_project


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
            severity = (node.get("config") or {}).get("severity", "ERROR").lower()
            where = f"{table}.{column}" if column else table
            line = f"{name} on {where} failed on {failures} rows"
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
                    (result.get("message") or "")[:500],
                )
            )
        elif status == "error":
            outcome.errors.append(f"{uid}: {(result.get('message') or '').strip()[:300]}")
    if rows:
        con.executemany(
            "insert into audit.dq_results values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
        )
    if outcome.failed_tests:
        snapshots.set_status(
            con, snapshot.snapshot_id, snapshots.FAILED_VALIDATION, outcome.summary()[:2000]
        )
    return outcome
