"""Read the nine objects from an SSD database over SQLAlchemy into temporary DuckDB tables.

``settings.exports`` is a SQLAlchemy URL (SQL Server or PostgreSQL in deployments; the tests use
SQLite files and a real PostgreSQL server through psycopg 3, ``postgresql+psycopg://``) whose
default schema holds the objects as tables or views, names matched case-insensitively, of any
column types (a ``date`` column reads as ``2020-01-31``, a ``numeric`` as its shortest decimal). A
login that may only SELECT them is enough.

The snapshot date is today's date, unless ``$FIW_SNAPSHOT_DATE`` (``YYYY-MM-DD``) says otherwise,
for example when re-running last night's load. The snapshot id is the SHA-256 of the sorted lines
``table:<object>:<sha256 of the object's rows>``, where an object's rows are hashed as its
column names (sorted) followed by each row as a JSON array of text values in that column order,
the rows sorted; so neither column order nor row order in the database changes the id. A column
arriving under another SSD name (``seeds/ssd_column_aliases.csv``) counts under its contract
name. Rows are numbered (``_line_number``) in that canonical order.

A database that cannot be used at all (a SQLite file that does not exist, a server that cannot be
reached, a driver that is not installed, a malformed URL) raises :class:`FiwError` naming the URL
with its password hidden: no snapshot is recorded and, for SQLite, no file is created. A reachable
database that lacks a required table or column is a rejected snapshot.

Values arrive as text: ``str()`` of whatever the driver returns (a date ``2020-01-31``, a datetime
``2020-01-31 09:00:00``), empty strings as NULL. This path goes through Python row by row, so it is
slower than the CSV path (see ``docs``); SSD databases of a single authority are well within it.
"""

from __future__ import annotations

import hashlib
import os
from datetime import date, datetime
from pathlib import Path
from urllib.parse import unquote

import duckdb
import pandas as pd
import sqlalchemy as sa

from fiw.contract import LOAD_ORDER, OBJECTS
from fiw.errors import FiwError
from fiw.extract.discover import snapshot_id_of
from fiw.extract.report import SnapshotRejected
from fiw.extract.staged import (
    StagedObject,
    first_row,
    missing_columns,
    quote_ident,
    resolve_header,
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


_URL_ACTION = (
    "Point --exports or FIW_EXPORTS at the SSD database (a SQLAlchemy URL) or at the folder of "
    "dated snapshot folders; nothing was loaded."
)


def display_url(url: str) -> str:
    """The URL with any password hidden, fit for audit tables and messages."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url.split("://", 1)[0] + "://..."  # unparsable: show only its scheme


def _first_line(error: BaseException, url: sa.URL | None = None) -> str:
    """The driver's first error line (SQLAlchemy's wrapper unwrapped), never the password."""
    cause = getattr(error, "orig", None) or error
    text = str(cause).strip()
    line = text.splitlines()[0].strip() if text else type(cause).__name__
    if url is not None and url.password:
        line = line.replace(str(url.password), "***")
    return line


def _check_sqlite_file(url: sa.URL, shown: str) -> None:
    """Refuse a SQLite URL whose file does not exist: connecting would create an empty one."""
    database = url.database or ""
    if database.startswith("file:"):  # a URI filename (``?uri=true``)
        database = unquote(database[len("file:") :].split("?", 1)[0])
    in_memory = url.query.get("mode") == "memory" or "mode=memory" in (url.database or "")
    if database in ("", ":memory:") or in_memory:
        raise FiwError(
            f"exports database {shown} names no SQLite file: an in-memory database holds no "
            "export.",
            _URL_ACTION,
        )
    path = Path(database).absolute()
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise FiwError(
            f"exports database file {path} does not exist (exports {shown}); no file was created.",
            "Point --exports or FIW_EXPORTS at the SQLite file the exporter writes "
            "(sqlite:///relative/path.db or sqlite:////absolute/path.db) or at the folder of "
            "dated snapshot folders; nothing was loaded.",
        ) from None
    except OSError:
        pass  # cannot be looked at: connecting reports why


def _engine(url: str) -> sa.Engine:
    """An engine for the exports database, or :class:`FiwError` when the URL cannot be used."""
    shown = display_url(url)
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise FiwError(f"exports {shown} is not a valid SQLAlchemy URL.", _URL_ACTION) from None
    if parsed.get_backend_name() == "sqlite":
        _check_sqlite_file(parsed, shown)
    try:
        return sa.create_engine(parsed)
    except (sa.exc.ArgumentError, ImportError) as e:
        raise FiwError(
            f"exports database {shown} cannot be used: {_first_line(e, parsed)}.",
            "Install the database driver the URL names into fiw's environment, or fix the URL "
            "in --exports or FIW_EXPORTS; nothing was loaded.",
        ) from e


def _list_tables(engine: sa.Engine) -> dict[str, list[str]]:
    """Tables and views by lower-cased name; :class:`FiwError` when the database cannot be
    reached (the first thing that connects)."""
    try:
        inspector = sa.inspect(engine)
        names = inspector.get_table_names() + inspector.get_view_names()
    except sa.exc.DBAPIError as e:
        shown = engine.url.render_as_string(hide_password=True)
        raise FiwError(
            f"exports database {shown} cannot be reached: {_first_line(e, engine.url)}.",
            "Check that the database is up and reachable from this machine and that the URL, "
            "user and password in --exports or FIW_EXPORTS are right; nothing was loaded.",
        ) from e
    available: dict[str, list[str]] = {}
    for name in names:
        available.setdefault(name.lower(), []).append(name)
    return available


def check_database(url: str) -> None:
    """Raise :class:`FiwError` unless the database at ``url`` can be reached; creates nothing."""
    engine = _engine(url)
    try:
        _list_tables(engine)
    finally:
        engine.dispose()


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
        normalised, problems = resolve_header(obj, names)
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

    Raises :class:`SnapshotRejected` naming every missing table or column, and
    :class:`FiwError` when the database cannot be used at all (nothing is staged then).
    """
    engine = _engine(url)
    try:
        available = _list_tables(engine)
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
