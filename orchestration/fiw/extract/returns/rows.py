"""What the returns readers share: value mapping (docs/returns.md) and the sink rows go to.

Readers never hold a file's rows: each record becomes one row of an SSD object, written at once
to that object's temporary CSV file (:class:`RowSink`), which DuckDB then reads as the CSV path
reads an SSD export. A row keeps where it came from (``file: /XPath[n]`` or ``file: line n``) so
that a quarantined row names its element or line.

Values are mapped only where the mapping is certain (a real ``DD/MM/YYYY`` date, a known sex or
flag code); anything else is passed on as it arrived, so the contract's row rules quarantine it
with the value the authority sent.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from fiw.contract import OBJECTS

# Extra columns of each row in the sink (after the contract columns).
FILE_NO = "_file"  # which file (index into the folder's plan)
POSITION = "_pos"  # order of arrival across the whole folder
WHERE = "_where"  # the file and the element's path or the line
SINK_EXTRAS = (FILE_NO, POSITION, WHERE)

_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")

# SSDA903 SEX (1 = M, 2 = F; from 2025 M, F, U); CIN Sex (M, F, U or 1, 2) and GenderCurrent
# (0 = not known, 1 = male, 2 = female, 9 = not specified).
SEX_CODES = {"1": "M", "2": "F", "0": "U", "9": "U", "M": "M", "F": "F", "U": "U"}
NFA_CODES = {"true": "Y", "1": "Y", "false": "N", "0": "N"}


class FileProblem(Exception):
    """A file-level breach: the snapshot is rejected whole (the message names the file)."""


def clean(value: str | None) -> str | None:
    """Trimmed text, None when empty."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def dmy_to_iso(value: str | None) -> str | None:
    """``DD/MM/YYYY`` (903 files) as ``YYYY-MM-DD``; anything else, or no real date, unchanged."""
    value = clean(value)
    if value is None:
        return None
    m = _DMY.match(value)
    if not m:
        return value
    try:
        return date(int(m[3]), int(m[2]), int(m[1])).isoformat()
    except ValueError:
        return value


def sex(value: str | None) -> str | None:
    value = clean(value)
    return SEX_CODES.get(value.upper(), value) if value else None


def nfa(value: str | None) -> str | None:
    value = clean(value)
    return NFA_CODES.get(value.lower(), value) if value else None


def key(*parts: str | None) -> str | None:
    """An id made of its parts joined by ``/``; None when a part is missing."""
    if any(p is None for p in parts):
        return None
    return "/".join(parts)


@dataclass
class SinkFile:
    path: Path
    handle: object
    writer: object
    rows: int = 0


class RowSink:
    """One temporary CSV per SSD object, written as rows arrive (nothing held in memory)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.files: dict[str, SinkFile] = {}
        self.position = 0

    def add(self, obj: str, values: dict[str, str | None], file_no: int, where: str) -> None:
        sink = self.files.get(obj)
        if sink is None:
            path = self.folder / f"{obj}.csv"
            handle = path.open("w", newline="", encoding="utf-8")
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow([*OBJECTS[obj].column_names, *SINK_EXTRAS])
            sink = self.files[obj] = SinkFile(path, handle, writer)
        self.position += 1
        columns = OBJECTS[obj].column_names
        row = [values.get(c) for c in columns]
        sink.writer.writerow(
            ["" if v is None else v for v in row] + [file_no, self.position, where]
        )
        sink.rows += 1

    def close(self) -> None:
        for sink in self.files.values():
            sink.handle.close()
