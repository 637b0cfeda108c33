"""Read a snapshot folder's CSV files into temporary DuckDB tables, or reject the snapshot.

DuckDB's ``read_csv`` does the parsing (all columns as text, RFC 4180 quoting, strict mode, errors
collected with ``store_rejects``), so millions of rows never pass through Python. Only the header
is read in Python, to match column names case-insensitively and to know where data starts.

File-level breaches (missing file, missing column, bad UTF-8, bad CSV) are collected for every file
and raised together as :class:`SnapshotRejected`, each naming the file, the line and the column. A
file that stops being readable after its checksum (permissions changed, an I/O error) is named in
``SnapshotRejected.unreadable`` too.
"""

from __future__ import annotations

import csv
import io

import duckdb

from fiw.contract import LOAD_ORDER, OBJECTS, SsdObject
from fiw.extract.discover import FileInfo, SnapshotFolder, os_error_text
from fiw.extract.report import SnapshotRejected
from fiw.extract.staged import (
    StagedObject,
    first_row,
    missing_columns,
    quote_ident,
    quote_literal,
    resolve_header,
    stage_columns,
)

BOM = b"\xef\xbb\xbf"
_HEADER_PROBE = 1024 * 1024  # a header longer than this is not a header
_REJECTS = "_fiw_csv_rejects"
_REJECT_SCANS = "_fiw_csv_reject_scans"


def read_header(info: FileInfo) -> tuple[list[str], int]:
    """The header's field names and how many physical lines it spans; ``([], 0)`` when empty."""
    with info.path.open("rb") as f:
        head = f.read(_HEADER_PROBE)
    if head.startswith(BOM):
        head = head[len(BOM) :]
    if not head.strip(b"\r\n"):
        return [], 0
    text = head.decode("utf-8", errors="surrogateescape")
    try:
        names = next(csv.reader(io.StringIO(text, newline="")))
    except (csv.Error, StopIteration) as e:
        raise SnapshotRejected([f"{info.name}: line 1 (header) is not valid CSV: {e}"]) from e
    for name in names:
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raise SnapshotRejected(
                [f"{info.name}: line 1 (header) is not valid UTF-8 near column {name!r}"]
            ) from None
    return names, 1 + sum(n.count("\n") for n in names)


def _physical_line(info: FileInfo, byte_position: int | None) -> int | None:
    """The physical line (1-based) holding a byte offset of the file; None when unknown."""
    if byte_position is None:
        return None
    try:
        with info.path.open("rb") as f:
            return f.read(byte_position).count(b"\n") + 1
    except OSError:
        return None  # the reader's own line number serves


def _describe_reject(info: FileInfo, columns: dict[str, str], row: tuple) -> str:
    line, byte_position, column, error_type, message = row
    physical = _physical_line(info, byte_position) or line
    where = f"{info.name}: line {physical}"
    if column:
        where += f", column {columns.get(column, column)}"
    if error_type == "INVALID ENCODING" or "unicode" in (message or "").lower():
        return f"{where}: not valid UTF-8"
    first = (message or error_type or "").strip().splitlines()[0]
    return f"{where}: not valid CSV ({error_type}: {first})"


class _Unreadable(Exception):
    """The file could not be opened or read (the message is the OS's or DuckDB's first line)."""


def _read(
    con: duckdb.DuckDBPyConnection,
    obj: SsdObject,
    info: FileInfo,
    table: str,
    names: list[str],
    header_lines: int,
) -> StagedObject:
    normalised, _ = resolve_header(obj, names)
    arrived = stage_columns(obj, normalised)
    spec = ", ".join(f"{quote_literal(col)}: 'VARCHAR'" for _, col in arrived)
    con.execute(f"drop table if exists {_REJECTS}")
    con.execute(f"drop table if exists {_REJECT_SCANS}")
    try:
        con.execute(
            f"""
            create or replace temp table {table} as
            select * exclude (ordinality), ordinality + {header_lines} as _line_number
            from read_csv(
                {quote_literal(str(info.path))},
                header = true, auto_detect = false, all_varchar = true,
                delim = ',', quote = '"', escape = '"', encoding = 'utf-8',
                strict_mode = true, columns = {{{spec}}},
                store_rejects = true, rejects_table = '{_REJECTS}',
                rejects_scan = '{_REJECT_SCANS}'
            ) with ordinality
            """
        )
    except duckdb.IOException as e:  # cannot open or read the file: not a CSV problem
        first = str(e).strip().splitlines()[0]
        raise _Unreadable(first) from e
    except duckdb.Error as e:
        first = str(e).strip().splitlines()[0]
        raise SnapshotRejected([f"{info.name}: could not be read as CSV: {first}"]) from e
    reject = first_row(
        con,
        f"""select line, line_byte_position, column_name, error_type, error_message
            from {_REJECTS} order by line, line_byte_position limit 1""",
    )
    if reject is not None:
        con.execute(f"drop table {table}")
        raise SnapshotRejected([_describe_reject(info, {c: n for n, c in arrived}, reject)])
    rows = first_row(con, f"select count(*) from {table}")[0]
    if info.physical_lines != header_lines + rows:
        _renumber_after_embedded_newlines(con, table, [c for _, c in arrived])
    return StagedObject(obj, table, info.name, rows, tuple(arrived))


