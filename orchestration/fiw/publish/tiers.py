"""Who may see what: the permissions of docs/audiences.md, applied to a home folder.

=========  ===========================================================  =====  ======  ========
tier       entries under the home                                       files  folders group
=========  ===========================================================  =====  ======  ========
warehouse  ``warehouse.duckdb`` and every ``warehouse.duckdb.*`` beside  0600   0700    as is
           it (WAL, ``.tmp/`` spill folder), ``pseudonymisation.key``,
           ``run.lock``, ``dagster/``, ``logs/``, ``gx/``,
           ``data_docs/``, ``dbt_target/``
analysts   ``published.duckdb``, ``catalog/``                            0640   0750    analysts
           (``FIW_ANALYST_GROUP`` unset: owner only)                    0600   0700    as is
release    ``release/``                                                 0644   0755    as is
home       the home folder itself                                       -      0711    as is
=========  ===========================================================  =====  ======  ========

Folders are applied recursively, top down (a folder is closed before what is in it is changed).
``release`` and ``catalog`` are symbolic links to ``.release-<run id>/`` and ``.catalog-<run id>/``
(:mod:`fiw.publish.swap`): the modes go to the folder the link points to, and only when that
folder is directly in the home and named ``.release-*`` / ``.catalog-*``. Inside a tree, symbolic
links are neither followed nor changed (a chmod would change whatever they point to). Anything else
in the home is left as it is: the process runs with umask 077, so it is owner-only from the moment
it is created.

:func:`share_with_analysts` and :func:`share_with_release` apply one tier's modes to a single path
(a file or a folder), so a publication can set them on its new file or folder *before* renaming it
into place, and readers never lose access between the rename and :func:`apply_permissions`.
"""

from __future__ import annotations

import grp
import os
import stat
from pathlib import Path

from fiw.errors import FiwError
from fiw.settings import Settings

HOME_MODE = 0o711
OWNER_FILE, OWNER_DIR = 0o600, 0o700
ANALYST_FILE, ANALYST_DIR = 0o640, 0o750
RELEASE_FILE, RELEASE_DIR = 0o644, 0o755

WAREHOUSE_FOLDERS = ("logs", "gx", "dbt_target")  # besides settings.dagster_home, .data_docs_dir
RELEASE, CATALOG = "release", "catalog"


def _apply(path: Path, file_mode: int, dir_mode: int, gid: int = -1) -> None:
    """Give ``path`` (and, for a folder, everything under it) these modes and group.

    Symbolic links under ``path`` are skipped; ``path`` itself must not be one."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise ValueError(f"{path} is a symbolic link: resolve it first")
    if not stat.S_ISDIR(st.st_mode):
        _set(path, file_mode, gid)
        return
    _set(path, dir_mode, gid)
    for root, dirs, files in os.walk(path, topdown=True, followlinks=False):
        for name in dirs + files:
            child = Path(root, name)
            try:
                mode = os.lstat(child).st_mode
                if not stat.S_ISLNK(mode):
                    _set(child, dir_mode if stat.S_ISDIR(mode) else file_mode, gid)
            except FileNotFoundError:  # removed meanwhile (a log rotated, a spill file freed)
                continue


def _set(path: Path, mode: int, gid: int) -> None:
    # Group first, then mode: a file opened to its group is never readable by the previous group.
    if gid != -1 and os.lstat(path).st_gid != gid:
        try:
            os.chown(path, -1, gid, follow_symlinks=False)
        except PermissionError:
            group = grp.getgrgid(gid).gr_name
            raise FiwError(
                f"cannot give {path} to the analyst group {group}: "
                "this user is not a member of it.",
                f"Add the service account to {group} (usermod -aG {group} USER) or fix "
                "FIW_ANALYST_GROUP, then run again.",
            ) from None
    os.chmod(path, mode)


def _analyst_modes(settings: Settings) -> tuple[int, int, int]:
    """(file mode, folder mode, group id) of the analysts' tier under these settings."""
    if settings.analyst_group is None:
        return OWNER_FILE, OWNER_DIR, -1
    return ANALYST_FILE, ANALYST_DIR, grp.getgrnam(settings.analyst_group).gr_gid


def share_with_analysts(settings: Settings, path: str | os.PathLike) -> None:
    """Give ``path`` (a file, or a folder recursively) the analysts' tier: 0640/0750 with group
    ``FIW_ANALYST_GROUP``, or owner-only (0600/0700) when it is unset."""
    file_mode, dir_mode, gid = _analyst_modes(settings)
    _apply(Path(path), file_mode, dir_mode, gid)


def share_with_release(path: str | os.PathLike) -> None:
    """Give ``path`` (a file, or a folder recursively) the release tier: 0644 files, 0755
    folders."""
    _apply(Path(path), RELEASE_FILE, RELEASE_DIR)


def restrict_to_owner(path: str | os.PathLike) -> None:
    """Give ``path`` (a file, or a folder recursively) the warehouse tier: 0600 files, 0700
    folders."""
    _apply(Path(path), OWNER_FILE, OWNER_DIR)


def _published_folder(home: Path, name: str) -> Path | None:
    """The folder ``<home>/<name>`` stands for: the link's target when it is a folder directly in
    the home, the folder itself for a plain folder (an older fiw), else None."""
    path = home / name
    if not path.is_symlink():
        return path if path.is_dir() else None
    target = (home / os.readlink(path)).resolve()
    if target.parent != home.resolve() or not target.name.startswith(f".{name}-"):
        return None  # pointing out of the home or at another tier's folder: not ours to change
    return target if target.is_dir() else None


def _warehouse_entries(settings: Settings) -> list[Path]:
    home = settings.home
    db = settings.warehouse_path.name
    entries = sorted(
        p for p in home.iterdir() if p.name == db or p.name.startswith(f"{db}.")
    )  # the database, its WAL, the .tmp/ spill folder, any other temporary file
    entries += [
        settings.key_file,
        settings.lock_file,
        settings.dagster_home,
        settings.data_docs_dir,
    ]
    entries += [home / name for name in WAREHOUSE_FOLDERS]
    return entries


def apply_permissions(settings: Settings) -> None:
    """Apply docs/audiences.md's permissions to the home folder (idempotent).

    Missing entries are skipped; top-level symbolic links other than ``release`` and ``catalog``
    are left as they are. Raises :class:`FiwError` when the analyst group cannot be given to a
    file (the service account is not a member of it)."""
    home = settings.home
    os.chmod(home, HOME_MODE)
    for path in _warehouse_entries(settings):
        if os.path.lexists(path) and not path.is_symlink():
            restrict_to_owner(path)

    published = settings.published_path
    if os.path.lexists(published) and not published.is_symlink():
        share_with_analysts(settings, published)
    catalog = _published_folder(home, CATALOG)
    if catalog is not None:
        share_with_analysts(settings, catalog)

    release = _published_folder(home, RELEASE)
    if release is not None:
        share_with_release(release)
