"""A returns snapshot folder: recognise it, checksum it, read it into the staged SSD objects.

A dated folder holding ``ssda903/`` or ``cin/`` is a returns snapshot (docs/returns.md). Its id is
computed as for an SSD folder, over every file under ``ssda903/`` and ``cin/`` (and any top-level
CSV), each named by its path in the folder (``ssda903/2016/episodes.csv``).

Staging reads every file (streaming) into one temporary CSV per SSD object, then has DuckDB read
those into the same staged layout the CSV path produces (:mod:`fiw.extract.staged`), keeping
from each record only the latest year's version (by key: CIN census before 903 for a person,
then the latest census date or collection year). The row rules, quarantine, volume rule and raw
writer then treat the snapshot like any other. ``_line_number`` is the record's number in its
object; ``_source_file`` names the file and the element's path or the line.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import duckdb

from fiw.contract import LOAD_ORDER, OBJECTS
from fiw.extract import discover
from fiw.extract.discover import FOLDER_ITSELF, FileInfo, SnapshotFolder, os_error_text
from fiw.extract.report import SnapshotRejected
from fiw.extract.returns import cin_census, ssda903
from fiw.extract.returns.rows import (
    CARRIED_COLUMNS,
    FILE_NO,
    POSITION,
    WHERE,
    FileProblem,
    RowSink,
)
from fiw.extract.staged import StagedObject, quote_ident, quote_literal

SSDA903 = "ssda903"
CIN = "cin"
RETURNS = (SSDA903, CIN)
SOURCE_COLUMN = "_source"
# Returns carry no workers and no teams: these objects are always empty.
NO_WORKFORCE = ("ssd_involvements", "ssd_professionals", "ssd_department")
# The objects a returns snapshot can hold: the only ones the volume rule compares for it.
CARRIED = tuple(name for name in LOAD_ORDER if name not in NO_WORKFORCE)
_FILES_TABLE = "_fiw_returns_files"

# Kinds of file in the plan.
CSV_903, XML_903, XML_CIN = "903-csv", "903-xml", "cin-xml"
# Priority of a return for a record found in both (a person): the CIN census wins.
PRIORITY = {CSV_903: 0, XML_903: 0, XML_CIN: 1}
# A folder of at least this many bytes, in more than one file, is read by up to MAX_READERS
# processes (a 12k-children authority's ten years are about 18 MB).
PARALLEL_MIN_BYTES = 2 * 1024 * 1024
MAX_READERS = 2


@dataclass(frozen=True)
class ReturnsFolder(SnapshotFolder):
    """A snapshot folder of statutory returns (files named by their path in the folder)."""

    top_level_csvs: tuple[str, ...] = field(default_factory=tuple)


@dataclass
class PlannedFile:
    info: FileInfo
    kind: str  # CSV_903 (with table), XML_903 or XML_CIN
    year: str  # 903: the collection year (YYYY); CIN: the census date, once read
    table: str | None = None  # 903 CSV: ssda903.HEADER or ssda903.EPISODES


def _subfolder(path: Path, name: str) -> Path | None:
    """The child folder called ``name`` (any case), or None."""
    try:
        return next((p for p in path.iterdir() if p.is_dir() and p.name.lower() == name), None)
    except OSError:
        return None


def is_returns_folder(path: Path) -> bool:
    return any(_subfolder(path, name) is not None for name in RETURNS)


def checksum_folder(snapshot_date: date, path: Path) -> ReturnsFolder | None:
    """Checksum a returns folder; None when ``path`` is not one (an SSD folder)."""
    if not is_returns_folder(path):
        return None
    infos: list[FileInfo] = []
    unreadable: dict[str, str] = {}
    files: list[Path] = []
    top: list[str] = []
    try:
        for p in sorted(path.iterdir()):
            if p.is_file() and p.suffix.lower() == ".csv":
                files.append(p)
                top.append(p.name)
        for name in RETURNS:
            sub = _subfolder(path, name)
            if sub is not None:
                files.extend(sorted(p for p in sub.rglob("*") if p.is_file()))
    except OSError as e:
        unreadable[FOLDER_ITSELF] = os_error_text(e)
    for p in files:
        name = p.relative_to(path).as_posix()
        try:
            infos.append(replace(discover.file_info(p), name=name))
        except OSError as e:
            unreadable[name] = os_error_text(e)
    lines = [f"{i.name}:{i.sha256}" for i in infos]
    lines += [discover._unreadable_line(path.name, n) for n in unreadable]
    return ReturnsFolder(
        snapshot_date=snapshot_date,
        path=path,
        files={i.name: i for i in infos},
        snapshot_id=discover.snapshot_id_of(lines),
        unreadable=unreadable,
        top_level_csvs=tuple(top),
    )


def plan(folder: ReturnsFolder) -> tuple[list[PlannedFile], list[str], dict[str, str]]:
    """The files to read, in order; the file-level problems found by looking at them; and the
    files that could not be read (name -> the OS error)."""
    problems: list[str] = []
    unreadable: dict[str, str] = {}
    if folder.top_level_csvs:
        problems.append(
            f"{folder.path.name}/ holds both statutory returns (ssda903/, cin/) and SSD files "
            f"({', '.join(folder.top_level_csvs)}): a folder holds one or the other; move the "
            "returns to a folder of their own"
        )
    planned: list[PlannedFile] = []
    years: dict[str, list[FileInfo]] = {}
    for name, info in sorted(folder.files.items()):
        parts = name.split("/")
        kind = parts[0].lower()
        suffix = Path(name).suffix.lower()
        if kind == SSDA903:
            if suffix not in (".csv", ".xml"):
                continue
            if len(parts) != 3 or not (len(parts[1]) == 4 and parts[1].isdigit()):
                problems.append(
                    f"{name}: a 903 file must be in a folder named by its collection year "
                    f"(ssda903/<year>/{parts[-1]})"
                )
                continue
            years.setdefault(parts[1], []).append(info)
        elif kind == CIN:
            if suffix != ".xml":
                continue
            if len(parts) != 2:
                problems.append(
                    f"{name}: a CIN census file must be directly in cin/ (cin/<year>.xml)"
                )
                continue
            planned.append(PlannedFile(info, XML_CIN, ""))
    for year, infos in sorted(years.items()):
        planned.extend(_plan_903_year(year, infos, problems, unreadable))
    return planned, problems, unreadable


def _plan_903_year(
    year: str, infos: list[FileInfo], problems: list[str], unreadable: dict[str, str]
) -> list[PlannedFile]:
    where = f"ssda903/{year}/"
    xmls = [i for i in infos if i.name.lower().endswith(".xml")]
    csvs = [i for i in infos if i.name.lower().endswith(".csv")]
    if len(xmls) > 1 or (xmls and csvs):
        names = ", ".join(i.name for i in infos)
        problems.append(
            f"{where} holds {names}: a 903 year is one XML file, or CSV tables, not both"
        )
        return []
    if xmls:
        return [PlannedFile(xmls[0], XML_903, year)]
    tables: dict[str, list[FileInfo]] = {ssda903.HEADER: [], ssda903.EPISODES: []}
    others: list[str] = []
    for info in csvs:
        try:
            kind = ssda903.csv_kind(info.path, info.name)
        except FileProblem as e:
            problems.append(str(e))
            return []
        except OSError as e:
            unreadable[info.name] = os_error_text(e)
            continue
        if kind is None:
            others.append(info.name.rsplit("/", 1)[-1])
        else:
            tables[kind].append(info)
    found = []
    for table, signature in (
        (ssda903.HEADER, ssda903.HEADER_SIGNATURE),
        (ssda903.EPISODES, ssda903.EPISODES_SIGNATURE),
    ):
        if not tables[table]:
            other = f"; other tables there: {', '.join(others)}" if others else ""
            problems.append(
                f"{where}: no 903 {table} table (a CSV whose header row has "
                f"{', '.join(signature)}){other}: a 903 year needs both header and episodes"
            )
        elif len(tables[table]) > 1:
            names = ", ".join(i.name for i in tables[table])
            problems.append(f"{where}: more than one 903 {table} table ({names})")
        else:
            found.append(PlannedFile(tables[table][0], CSV_903, year, table))
    return found


def stage_folder(
    con: duckdb.DuckDBPyConnection, folder: ReturnsFolder, prefix: str
) -> dict[str, StagedObject]:
    """Read a returns folder into ``<prefix><object>`` temp tables, or raise
    :class:`SnapshotRejected` listing every file-level problem (each naming its file)."""
    planned, problems, unreadable = plan(folder)
    with tempfile.TemporaryDirectory(prefix="fiw-returns-") as tmp:
        reads = _read_all(planned, Path(tmp))
        for p, r in zip(planned, reads, strict=True):
            if r.year is not None:
                p.year = r.year
            if r.problem is not None:
                problems.append(r.problem)
            if r.unreadable is not None:
                unreadable[p.info.name] = r.unreadable
        problems.extend(_same_census(planned))
        if problems or unreadable:
            raise SnapshotRejected(problems + folder.unreadable_problems(unreadable), unreadable)
        return _stage(con, planned, reads, prefix)


@dataclass
class FileRead:
    """What reading one planned file gave: the temporary CSV of each object it has rows of, its
    census date (CIN), or the problem that rejects the snapshot, or why it could not be read."""

    written: dict[str, Path]
    year: str | None = None
    problem: str | None = None
    unreadable: str | None = None


def _read_all(planned: list[PlannedFile], tmp: Path) -> list[FileRead]:
    """Read every planned file (in its own folder of temporary CSVs), in order of the plan.

    A big folder is read by several processes, a file each at a time (biggest first, so that no
    process is left reading a big file alone at the end): each streams its file as this process
    would, so memory still does not grow with a file's size. The processes are forked: they
    start at once, with every module already imported, and only read files and write CSVs.
    """
    readers = _readers(planned)
    if readers < 2:
        return [_read_file(p, i, tmp) for i, p in enumerate(planned)]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(readers, mp_context=context) as pool:
        order = sorted(range(len(planned)), key=lambda i: -planned[i].info.size)
        futures = {i: pool.submit(_read_file, planned[i], i, tmp) for i in order}
        return [futures[i].result() for i in range(len(planned))]


def _readers(planned: list[PlannedFile]) -> int:
    """How many processes to read with: one for a small folder (a process's start would cost
    more than it saves), else one per CPU this process may use, up to :data:`MAX_READERS`."""
    if len(planned) < 2 or sum(p.info.size for p in planned) < PARALLEL_MIN_BYTES:
        return 1
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    affinity = getattr(os, "sched_getaffinity", None)
    cpus = len(affinity(0)) if affinity else os.cpu_count() or 1
    return min(MAX_READERS, cpus, len(planned))


def _read_file(p: PlannedFile, file_no: int, tmp: Path) -> FileRead:
    folder = tmp / str(file_no)
    folder.mkdir()
    sink = RowSink(folder, file_no)
    try:
        year = _read(p, sink)
    except FileProblem as e:
        return FileRead({}, problem=str(e))
    except OSError as e:
        return FileRead({}, unreadable=os_error_text(e))
    finally:
        sink.close()
    return FileRead(dict(sink.files), year)


def _read(p: PlannedFile, sink: RowSink) -> str | None:
    """Stream one file into the sink; a CIN census file's census date."""
    if p.kind == XML_CIN:
        return cin_census.read(p.info.path, p.info.name, sink)
    if p.kind == XML_903:
        ssda903.read_xml(p.info.path, p.info.name, sink)
    else:
        ssda903.read_csv(p.info.path, p.info.name, p.table, sink)
    return None


