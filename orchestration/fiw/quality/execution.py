"""Run the suites: Great Expectations validates each table in DuckDB (``fiw.quality.engine``),
the disclosure audit checks the release, and the results are recorded."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import duckdb

from fiw.faults import pause_point
from fiw.quality.recording import record_results
from fiw.quality.results import (
    MAX_EXAMPLES,
    ExpectationResult,
    QualityReport,
    shareable_values,
)
from fiw.quality.suites import (
    DISCLOSURE_SUITE,
    RELEASED_TABLE,
    RELEASED_TABLES,
    ExpectationSpec,
    Suite,
    TableSpec,
    _resolve_arg,
    batch_query,
    load_suite,
    suite_paths,
    unexpected_rows_sql,
)
from fiw.settings import Settings

log = logging.getLogger(__name__)

_SNAPSHOT_ID = re.compile(r"^[0-9A-Za-z_.:-]+$")

# --------------------------------------------------------------------------- disclosure audit


def disclosure_audit(
    con: duckdb.DuckDBPyConnection, table: str = RELEASED_TABLE
) -> ExpectationResult:
    """The audit of docs/audiences.md on what would be published: for every suppressed count,
    the range an intruder can work out by linear programming is at least the threshold wide.
    On ``RELEASED_TABLE``, the whole release at once (every file's counts, one model:
    :func:`fiw.disclosure.release.audit_release`); on the monthly trends, which only analysts
    see, window by window. Error severity: a release that fails it is not published, the cells
    and the relations that narrow them named."""
    from fiw.disclosure.audit import audit
    from fiw.disclosure.cells import CellKey, PublishedCell
    from fiw.disclosure.release import audit_release
    from fiw.settings import suppression_threshold

    threshold = suppression_threshold()
    result = partial(
        ExpectationResult,
        suite=DISCLOSURE_SUITE,
        table_name=table,
        expectation="suppressed_counts_not_recoverable",
        gx_type="linear_programming_audit",
        column_name=None,
        severity="error",
        ref="docs/audiences.md",
    )
    try:
        if table == RELEASED_TABLE:
            findings, model = audit_release(con, threshold)
            counts = len(model.values)
            hidden = sum(v is None for v in model.values.values())
        else:
            rows = con.execute(
                f"select window_name, segment, metric, numerator, denominator from {table}"
            ).fetchall()
            cells = [PublishedCell(CellKey(w, s, m), n, d) for w, s, m, n, d in rows]
            findings = audit(cells, threshold, inequalities=False)  # as it was suppressed
            counts, hidden = 2 * len(cells), 2 * sum(c.suppressed for c in cells)
    except duckdb.CatalogException as exc:
        return result(success=False, unexpected_count=None, error=str(exc).splitlines()[0])
    return result(
        success=not findings,
        unexpected_count=len(findings),
        # Cell keys and counts only: aggregates, never a person's value.
        examples=[f.describe() for f in findings[:MAX_EXAMPLES]],
        examples_public=True,
        values=[f.describe() for f in findings[:MAX_EXAMPLES]],
        observed={"counts": counts, "suppressed": hidden},
    )


# --------------------------------------------------------------------------- GX


def _table_exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, _, name = qualified.rpartition(".")
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema or "main", name],
    ).fetchone()
    return bool(row and row[0])


def _gx_expectation(spec: ExpectationSpec, suite: Suite, snapshot_id: str) -> Any:
    import great_expectations as gx

    meta = {"fiw_name": spec.name, "severity": spec.severity}
    if spec.ref:
        meta["ref"] = spec.ref
    description = spec.description or (f"{spec.name} ({spec.ref})" if spec.ref else None)
    if spec.expectation == "unexpected_rows":
        from fiw.quality.engine import rows_expectation_class

        query = unexpected_rows_sql(spec.kwargs["query"], suite, snapshot_id)
        return rows_expectation_class()(
            unexpected_rows_query=query, meta=meta, description=description or spec.name
        )
    cls_name = "".join(p.capitalize() for p in spec.expectation.split("_"))
    cls = getattr(gx.expectations, cls_name, None)
    if cls is None:
        raise ValueError(f"{suite.path.name}: unknown GX expectation {spec.expectation!r}")
    kwargs = {k: _resolve_arg(v, suite) for k, v in spec.kwargs.items()}
    if description:
        kwargs["description"] = description
    return cls(meta=meta, **kwargs)


def _column_examples(result: dict) -> list[Any]:
    counts = result.get("partial_unexpected_counts") or []
    if counts:
        return [{"value": c["value"], "count": c["count"]} for c in counts[:MAX_EXAMPLES]]
    return list(result.get("partial_unexpected_list") or [])[:MAX_EXAMPLES]


def _rows_examples(con: duckdb.DuckDBPyConnection, query: str, batch: str) -> list[dict]:
    sql = query.replace("{batch}", f"({batch})")
    cur = con.cursor()
    try:
        rel = cur.execute(f"select * from ({sql}) as unexpected limit {MAX_EXAMPLES}")
        names = [d[0] for d in rel.description]
        return [dict(zip(names, row, strict=True)) for row in rel.fetchall()]
    finally:
        cur.close()


def _to_result(
    vr: Any, suite: Suite, table: TableSpec, spec: ExpectationSpec, con, batch: str, snapshot_id
) -> ExpectationResult:
    res = dict(vr.result or {})
    exc = vr.exception_info or {}
    error = None
    if isinstance(exc, dict):
        if exc.get("raised_exception"):
            error = exc.get("exception_message")
        else:  # one entry per failed metric
            msgs = [v.get("exception_message") for v in exc.values() if isinstance(v, dict)]
            error = next((m for m in msgs if m), None)
    unexpected = res.get("unexpected_count")
    examples: list[Any] = []
    observed = None
    if spec.expectation == "unexpected_rows":
        unexpected = res.get("observed_value")
        if not vr.success and error is None and unexpected:
            query = unexpected_rows_sql(spec.kwargs["query"], suite, snapshot_id)
            try:
                examples = _rows_examples(con, query, batch)
            except duckdb.Error as e:  # examples are a courtesy; never fail the run on them
                log.warning("could not fetch examples for %s: %s", spec.name, e)
    elif not vr.success and error is None:
        examples = _column_examples(res)
        if unexpected is None and "observed_value" in res:
            observed = res["observed_value"]
        details = res.get("details") or {}
        if isinstance(details, dict) and details.get("mismatched"):
            observed = details["mismatched"]
    return ExpectationResult(
        suite=suite.name,
        table_name=table.table,
        expectation=spec.name,
        gx_type=vr.expectation_config.type,
        column_name=spec.column,
        severity=spec.severity,
        success=bool(vr.success) and error is None,
        unexpected_count=None if unexpected is None else int(unexpected),
        examples=examples,
        values=shareable_values(examples, spec.column),
        ref=spec.ref,
        error=error,
        observed=observed,
    )


def _validate_suite(
    ctx: Any,
    datasource: Any,
    con: duckdb.DuckDBPyConnection,
    suite: Suite,
    snapshot_id: str,
    run_name: str,
) -> list[ExpectationResult]:
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    results: list[ExpectationResult] = []
    definitions = []
    plan: dict[str, tuple[TableSpec, str]] = {}
    for i, table in enumerate(suite.tables):
        if not _table_exists(con, table.table):
            for spec in table.expectations:
                results.append(
                    ExpectationResult(
                        suite.name,
                        table.table,
                        spec.name,
                        spec.expectation,
                        spec.column,
                        spec.severity,
                        False,
                        None,
                        ref=spec.ref,
                        error=f"table {table.table} does not exist",
                    )
                )
            continue
        batch = batch_query(table, suite, snapshot_id)
        earlier = sum(t.table == table.table for t in suite.tables[:i])
        gx_name = f"{suite.name}.{table.table}" + (f".{earlier + 1}" if earlier else "")
        asset = datasource.add_query_asset(name=gx_name, query=batch)
        batch_def = asset.add_batch_definition_whole_table("current")
        gx_suite = ctx.suites.add(
            gx.ExpectationSuite(
                name=gx_name,
                expectations=[_gx_expectation(s, suite, snapshot_id) for s in table.expectations],
            )
        )
        definitions.append(
            ctx.validation_definitions.add(
                gx.ValidationDefinition(name=gx_name, data=batch_def, suite=gx_suite)
            )
        )
        plan[gx_name] = (table, batch)
    if not definitions:
        return results
    checkpoint = ctx.checkpoints.add(
        gx.Checkpoint(
            name=suite.name,
            validation_definitions=definitions,
            actions=[],
            result_format="SUMMARY",
        )
    )
    run = checkpoint.run(run_id=RunIdentifier(run_name=run_name))
    for suite_result in run.run_results.values():
        table, batch = plan[suite_result.suite_name]
        specs = {s.name: s for s in table.expectations}
        for vr in suite_result.results:
            spec = specs[vr.expectation_config.meta["fiw_name"]]
            results.append(_to_result(vr, suite, table, spec, con, batch, snapshot_id))
    return results


# --------------------------------------------------------------------------- entry point


def _snapshot_date(con: duckdb.DuckDBPyConnection, snapshot_id: str) -> date | None:
    try:
        row = con.execute(
            "select snapshot_date from audit.snapshots where snapshot_id = ?", [snapshot_id]
        ).fetchone()
    except duckdb.CatalogException:
        return None
    return row[0] if row else None


def run_suites(
    settings: Settings,
    con: duckdb.DuckDBPyConnection,
    snapshot_id: str,
    run_id: str,
    suites: Sequence[str | Path] | None = None,
) -> QualityReport:
    """Validate ``snapshot_id`` with the suites (names under ``expectations/`` or paths; default
    all), record every result in ``audit.dq_results`` and return the report."""
    if not _SNAPSHOT_ID.match(snapshot_id):
        raise ValueError(f"not a snapshot id: {snapshot_id!r}")
    started = time.perf_counter()
    audit_release = suites is None or DISCLOSURE_SUITE in suites
    if suites is not None:
        suites = [s for s in suites if s != DISCLOSURE_SUITE]
    loaded = [load_suite(p) for p in suite_paths(suites)] if suites != [] else []
    snapshot_date = _snapshot_date(con, snapshot_id)

    from fiw.quality import engine as quality_engine

    settings.ensure_home()
    ctx = quality_engine.make_context(settings.home / "gx" / "validations")
    datasource = ctx.data_sources.add_sql(
        name="warehouse",
        connection_string=quality_engine.CONNECTION_STRING,
        kwargs=quality_engine.sqlalchemy_kwargs(con),
    )
    run_name = f"{snapshot_date or snapshot_id[:12]} {run_id}"
    results: list[ExpectationResult] = []
    for i, suite in enumerate(loaded):
        if i == 1:
            pause_point("validation")  # test hook (fiw.faults): mid-suites, nothing recorded yet
        results.extend(_validate_suite(ctx, datasource, con, suite, snapshot_id, run_name))
    if audit_release:
        results.extend(disclosure_audit(con, table) for table in RELEASED_TABLES)

    report = QualityReport(
        snapshot_id=snapshot_id,
        snapshot_date=snapshot_date,
        run_id=run_id,
        results=results,
        seconds=time.perf_counter() - started,
        data_docs_index=settings.data_docs_dir / "index.html",
    )
    record_results(con, report, datetime.now(UTC).replace(tzinfo=None))
    return report
