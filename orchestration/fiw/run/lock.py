"""The home folder's run lock: one nightly run at a time, released by the operating system when
the process holding it dies (``flock``), so a killed run never leaves it taken."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from fiw.errors import FiwError
from fiw.settings import Settings


class RunInProgress(FiwError):
    """Another run holds the lock (or, for WarehouseBusy, another process the warehouse)."""


def _holder(fd: int) -> str:
    return os.pread(fd, 300, 0).decode(errors="replace").strip() or "unknown holder"


def lock_holder(settings: Settings) -> str | None:
    """Who holds the run lock now (its line), or None when it is free."""
    if not settings.lock_file.exists():
        return None
    fd = os.open(settings.lock_file, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder(fd)
        return None
    finally:
        os.close(fd)


@contextmanager
def run_lock(settings: Settings, label: str, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the run lock while the block runs, waiting up to ``wait_seconds`` for it; raise
    RunInProgress naming the holder when it is not free by then."""
    settings.ensure_home()
    fd = os.open(settings.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RunInProgress(
                        f"another fiw run holds {settings.lock_file} ({_holder(fd)}); "
                        "this run was refused.",
                        "It will be free when that run ends: run again then.",
                    ) from None
                time.sleep(1.0)
        os.ftruncate(fd, 0)
        line = f"{label}, pid {os.getpid()}, since {datetime.now():%Y-%m-%d %H:%M:%S}\n"
        os.pwrite(fd, line.encode(), 0)
        yield
    finally:
        os.close(fd)