def _same_census(planned: list[PlannedFile]) -> list[str]:
    """Two CIN census files of the same date: which one's records win cannot be told."""
    by_date: dict[str, list[str]] = {}
    for p in planned:
        if p.kind == XML_CIN and p.year:
            by_date.setdefault(p.year, []).append(p.info.name)
    return [
        f"{' and '.join(names)} are both the CIN census of {day}: keep one file per census"
        for day, names in sorted(by_date.items())
        if len(names) > 1
    ]


def _stage(
    con: duckdb.DuckDBPyConnection, planned: list[PlannedFile], reads: list[FileRead], prefix: str
) -> dict[str, StagedObject]:
    # Rank of each file's year within its return: later years win a record's key.
    order = sorted(range(len(planned)), key=lambda i: (planned[i].year, planned[i].info.name))
    rank = {i: r for r, i in enumerate(order)}
    con.execute(f"create or replace temp table {_FILES_TABLE} (file_no bigint, prio int, rnk int)")
    if planned:
        con.executemany(
            f"insert into {_FILES_TABLE} values (?, ?, ?)",
            [[i, PRIORITY[p.kind], rank[i]] for i, p in enumerate(planned)],
        )
    staged: dict[str, StagedObject] = {}
    try:
        for name in LOAD_ORDER:
            written = [r.written[name] for r in reads if name in r.written]
            staged[name] = _stage_object(con, name, written, f"{prefix}{name}")
    finally:
        con.execute(f"drop table if exists {_FILES_TABLE}")
    return staged