def _renumber_after_embedded_newlines(
    con: duckdb.DuckDBPyConnection, table: str, columns: list[str]
) -> None:
    """Shift each record's line number by the newlines inside quoted fields of earlier records.

    Only run when the file has more physical lines than records (rare), so the common case costs
    nothing. Blank lines between records (skipped by the reader) are not counted.
    """
    newlines = " + ".join(
        f"coalesce(strlen({quote_ident(c)}) - strlen(replace({quote_ident(c)}, chr(10), '')), 0)"
        for c in columns
    )
    con.execute(
        f"""
        create or replace temp table {table} as
        select * exclude (_line_number, _nl),
            _line_number + coalesce(sum(_nl) over (
                order by _line_number rows between unbounded preceding and 1 preceding), 0
            ) as _line_number
        from (select *, {newlines} as _nl from {table})
        """
    )


def _find_file(folder: SnapshotFolder, obj: SsdObject) -> tuple[FileInfo | None, str | None]:
    wanted = f"{obj.name}.csv"
    matches = [f for name, f in folder.files.items() if name.lower() == wanted]
    if not matches:
        return None, f"required file {wanted} is missing from {folder.path.name}/"
    if len(matches) > 1:
        names = ", ".join(sorted(m.name for m in matches))
        return None, f"{folder.path.name}/ holds more than one {wanted} ({names})"
    return matches[0], None


def stage_folder(
    con: duckdb.DuckDBPyConnection, folder: SnapshotFolder, prefix: str
) -> dict[str, StagedObject]:
    """Read every contract object of ``folder`` into ``<prefix><object>`` temp tables.

    Raises :class:`SnapshotRejected` listing every file-level problem found in the folder.
    """
    problems: list[str] = []
    unreadable: dict[str, str] = {}
    headers: dict[str, tuple[FileInfo, list[str], int]] = {}
    for name in LOAD_ORDER:
        obj = OBJECTS[name]
        info, problem = _find_file(folder, obj)
        if problem:
            problems.append(problem)
            continue
        try:
            names, header_lines = read_header(info)
        except SnapshotRejected as e:
            problems.extend(e.problems)
            continue
        except OSError as e:
            unreadable[info.name] = os_error_text(e)
            continue
        if not names:
            problems.append(
                f"{info.name}: file is empty (no header row), so every required column is "
                f"missing: {', '.join(obj.column_names)}"
            )
            continue
        normalised, header_problems = resolve_header(obj, names)
        problems.extend(f"{info.name}: line 1 (header): {p}" for p in header_problems)
        missing = missing_columns(obj, normalised)
        if missing:
            plural = "s" if len(missing) > 1 else ""
            problems.append(
                f"{info.name}: required column{plural} {', '.join(missing)} missing from the "
                f"header (line 1)"
            )
        if not header_problems and not missing:
            headers[name] = (info, names, header_lines)

    staged: dict[str, StagedObject] = {}
    for name, (info, names, header_lines) in headers.items():
        try:
            staged[name] = _read(con, OBJECTS[name], info, f"{prefix}{name}", names, header_lines)
        except SnapshotRejected as e:
            problems.extend(e.problems)
        except _Unreadable as e:
            unreadable[info.name] = str(e)
    if problems or unreadable:
        for s in staged.values():
            con.execute(f"drop table if exists {s.table}")
        raise SnapshotRejected(problems + folder.unreadable_problems(unreadable), unreadable)
    return staged
