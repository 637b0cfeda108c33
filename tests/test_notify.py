"""Alerts (docs/interface.md, "Alerts"): what is sent, once, to a real SMTP server and a real HTTP
endpoint on 127.0.0.1, and never a personal value.

The module's functions run against a small warehouse built here (fast); the sensors are invoked
directly; one end-to-end ``fiw run`` (slow) refuses a snapshot and checks the one message that
arrives, with an unreachable endpoint beside it that does not fail the run.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fiw import notify
from fiw.run import LAUNCHED_BY_CLI, LOG_FILE_TAG, REFUSAL_MARK
from fiw.run.recovery import DIED_MARK
from fiw.settings import Settings
from fiw.warehouse import connect

# Values a message must never carry: a name, a date of birth, case-system ids (as the quarantine,
# the examples of a failed check and its observed values hold them).
PERSONAL = ("Zoë", "O'Brien", "Smith", "2015-03-01", "9990000001", "P77", "CASE-4242")
DAY1, DAY2, DAY3, DAY4 = (date(2017, 11, 27) + timedelta(days=i) for i in range(4))
LOG_FILE = "/srv/fiw/warehouse/logs/run-20171130-020001.log"


# --------------------------------------------------------------------------- receivers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    title: str
    body: str


@dataclass
class Inbox:
    """What a receiver got; ``url`` is the Apprise URL that sends to it."""

    url: str
    messages: list[Received] = field(default_factory=list)

    def wait(self, n: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.messages)


@pytest.fixture
def smtp():
    """A plain SMTP server (no TLS, no login) on 127.0.0.1."""
    from aiosmtpd.controller import Controller

    port = free_port()
    inbox = Inbox(
        f"mailto://127.0.0.1:{port}?from=fiw@example.org&to=team@example.org&mode=insecure"
    )

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook
            msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
            body = msg.get_body(preferencelist=("plain", "html")).get_content()
            inbox.messages.append(Received(str(msg["Subject"]), body.replace("\r\n", "\n")))
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def webhook():
    """An HTTP endpoint on 127.0.0.1 that takes Apprise's JSON posts."""
    received: list[Received] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's hook
            payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append(Received(payload["title"], payload["message"]))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    inbox = Inbox(f"json://127.0.0.1:{server.server_address[1]}/", received)
    try:
        yield inbox
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_url() -> str:
    """An endpoint nothing listens on."""
    return f"json://127.0.0.1:{free_port()}/"


def settings_for(tmp_path: Path, *urls: str, stale_hours: float = 36.0) -> Settings:
    return Settings(
        home=tmp_path / "home",
        exports=str(tmp_path / "exports"),
        alert_urls=tuple(urls),
        stale_hours=stale_hours,
    )


def assert_no_personal_value(*texts: str) -> None:
    for text in texts:
        for value in PERSONAL:
            assert value not in text, f"{value!r} in an alert:\n{text}"


# --------------------------------------------------------------------------- a small warehouse


def add_snapshot(con, sid: str, day: date, status: str, reason: str | None = None, **kw) -> None:
    con.execute(
        "insert into audit.snapshots (snapshot_id, snapshot_date, status, reason, rows_loaded,"
        " rows_quarantined, loaded_at, published_at) values (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            sid,
            day,
            status,
            reason,
            kw.get("rows_loaded"),
            kw.get("rows_quarantined"),
            kw.get("loaded_at", datetime(2017, 11, 30, 2, 0)),
            kw.get("published_at"),
        ],
    )


def add_result(con, run_id, sid, day, suite, table, expectation, column, severity, success, n):
    """One row of audit.dq_results, its details full of the personal values a check can show
    (and, for the team check, the non-personal values it keeps: the team ids)."""
    details = {
        "examples": [{"pers_person_id": "P77", "pers_forename": "Zoë", "dob": "2015-03-01"}],
        "observed": "O'Brien",
    }
    if expectation == "every_team_is_a_unit" and not success:
        details["values"] = [{"team_id": "T999", "records": n}]
    details = json.dumps(details)
    con.execute(
        "insert into audit.dq_results values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [run_id, datetime(2017, 11, 30, 2, 5), sid, day, suite, table, expectation, column,
         severity, success, n, details],
    )  # fmt: skip


