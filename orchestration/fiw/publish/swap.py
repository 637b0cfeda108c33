"""Replace a published folder (``release/``, ``catalog/``) in one atomic step.

The folder a reader opens, ``<home>/<name>``, is a symbolic link to ``<home>/.<name>-<run id>/``.
A publication writes its new folder complete under a new run id, then points a new link at it and
renames the link over the old one (``os.replace``: atomic on POSIX), so a reader sees the old
folder or the new one, never a mixture, and a run killed before the rename leaves the old one in
place. Folders no link points to (the previous publication's, or an unfinished one) are removed
by :func:`remove_stale`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path


def staging_dir(home: Path, name: str, run_id: str) -> Path:
    """A fresh folder to write the new ``name`` into (removed first if a retry left one)."""
    path = home / f".{name}-{run_id}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    return path


def swap_in(home: Path, name: str, new: Path) -> Path:
    """Point ``<home>/<name>`` at ``new`` atomically; return the link."""
    link = home / name
    if link.exists() and not link.is_symlink():  # a plain folder from an older fiw: move aside
        os.replace(link, home / f".{name}-previous")
    tmp = home / f".{name}.link-{new.name}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(new.name, tmp)  # relative: the home can move
    os.replace(tmp, link)
    fd = os.open(home, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    remove_stale(home, name)
    return link


def remove_stale(home: Path, name: str) -> list[Path]:
    """Remove ``.<name>-*`` folders and links the live link does not point to."""
    link = home / name
    live = os.readlink(link) if link.is_symlink() else None
    removed = []
    for path in home.glob(f".{name}[-.]*"):
        if path.name == live:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        removed.append(path)
    return sorted(removed)
