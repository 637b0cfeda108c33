"""A refused snapshot fails the Dagster run, with the reason in the failure message.

A step that refuses a snapshot (extract: rejected or over the quarantine threshold; dbt: a failed
test; validation: a failed error-severity expectation) adds the reason to the run's ``fiw/refused``
tag, which the Runs list shows, and the run fails: at once when nothing is left to publish, or at
the end, after a good snapshot of the same run has been published. The step also sends the
refusal's alert (:func:`alert_refusals`, ``FIW_ALERT_URLS``), whichever way the run was started.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
from dagster import AssetExecutionContext, Failure

from fiw import notify
from fiw.run import REFUSAL_MARK
from fiw.settings import Settings

REFUSED_TAG = "fiw/refused"
TAG_LIMIT = 4000  # characters of the tag kept; the full reasons are in audit.snapshots


def record_refusal(context: AssetExecutionContext, text: str) -> None:
    """Add one refusal (``snapshot <date> <status>: <reason>``) to the run's tag."""
    instance = context.instance
    run = instance.get_run_by_id(context.run_id)
    before = run.tags.get(REFUSED_TAG) if run else None
    joined = f"{before}\n{text}" if before else text
    instance.add_run_tags(context.run_id, {REFUSED_TAG: joined[:TAG_LIMIT]})


def alert_refusals(
    context: AssetExecutionContext,
    settings: Settings,
    snapshot_ids: Sequence[str | None],
    con: duckdb.DuckDBPyConnection | None = None,
) -> None:
    """The alert of each snapshot this step refused (once per snapshot; never fails the step)."""
    notify.alert_refused(settings, snapshot_ids, notify.RunRef.of(context.run), context.log, con)


def refusals(context: AssetExecutionContext) -> str | None:
    run = context.instance.get_run_by_id(context.run_id)
    return run.tags.get(REFUSED_TAG) if run else None


def refused_failure(context: AssetExecutionContext, lead: str = "") -> Failure:
    """The Failure that ends a run which refused a snapshot: every refusal of the run named. It
    is marked as a refusal, which has its own alert, not a failed run's (fiw.notify)."""
    text = refusals(context) or "a snapshot was refused"
    return Failure(description=f"{lead}{text}", allow_retries=False, metadata={REFUSAL_MARK: True})
