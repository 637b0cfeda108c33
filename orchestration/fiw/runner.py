"""``fiw run``: the nightly job, in process, against the Dagster instance in the home folder.

One run at a time (a lock in the home folder that the operating system releases if the process
dies). The job loads every new snapshot and builds, validates and publishes the newest one; if that
one is refused, the next newest loaded snapshot gets its turn, so the newest *good* snapshot
becomes the publication.

Before the job, a run recovers from one that was killed (SIGKILL, out of memory, power loss):

- a ``dbt`` the killed run started may still be running and holding ``warehouse.duckdb`` (a
  child outlives its parent): the run waits for it, up to ``$FIW_WAREHOUSE_WAIT_SECONDS``
  (default 300), then refuses naming the holder (exit 1);
- ``published.duckdb.tmp-*`` files of an unfinished publication are removed (the published file
  itself is only ever replaced by a rename, so it is the old or the new one, never a mixture);
- a snapshot left ``validated`` but not published (killed between validation and publication) goes
  back to ``loaded``, so this run builds, validates and publishes it again;
- Dagster runs that ``fiw run`` started and that are still marked STARTED are marked failed, and
  the ``warehouse`` pool slot an ended run still holds is freed (only the Dagster daemon, which
  ``fiw run`` does not start, would free it; until then every step in that pool waits);
- the killed run's ``dbt_target/<run>`` folders are removed (files there, dbt's parse cache, stay).

A load that was killed left nothing (one transaction per snapshot; DuckDB replays its WAL of
committed work when the file is next opened), so it is simply loaded again.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from fiw import snapshots
from fiw.publish import remove_stale_temporaries
from fiw.settings import DBT_PROJECT_DIR, Settings, dbt_executable
from fiw.warehouse import connect

EXIT_OK, EXIT_ERROR, EXIT_REFUSED = 0, 1, 2
MAX_CANDIDATES_PER_RUN = 10
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
RUN_TAG = {"fiw/launched_by": "fiw run"}  # marks the Dagster runs a stale-run sweep may fail
WAIT_ENV = "FIW_WAREHOUSE_WAIT_SECONDS"
DEFAULT_WAIT_SECONDS = 300.0

DAGSTER_YAML = """\
# Written by fiw: the instance `fiw run` and `dagster dev` share.
telemetry:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: 1
  pools:
    default_limit: 1
