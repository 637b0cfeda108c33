"""Step 1: load every new snapshot from the exports into ``raw.<object>`` (with quarantine)."""

from __future__ import annotations

from dagster import AssetExecutionContext, AssetKey, AssetSpec, MaterializeResult, multi_asset

from fiw.contract import OBJECTS
from fiw.extract import load_new_snapshots, prune_raw
from fiw.resources import WarehouseResource
from fiw.snapshots import LOADED, published
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
def raw_snapshots(context: AssetExecutionContext, warehouse: WarehouseResource):
    """Find complete snapshot folders (or read the SSD database), check the contract, quarantine
    bad rows and append good and bad rows to the raw layer, logging every snapshot."""
    settings = warehouse.settings
    with connect(settings) as con:
        report = load_new_snapshots(settings, con)
        write_hash_key(con, settings)
        current = published(con)
        pruned = prune_raw(
            con, settings.retention_days, keep_snapshot_ids=[current.snapshot_id] if current else []
        )
    for outcome in report.outcomes:
        context.log.info(outcome.summary())
    loaded = [o for o in report.outcomes if o.newly_loaded and o.status == LOADED]
    for key in RAW_KEYS:
        name = key.path[-1]
        yield MaterializeResult(
            asset_key=key,
            metadata={
                "snapshots_loaded": len(loaded),
                "rows_loaded": sum(o.rows(name) for o in loaded),
                "rows_quarantined": sum(o.rows_quarantined(name) for o in loaded),
            },
        )
    yield MaterializeResult(
        asset_key=AUDIT_KEYS[0],
        metadata={
            "snapshots_seen": len(report.outcomes),
            "refused": sum(o.refused for o in report.outcomes),
            "raw_snapshots_pruned": pruned,
        },
    )
    yield MaterializeResult(asset_key=AUDIT_KEYS[1])