def _stage_object(
    con: duckdb.DuckDBPyConnection, name: str, written: list[Path], table: str
) -> StagedObject:
    obj = OBJECTS[name]
    cols = obj.column_names
    arrived = tuple((c, c) for c in cols)
    if not written:
        defs = ", ".join(f"{quote_ident(c)} varchar" for c in cols)
        con.execute(
            f"create or replace temp table {table} "
            f"({defs}, _line_number bigint, {SOURCE_COLUMN} varchar)"
        )
        if name in NO_WORKFORCE:
            source = f"(none: statutory returns carry no {name})"
        else:
            source = f"(none: no file of this folder gives {name})"
        return StagedObject(obj, table, source, 0, arrived, SOURCE_COLUMN)
    carried = CARRIED_COLUMNS[name]
    spec = ", ".join(f"{quote_literal(c)}: 'VARCHAR'" for c in carried)
    spec += f", {quote_literal(FILE_NO)}: 'BIGINT', {quote_literal(POSITION)}: 'BIGINT'"
    spec += f", {quote_literal(WHERE)}: 'VARCHAR'"
    files = ", ".join(quote_literal(str(p)) for p in written)
    pk = quote_ident(obj.primary_key)
    select = ", ".join(
        f"r.{quote_ident(c)}" if c in carried else f"cast(null as varchar) as {quote_ident(c)}"
        for c in cols
    )
    # A row's number in its object: files in the plan's order, rows in each file's order.
    con.execute(
        f"""
        create or replace temp table {table} as
        select * exclude ({FILE_NO}, {POSITION}),
            row_number() over (order by {FILE_NO}, {POSITION}) as _line_number
        from (
            select {select}, r.{FILE_NO}, r.{POSITION}, r.{WHERE} as {SOURCE_COLUMN}
            from read_csv(
                [{files}],
                header = true, auto_detect = false, delim = ',', quote = '"', escape = '"',
                encoding = 'utf-8', strict_mode = true, columns = {{{spec}}}
            ) r
            join {_FILES_TABLE} f on r.{FILE_NO} = f.file_no
            qualify r.{pk} is null
                or rank() over (partition by r.{pk} order by f.prio desc, f.rnk desc) = 1
        )
        order by _line_number
        """
    )
    rows = con.execute(f"select count(*) from {table}").fetchone()[0]
    kept = con.execute(
        f"""select list(distinct split_part({SOURCE_COLUMN}, ': ', 1)) from {table}"""
    ).fetchone()[0]
    files = sorted(kept or [])
    source = ", ".join(files) if files else "(none)"
    return StagedObject(obj, table, source, rows, arrived, SOURCE_COLUMN)