"""


class RunInProgress(RuntimeError):
    pass


class WarehouseBusy(RunInProgress):
    """Another process (not a ``fiw run``: e.g. a dbt left by a killed run) holds the warehouse."""


@contextmanager
def run_lock(settings: Settings) -> Iterator[None]:
    """Hold the home folder's run lock, or raise RunInProgress at once."""
    settings.ensure_home()
    fd = os.open(settings.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
            raise RunInProgress(
                f"another fiw run holds {settings.lock_file} ({holder or 'unknown holder'}); "
                "this run was refused. It will be free when that run ends."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} since {datetime.now():%Y-%m-%d %H:%M:%S}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def _dbt_sources_mtime() -> float:
    paths = [DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml"]
    for folder in ("models", "macros", "tests"):
        paths.extend((DBT_PROJECT_DIR / folder).rglob("*"))
    paths.extend((DBT_PROJECT_DIR.parent / "seeds").rglob("*"))
    return max((p.stat().st_mtime for p in paths if p.is_file()), default=0.0)


def ensure_dbt_manifest() -> Path:
    """Parse the dbt project when its manifest is missing or older than any project file: the
    Dagster definitions are built from the manifest, so it must exist before they load."""
    manifest = DBT_PROJECT_DIR / "target" / "manifest.json"
    if not manifest.exists() or manifest.stat().st_mtime < _dbt_sources_mtime():
        subprocess.run(
            [dbt_executable(), "parse", "--quiet"],
            cwd=DBT_PROJECT_DIR,
            check=True,
            env={**os.environ, "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR)},
        )
    return manifest


def prepare_environment(settings: Settings) -> None:
    """Point Dagster, dbt and the definitions at this home folder and these exports."""
    settings.ensure_home()
    settings.dagster_home.mkdir(exist_ok=True)
    instance_yaml = settings.dagster_home / "dagster.yaml"
    if not instance_yaml.exists():
        instance_yaml.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    os.environ["FIW_HOME"] = str(settings.home)
    os.environ["FIW_EXPORTS"] = settings.exports
    os.environ["FIW_WAREHOUSE_PATH"] = str(settings.warehouse_path)
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    ensure_dbt_manifest()


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
        timeout = float(os.environ.get(WAIT_ENV, DEFAULT_WAIT_SECONDS))
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
                f"free after {timeout:.0f}s; this run was refused. If it is a dbt left by a "
                "killed fiw run it ends by itself: run again once it has gone."
            )
        if not told:
            notify(
                f"{settings.warehouse_path} is held by another process ({holder}), e.g. a dbt "
                f"left running by a killed fiw run: waiting up to {timeout:.0f}s for it to end."
            )
            told = True
        time.sleep(1.0)


def recover_interrupted(settings: Settings, instance) -> list[str]:
    """Undo what a killed run left behind (see the module doc); return a note per repair."""
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
    from dagster import DagsterRunStatus, RunsFilter

    stale = instance.get_runs(
        RunsFilter(
            job_name="nightly",
            statuses=[DagsterRunStatus.STARTING, DagsterRunStatus.STARTED],
            tags=RUN_TAG,
        )
    )
    for run in stale:
        # This process holds the run lock, so no other fiw run is executing these.
        instance.report_run_failed(
            run, message="fiw run: the process running this run was killed (found by a later run)"
        )
        notes.append(f"marked Dagster run {run.run_id} failed: the fiw run executing it died")
    # A killed run keeps its slot in the `warehouse` pool (limit 1) until something frees it, and
    # without the Dagster daemon nothing does: every later run would wait for it for ever.
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        for run_id in sorted(storage.get_concurrency_run_ids()):
            run = instance.get_run_by_id(run_id)
            if run is None or run.is_finished:
                storage.free_concurrency_slots_for_run(run_id)
                notes.append(f"freed the warehouse pool slot held by ended Dagster run {run_id}")
    targets = settings.home / "dbt_target"  # one folder per run; files there are caches: kept
    for folder in targets.iterdir() if targets.is_dir() else ():
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
    return notes


@dataclass
class RunOutcome:
    exit_code: int
    messages: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    statuses_before: dict[str, str] = field(default_factory=dict)
    statuses_after: dict[str, str] = field(default_factory=dict)
    run_ids: list[str] = field(default_factory=list)
    log_file: Path | None = None

    @property
    def changed(self) -> list[str]:
        return [
            sid
            for sid, status in self.statuses_after.items()
            if self.statuses_before.get(sid) != status
        ]


def _statuses(settings: Settings) -> dict[str, str]:
    with connect(settings) as con:
        return dict(con.execute("select snapshot_id, status from audit.snapshots").fetchall())


def _failure_message(result) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            error = event.step_failure_data.error
            user = event.step_failure_data.user_failure_data
            text = (user.description if user and user.description else None) or (
                error.message.strip() if error else "step failed"
            )
            return f"step {event.step_key} failed: {text}"
    return "the nightly job failed"


def run_nightly(settings: Settings, notify: Callable[[str], None] = print) -> RunOutcome:
    """Run the nightly job until the newest good snapshot is published (or nothing is left)."""
    prepare_environment(settings)
    wait_for_warehouse(settings, notify=notify)
    from dagster import DagsterInstance

    from fiw.definitions import defs

    instance = DagsterInstance.from_config(str(settings.dagster_home))
    job = defs.resolve_job_def("nightly")
    notes = recover_interrupted(settings, instance)
    outcome = RunOutcome(EXIT_OK, notes=notes, statuses_before=_statuses(settings))
    logs = settings.home / "logs"
    logs.mkdir(exist_ok=True)
    outcome.log_file = logs / f"run-{datetime.now():%Y%m%d-%H%M%S}.log"
    for _ in range(MAX_CANDIDATES_PER_RUN):
        # dbt's own log lines go to the run's log file; Dagster keeps the full event log.
        with outcome.log_file.open("a") as log, redirect_stdout(log):
            result = job.execute_in_process(
                instance=instance, raise_on_error=False, run_config=QUIET, tags=RUN_TAG
            )
        outcome.run_ids.append(result.run_id)
        with connect(settings) as con:
            remaining = snapshots.candidate(con)
        if not result.success:
            after = _statuses(settings)
            refused_now = [
                sid
                for sid, st in after.items()
                if st in snapshots.REFUSED and outcome.statuses_before.get(sid) != st
            ]
            if not refused_now:
                outcome.exit_code = EXIT_ERROR
                outcome.messages.append(_failure_message(result))
                break
        if remaining is None:
            break
    instance.dispose()
    outcome.statuses_after = _statuses(settings)
    with connect(settings) as con:
        for sid in outcome.changed:
            date, status, reason = con.execute(
                "select snapshot_date, status, reason from audit.snapshots where snapshot_id = ?",
                [sid],
            ).fetchone()
            if status in snapshots.REFUSED:
                outcome.messages.append(f"snapshot {date} {status}: {reason}")
                if outcome.exit_code == EXIT_OK:
                    outcome.exit_code = EXIT_REFUSED
    return outcome
