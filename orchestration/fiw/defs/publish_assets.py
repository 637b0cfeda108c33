"""Step 4: publish the validated snapshot to ``published.duckdb`` (suppressed, atomic swap)."""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, asset

from fiw import snapshots
from fiw.defs.quality_assets import VALIDATED_KEY
from fiw.defs.refusals import refusals, refused_failure
from fiw.extract import prune_after_publication
from fiw.metering import peak_rss_metadata
from fiw.publish import publish
from fiw.quality.page import build_page
from fiw.resources import WarehouseResource
from fiw.run.guard import RunGuard
from fiw.warehouse import connect


@asset(
    key=AssetKey(["published", "database"]),
    deps=[VALIDATED_KEY],
    group_name="publish",
    pool="warehouse",
)
def published_database(
    context: AssetExecutionContext, warehouse: WarehouseResource, run_guard: RunGuard
):
    """What analysts read: ``published.duckdb``, replaced only by a snapshot that passed."""
    settings = warehouse.settings
    with connect(settings) as con:
        validated = snapshots.candidate(con, status=snapshots.VALIDATED)
        if validated is None:
            raise RuntimeError("no validated snapshot to publish")
        path = publish(settings, con, validated.snapshot_id, context.run_id)
        pruned = prune_after_publication(con, settings.retention_days)
        build_page(con, settings.data_docs_dir)  # tonight's status: published
    context.log.info(f"Published snapshot {validated.snapshot_date} to {path}")
    yield MaterializeResult(
        metadata={
            "snapshot_date": str(validated.snapshot_date),
            "path": str(path),
            "raw_rows_pruned": sum(pruned.values()),
            **peak_rss_metadata(),
        }
    )
    if refusals(context):  # an older snapshot of this run was refused: the run fails, and says so
        raise refused_failure(context, f"published snapshot {validated.snapshot_date}, but ")