def quarantine(con, sid: str, day: date) -> None:
    con.execute(
        "insert into audit.quarantine values (?, ?, 'ssd_person', 'ssd_person.csv', 5,"
        " '9990000001', 'bad date', 'P77,Zoë,Smith,F,WBRI,2015-03-01,9990000001,')",
        [sid, day],
    )


CLI_RUN = notify.RunRef("run-1111", {**LAUNCHED_BY_CLI, LOG_FILE_TAG: LOG_FILE})
DAEMON_RUN = notify.RunRef("run-2222", {"dagster/schedule_name": "nightly_0200"})


# --------------------------------------------------------------------------- nothing configured


def test_without_alert_urls_nothing_is_sent_read_or_imported(tmp_path):
    """FIW_ALERT_URLS unset: every entry point returns at once; Apprise is never imported and
    the warehouse is never opened (no audit.alerts, no home created)."""
    script = f"""
import sys
from pathlib import Path
from fiw import notify
from fiw.settings import Settings
s = Settings(home=Path({str(tmp_path / "home")!r}), exports="x")
assert notify.alert_refused(s, ["S1"], None) == 0
assert notify.alert_new_warnings(s, None, "S1", notify.RunRef("r")) == 0
assert notify.alert_run_failure(s, None, "r") is False
assert "not set" in notify.alert_if_stale(s)
assert "apprise" not in sys.modules, "apprise imported"
assert not Path({str(tmp_path / "home")!r}).exists(), "home touched"
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr


# --------------------------------------------------------------------------- refusals


def test_a_refused_snapshot_sends_one_message_to_each_url(tmp_path, smtp, webhook):
    settings = settings_for(tmp_path, smtp.url, webhook.url)
    with connect(settings) as con:
        add_snapshot(con, "S1", DAY3, "published", published_at=datetime(2017, 11, 29, 2, 9))
        # The reason of a failed validation may show examples: the alert never uses it.
        reason = 'snapshot 2017-11-30: 2 blocking failures: e.g. {"pers_forename": "Zoë"}'
        add_snapshot(con, "S2", DAY4, "failed_validation", reason, rows_loaded=1234,
                     rows_quarantined=7)  # fmt: skip
        quarantine(con, "S2", DAY4)
        run = CLI_RUN.run_id
        add_result(con, run, "S2", DAY4, "dbt_tests", "marts.outcome_metrics", "not_null",
                   "rate", "error", False, 3)  # fmt: skip
        add_result(con, run, "S2", DAY4, "raw_statutory", "raw.ssd_cp_plans",
                   "no_overlapping_cp_plans", None, "error", False, 1)  # fmt: skip
        add_result(con, run, "S2", DAY4, "marts", "marts.outcome_metrics", "columns", None,
                   "error", True, 0)  # fmt: skip
        add_result(con, run, "S2", DAY4, "marts", "marts.outcome_metrics", "every_team_is_a_unit",
                   None, "warning", False, 2)  # fmt: skip
        assert notify.alert_refused(settings, ["S2"], CLI_RUN, con=con) == 1
        # Asked again (a retry, another step): nothing new.
        assert notify.alert_refused(settings, ["S2"], CLI_RUN, con=con) == 0
        recorded = con.execute(
            "select kind, alert_key, snapshot_date, run_id, delivered, undelivered"
            " from audit.alerts"
        ).fetchall()
    assert recorded == [("refused", "S2", DAY4, "run-1111", 2, 0)]

    (mail,) = smtp.wait(1)
    (post,) = webhook.wait(1)
    assert mail.title == post.title == "fiw: snapshot 2017-11-30 refused (failed_validation)"
    assert mail.body.strip() == post.body.strip()
    home = settings.home
    assert post.body.strip() == (
        "Snapshot 2017-11-30 was refused (failed_validation): it will never be published.\n"
        "Published now: snapshot 2017-11-29.\n"
        "2 blocking checks failed:\n"
        "- dbt_tests: marts.outcome_metrics: not_null [rate]: 3 rows\n"
        "- raw_statutory: raw.ssd_cp_plans: no_overlapping_cp_plans: 1 row\n"
        "Rows: 1,234 loaded, 7 of them quarantined.\n"
        "Where to look:\n"
        f"- fiw status --home {home}\n"
        f"- the run log: {LOG_FILE}\n"
        "- Dagster run run-1111 (the Runs list of the Dagster UI), started by fiw run"
    )
    assert_no_personal_value(mail.title, mail.body, post.title, post.body)
    time.sleep(0.3)
    assert len(smtp.messages) == len(webhook.messages) == 1


def test_a_rejected_snapshot_names_its_reason_with_quoted_values_blanked(tmp_path, webhook):
    settings = settings_for(tmp_path, webhook.url)
    with connect(settings) as con:
        add_snapshot(
            con,
            "S1",
            DAY4,
            "rejected",
            "rejected whole, nothing loaded: ssd_person.csv: line 5, column pers_forename: not"
            " valid UTF-8; ssd_person.csv: line 1 (header) is not valid UTF-8 near column 'Zoë'",
        )
    assert notify.alert_refused(settings, ["S1"], DAEMON_RUN) == 1
    (post,) = webhook.wait(1)
    assert post.title == "fiw: snapshot 2017-11-30 refused (rejected)"
    assert post.body.splitlines()[:3] == [
        "Snapshot 2017-11-30 was refused (rejected): it will never be published.",
        "Published now: nothing yet.",
        "Reason: rejected whole, nothing loaded: ssd_person.csv: line 5, column pers_forename:"
        " not valid UTF-8; ssd_person.csv: line 1 (header) is not valid UTF-8 near column '...'",
    ]
    # A run the daemon launched: its logs are Dagster's, under the instance's storage.
    logs = settings.dagster_home / "storage" / "run-2222" / "compute_logs"
    assert f"- the run's logs: {logs}/" in post.body
    assert "started by the schedule nightly_0200" in post.body
    assert_no_personal_value(post.title, post.body)


# --------------------------------------------------------------------------- warnings


def _validate(con, run_id: str, sid: str, day: date, results: dict[str, int | None]) -> None:
    """One night's validation: the snapshot and its warning-severity results (0: passed)."""
    add_snapshot(con, sid, day, "validated")
    for name, failed in results.items():
        add_result(con, run_id, sid, day, "marts", "marts.outcome_metrics", name, None,
                   "warning", failed == 0, failed)  # fmt: skip


