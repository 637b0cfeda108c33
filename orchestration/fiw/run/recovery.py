"""Repairing what an interrupted run (SIGKILL, out of memory, power loss) left behind.

Every run of the nightly job tags itself with its process (``fiw/pid``: host and pid) as soon as
it starts, so a run whose process has gone is known to be dead, whoever launched it. Two places
repair:

- the Dagster daemon's ``interrupted_runs_sensor`` marks dead runs failed within a minute, so the
  run queue (one run at a time) moves on to the next run instead of waiting for ever;
- every run, once it holds the run lock (``guard``), does the rest (:func:`recover_interrupted`):

  - a ``dbt`` the killed run started may still be running and holding ``warehouse.duckdb`` (a
    child outlives its parent): the run waits for it, up to ``FIW_WAREHOUSE_WAIT_SECONDS``
    (default 300), then refuses naming the holder;
  - ``published.duckdb.tmp-*`` files of an unfinished publication are removed (the published file
    itself is only ever replaced by a rename, so it is the old or the new one, never a mixture);
  - a snapshot left ``validated`` but not published goes back to ``loaded``, so this run builds,
    validates and publishes it again;
  - dead runs the sensor has not failed yet are failed, and the ``warehouse`` pool slots that
    ended runs still hold are freed (else every later step in that pool waits);
  - the killed run's ``dbt_target/<run>`` folders are removed (files there, dbt's parse cache,
    stay).

A load that was killed left nothing (one transaction per snapshot; DuckDB replays its WAL of
committed work when the file is next opened), so it is simply loaded again.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from fiw import snapshots
from fiw.publish import remove_stale_temporaries
from fiw.run.lock import RunInProgress
from fiw.settings import Settings
from fiw.warehouse import connect

JOB_NAME = "nightly"
PID_TAG = "fiw/pid"
# How the failure message of a run whose process died starts (fiw.notify recognises it).
DIED_MARK = "fiw: the process running this run"
# A run that has not tagged its process this long after it started never reached its first step.
UNTAGGED_GRACE_SECONDS = 300.0


class WarehouseBusy(RunInProgress):
    """Another process (not a run: e.g. a dbt left by a killed run) holds the warehouse."""


def pid_tag() -> dict[str, str]:
    return {PID_TAG: f"{socket.gethostname()}:{os.getpid()}"}


def _process_alive(tag: str) -> bool | None:
    """True or False for a ``host:pid`` tag of this host; None when it names another host."""
    host, _, pid = tag.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dead_runs(instance, exclude: str | None = None) -> list:
    """Nightly runs marked starting or started whose process is gone."""
    from dagster import DagsterRunStatus, RunsFilter

    records = instance.get_run_records(
        RunsFilter(
            job_name=JOB_NAME, statuses=[DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]
        )
    )
    dead = []
    for record in records:
        run = record.dagster_run
        if run.run_id == exclude:
            continue
        tag = run.tags.get(PID_TAG)
        if tag is not None:
            if _process_alive(tag) is False:
                dead.append(run)
        elif (record.start_time or record.create_timestamp.timestamp()) < (
            time.time() - UNTAGGED_GRACE_SECONDS
        ):
            dead.append(run)
    return dead


def fail_dead_runs(
    instance, exclude: str | None = None, on_failed: Callable[[str], None] | None = None
) -> list[str]:
    """Mark dead runs failed and free the pool slots ended runs hold; a note per repair.
    ``on_failed`` is told the id of each run marked failed (its alert, fiw.notify)."""
    notes = []
    for run in dead_runs(instance, exclude):
        where = run.tags.get(PID_TAG, "a process that never reached its first step")
        instance.report_run_failed(
            run,
            message=f"{DIED_MARK} ({where}) died (killed, out of memory "
            "or power loss); the next run repairs what it left and carries on",
        )
        notes.append(f"marked Dagster run {run.run_id} failed: its process ({where}) died")
        if on_failed is not None:
            on_failed(run.run_id)
    # A killed run keeps its slot in the `warehouse` pool (limit 1) until something frees it.
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        for run_id in sorted(storage.get_concurrency_run_ids()):
            run = instance.get_run_by_id(run_id)
            if run is None or run.is_finished:
                storage.free_concurrency_slots_for_run(run_id)
                notes.append(f"freed the warehouse pool slot held by ended Dagster run {run_id}")
    return notes


def _lock_holder(error: str) -> str:
    """'PID 123: dbt build ...' from DuckDB's "Conflicting lock is held in ... (PID 123)"."""
    found = re.search(r"PID (\d+)", error)
    if not found:
        return "another process"
    pid = found.group(1)
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        cmd = ""
    return f"PID {pid}" + (f": {cmd[:120]}" if cmd else "")


def wait_for_warehouse(
    settings: Settings, timeout: float | None = None, notify: Callable[[str], None] = print
) -> None:
    """Return once ``warehouse.duckdb`` can be opened for writing; wait while another process
    holds it (a dbt outliving a killed run ends by itself), up to ``timeout`` seconds, then raise
    WarehouseBusy naming the holder."""
    if timeout is None:
        timeout = settings.warehouse_wait_seconds
    deadline = time.monotonic() + timeout
    told = False
    while True:
        try:
            with connect(settings):
                return
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            holder = _lock_holder(str(exc))
        if time.monotonic() >= deadline:
            raise WarehouseBusy(
                f"{settings.warehouse_path} is held by another process ({holder}) and was not "
                f"free after {timeout:.0f}s; this run was refused.",
                "If it is a dbt left by a killed run it ends by itself: run again once it "
                "has gone.",
            )
        if not told:
            notify(
                f"{settings.warehouse_path} is held by another process ({holder}), e.g. a dbt "
                f"left running by a killed run: waiting up to {timeout:.0f}s for it to end."
            )
            told = True
        time.sleep(1.0)


def recover_interrupted(
    settings: Settings,
    instance,
    current_run_id: str,
    on_failed: Callable[[str], None] | None = None,
) -> list[str]:
    """Undo what a killed run left behind (see the module doc); return a note per repair. The
    caller holds the run lock, so no other run is working on the warehouse. ``on_failed``: as
    for :func:`fail_dead_runs`."""
    notes = []
    removed = remove_stale_temporaries(settings)
    if removed:
        names = ", ".join(p.name for p in removed)
        notes.append(f"removed an unfinished publication left by an interrupted run: {names}")
    with connect(settings) as con:
        reset = con.execute(
            """
            update audit.snapshots set status = ?
            where status = ? and snapshot_date >= coalesce(
                (select max(snapshot_date) from audit.snapshots where status = ?),
                date '0001-01-01')
            returning snapshot_date
            """,
            [snapshots.LOADED, snapshots.VALIDATED, snapshots.PUBLISHED],
        ).fetchall()
    for (day,) in sorted(reset):
        notes.append(
            f"snapshot {day} was validated but an interrupted run did not publish it: "
            "building, validating and publishing it again"
        )
    notes.extend(fail_dead_runs(instance, exclude=current_run_id, on_failed=on_failed))
    targets = settings.home / "dbt_target"  # one folder per run; files there are caches: kept
    for folder in targets.iterdir() if targets.is_dir() else ():
        if folder.is_dir() and folder.name != current_run_id:
            shutil.rmtree(folder, ignore_errors=True)
    return notes
