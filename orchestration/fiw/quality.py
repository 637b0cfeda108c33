"""Validate a snapshot with the Great Expectations suites under ``expectations/``.

``run_suites`` reads every suite file (YAML, one per layer or table group), turns each entry into a
GX 1.x expectation, validates it in DuckDB with the work pushed down to SQL (see
``fiw.quality_engine`` for how GX is made to work on DuckDB), records every result in
``audit.dq_results`` (history kept), builds GX Data Docs under ``settings.data_docs_dir`` and
returns a :class:`QualityReport`. No Dagster here: the orchestrator wraps it in blocking checks.

Suite file format (see ``expectations/README.md``)::

    suite: raw_statutory
    description: ...
    vars: {suppression_threshold: 5}          # optional values for {var:...} below
    tables:
      - table: raw.ssd_cp_plans
        where: current_snapshot               # raw layer: this snapshot's rows, not quarantined
        expectations:
          - expectation: expect_column_values_to_not_be_null   # any GX expectation, snake_case
            column: cppl_cp_plan_id                            # other keys are its arguments
            severity: error                                    # error blocks publication
          - name: no_overlapping_cp_plans
            ref: CIN 8940
            expectation: unexpected_rows                       # GX UnexpectedRowsExpectation
            severity: error
            query: select ... from {batch} a join {batch} b ...

Placeholders in queries (resolved here, before GX sees ``{batch}``): ``{snapshot_id}`` (a quoted
literal), ``{current:<object>}`` (``raw.<object>`` rows of this snapshot, not quarantined),
``{seed:<file>}`` (a seed CSV as a subquery, every column text) and ``{var:<name>}`` (a suite var:
a list becomes a one-column subquery ``value``, a scalar a literal). In arguments,
``{seed: <file>}`` (optionally ``column: <name>``, default ``code``) is replaced by that seed
column's values.
"""

from __future__ import annotations

import csv
import json
import logging
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import yaml

from fiw.contract import (
    CLA_PRIMARY_NEEDS,
    OBJECTS,
    SEEDS_DIR,
    Column,
    Interval,
    PresentTogether,
    Range,
)
from fiw.faults import pause_point
from fiw.settings import EXPECTATIONS_DIR, Settings

log = logging.getLogger(__name__)

SEVERITIES = ("error", "warning")
META_KEYS = {"name", "expectation", "severity", "ref", "description"}
MAX_EXAMPLES = 3
_SNAPSHOT_ID = re.compile(r"^[0-9A-Za-z_.:-]+$")
_PLACEHOLDER = re.compile(r"\{(snapshot_id|current:\w+|seed:\w+|var:\w+)\}")


# --------------------------------------------------------------------------- results


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
        if self.examples:
            d["examples"] = self.examples
        return json.dumps(d, default=str)[:2000]

    def describe(self, examples: bool = True) -> str:
        """One line for people. ``examples=False`` leaves out the offending rows, which hold
        case-system ids: for text that may leave the warehouse (a snapshot's ``reason`` is
        published in ``snapshots``)."""
        if self.error:
            return f"{self.label} could not run: {self.error.splitlines()[0][:200]}"
        col = f" [{self.column_name}]" if self.column_name else ""
        n = "" if self.unexpected_count is None else f" on {self.unexpected_count} rows"
        eg = ""
        examples = examples or self.examples_public
        if self.examples and examples:
            eg = ", e.g. " + "; ".join(json.dumps(e, default=str) for e in self.examples)
        obs = ""
        if self.observed is not None and not (self.examples and examples):
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


# --------------------------------------------------------------------------- suite files


@dataclass(frozen=True)
class ExpectationSpec:
    name: str
    expectation: str
    severity: str
    kwargs: dict[str, Any]
    ref: str | None = None
    description: str | None = None

    @property
    def column(self) -> str | None:
        col = self.kwargs.get("column") or self.kwargs.get("column_A")
        if col:
            return col
        cols = self.kwargs.get("column_list")
        return ",".join(cols) if cols else None


