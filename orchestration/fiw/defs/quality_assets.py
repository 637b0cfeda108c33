"""Step 3: the Great Expectations suites of ``expectations/`` gate the candidate snapshot.

``validated_snapshot`` runs every suite against the warehouse and reports one blocking asset check
per suite: a failed error-severity expectation fails its check, which stops publication, and the
snapshot is refused (``failed_validation``) with the expectation, table, rows and examples named.
"""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    asset,
)

from fiw import notify, snapshots
from fiw.defs.refusals import alert_refusals, record_refusal, refused_failure
from fiw.metering import peak_rss_metadata
from fiw.quality import suite_names
from fiw.resources import WarehouseResource
from fiw.run.guard import RunGuard
from fiw.warehouse import connect

VALIDATED_KEY = AssetKey(["audit", "validated_snapshot"])
SUITES = suite_names()


@asset(
    key=VALIDATED_KEY,
    deps=[AssetKey(["marts", "outcome_metrics_suppressed"])],
    group_name="quality",
    pool="warehouse",
    check_specs=[
        AssetCheckSpec(name, asset=VALIDATED_KEY, blocking=True, description=f"suite {name}")
        for name in SUITES
    ],
)
def validated_snapshot(
    context: AssetExecutionContext, warehouse: WarehouseResource, run_guard: RunGuard
):
    """The candidate snapshot, once every error-severity expectation has passed."""
    from fiw.quality import run_suites  # imports Great Expectations: slow, so only here

    settings = warehouse.settings
    with connect(settings) as con:
        candidate = snapshots.candidate(con)
        if candidate is None:
            raise RuntimeError("no loaded snapshot to validate")
        report = run_suites(settings, con, candidate.snapshot_id, context.run_id)
        if report.blocking_failures:
            reason = report.summary(examples=False)[:2000]
            snapshots.set_status(con, candidate.snapshot_id, snapshots.FAILED_VALIDATION, reason)
            record_refusal(
                context,
                f"snapshot {candidate.snapshot_date} {snapshots.FAILED_VALIDATION}: {reason}",
            )
            alert_refusals(context, settings, [candidate.snapshot_id], con)
        else:
            snapshots.set_status(con, candidate.snapshot_id, snapshots.VALIDATED)
        # Warning-severity checks failing for the first time (this run's GX and dbt results).
        notify.alert_new_warnings(
            settings, con, candidate.snapshot_id, notify.RunRef.of(context.run), context.log
        )
    context.log.info(report.summary())
    if not report.blocking_failures:
        yield MaterializeResult(
            metadata={
                "snapshot_date": str(candidate.snapshot_date),
                "data_docs": str(settings.data_docs_dir / "index.html"),
                **peak_rss_metadata(),
            }
        )
    for name in SUITES:
        failed = [r for r in report.results if r.suite == name and not r.success]
        blocking = [r for r in failed if r.severity == "error"]
        yield AssetCheckResult(
            check_name=name,
            asset_key=VALIDATED_KEY,
            passed=not blocking,
            severity=AssetCheckSeverity.ERROR if blocking else AssetCheckSeverity.WARN,
            metadata={
                "failed_expectations": len(failed),
                "blocking": len(blocking),
                "failures": "\n".join(r.describe() for r in failed)[:4000] or "none",
            },
        )
    if report.blocking_failures:  # the gate holds: nothing downstream runs, and the run fails
        raise refused_failure(context)
