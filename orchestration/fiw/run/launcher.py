"""``fiw run``: a thin launcher of the nightly Dagster job, for cron or a terminal.

It executes the same job the daemon, the schedule, the sensor and the UI launch, in this process,
against the Dagster instance in the home folder, so the run, its events and its failure reason are
in the same Runs list. The job's own guard takes the run lock and repairs interrupted runs
(``guard``, ``recovery``); this launcher adds what only a command needs:

- the loop over snapshots: the job builds one candidate per run (the newest loaded snapshot not
  older than the publication); when that one is refused, the next newest gets its turn in another
  run, so the newest *good* snapshot becomes the publication (the daemon's sensor does the same);
- progress on the screen, and the run's full log (Dagster's events, dbt's output, any traceback)
  in ``<home>/logs/run-<time>.log``;
- the exit code of interface.md: 0, 2 when a snapshot was refused, 1 on any other error;
- the alerts only it can send without a daemon (``FIW_ALERT_URLS``, fiw.notify): a run of its own
  that failed (not a refusal: its step alerts that), and a publication gone stale.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from fiw import notify, snapshots
from fiw.errors import EXIT_ERROR, EXIT_OK, EXIT_REFUSED
from fiw.run import LAUNCHED_BY_CLI, LOG_FILE_TAG, WAITING
from fiw.run.lock import RunInProgress, lock_holder
from fiw.run.progress import STEP_NAMES
from fiw.run.recovery import wait_for_warehouse
from fiw.settings import Settings
from fiw.warehouse import connect

MAX_CANDIDATES_PER_RUN = 10
# Dagster's events go to the run's log file at INFO; the screen shows fiw's own progress.
RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
INSTANCE_YAML = Path(__file__).resolve().parents[3] / "deploy" / "dagster.yaml"


def prepare_environment(settings: Settings) -> None:
    """Point Dagster, dbt and the definitions at this home folder and these exports, and give the
    home's Dagster instance the deployment's configuration (run queue, concurrency, retention)."""
    settings.ensure_home()
    settings.dagster_home.mkdir(exist_ok=True)
    instance_yaml = settings.dagster_home / "dagster.yaml"
    wanted = INSTANCE_YAML.read_text()
    if not instance_yaml.exists() or instance_yaml.read_text() != wanted:
        tmp = instance_yaml.with_suffix(".tmp")
        tmp.write_text(wanted)
        os.replace(tmp, instance_yaml)
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    os.environ["FIW_HOME"] = str(settings.home)
    os.environ["FIW_EXPORTS"] = settings.exports
    os.environ["FIW_WAREHOUSE_PATH"] = str(settings.warehouse_path)
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


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


def _root_cause(error) -> str:
    """The innermost error's message, without Dagster's wrappers: ``FiwError: <cause>``."""
    while error.cause is not None:
        error = error.cause
    return error.message.strip().splitlines()[0] if error.message.strip() else error.cls_name


def _failure_message(result) -> str:
    from dagster import DagsterEventType

    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            error = event.step_failure_data.error
            user = event.step_failure_data.user_failure_data
            text = (user.description if user and user.description else None) or (
                _root_cause(error) if error else "step failed"
            )
            step = STEP_NAMES.get(event.step_key, event.step_key)
            return f"step {step} failed: {text}"
        if event.event_type == DagsterEventType.RESOURCE_INIT_FAILURE:
            error = event.event_specific_data.error
            return _root_cause(error) if error else "the run could not start"
    return "the nightly job failed"


def _resource_failure(result) -> RunInProgress | None:
    """The run lock or the warehouse was taken when the run started: the guard's own words."""
    from dagster import DagsterEventType

    for event in result.all_events:
        if event.event_type == DagsterEventType.RESOURCE_INIT_FAILURE:
            error = event.event_specific_data.error
            text = error.message if error else ""
            if "holds" in text or "is held by another process" in text:
                cause = text.split(": ", 1)[-1].strip()
                return RunInProgress(cause)
    return None


def _alert(log_file: Path, send, *args) -> None:
    """Send an alert with anything it logs (an undelivered notification) in the run's log."""
    with log_file.open("a") as log, redirect_stdout(log), redirect_stderr(log):
        send(*args)


def run_nightly(settings: Settings, console: Console) -> RunOutcome:
    """Run the nightly job until the newest good snapshot is published (or nothing is left)."""
    holder = lock_holder(settings) if settings.lock_file.exists() else None
    if holder:
        raise RunInProgress(
            f"another fiw run holds {settings.lock_file} ({holder}); this run was refused.",
            "It will be free when that run ends: run again then.",
        )
    started = time.monotonic()
    # A dbt left running by a killed run holds the warehouse: say so at once, and wait for it
    # before loading anything (the run's guard waits too, for runs the daemon launches).
    wait_for_warehouse(
        settings, notify=lambda t: console.print(f"[yellow]{escape(WAITING + t)}[/]")
    )
    prepare_environment(settings)
    logs = settings.home / "logs"
    logs.mkdir(exist_ok=True)
    log_file = logs / f"run-{datetime.now():%Y%m%d-%H%M%S}.log"
    screen = Console(file=sys.stdout, width=console.width if console.is_terminal else None)
    from dagster import DagsterInstance
    from dagster._core.utils import make_new_run_id

    from fiw.definitions import defs
    from fiw.defs.transform_assets import dbt_models
    from fiw.run.progress import RunProgress

    instance = DagsterInstance.from_config(str(settings.dagster_home))
    job = defs.resolve_job_def("nightly")
    outcome = RunOutcome(EXIT_OK, statuses_before=_statuses(settings), log_file=log_file)
    try:
        for attempt in range(MAX_CANDIDATES_PER_RUN):
            run_id = make_new_run_id()
            label = f"[dim]run {attempt + 1}[/] " if attempt else ""
            with (
                RunProgress(screen, instance, run_id, dbt_models.keys, started, label),
                log_file.open("a") as log,
                redirect_stdout(log),
                redirect_stderr(log),
            ):
                result = job.execute_in_process(
                    instance=instance,
                    raise_on_error=False,
                    run_config=RUN_CONFIG,
                    tags={**LAUNCHED_BY_CLI, LOG_FILE_TAG: str(log_file)},
                    run_id=run_id,
                )
            outcome.run_ids.append(result.run_id)
            if not result.success and settings.alert_urls:  # once: the run's fiw/alerted tag
                _alert(log_file, notify.alert_run_failure, settings, instance, run_id)
            if not result.success:
                busy = _resource_failure(result)
                if busy is not None:
                    raise busy
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
    finally:
        instance.dispose()
    if settings.alert_urls:  # without a daemon, this is where staleness is noticed
        _alert(log_file, notify.alert_if_stale, settings)
    outcome.statuses_after = _statuses(settings)
    with connect(settings) as con:
        for sid in outcome.changed:
            day, status, reason = con.execute(
                "select snapshot_date, status, reason from audit.snapshots where snapshot_id = ?",
                [sid],
            ).fetchone()
            if status in snapshots.REFUSED:
                outcome.messages.append(f"snapshot {day} {status}: {reason}")
                if outcome.exit_code == EXIT_OK:
                    outcome.exit_code = EXIT_REFUSED
    return outcome
