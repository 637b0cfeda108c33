"""Row rules of the export contract, as set-based SQL over a whole staged object.

For each object one query computes every reason a row breaks (not null, primary key null or
duplicated, bad date, bad flag, unknown code, bad decimal or out of range, end before start,
present-together, dangling reference) into ``<prefix>q_<object>(_line_number, reasons)``, holding
only the quarantined rows. References are checked against the referenced object's accepted rows in
the same snapshot, so objects must be checked in ``contract.LOAD_ORDER``.

Values of personal-data columns are never written into a reason.
"""

from __future__ import annotations

import duckdb

from fiw.contract import (
    CLA_PRIMARY_NEEDS,
    DATE,
    DECIMAL,
    FLAG,
    Column,
    Interval,
    PresentTogether,
    Range,
    code_list,
)
from fiw.extract.staged import StagedObject, first_row, quote_literal

# How many of the other lines a duplicate-key reason lists before "and N more".
_MAX_LINES_LISTED = 10


def _value(col: Column, alias: str = "s") -> str:
    """SQL text showing a column's value in a reason, withheld for personal data."""
    if col.personal:
        return "'(value withheld: personal data)'"
    return f"'''' || left({alias}.{col.name}, 40) || ''''"


# The text of a date (exports.md): ISO ``YYYY-MM-DD``, or a datetime ``YYYY-MM-DD HH:MM:SS`` or
# ``YYYY-MM-DDTHH:MM:SS`` with up to seven fractional digits (SQL Server's ``datetime`` writes
# ``2016-10-31 00:00:00.000``, ``datetime2`` up to seven digits), truncated to its date. Nothing
# else: no time zone, no 24:00:00 or leap second, no surrounding spaces, no eighth digit.
_DATE_TEXT = "[0-9]{4}-[0-9]{2}-[0-9]{2}"
_TIME_TEXT = "[ T]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]{1,7})?"


def valid_date_sql(expr: str) -> str:
    """True when ``expr`` is a date as exports.md allows: ISO date, or datetime with up to seven
    fractional digits whose date part is a real date (the shape by a regular expression, the
    calendar by ``strptime``)."""
    return (
        f"(regexp_full_match({expr}, '{_DATE_TEXT}({_TIME_TEXT})?') and "
        f"try_strptime(left({expr}, 10), '%Y-%m-%d') is not null)"
    )


def date_sql(expr: str) -> str:
    """The date a valid date or datetime text stands for (NULL when not valid)."""
    return f"cast(try_strptime(left({expr}, 10), '%Y-%m-%d') as date)"


def _in_list(values: frozenset[str] | tuple[str, ...]) -> str:
    return ", ".join(quote_literal(v) for v in sorted(values))


def _column_checks(staged: StagedObject) -> list[str]:
    checks: list[str] = []
    for col in staged.obj.columns:
        c = f"s.{col.name}"
        if col.not_null:
            checks.append(f"case when {c} is null then '{col.name} is empty (required)' end")
        if col.kind == DATE:
            checks.append(
                f"case when {c} is not null and not {valid_date_sql(c)} then "
                f"'{col.name} ' || {_value(col)} || ' is not a real date (YYYY-MM-DD)' end"
            )
        elif col.kind == FLAG:
            checks.append(
                f"case when {c} not in ('Y', 'N') then "
                f"'{col.name} ' || {_value(col)} || ' is not Y or N' end"
            )
        elif col.kind == DECIMAL:
            checks.append(
                f"case when {c} is not null and not coalesce(isfinite(try_cast({c} as double)), "
                f"false) then '{col.name} ' || {_value(col)} || ' is not a number' end"
            )
        if col.codes:
            if staged.obj.name == "ssd_cla_episodes" and col.name == "clae_cla_primary_need_code":
                codes, where = CLA_PRIMARY_NEEDS, "N1-N8 (CLA primary need)"
            else:
                codes, where = code_list(col.codes), col.codes
            checks.append(
                f"case when {c} not in ({_in_list(codes)}) then "
                f"'{col.name} ' || {_value(col)} || ' is not a code in {where}' end"
            )
    return checks