@dataclass(frozen=True)
class TableSpec:
    table: str
    where: str | None
    expectations: tuple[ExpectationSpec, ...]


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    tables: tuple[TableSpec, ...]
    vars: dict[str, Any]
    description: str = ""


def _spec_name(entry: dict) -> str:
    if entry.get("name"):
        return entry["name"]
    kind = entry["expectation"].removeprefix("expect_")
    cols = entry.get("column") or "_".join(entry.get("column_list", []))
    if "column_A" in entry:
        cols = f"{entry['column_A']}_{entry['column_B']}"
    return f"{kind}:{cols}" if cols else kind


def load_suite(path: Path) -> Suite:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    name = doc.get("suite") or path.stem
    tables = []
    for t in doc["tables"]:
        specs = []
        for e in t["expectations"]:
            sev = e.get("severity", "error")
            if sev not in SEVERITIES:
                raise ValueError(f"{path.name}: {t['table']}: severity {sev!r} not in {SEVERITIES}")
            specs.append(
                ExpectationSpec(
                    name=_spec_name(e),
                    expectation=e["expectation"],
                    severity=sev,
                    kwargs={k: v for k, v in e.items() if k not in META_KEYS},
                    ref=e.get("ref"),
                    description=e.get("description"),
                )
            )
        names = [s.name for s in specs]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"{path.name}: {t['table']}: duplicate expectation names {dupes}")
        tables.append(TableSpec(t["table"], t.get("where"), tuple(specs)))
    return Suite(name, path, tuple(tables), doc.get("vars") or {}, doc.get("description", ""))


def suite_names() -> list[str]:
    """The names of the suites under ``expectations/`` (no GX import: cheap at definition time),
    and the disclosure audit's, which runs beside them."""
    return [load_suite(p).name for p in suite_paths()] + [DISCLOSURE_SUITE]


# --------------------------------------------------------------------------- disclosure audit

DISCLOSURE_SUITE = "disclosure"
RELEASED_TABLE = "marts.outcome_metrics_suppressed"


def disclosure_audit(con: duckdb.DuckDBPyConnection) -> ExpectationResult:
    """The audit of docs/audiences.md on what would be published: for every suppressed count,
    the range an intruder can work out by linear programming is at least the threshold wide.
    Error severity: a release that fails it is not published, the cells and reasons named."""
    from fiw.disclosure.audit import audit
    from fiw.disclosure.cells import CellKey, PublishedCell
    from fiw.settings import suppression_threshold

    threshold = suppression_threshold()
    result = partial(
        ExpectationResult,
        suite=DISCLOSURE_SUITE,
        table_name=RELEASED_TABLE,
        expectation="suppressed_counts_not_recoverable",
        gx_type="linear_programming_audit",
        column_name=None,
        severity="error",
        ref="docs/audiences.md",
    )
    try:
        rows = con.execute(
            f"select window_name, segment, metric, numerator, denominator from {RELEASED_TABLE}"
        ).fetchall()
    except duckdb.CatalogException as exc:
        return result(success=False, unexpected_count=None, error=str(exc).splitlines()[0])
    cells = [PublishedCell(CellKey(w, s, m), n, d) for w, s, m, n, d in rows]
    findings = audit(cells, threshold)
    return result(
        success=not findings,
        unexpected_count=len(findings),
        # Cell keys and counts only: aggregates, never a person's value.
        examples=[f.describe() for f in findings[:MAX_EXAMPLES]],
        examples_public=True,
        observed={"cells": len(cells), "suppressed": sum(c.suppressed for c in cells)},
    )


def suite_paths(suites: Iterable[str | Path] | None = None) -> list[Path]:
    if suites is None:
        return sorted(EXPECTATIONS_DIR.glob("*.yml"))
    out = []
    for s in suites:
        p = Path(s)
        out.append(p if p.suffix in (".yml", ".yaml") else EXPECTATIONS_DIR / f"{s}.yml")
    return out


# --------------------------------------------------------------------------- SQL helpers