def test_a_warning_is_alerted_the_first_time_only(tmp_path, smtp, webhook):
    settings = settings_for(tmp_path, smtp.url, webhook.url)
    nights = [
        ("S1", DAY1, {"every_team_is_a_unit": 2, "rates_in_range": 0}),  # new: alerted
        ("S2", DAY2, {"every_team_is_a_unit": 5, "rates_in_range": 1}),  # one new, one known
        ("S3", DAY3, {"every_team_is_a_unit": 5, "rates_in_range": 1}),  # nothing new
        ("S4", DAY4, {"every_team_is_a_unit": 0, "rates_in_range": 1}),  # passes: cleared
    ]
    named = []
    with connect(settings) as con:
        for i, (sid, day, results) in enumerate(nights):
            run = notify.RunRef(f"run-{i}", {"dagster/sensor_name": "new_snapshot_sensor"})
            _validate(con, run.run_id, sid, day, results)
            named.append(notify.alert_new_warnings(settings, con, sid, run))
        # It fails again after it passed: news again.
        run = notify.RunRef("run-4", {})
        _validate(con, run.run_id, "S5", DAY4 + timedelta(days=1), {"every_team_is_a_unit": 1})
        named.append(notify.alert_new_warnings(settings, con, "S5", run))
    assert named == [1, 1, 0, 0, 1]

    mails, posts = smtp.wait(3), webhook.wait(3)
    assert (
        [m.title for m in mails]
        == [p.title for p in posts]
        == [
            "fiw: new data-quality warning on snapshot 2017-11-27",
            "fiw: new data-quality warning on snapshot 2017-11-28",
            "fiw: new data-quality warning on snapshot 2017-12-01",
        ]
    )
    first = posts[0].body.splitlines()
    assert first[:2] == [
        "Snapshot 2017-11-27: 1 warning-severity check failed for the first time. A warning"
        " does not stop the publication; it is not sent again while it keeps failing.",
        "- marts: marts.outcome_metrics: every_team_is_a_unit: 2 rows, e.g. team_id=T999,"
        " records=2",
    ]
    assert "started by the sensor new_snapshot_sensor" in posts[0].body
    assert f"- the data-quality page: {settings.data_docs_dir / 'index.html'}" in posts[0].body
    assert posts[1].body.splitlines()[1] == "- marts: marts.outcome_metrics: rates_in_range: 1 row"
    assert "every_team_is_a_unit" not in posts[1].body  # known since the first night
    assert posts[2].body.splitlines()[1] == (
        "- marts: marts.outcome_metrics: every_team_is_a_unit: 1 row, e.g. team_id=T999, records=1"
    )
    assert_no_personal_value(*(m.body for m in mails), *(p.body for p in posts))
    time.sleep(0.3)
    assert len(smtp.messages) == len(webhook.messages) == 3


