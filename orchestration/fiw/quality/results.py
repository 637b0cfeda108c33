"""What a validation found: one :class:`ExpectationResult` per expectation and the
:class:`QualityReport` of a snapshot, with the text shown to people and kept in ``details``."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from fiw.contract import is_count, value_is_shareable

log = logging.getLogger(__name__)

MAX_EXAMPLES = 3


@dataclass(frozen=True)
class ExpectationResult:
    suite: str
    table_name: str
    expectation: str  # the suite's name for it, e.g. "no_overlapping_cp_plans"
    gx_type: str  # e.g. "unexpected_rows_expectation"
    column_name: str | None
    severity: str
    success: bool
    unexpected_count: int | None
    examples: list[Any] = field(default_factory=list)
    ref: str | None = None
    error: str | None = None  # the exception when the expectation could not be evaluated
    observed: Any = None
    examples_public: bool = False  # examples hold aggregates only: shown wherever the result is
    # The offending values that are not personal data (codes, team ids, counts: see
    # fiw.contract.value_is_shareable), kept in the published dq_results and shown to people.
    values: list[Any] = field(default_factory=list)

    @property
    def blocking(self) -> bool:
        return self.severity == "error" and not self.success

    @property
    def label(self) -> str:
        ref = f" ({self.ref})" if self.ref else ""
        return f"{self.table_name}: {self.expectation}{ref}"

    def details(self) -> str:
        """Short JSON for ``audit.dq_results.details``."""
        d: dict[str, Any] = {}
        if self.ref:
            d["ref"] = self.ref
        if self.error:
            d["error"] = self.error[:300]
        if self.observed is not None:
            d["observed"] = self.observed
        if self.values:
            d["values"] = self.values
        if self.examples:
            d["examples"] = self.examples  # the warehouse only: dropped on publication
        return json.dumps(d, default=str)[:2000]

    def describe(self, examples: bool = True) -> str:
        """One line for people. ``examples=False`` shows only the offending values that are not
        personal data, never the offending rows, which can hold case-system ids: for text that
        may leave the warehouse (a snapshot's ``reason`` is published in ``snapshots``)."""
        if self.error:
            return f"{self.label} could not run: {self.error.splitlines()[0][:200]}"
        col = f" [{self.column_name}]" if self.column_name else ""
        n = "" if self.unexpected_count is None else f" on {self.unexpected_count} rows"
        shown = self.examples if examples or self.examples_public else self.values
        eg = ""
        if shown:
            eg = ", e.g. " + "; ".join(json.dumps(e, default=str) for e in shown)
        obs = ""
        if self.observed is not None and not shown:
            obs = f" (observed {json.dumps(self.observed, default=str)[:200]})"
        return f"{self.label}{col} failed{n}{obs}{eg}"


@dataclass
class QualityReport:
    snapshot_id: str
    snapshot_date: date | None
    run_id: str
    results: list[ExpectationResult]
    seconds: float = 0.0
    data_docs_index: Path | None = None

    @property
    def blocking_failures(self) -> list[ExpectationResult]:
        return [r for r in self.results if r.blocking]

    @property
    def warnings(self) -> list[ExpectationResult]:
        return [r for r in self.results if not r.success and r.severity == "warning"]

    @property
    def success(self) -> bool:
        return not self.blocking_failures

    def suite(self, name: str) -> list[ExpectationResult]:
        return [r for r in self.results if r.suite == name]

    def result(self, expectation: str, table_name: str | None = None) -> ExpectationResult:
        """The one result named ``expectation`` (on ``table_name`` when several tables share it)."""
        found = [
            r
            for r in self.results
            if r.expectation == expectation and (table_name is None or r.table_name == table_name)
        ]
        if len(found) != 1:
            raise KeyError(f"{len(found)} results named {expectation!r} on {table_name!r}")
        return found[0]

    def summary(self, examples: bool = True) -> str:
        """Which snapshot, which rules failed, on how many rows; ``examples=False`` without the
        offending rows (see :meth:`ExpectationResult.describe`)."""
        label = str(self.snapshot_date) if self.snapshot_date else self.snapshot_id[:12]
        blocking, warnings = self.blocking_failures, self.warnings
        head = f"snapshot {label}: "
        if blocking:
            n = len(blocking)
            head += f"{n} blocking failure{'s' if n > 1 else ''}: "
            head += "; ".join(r.describe(examples) for r in blocking)
        else:
            head += f"all {len(self.results)} expectations passed their blocking checks"
        if warnings:
            head += f". {len(warnings)} warning{'s' if len(warnings) > 1 else ''}: "
            head += "; ".join(r.describe(examples) for r in warnings)
        return head


def shareable_values(rows: list[Any], column: str | None = None) -> list[Any]:
    """The parts of offending rows that may leave the raw layer: from dict rows the keys whose
    column is shareable; from bare values (a column expectation's), the values when ``column`` is.
    Rows left with nothing shareable but counts are dropped."""
    out: list[Any] = []
    for row in rows:
        if isinstance(row, dict):
            if "value" in row and set(row) <= {"value", "count"} and column:
                kept = {column: row["value"], "count": row["count"]}
                kept = kept if value_is_shareable(column) else {"count": row["count"]}
            else:
                kept = {k: v for k, v in row.items() if value_is_shareable(k)}
            if not all(is_count(k) for k in kept):  # counts alone say nothing of what failed
                out.append(kept)
        elif value_is_shareable(column):
            out.append({column: row})
    return out


def values_text(details: str | None) -> str:
    """The offending values a dq_results row keeps (no personal data), as one short text."""
    try:
        values = json.loads(details or "{}").get("values") or []
    except (ValueError, AttributeError):
        return ""
    return "; ".join(
        ", ".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else str(value)
        for value in values
    )


def latest_run_counts(con: duckdb.DuckDBPyConnection, snapshot_id: str) -> tuple[int, int, int]:
    """(checks, failed errors, failed warnings) of the snapshot's latest validation run: what the
    data-quality page and the release's data_quality.csv both say of a night. A result without
    a success flag counts as failed."""
    return con.execute(
        """
        select count(*),
               count(*) filter (where not coalesce(success, false) and severity <> 'warning'),
               count(*) filter (where not coalesce(success, false) and severity = 'warning')
        from audit.dq_results
        where snapshot_id = ? and run_id = (
            select run_id from audit.dq_results where snapshot_id = ?
            order by checked_at desc limit 1)
        """,
        [snapshot_id, snapshot_id],
    ).fetchone()
