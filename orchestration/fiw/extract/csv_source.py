"""Read a snapshot folder's CSV files into temporary DuckDB tables, or reject the snapshot.

DuckDB's ``read_csv`` does the parsing (all columns as text, RFC 4180 quoting, strict mode, errors
collected with ``store_rejects``), so millions of rows never pass through Python. Only the header
is read in Python, to match column names case-insensitively (and under their other SSD names,
``seeds/ssd_column_aliases.csv``) and to know where data starts. The same scan counts each
record's fields against the header's (see ``_fields_sql``): a record with more or fewer, even
extra empty ones, rejects the snapshot.

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
# Field count check (docs/exports.md: a record whose number of fields differs from its header's
# rejects the snapshot): the file is read with one more column than its header has, and
# with no text standing for NULL, so that padding (NULL) and an empty field ('') differ.
_OVERFLOW = "_fiw_overflow"
_FIELDS = "_fiw_fields"
_COUNT_ERRORS = "('TOO MANY COLUMNS', 'MISSING COLUMNS')"  # the reader's field count errors
_QUOTED_NEWLINES = "null_padding in conjunction with quoted new lines"  # DuckDB's parallel reader
_NO_NULL = "\u0001fiw: no text is NULL here\u0001"  # a field of exactly this text reads as NULL


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


def _read_csv_sql(info: FileInfo, columns: list[str], options: str) -> str:
    """``read_csv`` of ``info`` with the contract's dialect, every column VARCHAR."""
    spec = ", ".join(f"{quote_literal(c)}: 'VARCHAR'" for c in columns)
    return f"""read_csv(
        {quote_literal(str(info.path))},
        header = true, auto_detect = false, all_varchar = true,
        delim = ',', quote = '"', escape = '"', encoding = 'utf-8',
        strict_mode = true, columns = {{{spec}}}, {options}
        store_rejects = true, rejects_table = '{_REJECTS}', rejects_scan = '{_REJECT_SCANS}'
    )"""


def _reset_rejects(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"drop table if exists {_REJECTS}")
    con.execute(f"drop table if exists {_REJECT_SCANS}")


def _scan(
    con: duckdb.DuckDBPyConnection,
    info: FileInfo,
    table: str,
    columns: list[str],
    header_lines: int,
    parallel: bool,
) -> None:
    """Read the file into ``table``: its columns (empty field = NULL), ``_FIELDS`` (the record's
    field count when it differs from the header's, else NULL) and ``_line_number``."""
    values = ", ".join(f"nullif({quote_ident(c)}, '') as {quote_ident(c)}" for c in columns)
    options = (
        f"null_padding = true, nullstr = {quote_literal(_NO_NULL)}, "
        f"parallel = {str(parallel).lower()},"
    )
    _reset_rejects(con)
    con.execute(
        f"""
        create or replace temp table {table} as
        select {values}, {_fields_sql(columns)} as {_FIELDS},
            ordinality + {header_lines} as _line_number
        from {_read_csv_sql(info, [*columns, _OVERFLOW], options)} with ordinality
        """
    )


def _raise_first_reject(
    con: duckdb.DuckDBPyConnection,
    info: FileInfo,
    arrived: list[tuple[str, str]],
    table: str,
) -> None:
    """Raise :class:`SnapshotRejected` for the first record the reader rejected for anything but
    its field count (bad quoting, bad UTF-8), if any."""
    reject = first_row(
        con,
        f"""select line, line_byte_position, column_name, error_type, error_message
            from {_REJECTS} where error_type not in {_COUNT_ERRORS}
            order by line, line_byte_position limit 1""",
    )
    if reject is not None:
        con.execute(f"drop table if exists {table}")
        raise SnapshotRejected([_describe_reject(info, {c: n for n, c in arrived}, reject)])