def _rule_checks(staged: StagedObject) -> list[str]:
    obj = staged.obj
    checks: list[str] = []
    for rule in obj.rules:
        if isinstance(rule, Interval):
            start, end = obj.column(rule.start), obj.column(rule.end)
            s, e = date_sql(f"s.{start.name}"), date_sql(f"s.{end.name}")
            checks.append(
                f"case when {e} < {s} then '{end.name} ' || {_value(end)} || "
                f"' is before {start.name} ' || {_value(start)} end"
            )
        elif isinstance(rule, PresentTogether):
            a, b = f"s.{rule.a}", f"s.{rule.b}"
            checks.append(
                f"case when {a} is not null and {b} is null then "
                f"'{rule.a} given without {rule.b}' end"
            )
            checks.append(
                f"case when {b} is not null and {a} is null then "
                f"'{rule.b} given without {rule.a}' end"
            )
        elif isinstance(rule, Range):
            col = obj.column(rule.column)
            v = f"try_cast(s.{col.name} as double)"
            low, high = f"{rule.low_exclusive:g}", f"{rule.high_inclusive:g}"
            checks.append(
                f"case when isfinite({v}) and ({v} <= {rule.low_exclusive} or "
                f"{v} > {rule.high_inclusive}) then '{col.name} ' || {_value(col)} || "
                f"' is outside ({low}, {high}]' end"
            )
    return checks


def accepted_keys(
    con: duckdb.DuckDBPyConnection, staged: StagedObject, quarantine_table: str, table: str
) -> str:
    """Materialise the primary keys of an object's accepted (not quarantined) rows into
    ``table(k)``; return SQL selecting them for :func:`quarantine`'s ``accepted``."""
    pk = staged.obj.primary_key
    con.execute(
        f"""create or replace temp table {table} as
            select s.{pk} as k from {staged.table} s
            anti join {quarantine_table} q on s._line_number = q._line_number
            where s.{pk} is not null"""
    )
    return f"select k from {table}"


def quarantine(
    con: duckdb.DuckDBPyConnection,
    staged: StagedObject,
    quarantine_table: str,
    accepted: dict[str, str],
) -> int:
    """Write ``quarantine_table(_line_number, reasons)`` for the rows of ``staged`` that break
    a rule; return how many. ``accepted`` maps each referenced object to SQL selecting its
    accepted keys (``k``)."""
    obj = staged.obj
    pk = obj.primary_key
    joins: list[str] = []
    # A second header (two exports concatenated, a header written twice): without this, an object
    # whose columns are all free text (ssd_department) would load it as a row.
    header = " and ".join(f"lower(trim(s.{c})) = '{c}'" for c in obj.column_names)
    checks = [f"case when {header} then 'the record repeats the header row' end"]
    checks.extend(_column_checks(staged))
    for i, col in enumerate(c for c in obj.columns if c.references):
        joins.append(f"left join ({accepted[col.references]}) r{i} on s.{col.name} = r{i}.k")
        checks.append(
            f"case when s.{col.name} is not null and r{i}.k is null then "
            f"'{col.name} ' || {_value(col)} || ' has no accepted row in {col.references}' end"
        )
    checks.extend(_rule_checks(staged))
    checks.append(
        f"case when d.lines is not null then '{pk} ' || {_value(obj.column(pk))} || "
        "' is duplicated (also on line' || case when len(d.others) > 1 then 's ' else ' ' end || "
        f"array_to_string(d.others[1:{_MAX_LINES_LISTED}], ', ') || "
        f"case when len(d.others) > {_MAX_LINES_LISTED} then ' and ' || "
        f"(len(d.others) - {_MAX_LINES_LISTED}) || ' more' else '' end || ')' end"
    )
    con.execute(
        f"""
        create or replace temp table {quarantine_table} as
        with dup as (
            select {pk} as k, list(_line_number order by _line_number) as lines
            from {staged.table} where {pk} is not null
            group by {pk} having count(*) > 1
        ),
        checked as (
            select s._line_number,
                concat_ws('; ', {", ".join(checks)}) as reasons
            from {staged.table} s
            {" ".join(joins)}
            left join (
                select k, line, lines, list_filter(lines, lambda x: x <> line) as others
                from (select k, lines, unnest(lines) as line from dup)
            ) d on s.{pk} = d.k and s._line_number = d.line
        )
        select _line_number, reasons from checked where reasons <> ''
        """
    )
    return first_row(con, f"select count(*) from {quarantine_table}")[0]