def _lit(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _seed_rows(seed: str) -> tuple[list[str], list[dict[str, str]]]:
    with (SEEDS_DIR / f"{seed}.csv").open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def seed_values(seed: str, column: str = "code") -> list[str]:
    _, rows = _seed_rows(seed)
    return sorted({r[column] for r in rows})


def _seed_subquery(seed: str) -> str:
    cols, rows = _seed_rows(seed)
    values = ", ".join("(" + ", ".join(_lit(r[c] or None) for c in cols) + ")" for r in rows)
    names = ", ".join(f'"{c}"' for c in cols)
    return f"(select * from (values {values}) as seed_{seed}({names}))"


def _current_filter(snapshot_id: str) -> str:
    return f"_snapshot_id = {_lit(snapshot_id)} and not _quarantined"


def _current(obj: str, snapshot_id: str) -> str:
    if obj not in OBJECTS:
        raise ValueError(f"unknown SSD object {obj!r}")
    return f"(select * from raw.{obj} where {_current_filter(snapshot_id)})"


def _var(suite: Suite, name: str) -> str:
    value = suite.vars[name]
    if isinstance(value, list):
        return f"(select unnest([{', '.join(_lit(v) for v in value)}]) as value)"
    return _lit(value)


def render_sql(text: str, suite: Suite, snapshot_id: str) -> str:
    """Resolve the suite placeholders (everything but GX's own ``{batch}``)."""

    def sub(m: re.Match) -> str:
        key = m.group(1)
        if key == "snapshot_id":
            return _lit(snapshot_id)
        kind, arg = key.split(":", 1)
        if kind == "current":
            return _current(arg, snapshot_id)
        if kind == "seed":
            return _seed_subquery(arg)
        return _var(suite, arg)

    return _PLACEHOLDER.sub(sub, text)


def unexpected_rows_sql(text: str, suite: Suite, snapshot_id: str) -> str:
    """The query GX runs: placeholders resolved and the batch bound once, as a CTE ``_batch``.

    GX substitutes ``{batch}`` with an aliased subquery unless the query contains a JOIN, in which
    case it leaves the aliasing to the author; binding it once in a CTE makes both work, whatever
    alias the suite author wrote after ``{batch}``."""
    body = render_sql(text, suite, snapshot_id).replace("{batch}", "_batch")
    head = "with _batch as (select * from {batch})"
    m = re.match(r"\s*with\s+", body, re.IGNORECASE)
    return f"{head}, {body[m.end() :]}" if m else f"{head} {body}"


def _resolve_arg(value: Any, suite: Suite) -> Any:
    if isinstance(value, dict) and set(value) <= {"seed", "column"} and "seed" in value:
        return seed_values(value["seed"], value.get("column", "code"))
    if isinstance(value, dict) and set(value) == {"var"}:
        return suite.vars[value["var"]]
    return value


def batch_query(table: TableSpec, suite: Suite, snapshot_id: str) -> str:
    if table.where in (None, "all"):
        return f"select * from {table.table}"
    if table.where == "current_snapshot":
        return f"select * from {table.table} where {_current_filter(snapshot_id)}"
    return f"select * from {table.table} where {render_sql(table.where, suite, snapshot_id)}"


def _table_exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, _, name = qualified.rpartition(".")
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema or "main", name],
    ).fetchone()
    return bool(row and row[0])


# --------------------------------------------------------------------------- GX


def _gx_expectation(spec: ExpectationSpec, suite: Suite, snapshot_id: str) -> Any:
    import great_expectations as gx

    meta = {"fiw_name": spec.name, "severity": spec.severity}
    if spec.ref:
        meta["ref"] = spec.ref
    description = spec.description or (f"{spec.name} ({spec.ref})" if spec.ref else None)
    if spec.expectation == "unexpected_rows":
        from fiw.quality_engine import rows_expectation_class

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
    validated: list[Any] | None = None,
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
    # No UpdateDataDocsAction: it rebuilds the site (index included) once per table; run_suites
    # renders this run's pages once, after every suite (see _build_data_docs).
    checkpoint = ctx.checkpoints.add(
        gx.Checkpoint(
            name=suite.name,
            validation_definitions=definitions,
            actions=[],
            result_format="SUMMARY",
        )
    )
    run = checkpoint.run(run_id=RunIdentifier(run_name=run_name))
    if validated is not None:
        validated.extend(run.run_results.keys())
    for suite_result in run.run_results.values():
        table, batch = plan[suite_result.suite_name]
        specs = {s.name: s for s in table.expectations}
        for vr in suite_result.results:
            spec = specs[vr.expectation_config.meta["fiw_name"]]
            results.append(_to_result(vr, suite, table, spec, con, batch, snapshot_id))
    return results


