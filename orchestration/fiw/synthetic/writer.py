"""Snapshot folders on disk: ``<out>/<YYYY-MM-DD>/<object>.csv``, then ``_SUCCESS``.

Each file gets the contract's header and then the chunks' lines in chunk order; ``_SUCCESS`` is
written only after every file of the folder is complete, so a reader never loads half a snapshot.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from fiw.contract import OBJECTS
from fiw.synthetic.chunks import encode


class SnapshotFolders:
    """Open files of every object in every snapshot folder, written to in order."""

    def __init__(self, out: Path, folders: list[str]) -> None:
        self.paths = [out / name for name in folders]
        self.files: list[dict[str, BinaryIO]] = []

    def __enter__(self) -> SnapshotFolders:
        for path in self.paths:
            path.mkdir(parents=True, exist_ok=True)
            (path / "_SUCCESS").unlink(missing_ok=True)
            files = {name: (path / f"{name}.csv").open("wb") for name in OBJECTS}
            for name, f in files.items():
                f.write(encode([OBJECTS[name].column_names]))
            self.files.append(files)
        return self

    def append(self, snapshot: int, data: dict[str, bytes]) -> None:
        files = self.files[snapshot]
        for name, lines in data.items():
            files[name].write(lines)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for files in self.files:
            for f in files.values():
                f.close()
        if kind is None:
            for path in self.paths:
                (path / "_SUCCESS").write_bytes(b"")
