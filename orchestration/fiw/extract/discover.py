"""Find the snapshot folders under the exports root and checksum them.

A snapshot folder is named by its extract date (``YYYY-MM-DD``). Where the exporter writes a
``_SUCCESS`` marker (any folder of the root holds one), a folder without it is still being written:
it is reported as incomplete and not loaded. Other folder names are reported and ignored.

The snapshot id (docs/design.md) is the SHA-256 of the sorted lines ``<file name>:<sha256 of the
file's bytes>`` of every ``*.csv`` file in the folder, each line ending in ``\\n``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from fiw.extract.report import INCOMPLETE, NOT_A_SNAPSHOT

SUCCESS_MARKER = "_SUCCESS"
_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class FileInfo:
    """One exported file: its checksum, plus the newline facts line numbering needs."""

    name: str
    path: Path
    sha256: str
    size: int
    newlines: int  # count of LF bytes in the file
    ends_with_newline: bool

    @property
    def physical_lines(self) -> int:
        if self.size == 0:
            return 0
        return self.newlines + (0 if self.ends_with_newline else 1)


@dataclass(frozen=True)
class SnapshotFolder:
    snapshot_date: date
    path: Path
    files: dict[str, FileInfo]  # by file name as found
    snapshot_id: str


@dataclass(frozen=True)
class SkippedFolder:
    name: str
    status: str  # INCOMPLETE or NOT_A_SNAPSHOT
    reason: str


def parse_snapshot_date(name: str) -> date | None:
    """The date a folder name stands for, or None when it is not exactly ``YYYY-MM-DD``."""
    if len(name) != 10 or name[4] != "-" or name[7] != "-":
        return None
    try:
        return date.fromisoformat(name)
    except ValueError:
        return None


def find_snapshot_folders(root: Path) -> tuple[list[tuple[date, Path]], list[SkippedFolder]]:
    """Complete snapshot folders, oldest first, and the folders skipped with why."""
    if not root.is_dir():
        raise FileNotFoundError(f"exports folder {root} does not exist or is not a folder")
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    markers = any((p / SUCCESS_MARKER).exists() for p in folders)
    found: list[tuple[date, Path]] = []
    skipped: list[SkippedFolder] = []
    for path in folders:
        when = parse_snapshot_date(path.name)
        if when is None:
            skipped.append(
                SkippedFolder(
                    path.name,
                    NOT_A_SNAPSHOT,
                    f"folder name {path.name!r} is not a YYYY-MM-DD extract date: ignored",
                )
            )
        elif markers and not (path / SUCCESS_MARKER).exists():
            skipped.append(
                SkippedFolder(
                    path.name,
                    INCOMPLETE,
                    f"no {SUCCESS_MARKER} marker in {path.name}/ although the exporter writes "
                    "them: still being written, not loaded",
                )
            )
        else:
            found.append((when, path))
    found.sort()
    return found, skipped


def file_info(path: Path) -> FileInfo:
    """Checksum a file in chunks, counting its LF bytes on the way."""
    digest = hashlib.sha256()
    newlines = size = 0
    last = b""
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            newlines += chunk.count(b"\n")
            size += len(chunk)
            last = chunk[-1:]
    return FileInfo(path.name, path, digest.hexdigest(), size, newlines, last == b"\n")


def snapshot_id_of(lines: list[str]) -> str:
    """SHA-256 of the sorted ``name:checksum`` lines, each ending in a newline."""
    return hashlib.sha256("".join(f"{line}\n" for line in sorted(lines)).encode()).hexdigest()


def checksum_folder(snapshot_date: date, path: Path) -> SnapshotFolder:
    infos = [
        file_info(p) for p in sorted(path.iterdir()) if p.is_file() and p.suffix.lower() == ".csv"
    ]
    return SnapshotFolder(
        snapshot_date=snapshot_date,
        path=path,
        files={i.name: i for i in infos},
        snapshot_id=snapshot_id_of([f"{i.name}:{i.sha256}" for i in infos]),
    )
