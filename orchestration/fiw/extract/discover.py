"""Find the snapshot folders under the exports root and checksum them.

A snapshot folder is named by its extract date (``YYYY-MM-DD``). Where the exporter writes a
``_SUCCESS`` marker (any folder of the root holds one), a folder without it is still being written:
it is reported as incomplete and not loaded. Other folder names are reported and ignored. Both
are listed in ``audit.skipped_folders`` (replaced by each load).

The snapshot id (docs/design.md) is the SHA-256 of the sorted lines ``<file name>:<sha256 of the
file's bytes>`` of every ``*.csv`` file in the folder, each line ending in ``\\n``. A file that
cannot be read (permissions, I/O error) stands as ``<file name>:unreadable`` (a folder that cannot
be listed as ``<folder name>/:unreadable``): its snapshot is rejected under an id that differs from
the one it will have once readable, so fixing the permissions lets the same folder load later.
"""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from fiw.errors import FiwError
from fiw.extract.report import INCOMPLETE, NOT_A_SNAPSHOT

SUCCESS_MARKER = "_SUCCESS"
_CHUNK = 8 * 1024 * 1024
UNREADABLE = "unreadable"  # stands for the checksum of a file that cannot be read
FOLDER_ITSELF = ""  # key of SnapshotFolder.unreadable when the folder itself cannot be listed
UNREADABLE_ACTION = (
    "check the exporter's file permissions (the user running fiw must be able to read every file "
    "of the folder; for an I/O error, the disk or share the exports are on): the folder loads on "
    "a later run once it can be read"
)
EXPORTS_ACTION = (
    "Point --exports or FIW_EXPORTS at the folder that holds the dated snapshot folders "
    "(YYYY-MM-DD/), or at an SSD database URL; nothing was loaded."
)


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
    files: dict[str, FileInfo]  # by file name as found; readable files only
    snapshot_id: str
    # file name -> the OS error that stopped its checksum; FOLDER_ITSELF: the listing failed
    unreadable: dict[str, str] = field(default_factory=dict)

    def unreadable_problems(self, unreadable: dict[str, str] | None = None) -> list[str]:
        """Why the snapshot is rejected, naming the folder, each file and its error."""
        return unreadable_problems(
            self.path.name, self.unreadable if unreadable is None else unreadable
        )

    def id_with_unreadable(self, names: Iterable[str]) -> str:
        """The snapshot id when ``names`` (found readable at checksum time) cannot be read."""
        marked = set(names) | set(self.unreadable)
        lines = [f"{i.name}:{i.sha256}" for i in self.files.values() if i.name not in marked]
        return snapshot_id_of(lines + [_unreadable_line(self.path.name, n) for n in marked])


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


def os_error_text(error: OSError) -> str:
    """``[Errno 13] Permission denied`` (without the path, which the message names already)."""
    if error.errno is not None and error.strerror:
        return f"[Errno {error.errno}] {error.strerror}"
    return str(error)


def _unreadable_line(folder_name: str, name: str) -> str:
    return f"{folder_name}/:{UNREADABLE}" if name == FOLDER_ITSELF else f"{name}:{UNREADABLE}"


def unreadable_problems(folder_name: str, unreadable: dict[str, str]) -> list[str]:
    """One problem per file (or the folder) that cannot be read, then what to do, once."""
    if not unreadable:
        return []
    problems = [
        f"folder {folder_name}/ cannot be listed ({error})"
        if name == FOLDER_ITSELF
        else f"{folder_name}/{name} cannot be read ({error})"
        for name, error in sorted(unreadable.items())
    ]
    return [*problems, UNREADABLE_ACTION]


def check_exports_folder(root: Path) -> None:
    """Raise :class:`FiwError` unless ``root`` is a folder this process can list."""
    try:
        is_folder = stat.S_ISDIR(root.stat().st_mode)
        if is_folder:
            for entry in root.iterdir():
                entry.is_dir()
    except (FileNotFoundError, NotADirectoryError):
        raise FiwError(f"exports folder {root} does not exist.", EXPORTS_ACTION) from None
    except OSError as e:
        raise FiwError(
            f"exports folder {root} cannot be read: {os_error_text(e)}.",
            "Give the user running fiw read access to it and to the snapshot folders in it, "
            "or point --exports or FIW_EXPORTS elsewhere; nothing was loaded.",
        ) from e
    if not is_folder:
        raise FiwError(f"exports folder {root} is a file, not a folder.", EXPORTS_ACTION)


def _has_marker(folder: Path) -> bool | None:
    """Whether the folder holds a ``_SUCCESS`` marker; None when it cannot be told."""
    try:
        return (folder / SUCCESS_MARKER).exists()
    except OSError:
        return None


def find_snapshot_folders(root: Path) -> tuple[list[tuple[date, Path]], list[SkippedFolder]]:
    """Complete snapshot folders, oldest first, and the folders skipped with why.

    Raises :class:`FiwError` when ``root`` is not a folder that can be listed. A date folder that
    cannot itself be looked into counts as complete: :func:`checksum_folder` then rejects it.
    """
    check_exports_folder(root)
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    has_marker = {p: _has_marker(p) for p in folders}
    markers = any(has_marker.values())
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
        elif markers and has_marker[path] is False:
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
    """Checksum every ``*.csv`` file of a snapshot folder; never raises for one it cannot read."""
    infos: list[FileInfo] = []
    unreadable: dict[str, str] = {}
    try:
        csvs = [p for p in sorted(path.iterdir()) if p.is_file() and p.suffix.lower() == ".csv"]
    except OSError as e:
        csvs, unreadable[FOLDER_ITSELF] = [], os_error_text(e)
    for p in csvs:
        try:
            infos.append(file_info(p))
        except OSError as e:
            unreadable[p.name] = os_error_text(e)
    lines = [f"{i.name}:{i.sha256}" for i in infos]
    lines += [_unreadable_line(path.name, name) for name in unreadable]
    return SnapshotFolder(
        snapshot_date=snapshot_date,
        path=path,
        files={i.name: i for i in infos},
        snapshot_id=snapshot_id_of(lines),
        unreadable=unreadable,
    )
