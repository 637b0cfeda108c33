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
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import IO

from fiw.contract import OBJECTS

# Extra columns of each row in the sink (after the contract columns).
FILE_NO = "_file"  # which file (index into the folder's plan)
POSITION = "_pos"  # order of arrival in the file
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
    if None in parts:
        return None
    return "/".join(parts)


# The columns of each SSD object that returns carry, in the order readers give a row's values;
# the object's other columns are empty in every row from returns (docs/returns.md).
CARRIED_COLUMNS = {
    "ssd_person": (
        "pers_person_id",
        "pers_sex",
        "pers_dob",
        "pers_ethnicity",
        "pers_common_child_id",
    ),
    "ssd_cin_episodes": (
        "cine_referral_id",
        "cine_person_id",
        "cine_referral_date",
        "cine_referral_source_code",
        "cine_cin_primary_need_code",
        "cine_referral_nfa",
        "cine_close_date",
        "cine_close_reason",
    ),
    "ssd_cin_assessments": (
        "cina_assessment_id",
        "cina_person_id",
        "cina_referral_id",
        "cina_assessment_start_date",
        "cina_assessment_auth_date",
    ),
    "ssd_cin_plans": (
        "cinp_cin_plan_id",
        "cinp_referral_id",
        "cinp_person_id",
        "cinp_cin_plan_start_date",
        "cinp_cin_plan_end_date",
    ),
    "ssd_cp_plans": (
        "cppl_cp_plan_id",
        "cppl_referral_id",
        "cppl_person_id",
        "cppl_cp_plan_start_date",
        "cppl_cp_plan_end_date",
        "cppl_cp_plan_initial_category",
        "cppl_cp_plan_latest_category",
    ),
    "ssd_cla_episodes": (
        "clae_cla_episode_id",
        "clae_person_id",
        "clae_cla_episode_start_date",
        "clae_cla_episode_start_reason",
        "clae_cla_primary_need_code",
        "clae_cla_episode_ceased_date",
        "clae_cla_episode_ceased_reason",
    ),
}
assert all(set(cols) <= set(OBJECTS[obj].column_names) for obj, cols in CARRIED_COLUMNS.items()), (
    "CARRIED_COLUMNS names a column the contract does not have"
)


class RowSink:
    """One temporary CSV per SSD object for one file of the folder (``file_no``), written as rows
    arrive (nothing held in memory). A row is a tuple of the object's :data:`CARRIED_COLUMNS`
    values (None for empty); the sink adds the file number, the row's position in the file and
    where it came from."""

    def __init__(self, folder: Path, file_no: int):
        self.folder = folder
        self.file_no = file_no
        self.files: dict[str, Path] = {}  # object -> its CSV, once it has a row
        self.position = 0
        self._writers: dict[str, Callable[[tuple], object]] = {}
        self._handles: list[IO[str]] = []

    def add(self, obj: str, row: tuple, where: str) -> None:
        writerow = self._writers.get(obj) or self._open(obj)
        self.position += 1
        writerow((*row, self.file_no, self.position, where))  # csv writes None as ""

    def _open(self, obj: str) -> Callable[[tuple], object]:
        path = self.folder / f"{obj}.csv"
        handle = path.open("w", newline="", encoding="utf-8")
        self._handles.append(handle)
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([*CARRIED_COLUMNS[obj], *SINK_EXTRAS])
        self.files[obj] = path
        self._writers[obj] = writer.writerow
        return writer.writerow

    def close(self) -> None:
        for handle in self._handles:
            handle.close()