def _count_rejects(con: duckdb.DuckDBPyConnection, info: FileInfo) -> tuple[int, int, int] | None:
    """``(line, fields, records)`` for the records the reader itself rejected for their field
    count: the first one's physical line and field count (DuckDB reports a record with several
    fields too many once per extra field, the last one with the count), and how many there are."""
    row = first_row(
        con,
        f"""select line, pos, found, count(*) over () from (
                select line, min(line_byte_position) as pos, max(try_cast(
                    regexp_extract(error_message, 'Found: ([0-9]+)', 1) as bigint)) as found
                from {_REJECTS} where error_type in {_COUNT_ERRORS} group by line
            ) order by line limit 1""",
    )
    if row is None:
        return None
    line, position, found, records = row
    return _physical_line(info, position) or line, found, records


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
    columns = [c for _, c in arrived]
    try:
        try:
            _scan(con, info, table, columns, header_lines, parallel=True)
        except duckdb.Error as e:
            if _QUOTED_NEWLINES not in str(e):
                raise
            # Newlines inside quoted fields: DuckDB's parallel reader cannot pad short records
            # then, and its serial reader pads them but does not report a quote left open at
            # the end of the file (it drops or truncates that record). So the strict reader,
            # without padding, checks the quoting first (its field count errors are ignored:
            # it does not see extra empty fields), then the serial reader stages the file.
            _reset_rejects(con)
            con.execute(f"select count(*) from {_read_csv_sql(info, columns, '')}").fetchall()
            _raise_first_reject(con, info, arrived, table)
            _scan(con, info, table, columns, header_lines, parallel=False)
    except duckdb.IOException as e:  # cannot open or read the file: not a CSV problem
        first = str(e).strip().splitlines()[0]
        raise _Unreadable(first) from e
    except duckdb.Error as e:
        first = str(e).strip().splitlines()[0]
        raise SnapshotRejected([f"{info.name}: could not be read as CSV: {first}"]) from e
    _raise_first_reject(con, info, arrived, table)
    rows = first_row(con, f"select count(*) from {table}")[0]
    if info.physical_lines != header_lines + rows:
        _renumber_after_embedded_newlines(con, table, columns)
    # Records of the wrong field count: those the reader rejected (two or more fields too many;
    # not in the table, so the line numbers of later records may be off, but not the first's)
    # and those it padded or read into _OVERFLOW.
    ragged = [
        r
        for r in (
            _count_rejects(con, info),
            first_row(
                con,
                f"""select _line_number, {_FIELDS}, count(*) over () from {table}
                    where {_FIELDS} is not null order by _line_number limit 1""",
            ),
        )
        if r is not None
    ]
    if ragged:
        con.execute(f"drop table {table}")
        line, fields, _ = min(ragged)
        records = sum(r[2] for r in ragged)
        problem = _field_count_problem(info.name, line, fields, len(names), records)
        raise SnapshotRejected([problem])
    con.execute(f"alter table {table} drop column {_FIELDS}")
    return StagedObject(obj, table, info.name, rows, tuple(arrived))


def _fields_sql(columns: list[str]) -> str:
    """SQL for how many fields a record has when it is not the header's count, else NULL.

    The file is read with one column more than its header (``_OVERFLOW``), padding a short record
    with NULLs, and with no text read as NULL (``_NO_NULL``), so an empty field is ``''`` and only
    padding is NULL: a record with a value (even empty) past the header's last column has one
    field too many; one whose last column is NULL is short, by as many columns as are NULL. DuckDB
    itself rejects a record with two or more fields too many (``TOO MANY COLUMNS``).
    """
    present = " + ".join(f"({quote_ident(c)} is not null)::int" for c in columns)
    return (
        f"case when {_OVERFLOW} is not null then {len(columns) + 1} "
        f"when {quote_ident(columns[-1])} is null then {present} end"
    )


def _field_count_problem(
    name: str, line: int, fields: int | None, header_fields: int, records: int = 1
) -> str:
    found = "more" if fields is None else str(fields)
    text = (
        f"{name}: line {line} has {found} field{'' if fields == 1 else 's'} where the header has "
        f"{header_fields}: an unquoted comma in a value (or a field left out) shifts every later "
        "value of the record, so the file is not loaded as it stands"
    )
    if records == 2:
        text += " (1 more record of the file also differs)"
    elif records > 2:
        text += f" ({records - 1} more records of the file also differ)"
    return text


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