# --------------------------------------------------------------------------- run failures


@pytest.fixture
def instance():
    from dagster import DagsterInstance

    with DagsterInstance.ephemeral() as inst:
        yield inst


def _failed_run(instance, error: Exception, tags=None) -> str:
    """A run of a job named nightly whose dbt step raises ``error``."""
    from dagster import job, op

    @op(name="dbt_models")
    def dbt_models():
        raise error

    @job(name="nightly")
    def nightly():
        dbt_models()

    result = nightly.execute_in_process(instance=instance, raise_on_error=False, tags=tags or {})
    assert not result.success
    return result.run_id


def test_a_failed_run_sends_one_message_whoever_notices_first(tmp_path, smtp, webhook, instance):
    settings = settings_for(tmp_path, smtp.url, webhook.url)
    tags = {**LAUNCHED_BY_CLI, LOG_FILE_TAG: LOG_FILE}
    run_id = _failed_run(instance, ValueError("Could not convert string 'Zoë Smith' to DATE"), tags)
    # fiw run, then the daemon's sensor, then a guard: the first one sends, the others do not.
    assert [notify.alert_run_failure(settings, instance, run_id) for _ in range(3)] == [
        True,
        False,
        False,
    ]
    assert "sent to 2 of 2 URLs" in instance.get_run_by_id(run_id).tags[notify.ALERTED_TAG]
    (mail,) = smtp.wait(1)
    (post,) = webhook.wait(1)
    assert mail.title == post.title == "fiw: nightly run failed (step dbt)"
    assert post.body.strip() == (
        f"Dagster run {run_id} of the nightly job failed: step dbt failed (ValueError).\n"
        "Where to look:\n"
        f"- fiw status --home {settings.home}\n"
        f"- the run log: {LOG_FILE}\n"
        f"- Dagster run {run_id} (the Runs list of the Dagster UI), started by fiw run"
    )
    assert_no_personal_value(mail.body, post.body)
    time.sleep(0.3)
    assert len(smtp.messages) == len(webhook.messages) == 1


def test_a_run_failed_by_a_refusal_alone_is_not_a_failed_run(tmp_path, webhook, instance):
    from dagster import Failure

    settings = settings_for(tmp_path, webhook.url)
    refusal = Failure(description="snapshot 2017-11-30 rejected", metadata={REFUSAL_MARK: True})
    run_id = _failed_run(instance, refusal)
    assert notify.run_failure(instance, run_id) is None
    assert notify.alert_run_failure(settings, instance, run_id) is False
    time.sleep(0.3)
    assert webhook.messages == []


