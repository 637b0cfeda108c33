"""Read the nine objects from an SSD database over SQLAlchemy into temporary DuckDB tables.

``settings.exports`` is a SQLAlchemy URL (SQL Server or PostgreSQL in deployments, SQLite in
tests) whose default schema holds the objects as tables or views, names matched case-insensitively.

The snapshot date is today's date, unless ``$FIW_SNAPSHOT_DATE`` (``YYYY-MM-DD``) says otherwise,
for example when re-running last night's load. The snapshot id is the SHA-256 of the sorted lines
``table:<object>:<sha256 of the object's rows>``, where an object's rows are hashed as its
column names (sorted) followed by each row as a JSON array of text values in that column order,
the rows sorted; so neither column order nor row order in the database changes the id. Rows are
numbered (``_line_number``) in that canonical order.

Values arrive as text: ``str()`` of whatever the driver returns (a date ``2020-01-31``, a datetime
``2020-01-31 09:00:00``), empty strings as NULL. This path goes through Python row by row, so it is
slower than the CSV path (see ``docs``); SSD databases of a single authority are well within it.
"""

from __future__ import annotations

import hashlib
import os
from datetime import date, datetime

import duckdb
import pandas as pd
import sqlalchemy as sa

from fiw.contract import LOAD_ORDER, OBJECTS
from fiw.extract.discover import snapshot_id_of
from fiw.extract.report import SnapshotRejected
from fiw.extract.staged import (
    StagedObject,
    first_row,
    missing_columns,
    normalise_header,
    quote_ident,
    stage_columns,
)

SNAPSHOT_DATE_ENV = "FIW_SNAPSHOT_DATE"
_FETCH = 100_000


def snapshot_date() -> date:
    """``$FIW_SNAPSHOT_DATE`` when set, else today."""
    value = os.environ.get(SNAPSHOT_DATE_ENV)
    if not value:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{SNAPSHOT_DATE_ENV}={value!r} is not a YYYY-MM-DD date") from None


def display_url(url: str) -> str:
    """The URL with any password hidden, fit for audit tables and messages."""
    return sa.make_url(url).render_as_string(hide_password=True)


def rejection_id(when: date, problems: list[str]) -> str:
    """An id for a database read that was rejected before its rows could be checksummed."""
    return snapshot_id_of([f"rejected:{when.isoformat()}", *problems])


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8")
    text = str(value)
    return text if text != "" else None


def _read_table(
    con: duckdb.DuckDBPyConnection,
    engine: sa.Engine,
    table_name: str,
    obj_name: str,
    stage_table: str,
) -> tuple[StagedObject | None, list[str], str | None]:
    obj = OBJECTS[obj_name]
    label = f"table:{table_name}"
    quoted = engine.dialect.identifier_preparer.quote(table_name)
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True).execute(
            sa.text(f"select * from {quoted}")
        )
        names = list(result.keys())
        normalised, problems = normalise_header(names)
        missing = missing_columns(obj, normalised)
        if missing:
            problems.append(f"required column(s) {', '.join(missing)} missing")
        if problems:
            return None, [f"{label}: {p}" for p in problems], None
        arrived = stage_columns(obj, normalised)
        columns: list[list[str | None]] = [[] for _ in names]
        for part in result.partitions(_FETCH):
            for i, values in enumerate(zip(*part, strict=True)):
                columns[i].extend(map(_text, values))
    frame = pd.DataFrame(
        {
            col: pd.Series(values, dtype=object)
            for (_, col), values in zip(arrived, columns, strict=True)
        }
    )
    if frame.empty:
        frame = pd.DataFrame({col: pd.Series([], dtype=object) for _, col in arrived})
    ordered = sorted(arrived)  # canonical: by normalised column name
    row_json = f"cast(to_json([{', '.join(quote_ident(c) for _, c in ordered)}]) as varchar)"
    view = f"{stage_table}_frame"
    con.register(view, frame)
    try:
        cast_cols = ", ".join(
            f"cast({quote_ident(c)} as varchar) as {quote_ident(c)}" for _, c in arrived
        )
        con.execute(
            f"""
            create or replace temp table {stage_table} as
            select * exclude (_row), row_number() over (order by _row) as _line_number
            from (select {cast_cols}, {row_json} as _row from {view})
            """
        )
    finally:
        con.unregister(view)
    header = "[" + ",".join(f'"{n}"' for n, _ in ordered) + "]"
    row_digest = first_row(
        con,
        f"""select coalesce(string_agg(r, chr(10) order by r), '') from (
              select cast(to_json([{", ".join(quote_ident(c) for _, c in ordered)}]) as varchar) r
              from {stage_table})""",
    )[0]
    digest = hashlib.sha256(f"{header}\n{row_digest}".encode()).hexdigest()
    rows = first_row(con, f"select count(*) from {stage_table}")[0]
    return StagedObject(obj, stage_table, label, rows, tuple(arrived)), [], digest


def stage_database(
    con: duckdb.DuckDBPyConnection, url: str, prefix: str
) -> tuple[dict[str, StagedObject], str]:
    """Stage every contract object from the database at ``url``; return them and the snapshot id.

    Raises :class:`SnapshotRejected` naming every missing table or column.
    """
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        available: dict[str, list[str]] = {}
        for name in inspector.get_table_names() + inspector.get_view_names():
            available.setdefault(name.lower(), []).append(name)
        problems: list[str] = []
        staged: dict[str, StagedObject] = {}
        digests: list[str] = []
        for obj_name in LOAD_ORDER:
            matches = available.get(obj_name, [])
            if len(matches) != 1:
                problems.append(
                    f"required table {obj_name} is missing from {display_url(url)}"
                    if not matches
                    else f"more than one table named {obj_name}: {', '.join(matches)}"
                )
                continue
            s, table_problems, digest = _read_table(
                con, engine, matches[0], obj_name, f"{prefix}{obj_name}"
            )
            problems.extend(table_problems)
            if s is not None:
                staged[obj_name] = s
                digests.append(f"table:{obj_name}:{digest}")
    finally:
        engine.dispose()
    if problems:
        for s in staged.values():
            con.execute(f"drop table if exists {s.table}")
        raise SnapshotRejected(problems)
    return staged, snapshot_id_of(digests)
