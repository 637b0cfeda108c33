"""The suite files of ``expectations/``: what each suite checks, read into plain objects.

Each suite file (YAML, one per layer or table group) lists tables and, for each, expectations: any
GX 1.x expectation by its snake_case name, or ``unexpected_rows`` with a SQL query. ``execution``
turns them into GX expectations and validates them in DuckDB.

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

Two tables checked alike (``marts.outcome_metrics`` and ``marts.outcome_trends``) share one list
of expectations through a YAML anchor (``expectations: *metric_checks``); a table's ``refs`` name
what differs (``refs: {windows: ..., unsuppressed: marts.outcome_metrics}``), written in its
queries as ``{ref:<name>}`` and replaced by the text given, as it is. An entry of
``expectations`` that is itself a list (an anchored list and more) is spliced in.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
from fiw.settings import EXPECTATIONS_DIR

SEVERITIES = ("error", "warning")
META_KEYS = {"name", "expectation", "severity", "ref", "description"}
_PLACEHOLDER = re.compile(r"\{(snapshot_id|current:\w+|seed:\w+|var:\w+)\}")

DISCLOSURE_SUITE = "disclosure"
# The disclosure audit: on RELEASED_TABLE, the whole release at once (every file of release/ and
# the same figures in published.duckdb, fiw.disclosure.release); on the monthly rolling trends,
# which only analysts see, window by window.
RELEASED_TABLE = "marts.outcome_metrics_suppressed"
RELEASED_TABLES = (RELEASED_TABLE, "marts.outcome_trends_suppressed")


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


def _flatten(entries: list) -> Iterable[dict]:
    for entry in entries:
        if isinstance(entry, list):
            yield from _flatten(entry)
        else:
            yield entry


_REF = re.compile(r"\{ref:([a-z_]+)\}")


def _with_refs(entry: dict, refs: dict[str, str], where: str) -> dict:
    """``entry`` with ``{ref:<name>}`` in its query replaced by the table's ``refs``."""
    query = entry.get("query")
    if not isinstance(query, str) or "{ref:" not in query:
        return entry

    def sub(m: re.Match) -> str:
        if m.group(1) not in refs:
            raise ValueError(f"{where}: {{ref:{m.group(1)}}} is not in the table's refs")
        return str(refs[m.group(1)])

    return {**entry, "query": _REF.sub(sub, query)}


def load_suite(path: Path) -> Suite:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    name = doc.get("suite") or path.stem
    tables = []
    for t in doc["tables"]:
        specs = []
        refs = t.get("refs") or {}
        for e in _flatten(t["expectations"]):
            e = _with_refs(e, refs, f"{path.name}: {t['table']}")
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