def test_a_run_whose_process_died_is_alerted_as_such(tmp_path, webhook, instance):
    from dagster import job, op

    @op
    def noop():
        pass

    @job(name="nightly")
    def nightly():
        noop()

    settings = settings_for(tmp_path, webhook.url)
    run = instance.create_run_for_job(nightly, tags={"dagster/schedule_name": "nightly_0200"})
    instance.report_run_failed(run, message=f"{DIED_MARK} (host:4242) died (killed, ...)")
    assert notify.alert_run_failure(settings, instance, run.run_id) is True
    (post,) = webhook.wait(1)
    assert post.body.splitlines()[0] == (
        f"Dagster run {run.run_id} of the nightly job failed: its process died (killed, out of"
        " memory or power loss)."
    )
    assert "started by the schedule nightly_0200" in post.body


# --------------------------------------------------------------------------- staleness


def test_staleness_is_alerted_once_per_stale_period(tmp_path, smtp, webhook):
    settings = settings_for(tmp_path, smtp.url, webhook.url, stale_hours=36)
    published = datetime(2017, 11, 29, 2, 9)  # naive UTC, as the audit log holds it
    with connect(settings) as con:
        add_snapshot(con, "S1", DAY3, "published", published_at=published)
        con.execute("insert into audit.publications values ('r1', 'S1', ?, ?)", [DAY3, published])
    fresh = published + timedelta(hours=36)  # exactly 36 hours: still fresh
    assert notify.alert_if_stale(settings, now=fresh) == "the publication is fresh"
    at = published + timedelta(hours=40, minutes=30)
    notes = [notify.alert_if_stale(settings, now=at + timedelta(minutes=10 * i)) for i in range(3)]
    assert notes == [
        "stale since 2017-11-29 02:09:00 UTC: alerted",
        "stale since 2017-11-29 02:09:00 UTC: already alerted",
        "stale since 2017-11-29 02:09:00 UTC: already alerted",
    ]
    (mail,) = smtp.wait(1)
    (post,) = webhook.wait(1)
    assert mail.title == post.title == "fiw: no new publication for 40 hours"
    assert post.body.strip() == (
        "No snapshot has been published for more than 36 hours (FIW_STALE_HOURS): the last"
        " publication, snapshot 2017-11-29, was at 2017-11-29 02:09 UTC, 40 hours ago. Analysts"
        " still read that snapshot.\n"
        "This alert is sent once; the next one after a new publication goes stale.\n"
        "Where to look:\n"
        f"- fiw status --home {settings.home} (snapshots refused or waiting, folders skipped)\n"
        f"- the exports: {settings.exports} (has a new snapshot arrived?)"
    )

    # A new publication, and later that one goes stale too: one more message.
    again = published + timedelta(days=3)
    with connect(settings) as con:
        add_snapshot(con, "S2", DAY4, "published", published_at=again)
    assert notify.alert_if_stale(settings, now=again + timedelta(hours=1)) == (
        "the publication is fresh"
    )
    assert notify.alert_if_stale(settings, now=again + timedelta(hours=37)).endswith(": alerted")
    assert len(webhook.wait(2)) == 2
    assert webhook.messages[1].title == "fiw: no new publication for 37 hours"


def test_staleness_without_any_publication_counts_from_the_first_snapshot(tmp_path, webhook):
    settings = settings_for(tmp_path, webhook.url)
    loaded = datetime(2017, 11, 29, 2, 0)
    with connect(settings) as con:
        add_snapshot(con, "S1", DAY3, "failed_validation", loaded_at=loaded)
        first = notify.staleness(con, 36.0)  # loaded_at is local time: compared in UTC
    assert first is not None and first.published is None
    assert first.since == loaded.astimezone(UTC).replace(tzinfo=None)
    now = first.since + timedelta(hours=50)
    assert notify.alert_if_stale(settings, now=now).endswith(": alerted")
    (post,) = webhook.wait(1)
    assert post.body.startswith(
        "No snapshot has been published yet, more than 36 hours (FIW_STALE_HOURS) after the"
        " first snapshot was recorded"
    )


