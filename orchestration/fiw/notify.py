"""Alerts (docs/interface.md, "Alerts"): one message to each URL of ``FIW_ALERT_URLS`` when a
snapshot is refused, when a warning-severity check fails for the first time, when a run fails and
when nothing has been published for more than ``FIW_STALE_HOURS``, whichever way the run was
started (``fiw run``, the schedule, the sensor, the UI).

Who sends what, and how it is sent only once:

- a snapshot refused: the step that refuses it (extract, dbt, validation); recorded in
  ``audit.alerts`` (kind ``refused``), by snapshot;
- a warning-severity check failing for the first time: the validation step (its Great
  Expectations results and dbt's warning tests, both in ``audit.dq_results``); ``audit.alerts``
  (kind ``warning``) by suite, table, check and column, until the check passes again;
- a run failing (a step error, not a refusal; a run that could not start; a run whose process
  died): whoever notices first, the daemon's ``run_failure_alerts`` sensor (runs it launched),
  ``fiw run`` (its own runs) or whoever marks a dead run failed (``interrupted_runs_sensor``, the
  next run's guard); the Dagster run's ``fiw/alerted`` tag, claimed under ``<home>/alerts.lock``;
- nothing published for more than ``FIW_STALE_HOURS``: the daemon's ``stale_publication_alerts``
  sensor and ``fiw run``; ``audit.alerts`` (kind ``stale``) by the time the data went stale, so
  once per stale period.

Refusals, warnings and staleness are recorded in the warehouse, by whoever holds it for writing
(a run holds it from its first step to its last, so the check and the record are one step). A run
failure is recorded on the Dagster run instead: the daemon notices it while the next run may
already hold the warehouse.

No personal value in a message: a message is built only from statuses, check, table and column
names, counts, snapshot dates, run ids and paths, never from example rows, observed values,
quarantined records or error messages (an exception's text can quote a value: only its class is
named). The one free text, a refused snapshot's ``reason`` (extract only; the text published in
``snapshots`` for analysts, file, line and column), has quoted strings blanked on top.

Delivery: Apprise, imported only when there is something to send (with ``FIW_ALERT_URLS`` unset,
nothing is sent, read or imported). A URL that cannot take a message is logged (Python logging, or
the Dagster log of the step or sensor) and never fails the run: every entry point here catches
everything.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

import duckdb

from fiw import snapshots
from fiw.quality.results import values_text
from fiw.run import LAUNCHED_BY_CLI, LAUNCHED_BY_TAG, LOG_FILE_TAG, REFUSAL_MARK
from fiw.run.progress import STEP_NAMES
from fiw.run.recovery import DIED_MARK, JOB_NAME
from fiw.settings import Settings
from fiw.warehouse import connect

log = logging.getLogger(__name__)

ALERTED_TAG = "fiw/alerted"  # on a failed Dagster run: its failure was alerted (when, to how many)
REFUSED, WARNING, STALE = "refused", "warning", "stale"

ALERTS_DDL = """
create table if not exists audit.alerts (
    kind varchar not null,
    alert_key varchar not null,
    snapshot_id varchar,
    snapshot_date date,
    run_id varchar,
    sent_at timestamp not null,
    delivered integer,
    undelivered integer,
    title varchar,
    cleared_at timestamp
)
"""


class Logger(Protocol):
    def warning(self, msg: str) -> None: ...

    def info(self, msg: str) -> None: ...


@dataclass(frozen=True)
class Alert:
    title: str
    body: str


@dataclass(frozen=True)
class Delivery:
    delivered: int
    undelivered: tuple[str, ...] = ()  # the URLs (secrets hidden) that did not take it


@dataclass(frozen=True)
class RunRef:
    """The Dagster run an alert is about: its id and launch tags (who started it, its log)."""

    run_id: str
    tags: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, run: Any) -> RunRef:
        return cls(run.run_id, dict(run.tags))


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # naive UTC, as the audit tables hold times


# --------------------------------------------------------------------------- delivery


def _hidden(url: str) -> str:
    """A URL as it may be logged: its scheme only (the rest may hold a password or a token)."""
    return url.partition("://")[0] + "://..."


def deliver(urls: Sequence[str], alert: Alert, logger: Logger = log) -> Delivery:
    """Send ``alert`` to each URL, one at a time; log each one that does not take it."""
    import apprise  # only when there is something to send

    delivered, undelivered = 0, []
    asset = apprise.AppriseAsset(app_id="fiw", app_desc="family insights warehouse")
    for url in urls:
        shown = _hidden(url)
        why = "the service refused it or could not be reached (Apprise's log says which)"
        try:
            sender = apprise.Apprise(asset=asset)
            if not sender.add(url):
                why = "Apprise cannot use this URL"
                ok = False
            else:
                shown = sender[0].url(privacy=True).split("?")[0]  # secrets masked
                ok = bool(
                    sender.notify(
                        title=alert.title, body=alert.body, body_format=apprise.NotifyFormat.TEXT
                    )
                )
        except Exception as exc:  # noqa: BLE001 - a notification never fails the run
            ok, why = False, f"{type(exc).__name__}: {str(exc)[:200]}"
        if ok:
            delivered += 1
        else:
            undelivered.append(shown)
            logger.warning(f"fiw alert '{alert.title}' could not be delivered to {shown}: {why}")
    return Delivery(delivered, tuple(undelivered))


@contextmanager
def _safely(what: str, logger: Logger) -> Iterator[None]:
    """Around every entry point: an alert never fails what sends it (the run, a sensor)."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - a notification never fails the run
        logger.warning(f"fiw alert ({what}) not sent: {type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------- message parts


def _plural(n: int | None, word: str) -> str:
    if n is None:
        return f"? {word}s"
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _where(settings: Settings, run: RunRef | None, status_says: str = "") -> list[str]:
    status = f"- fiw status --home {shlex.quote(str(settings.home))}"
    lines = ["Where to look:", status + (f" ({status_says})" if status_says else "")]
    if run is not None:
        if run.tags.get(LOG_FILE_TAG):
            lines.append(f"- the run log: {run.tags[LOG_FILE_TAG]}")
        else:
            logs = settings.dagster_home / "storage" / run.run_id / "compute_logs"
            lines.append(f"- the run's logs: {logs}/")
        lines.append(
            f"- Dagster run {run.run_id} (the Runs list of the Dagster UI), "
            f"started by {started_by(run.tags)}"
        )
    return lines


def started_by(tags: Mapping[str, str]) -> str:
    if tags.get(LAUNCHED_BY_TAG) == LAUNCHED_BY_CLI[LAUNCHED_BY_TAG]:
        return "fiw run"
    if tags.get("dagster/schedule_name"):
        return f"the schedule {tags['dagster/schedule_name']}"
    if tags.get("dagster/sensor_name"):
        return f"the sensor {tags['dagster/sensor_name']}"
    return "the Dagster UI or command line"


def _check(suite: str, table: str, expectation: str, column: str | None) -> str:
    return f"{suite}: {table}: {expectation}" + (f" [{column}]" if column else "")


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def scrub(reason: str, limit: int = 800) -> str:
    """A refusal reason as a message may carry it: quoted strings blanked, one line, bounded."""
    text = " ".join(_QUOTED.sub("'...'", reason).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _published(con: duckdb.DuckDBPyConnection) -> str:
    pub = snapshots.published(con)
    return f"Published now: snapshot {pub.snapshot_date}." if pub else "Published now: nothing yet."


# --------------------------------------------------------------------------- the record


def _ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(ALERTS_DDL)


def _has_table(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(
        con.execute(
            "select count(*) from duckdb_tables() "
            "where schema_name = 'audit' and table_name = 'alerts'"
        ).fetchone()[0]
    )


def _record(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    key: str,
    alert: Alert,
    delivery: Delivery,
    snapshot: snapshots.Snapshot | None = None,
    run_id: str | None = None,
) -> None:
    con.execute(
        "insert into audit.alerts (kind, alert_key, snapshot_id, snapshot_date, run_id, sent_at,"
        " delivered, undelivered, title) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            kind,
            key,
            snapshot.snapshot_id if snapshot else None,
            snapshot.snapshot_date if snapshot else None,
            run_id,
            _utc_now(),
            delivery.delivered,
            len(delivery.undelivered),
            alert.title,
        ],
    )


def _sent(con: duckdb.DuckDBPyConnection, kind: str, key: str, open_only: bool = False) -> bool:
    if not _has_table(con):
        return False
    cleared = " and cleared_at is null" if open_only else ""
    return bool(
        con.execute(
            f"select count(*) from audit.alerts where kind = ? and alert_key = ?{cleared}",
            [kind, key],
        ).fetchone()[0]
    )


@contextmanager
def _connection(settings: Settings, con: duckdb.DuckDBPyConnection | None):
    if con is not None:
        yield con
    else:
        with connect(settings) as own:
            yield own


# --------------------------------------------------------------------------- refusals


def refusal_alert(
    con: duckdb.DuckDBPyConnection, settings: Settings, snapshot_id: str, run: RunRef | None
) -> tuple[snapshots.Snapshot, Alert] | None:
    """The message for a refused snapshot: its date and status, the failed checks with their row
    counts (failed validation) or the reason and the rows (refused at extract)."""
    row = con.execute(
        "select snapshot_date, status, reason, rows_loaded, rows_quarantined"
        " from audit.snapshots where snapshot_id = ?",
        [snapshot_id],
    ).fetchone()
    if row is None:
        return None
    day, status, reason, rows_loaded, rows_quarantined = row
    lines = [f"Snapshot {day} was refused ({status}): it will never be published.", _published(con)]
    failed = []
    if status == snapshots.FAILED_VALIDATION and run is not None:
        failed = con.execute(
            "select suite, table_name, expectation, column_name, unexpected_count, details"
            " from audit.dq_results where snapshot_id = ? and run_id = ? and not success"
            " and severity = 'error' order by suite, table_name, expectation, column_name",
            [snapshot_id, run.run_id],
        ).fetchall()
    if failed:
        lines.append(f"{_plural(len(failed), 'blocking check')} failed:")
        for suite, table, expectation, column, count, details in failed:
            rows = "could not be evaluated" if count is None else _plural(count, "row")
            values = values_text(details)  # codes, team ids, counts: no personal data
            eg = f", e.g. {values}" if values else ""
            lines.append(f"- {_check(suite, table, expectation, column)}: {rows}{eg}")
    elif status == snapshots.FAILED_VALIDATION:
        lines.append("The failed checks: fiw status (below).")
    elif reason:
        lines.append(f"Reason: {scrub(reason)}")
    if rows_loaded is not None:
        lines.append(
            f"Rows: {rows_loaded:,} loaded, {rows_quarantined or 0:,} of them quarantined."
        )
    lines += _where(settings, run)
    title = f"fiw: snapshot {day} refused ({status})"
    return snapshots.Snapshot(snapshot_id, day), Alert(title, "\n".join(lines))


def alert_refused(
    settings: Settings,
    snapshot_ids: Sequence[str | None],
    run: RunRef | None,
    logger: Logger = log,
    con: duckdb.DuckDBPyConnection | None = None,
) -> int:
    """One message per snapshot refused (never twice for the same snapshot); the number sent.
    Called by the step that refuses it, holding the warehouse (``con``) or free to open it."""
    wanted = [s for s in snapshot_ids if s]
    if not settings.alert_urls or not wanted:
        return 0
    sent = 0
    with _safely("snapshot refused", logger), _connection(settings, con) as con:
        _ensure_table(con)
        for snapshot_id in wanted:
            if _sent(con, REFUSED, snapshot_id):
                continue
            built = refusal_alert(con, settings, snapshot_id, run)
            if built is None:
                continue
            snapshot, alert = built
            delivery = deliver(settings.alert_urls, alert, logger)
            _record(con, REFUSED, snapshot_id, alert, delivery, snapshot, run and run.run_id)
            sent += 1
    return sent


# --------------------------------------------------------------------------- warnings


def _warning_key(suite: str, table: str, expectation: str, column: str | None) -> str:
    return f"{suite}|{table}|{expectation}|{column or ''}"


def alert_new_warnings(
    settings: Settings,
    con: duckdb.DuckDBPyConnection,
    snapshot_id: str,
    run: RunRef,
    logger: Logger = log,
) -> int:
    """After a validation: one message listing the warning-severity checks of this run (its Great
    Expectations and dbt results in ``audit.dq_results``) that failed and are not already
    alerted; a check that passes again is cleared, so its next failure is news again. Returns
    how many checks the message named (0: nothing sent)."""
    if not settings.alert_urls:
        return 0
    with _safely("data-quality warning", logger):
        _ensure_table(con)
        results = con.execute(
            "select suite, table_name, expectation, column_name, bool_and(success),"
            " max(unexpected_count), max(details) from audit.dq_results"
            " where snapshot_id = ? and run_id = ? and severity = 'warning'"
            " group by all order by all",
            [snapshot_id, run.run_id],
        ).fetchall()
        now = _utc_now()
        new = []
        for suite, table, expectation, column, success, count, details in results:
            key = _warning_key(suite, table, expectation, column)
            if success:
                con.execute(
                    "update audit.alerts set cleared_at = ? where kind = ? and alert_key = ?"
                    " and cleared_at is null",
                    [now, WARNING, key],
                )
            elif not _sent(con, WARNING, key, open_only=True):
                label = _check(suite, table, expectation, column)
                new.append((key, label, count, values_text(details)))
        if not new:
            return 0
        day = con.execute(
            "select snapshot_date from audit.snapshots where snapshot_id = ?", [snapshot_id]
        ).fetchone()
        day = day[0] if day else None
        n = len(new)
        lines = [
            f"Snapshot {day}: {_plural(n, 'warning-severity check')} failed for the first time."
            " A warning does not stop the publication; it is not sent again while it keeps"
            " failing.",
        ]
        for _, label, count, values in new:
            rows = "could not be evaluated" if count is None else _plural(count, "row")
            eg = f", e.g. {values}" if values else ""  # codes, team ids, counts: no personal data
            lines.append(f"- {label}: {rows}{eg}")
        lines += _where(settings, run)
        lines.append(f"- the data-quality page: {settings.data_docs_dir / 'index.html'}")
        title = f"fiw: new data-quality warning{'s' if n > 1 else ''} on snapshot {day}"
        alert = Alert(title, "\n".join(lines))
        delivery = deliver(settings.alert_urls, alert, logger)
        snapshot = snapshots.Snapshot(snapshot_id, day) if day else None
        for key, *_ in new:
            _record(con, WARNING, key, alert, delivery, snapshot, run.run_id)
        return n
    return 0


# --------------------------------------------------------------------------- run failures


@dataclass(frozen=True)
class RunFailure:
    what: str  # "step dbt failed (KeyError)", "its process died ...", ...
    step: str | None = None


def _error_class(error: Any) -> str:
    """The innermost error's class: never its message, which may quote a value."""
    if error is None:
        return "no error recorded"
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return error.cls_name


def run_failure(instance: Any, run_id: str) -> RunFailure | None:
    """What failed in a failed run, from its events; None when all that failed was a step
    refusing a snapshot (the refusal has its own alert)."""
    from dagster import DagsterEventType

    wanted = {
        DagsterEventType.STEP_FAILURE,
        DagsterEventType.RESOURCE_INIT_FAILURE,
        DagsterEventType.RUN_FAILURE,
    }
    steps, refused, could_not_start, died = [], False, None, False
    for entry in instance.all_logs(run_id, of_type=wanted):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.STEP_FAILURE:
            data = event.step_failure_data
            user = data.user_failure_data if data else None
            if user is not None and REFUSAL_MARK in (user.metadata or {}):
                refused = True
            else:
                steps.append((event.step_key, _error_class(data.error if data else None)))
        elif event.event_type == DagsterEventType.RESOURCE_INIT_FAILURE:
            could_not_start = _error_class(event.event_specific_data.error)
        elif (entry.message or "").startswith(DIED_MARK) or (event.message or "").startswith(
            DIED_MARK
        ):
            died = True
    if steps:
        key, cls = steps[0]
        name = STEP_NAMES.get(key or "", key or "?")
        return RunFailure(f"step {name} failed ({cls})", name)
    if could_not_start:
        return RunFailure(f"the run could not start ({could_not_start})")
    if died:
        return RunFailure("its process died (killed, out of memory or power loss)")
    if refused:
        return None
    return RunFailure("it failed outside its steps (the Dagster run's events say why)")


@contextmanager
def _claim_lock(settings: Settings) -> Iterator[None]:
    """Held for the few milliseconds of a claim: one process at a time looks at a run's tag."""
    settings.ensure_home()
    fd = os.open(settings.home / "alerts.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _waiting_snapshot(settings: Settings) -> str | None:
    """The snapshot the failed run was working on: the one still waiting to be published (read
    without waiting; None when the warehouse is busy or has none)."""
    if not settings.warehouse_path.exists():
        return None
    try:
        con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    except duckdb.Error:
        return None
    try:
        found = snapshots.candidate(con)
        return f"{found.snapshot_date} (loaded)" if found else "none"
    except duckdb.Error:
        return None
    finally:
        con.close()


def run_failure_alert(settings: Settings, run: RunRef, failure: RunFailure) -> Alert:
    lines = [f"Dagster run {run.run_id} of the nightly job failed: {failure.what}."]
    waiting = _waiting_snapshot(settings)
    if waiting == "none":
        lines.append("No snapshot is waiting to be published.")
    elif waiting:
        lines.append(f"Snapshot waiting to be published: {waiting}; the next run tries it again.")
    lines += _where(settings, run)
    title = "fiw: nightly run failed" + (f" (step {failure.step})" if failure.step else "")
    return Alert(title, "\n".join(lines))


def alert_run_failure(settings: Settings, instance: Any, run_id: str, logger: Logger = log) -> bool:
    """Alert a failed run of the nightly job once, whoever asks first (the daemon's sensor,
    ``fiw run``, whoever marked a dead run failed); False when nothing was sent (no URLs, not a
    failure of the nightly job, only a refusal, or already alerted)."""
    if not settings.alert_urls:
        return False
    with _safely("run failed", logger):
        from dagster import DagsterRunStatus

        run = instance.get_run_by_id(run_id)
        if run is None or run.job_name != JOB_NAME or run.status != DagsterRunStatus.FAILURE:
            return False
        failure = run_failure(instance, run_id)
        if failure is None:
            return False
        with _claim_lock(settings):
            run = instance.get_run_by_id(run_id)
            if ALERTED_TAG in run.tags:
                return False
            instance.add_run_tags(run_id, {ALERTED_TAG: f"sending since {_utc_now():%F %T} UTC"})
        alert = run_failure_alert(settings, RunRef.of(run), failure)
        delivery = deliver(settings.alert_urls, alert, logger)
        total = delivery.delivered + len(delivery.undelivered)
        instance.add_run_tags(
            run_id,
            {ALERTED_TAG: f"{_utc_now():%F %T} UTC: sent to {delivery.delivered} of {total} URLs"},
        )
        return True
    return False


# --------------------------------------------------------------------------- staleness


@dataclass(frozen=True)
class Staleness:
    since: datetime  # naive UTC: the last publication, or the first snapshot recorded
    published: date | None  # the snapshot published then; None: nothing ever published


def staleness(
    con: duckdb.DuckDBPyConnection, stale_hours: float, now: datetime | None = None
) -> Staleness | None:
    """Stale when nothing has been published for more than ``stale_hours`` (the rule of
    :func:`fiw.snapshots.stale_since`), with the last published snapshot; None while fresh."""
    since = snapshots.stale_since(con, stale_hours, now)
    if since is None:
        return None
    row = con.execute(
        "select snapshot_date from (select published_at, snapshot_date from audit.publications"
        " union all select published_at, snapshot_date from audit.snapshots)"
        " where published_at is not null order by published_at desc limit 1"
    ).fetchone()
    published = row[0] if row else None  # None: measured from the first snapshot recorded
    return Staleness(since.astimezone(UTC).replace(tzinfo=None), published)


def stale_alert(settings: Settings, stale: Staleness, now: datetime | None = None) -> Alert:
    now = _utc_now() if now is None else snapshots.as_utc(now).replace(tzinfo=None)
    hours = int((now - stale.since).total_seconds() // 3600)
    at = f"{stale.since:%Y-%m-%d %H:%M} UTC"
    limit = f"{settings.stale_hours:g} hours (FIW_STALE_HOURS)"
    if stale.published is not None:
        lines = [
            f"No snapshot has been published for more than {limit}: the last publication,"
            f" snapshot {stale.published}, was at {at}, {hours} hours ago. Analysts still read"
            " that snapshot.",
        ]
    else:
        lines = [
            f"No snapshot has been published yet, more than {limit} after the first snapshot"
            f" was recorded ({at}, {hours} hours ago).",
        ]
    lines.append("This alert is sent once; the next one after a new publication goes stale.")
    lines += _where(settings, None, "snapshots refused or waiting, folders skipped")
    lines.append(f"- the exports: {settings.safe_exports} (has a new snapshot arrived?)")
    title = f"fiw: no new publication for {hours} hours"
    return Alert(title, "\n".join(lines))


def alert_if_stale(settings: Settings, logger: Logger = log, now: datetime | None = None) -> str:
    """Send the staleness alert once per stale period; what happened, in a few words (a sensor's
    skip reason). The check reads the warehouse read-only; only a due alert opens it to write,
    and a warehouse busy with a run is looked at again next time."""
    if not settings.alert_urls:
        return "FIW_ALERT_URLS is not set: no alerts"
    if not settings.warehouse_path.exists():
        return "no warehouse yet"
    with _safely("no new publication", logger):
        try:
            con = duckdb.connect(str(settings.warehouse_path), read_only=True)
        except duckdb.Error:
            return "the warehouse is busy (a run holds it): checked again later"
        try:
            stale = staleness(con, settings.stale_hours, now)
            if stale is None:
                return "the publication is fresh"
            key = stale.since.isoformat()
            if _sent(con, STALE, key):
                return f"stale since {stale.since:%F %T} UTC: already alerted"
        finally:
            con.close()
        try:
            with connect(settings) as con:  # the one writer: the check and the record are one
                _ensure_table(con)
                if _sent(con, STALE, key):
                    return f"stale since {stale.since:%F %T} UTC: already alerted"
                alert = stale_alert(settings, stale, now)
                delivery = deliver(settings.alert_urls, alert, logger)
                _record(con, STALE, key, alert, delivery)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            return "the warehouse is busy (a run holds it): checked again later"
        return f"stale since {stale.since:%F %T} UTC: alerted"
    return "the staleness check failed (logged)"
