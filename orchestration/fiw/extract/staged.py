"""A snapshot object read into a temporary DuckDB table, whatever the source.

Both sources produce the same layout: one VARCHAR column per contract column (named as in the
contract, empty field = NULL), one ``_x<i>`` column per extra column that arrived, and
``_line_number``. Rules and the raw writer only ever see this layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from fiw.contract import SsdObject, column_aliases


def first_row(
    con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None
) -> tuple[Any, ...] | None:
    """The first row of a query, or None. Fetches the whole result: DuckDB 2 keeps a result
    that was only partly fetched open, and then refuses other work on the connection."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class StagedObject:
    obj: SsdObject
    table: str  # temp table holding the rows
    source_file: str  # file name, or ``table:<name>`` for a database source
    rows: int
    arrived: tuple[tuple[str, str], ...]  # (normalised name, column in `table`), arrival order
    # Column of `table` naming each row's own source (file and place) when rows come from several
    # files (statutory returns); None: every row comes from `source_file`.
    row_source: str | None = None

    def source_file_sql(self, alias: str = "s") -> str:
        """SQL for a row's ``_source_file``: its own source, or the object's file."""
        if self.row_source:
            return f"{alias}.{quote_ident(self.row_source)}"
        return quote_literal(self.source_file)

    @property
    def extras(self) -> list[tuple[str, str]]:
        names = set(self.obj.column_names)
        return [(n, c) for n, c in self.arrived if n not in names]

    def extra_json_sql(self, alias: str = "s") -> str:
        """SQL for ``_extra``: a JSON object of the non-contract columns, NULL when none arrived."""
        if not self.extras:
            return "cast(null as varchar)"
        pairs = ", ".join(f"{quote_literal(n)}, {alias}.{c}" for n, c in self.extras)
        return f"cast(json_object({pairs}) as varchar)"

    def record_json_sql(self, alias: str = "s") -> str:
        """SQL for the whole row as it arrived, as a JSON object (for audit.quarantine)."""
        pairs = ", ".join(f"{quote_literal(n)}, {alias}.{quote_ident(c)}" for n, c in self.arrived)
        return f"cast(json_object({pairs}) as varchar)"


def normalise_header(names: list[str]) -> tuple[list[str], list[str]]:
    """Trim and lower-case column names; return them and any problems (duplicates, blanks)."""
    normalised: list[str] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(names, start=1):
        name = raw.strip().lower() or f"_column_{i}"
        if name in seen:
            problems.append(
                f"column {name} appears twice in the header (columns {seen[name]} and {i})"
            )
        seen.setdefault(name, i)
        normalised.append(name)
    return normalised, problems


def resolve_header(obj: SsdObject, names: list[str]) -> tuple[list[str], list[str]]:
    """:func:`normalise_header`, then each column that arrived under another name of a contract
    column (``seeds/ssd_column_aliases.csv``) renamed to the contract's name.

    A header naming one contract column twice, under its own name and an alias (or two aliases),
    is ambiguous: a problem naming both columns as they arrived and their positions.
    """
    normalised, problems = normalise_header(names)
    aliases = column_aliases().get(obj.name, {})
    resolved = [aliases.get(n, n) for n in normalised]
    first: dict[str, int] = {}
    for i, (arrived, name) in enumerate(zip(normalised, resolved, strict=True), start=1):
        j = first.setdefault(name, i)
        if j != i and normalised[j - 1] != arrived:  # the same name twice: normalise_header's
            problems.append(
                f"columns {normalised[j - 1]} (column {j}) and {arrived} (column {i}) are both "
                f"{name} (under its names in different SSD versions): ambiguous, keep one of them"
            )
    return resolved, problems


def stage_columns(obj: SsdObject, normalised: list[str]) -> list[tuple[str, str]]:
    """Internal column names for the staged table: contract names as they are, extras ``_x<i>``."""
    contract = set(obj.column_names)
    return [(n, n if n in contract else f"_x{i}") for i, n in enumerate(normalised)]


def missing_columns(obj: SsdObject, normalised: list[str]) -> list[str]:
    present = set(normalised)
    return [c for c in obj.column_names if c not in present]