def _build_data_docs(ctx: Any, validated: list[Any]) -> None:
    """Render this run's validation pages and the index once (the index lists every run kept in
    the results store; older runs' pages are on disk already and are not rendered again)."""
    if validated:
        suites = {
            v.expectation_suite_identifier.name: v.expectation_suite_identifier for v in validated
        }
        ctx.build_data_docs(resource_identifiers=[*validated, *suites.values()])


# --------------------------------------------------------------------------- entry point


def _snapshot_date(con: duckdb.DuckDBPyConnection, snapshot_id: str) -> date | None:
    try:
        row = con.execute(
            "select snapshot_date from audit.snapshots where snapshot_id = ?", [snapshot_id]
        ).fetchone()
    except duckdb.CatalogException:
        return None
    return row[0] if row else None


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
        con.executemany(
            "insert into audit.dq_results (run_id, checked_at, snapshot_id, snapshot_date, suite,"
            " table_name, expectation, column_name, severity, success, unexpected_count, details)"
            " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def run_suites(
    settings: Settings,
    con: duckdb.DuckDBPyConnection,
    snapshot_id: str,
    run_id: str,
    suites: Sequence[str | Path] | None = None,
) -> QualityReport:
    """Validate ``snapshot_id`` with the suites (names under ``expectations/`` or paths; default
    all), record every result in ``audit.dq_results``, build Data Docs, return the report."""
    if not _SNAPSHOT_ID.match(snapshot_id):
        raise ValueError(f"not a snapshot id: {snapshot_id!r}")
    started = time.perf_counter()
    audit_release = suites is None or DISCLOSURE_SUITE in suites
    if suites is not None:
        suites = [s for s in suites if s != DISCLOSURE_SUITE]
    loaded = [load_suite(p) for p in suite_paths(suites)] if suites != [] else []
    snapshot_date = _snapshot_date(con, snapshot_id)

    from fiw import quality_engine

    settings.ensure_home()
    ctx = quality_engine.make_context(settings.data_docs_dir, settings.home / "gx" / "validations")
    datasource = ctx.data_sources.add_sql(
        name="warehouse",
        connection_string=quality_engine.CONNECTION_STRING,
        kwargs=quality_engine.sqlalchemy_kwargs(con),
    )
    run_name = f"{snapshot_date or snapshot_id[:12]} {run_id}"
    results: list[ExpectationResult] = []
    validated: list[Any] = []
    for i, suite in enumerate(loaded):
        if i == 1:
            pause_point("validation")  # test hook (fiw.faults): mid-suites, nothing recorded yet
        results.extend(
            _validate_suite(ctx, datasource, con, suite, snapshot_id, run_name, validated)
        )
    _build_data_docs(ctx, validated)
    if audit_release:
        results.append(disclosure_audit(con))

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


# --------------------------------------------------------------------------- contract suite


