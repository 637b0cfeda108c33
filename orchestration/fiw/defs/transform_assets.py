"""Step 2: dbt builds staging, intermediate and marts for the candidate snapshot, tests included.

Every dbt model and seed is a Dagster asset and every dbt data test an asset check on it (source
tests included), so the asset graph shows which test failed on which table; every result is also
recorded in ``audit.dq_results`` (``fiw.quality.recording``). A failing dbt test refuses the
snapshot (``failed_validation``) and fails this step with the tests named; a model that errors
fails the run without blaming the data, so the next run tries the same snapshot again. The checks
cost about one second at 12k children (three events each in the instance's SQLite), measured on a
quiet machine: worth it for the on-call engineer who reads the Dagster UI.
"""

import contextlib
import os
import shutil
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, AssetKey, AssetObservation, Failure
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)

from fiw import snapshots
from fiw.defs.refusals import alert_refusals, record_refusal, refused_failure
from fiw.metering import peak_rss_metadata
from fiw.publish.catalog import prebuild as prebuild_catalog
from fiw.quality.page import build_page
from fiw.quality.recording import record_dbt_results
from fiw.resources import WarehouseResource, dbt_project
from fiw.run.guard import RunGuard
from fiw.warehouse import connect

# dbt's parse cache. dbt re-parses the whole project (seconds) unless the cache in the target
# folder matches the profile (which names this home's warehouse) and the --vars; each run gets a
# fresh target folder, so the home keeps the cache between runs. The snapshot id goes in the
# environment instead of --vars (macros/current_snapshot_id.sql), which leaves the cache valid.
PARTIAL_PARSE = "partial_parse.msgpack"
SNAPSHOT_ENV = "FIW_SNAPSHOT_ID"
# Unit tests check the SQL, not the data: the test suite runs them (tests/test_dbt_project.py);
# nightly they would only add seconds.
BUILD_ARGS = ["build", "--exclude-resource-type", "unit_test"]


def _prewarm_great_expectations() -> None:
    """Import Great Expectations (4-5 s) in the background while dbt runs in its subprocess, so
    the validation step that follows finds it loaded. Best effort: errors surface there."""

    def target() -> None:
        with contextlib.suppress(Exception):  # validation imports it again and reports
            import great_expectations  # noqa: F401

    threading.Thread(target=target, name="fiw-prewarm-gx", daemon=True).start()


def _restore_parse_cache(cache: Path, target: Path) -> None:
    if cache.exists():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cache, target / PARTIAL_PARSE)


def _keep_parse_cache(target: Path, cache: Path) -> None:
    fresh = target / PARTIAL_PARSE
    if fresh.exists():
        tmp = cache.with_suffix(".tmp")
        shutil.copyfile(fresh, tmp)
        os.replace(tmp, cache)


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
def dbt_models(
    context: AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    run_guard: RunGuard,
):
    settings = warehouse.settings
    with connect(settings) as con:
        candidate = snapshots.candidate(con)
    if candidate is None:
        context.log.info("No new snapshot to build: the publication is up to date.")
        return
    context.log.info(f"Building snapshot {candidate.snapshot_date} ({candidate.snapshot_id[:12]})")
    targets = settings.home / "dbt_target"
    target = targets / context.run_id
    cache = targets / PARTIAL_PARSE
    _restore_parse_cache(cache, target)
    previous = os.environ.get(SNAPSHOT_ENV)
    os.environ[SNAPSHOT_ENV] = candidate.snapshot_id
    try:  # dbt.cli starts the subprocess with a copy of this environment
        invocation = dbt.cli(BUILD_ARGS, context=context, raise_on_error=False, target_path=target)
    finally:
        if previous is None:
            os.environ.pop(SNAPSHOT_ENV, None)
        else:
            os.environ[SNAPSHOT_ENV] = previous
    _prewarm_great_expectations()
    prebuild_catalog()  # the analysts' catalogue page, once per dbt project: beside dbt's build
    yield from invocation.stream()
    _keep_parse_cache(target, cache)
    yield AssetObservation(
        asset_key=AssetKey(["marts", "outcome_metrics"]), metadata=peak_rss_metadata()
    )
    run_results = invocation.get_artifact("run_results.json")
    shutil.rmtree(target, ignore_errors=True)
    with connect(settings) as con:
        outcome = record_dbt_results(con, candidate, context.run_id, run_results)
        if outcome.failed_tests:
            build_page(con, settings.data_docs_dir)
    if outcome.failed_tests:
        status = snapshots.FAILED_VALIDATION
        record_refusal(context, f"snapshot {candidate.snapshot_date} {status}: {outcome.summary()}")
        alert_refusals(context, settings, [candidate.snapshot_id])
        raise refused_failure(context)
    if outcome.errors:
        raise Failure(description=outcome.summary(), allow_retries=True)
