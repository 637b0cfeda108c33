"""When the nightly job runs: at 02:00 London time, and as soon as a new snapshot lands."""

import hashlib
from pathlib import Path

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    ScheduleDefinition,
    SensorEvaluationContext,
    SkipReason,
    define_asset_job,
    sensor,
)

from fiw.extract.discover import find_snapshot_folders
from fiw.resources import WarehouseResource

nightly_job = define_asset_job(
    "nightly",
    selection=AssetSelection.all(),
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
        for f in sorted(folder.iterdir()):
            digest.update(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}".encode())
    return digest.hexdigest()


@sensor(
    job=nightly_job,
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.STOPPED,
    description="Starts the nightly job when a complete snapshot folder appears or changes.",
)
def new_snapshot_sensor(context: SensorEvaluationContext, warehouse: WarehouseResource):
    settings = warehouse.settings
    if settings.exports_is_database:
        return SkipReason("exports come from a database: the schedule loads them")
    root = Path(settings.exports)
    if not root.is_dir():
        return SkipReason(f"exports folder {root} does not exist")
    signature = exports_signature(root)
    if signature == context.cursor:
        return SkipReason("no new or changed complete snapshot folder")
    context.update_cursor(signature)
    return RunRequest(run_key=signature)
