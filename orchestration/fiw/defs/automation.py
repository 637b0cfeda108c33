"""When the nightly job runs, whoever launches it: at 02:00 London time, as soon as a new snapshot
lands, and again while a loaded snapshot newer than the publication waits (the loop over
snapshots); plus the sensor that fails runs whose process died, so the run queue moves on, and
the alerts only the daemon can send (``FIW_ALERT_URLS``, fiw.notify): a failed run it launched,
and a publication gone stale.

The job runs its steps in one process (``in_process_executor``): its run guard (``fiw.run.guard``)
holds the run lock from the first step to the last, and a run costs one start-up, not four.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import duckdb
from dagster import (
    AssetSelection,
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    SensorEvaluationContext,
    SkipReason,
    define_asset_job,
    in_process_executor,
    run_failure_sensor,
    sensor,
)

from fiw import notify, snapshots
from fiw.extract.discover import find_snapshot_folders
from fiw.resources import WarehouseResource
from fiw.run.recovery import JOB_NAME, fail_dead_runs

# Seconds between two looks at the exports folder (the daemon's tick); tests set it low.
SENSOR_SECONDS = int(os.environ.get("FIW_SENSOR_SECONDS", "60"))
# Seconds between two looks at the age of the publication (FIW_STALE_HOURS counts in hours).
STALE_SENSOR_SECONDS = 600
ACTIVE = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]

nightly_job = define_asset_job(
    JOB_NAME,
    selection=AssetSelection.all(),
    executor_def=in_process_executor,
    description="Load new snapshots, build the marts, validate, publish the newest that passed.",
)

nightly_schedule = ScheduleDefinition(
    name="nightly_0200",
    job=nightly_job,
    cron_schedule="0 2 * * *",
    execution_timezone="Europe/London",
    default_status=DefaultScheduleStatus.RUNNING,
)


def exports_signature(root: Path) -> str:
    """A fingerprint of the complete snapshot folders under ``root`` (names and file sizes)."""
    digest = hashlib.sha256()
    found, _ = find_snapshot_folders(root)
    for _, folder in found:
        digest.update(folder.name.encode())
        try:  # an unreadable folder or file still starts a run: the extract step rejects it
            entries = [(f.name, f.stat()) for f in sorted(folder.iterdir())]
        except OSError as exc:
            digest.update(f"unreadable:{exc.errno}".encode())
            continue
        for name, stat in entries:
            digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def _pending_candidate(warehouse_path: Path) -> str | None:
    """The id of a loaded snapshot newer than the publication, read without waiting: None when
    there is none or the warehouse is busy (a run or a reader holds it)."""
    if not warehouse_path.exists():
        return None
    try:
        con = duckdb.connect(str(warehouse_path), read_only=True)
    except duckdb.Error:
        return None
    try:
        found = snapshots.candidate(con)
    except duckdb.Error:
        return None
    finally:
        con.close()
    return found.snapshot_id if found else None


@sensor(
    job=nightly_job,
    minimum_interval_seconds=SENSOR_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="Starts the nightly job when a complete snapshot folder appears or changes, and "
    "again while a loaded snapshot newer than the publication is waiting.",
)
def new_snapshot_sensor(context: SensorEvaluationContext, warehouse: WarehouseResource):
    active = context.instance.get_runs(RunsFilter(job_name=JOB_NAME, statuses=ACTIVE), limit=1)
    if active:
        return SkipReason(f"run {active[0].run_id} is queued or running")
    settings = warehouse.settings
    if not settings.exports_is_database:
        root = Path(settings.exports)
        if not root.is_dir():
            return SkipReason(f"exports folder {root} does not exist")
        signature = exports_signature(root)
        if signature != context.cursor:
            context.update_cursor(signature)
            return RunRequest(run_key=signature)
    pending = _pending_candidate(settings.warehouse_path)
    if pending is not None:  # one run per waiting snapshot: an erroring one is not retried for ever
        return RunRequest(run_key=f"candidate-{pending}")
    return SkipReason("no new or changed snapshot folder, and none waiting to be published")


@sensor(
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Fails nightly runs whose process died (SIGKILL, out of memory, power loss), so "
    "the run queue moves on; the next run repairs the rest.",
)
def interrupted_runs_sensor(context: SensorEvaluationContext, warehouse: WarehouseResource):
    notes = fail_dead_runs(
        context.instance,
        # Its alert, once, whoever notices first (a `fiw run` killed is not the failure sensor's).
        on_failed=lambda run_id: notify.alert_run_failure(
            warehouse.settings, context.instance, run_id, context.log
        ),
    )
    for note in notes:
        context.log.warning(note)
    return SkipReason("; ".join(notes) if notes else "no interrupted run")


@run_failure_sensor(
    name="run_failure_alerts",
    monitored_jobs=[nightly_job],
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Alerts (FIW_ALERT_URLS) when a nightly run the daemon launched fails: a step "
    "error, a run that could not start or whose process died; not a refused snapshot, which its "
    "step alerts. `fiw run` alerts its own runs; the run's fiw/alerted tag says it was sent.",
)
def run_failure_alerts(context: RunFailureSensorContext, warehouse: WarehouseResource):
    notify.alert_run_failure(
        warehouse.settings, context.instance, context.dagster_run.run_id, context.log
    )


@sensor(
    minimum_interval_seconds=STALE_SENSOR_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="Alerts (FIW_ALERT_URLS) once when no snapshot has been published for more than "
    "FIW_STALE_HOURS, and once again each time a new publication goes stale.",
)
def stale_publication_alerts(context: SensorEvaluationContext, warehouse: WarehouseResource):
    return SkipReason(notify.alert_if_stale(warehouse.settings, context.log))
