"""SSDA903 (children looked after) return: the header and episodes tables, as CSV or XML.

CSV files of a year are told apart by their header row (column names case-insensitive): the
header table has CHILD, SEX, DOB and ETHNIC; the episodes table CHILD and DECOM (and must then
have RNE, CIN, DEC and REC). Other 903 tables (reviews, UASC, missing, ...) are ignored. The XML
form nests one ``HEADER`` and any number of ``EPISODE`` elements in each ``CHILD``, and names the
child ``CHILDID``. Dates are ``DD/MM/YYYY`` in both.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from fiw.extract.returns.rows import FileProblem, RowSink, clean, dmy_to_iso, key, sex
from fiw.extract.returns.xmlstream import child, children, fields, records

HEADER = "header"
EPISODES = "episodes"
HEADER_SIGNATURE = ("CHILD", "SEX", "DOB", "ETHNIC")
EPISODES_SIGNATURE = ("CHILD", "DECOM")
EPISODES_REQUIRED = ("CHILD", "DECOM", "RNE", "CIN", "DEC", "REC")
_HEADER_PROBE = 1024 * 1024


def person(child_id, sex_code, dob, ethnic, upn) -> tuple[str | None, ...]:
    """An ``ssd_person`` row (:data:`~fiw.extract.returns.rows.CARRIED_COLUMNS` order)."""
    return (clean(child_id), sex(sex_code), dmy_to_iso(dob), clean(ethnic), clean(upn))


def episode(child_id, decom, rne, cin, dec, rec) -> tuple[str | None, ...]:
    """An ``ssd_cla_episodes`` row (:data:`~fiw.extract.returns.rows.CARRIED_COLUMNS` order)."""
    child_id, start = clean(child_id), dmy_to_iso(decom)
    return (
        key(child_id, start),
        child_id,
        start,
        clean(rne),
        clean(cin),
        dmy_to_iso(dec),
        clean(rec),
    )


BOM = b"\xef\xbb\xbf"


def _lines(f, display: str) -> Iterator[str]:
    """The file's physical lines decoded as UTF-8 (a BOM tolerated), failing at the bad line."""
    for n, raw in enumerate(f, start=1):
        if n == 1 and raw.startswith(BOM):
            raw = raw[len(BOM) :]
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise FileProblem(f"{display}: line {n}: not valid UTF-8 ({e.reason})") from None


def csv_kind(path: Path, display: str) -> str | None:
    """HEADER, EPISODES, or None for another 903 table (or an empty file)."""
    with path.open("rb") as f:
        try:
            first = next(csv.reader(_lines(f, display), strict=True), [])
        except csv.Error as e:
            raise FileProblem(f"{display}: line 1 (header) is not valid CSV: {e}") from None
    names = {n.strip().upper() for n in first}
    if set(HEADER_SIGNATURE) <= names:
        return HEADER
    if set(EPISODES_SIGNATURE) <= names:
        missing = [c for c in EPISODES_REQUIRED if c not in names]
        if missing:
            plural = "s" if len(missing) > 1 else ""
            raise FileProblem(
                f"{display}: 903 episodes table (CHILD and DECOM in its header) without "
                f"column{plural} {', '.join(missing)} (line 1)"
            )
        return EPISODES
    return None


def read_csv(path: Path, display: str, kind: str, sink: RowSink) -> None:
    """Stream one header or episodes CSV into the sink; FileProblem for invalid CSV or UTF-8."""
    line = 1
    try:
        with path.open("rb") as f:
            reader = csv.reader(_lines(f, display), strict=True)
            header = [n.strip().upper() for n in next(reader)]
            width = len(header)
            at = {n: i for i, n in reversed(list(enumerate(header)))}
            line = reader.line_num + 1
            for record in reader:
                start, line = line, reader.line_num + 1
                if not record:
                    continue  # a blank line
                if len(record) != width:
                    raise FileProblem(
                        f"{display}: line {start} has {len(record)} fields, the header has "
                        f"{width}: an unquoted comma or a missing field shifts every later value"
                    )

                def get(column: str, record=record) -> str | None:
                    i = at.get(column)
                    return None if i is None else record[i]

                where = f"{display}: line {start}"
                if kind == HEADER:
                    values = person(get("CHILD"), get("SEX"), get("DOB"), get("ETHNIC"), get("UPN"))
                    sink.add("ssd_person", values, where)
                else:
                    values = episode(
                        get("CHILD"), get("DECOM"), get("RNE"), get("CIN"), get("DEC"), get("REC")
                    )
                    sink.add("ssd_cla_episodes", values, where)
    except csv.Error as e:
        raise FileProblem(f"{display}: line {line}: not valid CSV ({e})") from None


def read_xml(path: Path, display: str, sink: RowSink) -> None:
    """Stream one 903 XML file (``/EXPSSDA903/CHILD``) into the sink."""
    for location, element in records(path, display, ("EXPSSDA903", "CHILD")):
        head = child(element, "HEADER")
        h = fields(head)
        child_id = h.get("CHILDID")
        where = f"{display}: {location}/HEADER"
        if head is not None:
            values = person(child_id, h.get("SEX"), h.get("DOB"), h.get("ETHNIC"), h.get("UPN"))
            sink.add("ssd_person", values, where)
        for i, ep in enumerate(children(element, "EPISODE"), start=1):
            e = fields(ep)
            values = episode(
                child_id, e.get("DECOM"), e.get("RNE"), e.get("CIN"), e.get("DEC"), e.get("REC")
            )
            sink.add("ssd_cla_episodes", values, f"{display}: {location}/EPISODE[{i}]")
