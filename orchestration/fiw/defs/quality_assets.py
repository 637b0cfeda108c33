"""Step 3: the Great Expectations suites of ``expectations/`` check the tables they test, and
``validated_snapshot`` is the gate before publication.

``quality_checks`` runs every suite once, after dbt's build, and reports one Dagster asset check
per suite and table on the asset that table is (``raw/ssd_person``, ``marts/outcome_metrics``...):
``passed=False`` whenever an expectation failed, severity ERROR when one of them blocks
publication, WARN when only warnings failed, with the failures, counts and non-personal values in
the metadata. Every result is recorded in ``audit.dq_results`` and the data-quality page
(``data_docs/index.html``) is rebuilt.

The checks on the marts are blocking, so ``validated_snapshot`` (downstream of them) does not run
after an error. The checks on the raw objects are not marked blocking: dbt has read those tables
before the suites run (one validation pass after the build, see docs/design.md), so Dagster could
not hold anything back with them; their errors stop publication through the same gate, because
an error anywhere refuses the snapshot (``failed_validation``) and fails this step, and the gate
publishes only a snapshot whose status is ``validated``.
"""

from collections import defaultdict

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    asset,
    multi_asset_check,
)

from fiw import notify, snapshots
from fiw.defs.refusals import alert_refusals, record_refusal, refused_failure
from fiw.metering import peak_rss_metadata
from fiw.quality.suites import DISCLOSURE_SUITE, RELEASED_TABLES, load_suite, suite_paths
from fiw.resources import WarehouseResource
from fiw.run.guard import RunGuard
from fiw.warehouse import connect

VALIDATED_KEY = AssetKey(["audit", "validated_snapshot"])
GATED_KEY = AssetKey(["marts", "outcome_metrics_suppressed"])
# Tables that are not assets of their own: the load's per-object counts belong to audit/snapshots.
TABLE_ASSETS = {"audit.snapshot_objects": AssetKey(["audit", "snapshots"])}


def asset_of(table: str) -> AssetKey:
    """The Dagster asset a suite's table is (``<schema>.<name>`` -> ``<schema>/<name>``)."""
    return TABLE_ASSETS.get(table) or AssetKey(table.split("."))


def _check_targets() -> dict[tuple[str, AssetKey], str]:
    """(suite, asset) -> description, for every table every suite tests (read at definition
    time from the suite files: no Great Expectations import)."""
    targets: dict[tuple[str, AssetKey], str] = {}
    for path in suite_paths():
        suite = load_suite(path)
        for table in suite.tables:
            names = ", ".join(s.name for s in table.expectations)
            targets.setdefault((suite.name, asset_of(table.table)), "")
            targets[(suite.name, asset_of(table.table))] += f"{table.table}: {names}. "
    for table in RELEASED_TABLES:
        targets[(DISCLOSURE_SUITE, asset_of(table))] = (
            "No suppressed count of the release can be worked out from the published ones "
            "(docs/audiences.md)."
        )
    return targets


CHECK_TARGETS = _check_targets()
CHECK_SPECS = [
    AssetCheckSpec(
        suite,
        asset=key,
        description=f"suite {suite}: {text.strip()}"[:1000],
        blocking=key.path[0] == "marts",
    )
    for (suite, key), text in CHECK_TARGETS.items()
]


@multi_asset_check(specs=CHECK_SPECS, name="quality_checks", pool="warehouse")
def quality_checks(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource, run_guard: RunGuard
):
    """Run the suites on the candidate snapshot, record and report every result, refuse the
    snapshot on an error-severity failure."""
    from fiw.quality.execution import run_suites  # imports Great Expectations: slow, so only here
    from fiw.quality.page import build_page

    op = context.op_execution_context
    settings = warehouse.settings
    with connect(settings) as con:
        candidate = snapshots.candidate(con)
        if candidate is None:
            raise RuntimeError("no loaded snapshot to validate")
        report = run_suites(settings, con, candidate.snapshot_id, op.run_id)
        if report.blocking_failures:
            reason = report.summary(examples=False)[:2000]
            snapshots.set_status(con, candidate.snapshot_id, snapshots.FAILED_VALIDATION, reason)
            record_refusal(
                op, f"snapshot {candidate.snapshot_date} {snapshots.FAILED_VALIDATION}: {reason}"
            )
            alert_refusals(op, settings, [candidate.snapshot_id], con)
        else:
            snapshots.set_status(con, candidate.snapshot_id, snapshots.VALIDATED)
        # Warning-severity checks failing for the first time (this run's GX and dbt results).
        notify.alert_new_warnings(
            settings, con, candidate.snapshot_id, notify.RunRef.of(op.run), context.log
        )
        build_page(con, settings.data_docs_dir)
    context.log.info(report.summary(examples=False))
    grouped = defaultdict(list)
    for r in report.results:
        grouped[(r.suite, asset_of(r.table_name))].append(r)
    for (suite, key), results in grouped.items():
        failed = [r for r in results if not r.success]
        blocking = [r for r in failed if r.severity == "error"]
        yield AssetCheckResult(
            check_name=suite,
            asset_key=key,
            passed=not failed,
            severity=AssetCheckSeverity.ERROR if blocking else AssetCheckSeverity.WARN,
            metadata={
                "snapshot_date": str(candidate.snapshot_date),
                "expectations": len(results),
                "failed_errors": len(blocking),
                "failed_warnings": len(failed) - len(blocking),
                "unexpected_rows": sum(r.unexpected_count or 0 for r in failed),
                # Non-personal values only: the Dagster instance is read by more people than
                # the warehouse (examples=False keeps case-system ids out).
                "failures": "\n".join(r.describe(examples=False) for r in failed)[:4000] or "none",
                "data_docs": str(settings.data_docs_dir / "index.html"),
            },
        )
    if report.blocking_failures:  # nothing downstream runs, and the run fails refused
        raise refused_failure(op)


@asset(key=VALIDATED_KEY, deps=[GATED_KEY], group_name="quality", pool="warehouse")
def validated_snapshot(
    context: AssetExecutionContext, warehouse: WarehouseResource, run_guard: RunGuard
):
    """The gate before publication: the candidate snapshot, once every error-severity check (dbt's
    tests and the suites) has passed on it."""
    with connect(warehouse.settings) as con:
        validated = snapshots.candidate(con, status=snapshots.VALIDATED)
    if validated is None:  # the checks did not pass or did not run: never publish unchecked data
        raise RuntimeError("no snapshot has passed its checks: nothing to publish")
    return MaterializeResult(
        metadata={"snapshot_date": str(validated.snapshot_date), **peak_rss_metadata()}
    )