def test_a_busy_warehouse_is_looked_at_again_later(tmp_path, webhook):
    """The daemon's check never waits for a run: it tries again on its next tick."""
    settings = settings_for(tmp_path, webhook.url)
    with connect(settings) as con:
        add_snapshot(con, "S1", DAY3, "published", published_at=datetime(2017, 11, 1))
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]);"
         " print('held', flush=True); time.sleep(30)", str(settings.warehouse_path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        assert "busy" in notify.alert_if_stale(settings)
    finally:
        holder.kill()
        holder.wait()
    assert notify.alert_if_stale(settings).endswith(": alerted")
    assert len(webhook.wait(1)) == 1


# --------------------------------------------------------------------------- delivery failures


def test_an_unreachable_endpoint_is_logged_and_the_others_still_get_it(
    tmp_path, webhook, closed_url, caplog
):
    settings = settings_for(tmp_path, closed_url, webhook.url)
    with connect(settings) as con:
        add_snapshot(con, "S1", DAY4, "rejected", "required file ssd_person.csv is missing")
    with caplog.at_level(logging.WARNING):
        assert notify.alert_refused(settings, ["S1"], CLI_RUN) == 1  # returns, never raises
    assert len(webhook.wait(1)) == 1
    port = closed_url.split(":")[2].rstrip("/")
    logged = [r.getMessage() for r in caplog.records if r.name == "fiw.notify"]
    assert len(logged) == 1
    assert logged[0].startswith(
        "fiw alert 'fiw: snapshot 2017-11-30 refused (rejected)' could not be delivered to json://"
    )
    assert port in logged[0]
    with connect(settings) as con:
        assert con.execute("select delivered, undelivered from audit.alerts").fetchall() == [(1, 1)]


def test_a_url_with_a_password_is_never_logged_in_full(tmp_path, caplog):
    """A mail server that refuses the connection: the log names it without its password."""
    port = free_port()
    settings = settings_for(tmp_path, f"mailto://alerts:s3cret-pw@127.0.0.1:{port}?to=a@b.org")
    alert = notify.Alert("fiw: test", "body")
    with caplog.at_level(logging.WARNING):
        delivery = notify.deliver(settings.alert_urls, alert)
    assert delivery.delivered == 0 and len(delivery.undelivered) == 1
    assert "s3cret-pw" not in caplog.text
    assert "s3cret-pw" not in delivery.undelivered[0]


# --------------------------------------------------------------------------- the sensors


def test_the_daemon_sensors_send_once_each(tmp_path, webhook, instance, monkeypatch):
    """Invoked as the daemon does: ``run_failure_alerts`` for a failed run it launched,
    ``interrupted_runs_sensor`` for a run whose process died, ``stale_publication_alerts`` for
    staleness; each sends once, however often it looks."""
    from dagster import (
        DagsterEventType,
        DagsterRunStatus,
        build_run_status_sensor_context,
        build_sensor_context,
        job,
        op,
    )
    from fiw.defs.automation import (
        interrupted_runs_sensor,
        run_failure_alerts,
        stale_publication_alerts,
    )
    from fiw.resources import WarehouseResource
    from fiw.run.recovery import PID_TAG

    monkeypatch.setenv("FIW_ALERT_URLS", webhook.url)
    settings = settings_for(tmp_path, webhook.url)
    resources = {"warehouse": WarehouseResource(home=str(settings.home), exports=settings.exports)}

    # 1. A run the sensor launched fails in its dbt step.
    run_id = _failed_run(instance, KeyError("P77"), {"dagster/sensor_name": "new_snapshot_sensor"})
    (failure,) = instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE)
    context = build_run_status_sensor_context(
        sensor_name="run_failure_alerts",
        dagster_event=failure.dagster_event,
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(run_id),
        resources=resources,
    ).for_run_failure()
    run_failure_alerts(context)
    run_failure_alerts(context)
    (post,) = webhook.wait(1)
    assert post.title == "fiw: nightly run failed (step dbt)"
    assert "step dbt failed (KeyError)" in post.body and "P77" not in post.body

    # 2. A run whose process died: the interrupted-runs sensor marks it failed and alerts it;
    # the failure sensor, seeing the same failure, does not send it again.
    @op
    def noop():
        pass

    @job(name="nightly")
    def nightly():
        noop()

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = instance.create_run_for_job(
        nightly,
        status=DagsterRunStatus.STARTED,
        tags={PID_TAG: f"{socket.gethostname()}:{gone.pid}"},
    )
    interrupted_runs_sensor(build_sensor_context(instance=instance, resources=resources))
    (died,) = instance.all_logs(dead.run_id, of_type=DagsterEventType.RUN_FAILURE)
    run_failure_alerts(
        build_run_status_sensor_context(
            sensor_name="run_failure_alerts",
            dagster_event=died.dagster_event,
            dagster_instance=instance,
            dagster_run=instance.get_run_by_id(dead.run_id),
            resources=resources,
        ).for_run_failure()
    )
    assert [m.title for m in webhook.wait(2)] == [
        "fiw: nightly run failed (step dbt)",
        "fiw: nightly run failed",
    ]
    assert "its process died (killed, out of memory or power loss)" in webhook.messages[1].body

    # 3. Nothing published for a month: alerted on the first look only.
    with connect(settings) as con:
        add_snapshot(con, "S1", DAY3, "published", published_at=datetime(2017, 11, 29))
    skips = [
        stale_publication_alerts(build_sensor_context(instance=instance, resources=resources))
        for _ in range(2)
    ]
    assert skips[0].skip_message.endswith(": alerted")
    assert skips[1].skip_message.endswith(": already alerted")
    assert [m.title.startswith("fiw: no new publication") for m in webhook.wait(3)] == [
        False,
        False,
        True,
    ]
    time.sleep(0.3)
    assert len(webhook.messages) == 3


