"""Step 2: dbt builds staging, intermediate and marts for the candidate snapshot, tests included.

Every dbt model and seed is a Dagster asset and every dbt test an asset check. A failing dbt test
refuses the snapshot (``failed_validation``); a model that errors fails the run without blaming
the data, so the next run tries the same snapshot again.
"""

import json
import shutil
from collections.abc import Mapping
from typing import Any

from dagster import AssetExecutionContext, AssetKey, AssetObservation, Failure
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)

from fiw import snapshots
from fiw.dbt_results import record_dbt_results
from fiw.metering import peak_rss_metadata
from fiw.resources import WarehouseResource, dbt_project
from fiw.warehouse import connect


class FiwDbtTranslator(DagsterDbtTranslator):
    """Asset keys are ``<schema>/<name>`` (sources ``<source>/<table>``) and groups the layer."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        return AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "reference"
        return dbt_resource_props["schema"]


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=FiwDbtTranslator(
        settings=DagsterDbtTranslatorSettings(enable_source_tests_as_checks=True)
    ),
    pool="warehouse",
)
def dbt_models(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    settings = warehouse.settings
    with connect(settings) as con:
        candidate = snapshots.candidate(con)
    if candidate is None:
        context.log.info("No new snapshot to build: the publication is up to date.")
        return
    context.log.info(f"Building snapshot {candidate.snapshot_date} ({candidate.snapshot_id[:12]})")
    target = settings.home / "dbt_target" / context.run_id
    invocation = dbt.cli(
        ["build", "--vars", json.dumps({"snapshot_id": candidate.snapshot_id})],
        context=context,
        raise_on_error=False,
        target_path=target,
    )
    yield from invocation.stream()
    yield AssetObservation(
        asset_key=AssetKey(["marts", "outcome_metrics"]), metadata=peak_rss_metadata()
    )
    run_results = invocation.get_artifact("run_results.json")
    shutil.rmtree(target, ignore_errors=True)
    with connect(settings) as con:
        outcome = record_dbt_results(con, candidate, context.run_id, run_results)
    if outcome.failed_tests:
        raise Failure(
            description=outcome.summary(),
            metadata={"snapshot_date": str(candidate.snapshot_date)},
        )
    if outcome.errors:
        raise Failure(description=outcome.summary(), allow_retries=True)
