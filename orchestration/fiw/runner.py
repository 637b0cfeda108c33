"""``fiw run``: the nightly job, in process, against the Dagster instance in the home folder.

One run at a time (a lock in the home folder that the operating system releases if the process
dies). The job loads every new snapshot and builds, validates and publishes the newest one; if that
one is refused, the next newest loaded snapshot gets its turn, so the newest *good* snapshot
becomes the publication.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from fiw import snapshots
from fiw.settings import DBT_PROJECT_DIR, Settings, dbt_executable
from fiw.warehouse import connect

EXIT_OK, EXIT_ERROR, EXIT_REFUSED = 0, 1, 2
MAX_CANDIDATES_PER_RUN = 10
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

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


@dataclass
class RunOutcome:
    exit_code: int
    messages: list[str] = field(default_factory=list)
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


def run_nightly(settings: Settings) -> RunOutcome:
    """Run the nightly job until the newest good snapshot is published (or nothing is left)."""
    prepare_environment(settings)
    from dagster import DagsterInstance

    from fiw.definitions import defs

    instance = DagsterInstance.from_config(str(settings.dagster_home))
    job = defs.resolve_job_def("nightly")
    outcome = RunOutcome(EXIT_OK, statuses_before=_statuses(settings))
    logs = settings.home / "logs"
    logs.mkdir(exist_ok=True)
    outcome.log_file = logs / f"run-{datetime.now():%Y%m%d-%H%M%S}.log"
    for _ in range(MAX_CANDIDATES_PER_RUN):
        # dbt's own log lines go to the run's log file; Dagster keeps the full event log.
        with outcome.log_file.open("a") as log, redirect_stdout(log):
            result = job.execute_in_process(
                instance=instance, raise_on_error=False, run_config=QUIET
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
