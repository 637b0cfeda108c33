"""The one Dagster ``Definitions`` of fiw: the nightly path, export folder to published table.

raw_snapshots (extract) -> dbt models (staging, intermediate, marts; dbt tests as checks)
  -> quality_checks (the Great Expectations suites, as checks on the raw objects and the marts)
  -> validated_snapshot (the gate) -> published_database
"""

from __future__ import annotations

from dagster import Definitions, in_process_executor

from fiw.defs.automation import (
    interrupted_runs_sensor,
    new_snapshot_sensor,
    nightly_job,
    nightly_schedule,
    run_failure_alerts,
    stale_publication_alerts,
)
from fiw.defs.extract_assets import raw_snapshots
from fiw.defs.publish_assets import published_database
from fiw.defs.quality_assets import quality_checks, validated_snapshot
from fiw.defs.transform_assets import dbt_models
from fiw.resources import build_resources

defs = Definitions(
    assets=[raw_snapshots, dbt_models, validated_snapshot, published_database],
    asset_checks=[quality_checks],
    jobs=[nightly_job],
    schedules=[nightly_schedule],
    sensors=[
        new_snapshot_sensor,
        interrupted_runs_sensor,
        run_failure_alerts,
        stale_publication_alerts,
    ],
    executor=in_process_executor,  # ad-hoc runs from the UI hold the run guard the same way
    resources=build_resources(),
)