def contract_suite() -> dict[str, Any]:
    """The raw-layer contract suite generated from ``fiw.contract`` (written once to
    ``expectations/raw_contract.yml``; a test checks the file still covers every contract rule)."""
    tables = []
    for obj in OBJECTS.values():
        exps: list[dict[str, Any]] = [
            {
                "name": "required_columns",
                "expectation": "expect_table_columns_to_match_set",
                "column_set": obj.column_names,
                "exact_match": False,
                "severity": "error",
            },
            {
                # SQL rather than GX's expect_column_values_to_be_unique, whose window-function
                # queries cost seconds per million rows: one hash aggregate here. Counts keys.
                "name": f"unique:{obj.primary_key}",
                "expectation": "unexpected_rows",
                "column": obj.primary_key,
                "query": (
                    f"select {obj.primary_key}, count(*) as rows from {{batch}}"
                    f" where {obj.primary_key} is not null group by {obj.primary_key}"
                    " having count(*) > 1"
                ),
                "severity": "error",
            },
        ]
        for col in obj.columns:
            exps.extend(_column_rules(obj.name, col))
        for rule in obj.rules:
            exps.append(_row_rule(obj.name, rule))
        tables.append(
            {"table": f"raw.{obj.name}", "where": "current_snapshot", "expectations": exps}
        )
    return {
        "suite": "raw_contract",
        "description": (
            "The export contract (docs/exports.md) on the raw layer: rows of the snapshot"
            " being validated that were not quarantined. The extractor quarantines rows breaking"
            " these rules, so a failure here means a row got past the quarantine."
        ),
        "tables": tables,
    }


def _shown(obj: str, *cols: str) -> str:
    """Columns an example row shows: the key and the rule's columns, never personal data."""
    o = OBJECTS[obj]
    keep = [o.primary_key] + [c for c in cols if c != o.primary_key and not o.column(c).personal]
    return ", ".join(keep)


def _column_rules(obj: str, col: Column) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if col.not_null:
        out.append(
            {
                "expectation": "expect_column_values_to_not_be_null",
                "column": col.name,
                "severity": "error",
            }
        )
    if col.codes:
        # Primary need on a CLA episode is N1-N8 only (exports.md), a subset of the seed.
        codes = list(CLA_PRIMARY_NEEDS) if col.name == "clae_cla_primary_need_code" else None
        out.append(
            {
                "expectation": "expect_column_values_to_be_in_set",
                "column": col.name,
                "value_set": codes or {"seed": col.codes},
                "severity": "error",
            }
        )
    if col.kind in ("date", "flag"):
        cond = (
            f"try_cast(left({col.name}, 10) as date) is null"
            if col.kind == "date"
            else f"{col.name} not in ('Y', 'N')"
        )
        out.append(
            {
                "name": f"valid_{col.kind}:{col.name}",
                "expectation": "unexpected_rows",
                "column": col.name,
                "query": (
                    f"select {_shown(obj, col.name)} from {{batch}}"
                    f" where {col.name} is not null and {cond}"
                ),
                "severity": "error",
            }
        )
    if col.references:
        ref = OBJECTS[col.references]
        out.append(
            {
                "name": f"reference:{col.name}",
                "expectation": "unexpected_rows",
                "column": col.name,
                "query": (
                    f"select {_shown(obj, col.name)} from {{batch}}"
                    f" anti join {{current:{ref.name}}} as r on r.{ref.primary_key} = {col.name}"
                    f" where {col.name} is not null"
                ),
                "severity": "error",
            }
        )
    return out


def _row_rule(obj: str, rule: Interval | PresentTogether | Range) -> dict[str, Any]:
    if isinstance(rule, Interval):
        s, e = (f"try_cast(left({c}, 10) as date)" for c in (rule.start, rule.end))
        return {
            "name": f"not_before:{rule.end}",
            "expectation": "unexpected_rows",
            "column": rule.end,
            "query": (f"select {_shown(obj, rule.start, rule.end)} from {{batch}} where {e} < {s}"),
            "severity": "error",
        }
    if isinstance(rule, PresentTogether):
        return {
            "name": f"present_together:{rule.a}:{rule.b}",
            "expectation": "unexpected_rows",
            "column": rule.b,
            "query": (
                f"select {_shown(obj, rule.a, rule.b)} from {{batch}}"
                f" where ({rule.a} is null) <> ({rule.b} is null)"
            ),
            "severity": "error",
        }
    return {
        "name": f"range:{rule.column}",
        "expectation": "unexpected_rows",
        "column": rule.column,
        "query": (
            f"select {_shown(obj, rule.column)} from {{batch}} where {rule.column} is not null"
            f" and coalesce(try_cast({rule.column} as double) <= {rule.low_exclusive}"
            f" or try_cast({rule.column} as double) > {rule.high_inclusive}, true)"
        ),
        "severity": "error",
    }
