"""Step 1: load every new snapshot from the exports into ``raw.<object>`` (with quarantine)."""

from dagster import AssetExecutionContext, AssetKey, AssetSpec, MaterializeResult, multi_asset

from fiw import snapshots
from fiw.contract import OBJECTS
from fiw.defs.refusals import alert_refusals, record_refusal, refused_failure
from fiw.extract import load_new_snapshots
from fiw.metering import peak_rss_metadata
from fiw.quality.page import build_page
from fiw.resources import WarehouseResource
from fiw.run.guard import RunGuard
from fiw.warehouse import connect, write_hash_key

RAW_KEYS = [AssetKey(["raw", name]) for name in OBJECTS]
AUDIT_KEYS = [AssetKey(["audit", "snapshots"]), AssetKey(["audit", "hash_key"])]


@multi_asset(
    specs=[
        *[
            AssetSpec(key, description=f"Every loaded snapshot of the SSD object {key.path[-1]}.")
            for key in RAW_KEYS
        ],
        AssetSpec(AUDIT_KEYS[0], description="Every snapshot seen: loaded, rejected and why."),
        AssetSpec(AUDIT_KEYS[1], description="HMAC pads of the pseudonymisation key."),
    ],
    group_name="extract",
    pool="warehouse",
)
def raw_snapshots(
    context: AssetExecutionContext, warehouse: WarehouseResource, run_guard: RunGuard
):
    """Find complete snapshot folders (or read the SSD database), check the contract, quarantine
    bad rows and append good and bad rows to the raw layer, logging every snapshot."""
    settings = warehouse.settings
    with connect(settings) as con:
        report = load_new_snapshots(settings, con)
        write_hash_key(con, settings)
        pending = snapshots.candidate(con)
        build_page(con, settings.data_docs_dir)  # a refusal at load shows there at once
    context.log.info(report.summary())
    for refused in report.refused:
        record_refusal(context, f"snapshot {refused.name} {refused.status}: {refused.reason}")
    alert_refusals(context, settings, [refused.snapshot_id for refused in report.refused])
    loaded = report.newly_loaded
    for key in RAW_KEYS:
        counts = [o.objects[key.path[-1]] for o in loaded if key.path[-1] in o.objects]
        yield MaterializeResult(
            asset_key=key,
            metadata={
                "snapshots_loaded": len(counts),
                "rows_loaded": sum(c.rows for c in counts),
                "rows_quarantined": sum(c.rows_quarantined for c in counts),
            },
        )
    yield MaterializeResult(
        asset_key=AUDIT_KEYS[0],
        metadata={
            "snapshots_seen": len(report.outcomes),
            "snapshots_loaded": len(loaded),
            "refused": len(report.refused),
            **peak_rss_metadata(),
        },
    )
    yield MaterializeResult(asset_key=AUDIT_KEYS[1])
    if report.refused and pending is None:
        raise refused_failure(context)  # nothing left to build: the run ends refused here