# --------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_fiw_run_refusing_a_snapshot_sends_one_message(tmp_path, tmp_path_factory, smtp,
                                                        closed_url):  # fmt: skip
    """Through a real ``fiw run``: a snapshot with a Windows-1252 name is rejected; the mail
    server gets one message naming it, and the endpoint nothing listens on is logged in the run's
    log and does not change the exit code (2: refused)."""
    from tests.fixtures import pipeline as p

    src = p.source(tmp_path_factory)
    exports, home = tmp_path / "exports", tmp_path / "home"
    exports.mkdir()
    folder = p.add_snapshot(src, exports, p.DAY2)
    person = folder / "ssd_person.csv"
    lines = person.read_text(encoding="utf-8").splitlines(keepends=True)
    fields = lines[4].split(",")
    forename = fields[1]
    fields[1] = "Zoë"
    lines[4] = ",".join(fields)
    person.write_bytes(b"".join(line.encode("cp1252") for line in lines))

    result = p.run(exports, home, FIW_ALERT_URLS=f"{closed_url},{smtp.url}")
    assert result.returncode == 2, result.stdout + result.stderr
    (mail,) = smtp.wait(1)
    assert mail.title == "fiw: snapshot 2017-11-30 refused (rejected)"
    lines = mail.body.strip().splitlines()
    assert lines[:3] == [
        "Snapshot 2017-11-30 was refused (rejected): it will never be published.",
        "Published now: nothing yet.",
        "Reason: rejected whole, nothing loaded: ssd_person.csv: line 5, column pers_forename:"
        " not valid UTF-8",
    ]
    (log_file,) = (home / "logs").glob("run-*.log")
    (run_id,) = p.query(home / "warehouse.duckdb", "select run_id from audit.alerts")[0]
    assert lines[3:] == [
        "Where to look:",
        f"- fiw status --home {home}",
        f"- the run log: {log_file}",
        f"- Dagster run {run_id} (the Runs list of the Dagster UI), started by fiw run",
    ]
    assert not re.search(rf"\b{re.escape(forename)}\b", mail.title + mail.body), forename
    assert_no_personal_value(mail.title, mail.body)
    assert "could not be delivered to json://" in log_file.read_text()
    time.sleep(0.5)
    assert len(smtp.messages) == 1  # no run-failure alert for a refusal, nothing stale
