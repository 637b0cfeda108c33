"""The data-quality page (``data_docs/index.html``, :mod:`fiw.quality.page`): tonight's status in
one honest sentence (a published snapshot with a warning is never "failed"), the checks with the
non-personal offending values, quarantine by reason, row counts, the history of failures; no
case-system id anywhere; and in headless Chromium with no network: no request leaves the file
system, no console error, the failed warning visible.

The warehouse is built here by hand (the audit schema and a few rows), so the tests are fast.
"""

from __future__ import annotations

import json
import os
import re
import stat
from datetime import date, datetime, timedelta
from html.parser import HTMLParser

import duckdb
import pytest
from fiw.quality.page import build_page, render
from fiw.warehouse import ensure_schema

from tests.fixtures.browser import open_offline

# A case-system id: in a check's examples, the quarantine's record_id/record and a reason's quote.
CASE_ID = "REF-12345"
DAYS = [date(2026, 11, 1) + timedelta(days=i) for i in range(30)]  # 2026-11-01 .. 2026-11-30
PUBLISHED_DAY = date(2026, 11, 29)
REFUSED_DAY = date(2026, 11, 30)
RUN = "run-0029"


def _at(day: date, hour: int = 2) -> datetime:
    return datetime(day.year, day.month, day.day, hour)


def _snapshot(con, sid, day, status, reason=None, published_at=None) -> None:
    con.execute(
        "insert into audit.snapshots (snapshot_id, snapshot_date, source, checksum, status, reason,"
        " rows_loaded, rows_quarantined, loaded_at, published_at)"
        " values (?, ?, 'exports', ?, ?, ?, 300, 2, ?, ?)",
        [sid, day, sid, status, reason, _at(day), published_at],
    )


def _objects(con, sid, person_rows: int) -> None:
    for obj, rows in (("ssd_person", person_rows), ("ssd_cin_episodes", 200)):
        con.execute(
            "insert into audit.snapshot_objects values (?, ?, ?, ?, 1)",
            [sid, obj, f"{obj}.csv", rows],
        )


def _check(con, sid, day, expectation, severity, success, count=0, details=None, **kw) -> None:
    con.execute(
        "insert into audit.dq_results values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            kw.get("run", RUN),
            _at(day, 3),
            sid,
            day,
            kw.get("suite", "marts"),
            kw.get("table", "marts.outcome_metrics"),
            expectation,
            kw.get("column"),
            severity,
            success,
            count,
            details if isinstance(details, str) or details is None else json.dumps(details),
        ],
    )


def _published_night(con) -> None:
    """29 nights published before; on 2026-11-29 one failed warning (every_team_is_a_unit with
    team T999, its examples holding a case-system id), passing checks, a dbt warning message,
    and quarantined rows whose reasons quote a case-system id."""
    for i, day in enumerate(DAYS[:-1]):
        sid = f"s{day:%m%d}"
        last = day == PUBLISHED_DAY
        status = "published" if last else "superseded"
        _snapshot(con, sid, day, status, published_at=_at(day, 4))
        _objects(con, sid, 100 + i)
        con.execute("insert into audit.publications values (?, ?, ?, ?)", [sid, sid, day, _at(day)])
    sid = f"s{PUBLISHED_DAY:%m%d}"
    _check(
        con,
        sid,
        PUBLISHED_DAY,
        "every_team_is_a_unit",
        "warning",
        False,
        4,
        {
            "ref": "docs/metrics.md#teams",
            "values": [{"team_id": "T999", "records": 4}],
            "examples": [{"person_id": CASE_ID, "team_id": "T999"}],
        },
        column="team_id",
    )
    _check(con, sid, PUBLISHED_DAY, "no_negative_rates", "error", True, 0, {}, column="rate")
    _check(
        con,
        sid,
        PUBLISHED_DAY,
        "accepted_values_ssd_person_pers_sex",
        "warning",
        True,
        0,
        "Got 0 results, configured to warn if != 0",
        suite="dbt_tests",
        table="stg_person",
    )
    for line, reasons in (
        (3, f"person_id '{CASE_ID}' is duplicated (also on line 9)"),
        (9, f"person_id '{CASE_ID}' is duplicated (also on line 3); pers_sex 'Q' is not a code"),
    ):
        con.execute(
            "insert into audit.quarantine"
            " values (?, ?, 'ssd_person', 'ssd_person.csv', ?, ?, ?, ?)",
            [sid, PUBLISHED_DAY, line, CASE_ID, reasons, json.dumps({"person_id": CASE_ID})],
        )


def _refused_night(con) -> None:
    """On 2026-11-30 ssd_person lost 90% of its rows: refused at load (failed_volume)."""
    sid = f"s{REFUSED_DAY:%m%d}"
    _snapshot(con, sid, REFUSED_DAY, "failed_volume", "ssd_person.csv: 13 rows, 128 before (-90%)")
    _objects(con, sid, 13)


@pytest.fixture
def con(tmp_path):
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    ensure_schema(con)
    yield con
    con.close()


def _text(page: str) -> str:
    """The page's visible text, whitespace squeezed."""

    class Text(HTMLParser):
        parts: list[str] = []

        def handle_data(self, data: str) -> None:
            self.parts.append(data)

    parser = Text()
    parser.parts = []
    parser.feed(page)
    return " ".join(" ".join(parser.parts).split())


# --------------------------------------------------------------------------- content


def test_a_published_snapshot_with_a_warning_reads_as_published_with_a_warning(con, tmp_path):
    _published_night(con)
    page = build_page(con, tmp_path / "data_docs").read_text()
    assert '<section id="status" class="status warning">' in page
    assert "Snapshot 2026-11-29 published with 1 warning" in _text(page)
    assert "Published now: snapshot 2026-11-29" in _text(page)
    assert "Page built" in page
    assert "Failed" not in page  # GX's Data Docs said "Status: Failed" for this night


def test_a_clean_night_is_green(con):
    _published_night(con)
    con.execute("delete from audit.dq_results where not success")
    page = render(con)
    assert '<section id="status" class="status ok">' in page
    assert "Snapshot 2026-11-29 published, all 2 checks passed" in page
    assert "Every check passed." in page and "Nothing has failed." in page


def test_the_failed_warning_shows_its_non_personal_values_first(con, tmp_path):
    _published_night(con)
    page = render(con)
    failed = page.split('<table id="failed-checks">')[1].split("</table>")[0]
    rows = re.findall(r'<tr class="check ([a-z ]+)" data-expectation="([^"]+)">', failed)
    assert rows == [("warning failed", "every_team_is_a_unit")]
    row = failed.split('data-expectation="every_team_is_a_unit">')[1].split("</tr>")[0]
    assert "team_id T999, records 4" in row
    assert ">warning<" in row and "docs/metrics.md#teams" in row
    passed = page.split('<details id="passed-checks">')[1]
    assert "no_negative_rates" in passed
    assert "Got 0 results, configured to warn if != 0" in passed  # dbt's message, as text


def test_no_case_system_id_reaches_the_page(con, tmp_path):
    _published_night(con)
    _refused_night(con)
    page = render(con)
    assert CASE_ID not in page
    assert "examples" not in page


def test_quarantine_counts_rows_by_object_and_kind_of_reason(con):
    _published_night(con)
    page = render(con)
    section = page.split('<section id="quarantine">')[1].split("</section>")[0]
    assert "2 rows quarantined" in _text(section)
    found = re.findall(r"<td>ssd_person</td><td>([^<]+)</td><td class=\"num\">(\d+)</td>", section)
    assert found == [("person_id is duplicated", "2"), ("pers_sex is not a code", "1")]


def test_a_refused_snapshot_reads_as_refused_and_the_publication_stays(con, tmp_path):
    _published_night(con)
    _refused_night(con)
    page = render(con)
    assert '<section id="status" class="status refused">' in page
    sentence = re.search(r'<p id="status-sentence" class="sentence">([^<]+)</p>', page)[1]
    assert sentence.startswith("Snapshot 2026-11-30 refused (failed_volume): ssd_person.csv")
    assert sentence.endswith("; the publication stays at 2026-11-29")
    # The checks are still those of the newest validated snapshot, the warning among them.
    assert 'data-expectation="every_team_is_a_unit"' in page.split('id="failed-checks"')[1]
    history = page.split('<section id="history">')[1]
    assert re.search(r'<tr class="history refused error"><td>2026-11-30</td>', history)
    assert "<td>published</td><td>marts: marts.outcome_metrics.team_id every_team" in history


def test_a_big_drop_in_rows_is_highlighted(con):
    _published_night(con)
    _refused_night(con)
    page = render(con)
    table = page.split('<table id="row-count-table">')[1].split("</table>")[0]
    person = table.split('data-object="ssd_person">')[1].split("</tr>")[0]
    assert person.count('class="num drop"') == 1
    assert '<td class="num drop">13</td>' in person
    assert '<circle class="drop"' in person and "<svg" in person
    assert table.count('<th class="') == 30  # the last 30 snapshots, of 30 loaded
    assert "2026-11-30<br><small>failed_volume</small>" in table


def test_an_empty_warehouse_gives_a_page_saying_so(con, tmp_path):
    path = build_page(con, tmp_path / "data_docs")
    page = path.read_text()
    assert path == tmp_path / "data_docs" / "index.html"
    assert "No snapshot has been loaded yet." in page
    assert "Published now: nothing yet." in page
    for section in ("status", "checks", "quarantine", "row-counts", "history"):
        assert f'<section id="{section}"' in page


def test_values_are_escaped(con):
    _published_night(con)
    sid = f"s{PUBLISHED_DAY:%m%d}"
    _check(
        con,
        sid,
        PUBLISHED_DAY,
        "<script>alert(1)</script>",
        "error",
        False,
        1,
        {"values": ['<img src=x onerror="alert(2)">', {"code": "A&B"}], "error": "<b>oops</b>"},
        column='col"umn',
    )
    page = render(con)
    assert "<script" not in page and "<img" not in page and "<b>oops" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in page
    assert "code A&amp;B" in page and "col&quot;umn" in page


def test_the_page_is_self_contained(con):
    _published_night(con)
    _refused_night(con)
    page = render(con)
    assert not re.search(r"<script|<img|<iframe|@import|url\(|https?://|src=", page, re.I)
    assert re.findall(r'href="([^"]*)"', page) == ["data:,"]


def test_the_page_is_replaced_atomically_and_owner_only(con, tmp_path):
    out = tmp_path / "data_docs"
    first = build_page(con, out)
    _published_night(con)
    second = build_page(con, out)
    assert first == second
    assert os.listdir(out) == ["index.html"]  # no temporary file left behind
    assert stat.S_IMODE(second.stat().st_mode) == 0o600
    assert "published with 1 warning" in second.read_text()


# --------------------------------------------------------------------------- in a browser


def test_offline_in_headless_chromium(con, tmp_path):
    _published_night(con)
    page_file = build_page(con, tmp_path / "data_docs")
    with open_offline(page_file, tmp_path / "quality_page.png") as (page, visit):
        status = page.locator("#status-sentence")
        assert status.is_visible()
        assert status.inner_text() == "Snapshot 2026-11-29 published with 1 warning"
        row = page.locator("#failed-checks tr.check.warning.failed")
        assert row.count() == 1
        assert row.get_by_text("every_team_is_a_unit").is_visible()
        assert row.get_by_text("T999").is_visible()
        assert page.get_by_text(CASE_ID).count() == 0
    assert visit.external_requests == []
    assert visit.console_errors == []
    assert visit.screenshot is not None and visit.screenshot.stat().st_size > 10_000


def test_the_offline_browser_sees_what_a_page_fetches_and_its_errors(tmp_path):
    """The guard of tests/fixtures/browser.py: without it the test above could pass blind."""
    page_file = tmp_path / "leaky.html"
    page_file.write_text(
        '<!DOCTYPE html><html><head><link rel="stylesheet" href="https://cdn.example.org/b.css">'
        '</head><body><p>hi</p><img src="http://203.0.113.9/x.png">'
        "<script>console.error('boom'); undefinedFunction();</script></body></html>"
    )
    with open_offline(page_file, tmp_path / "leaky.png") as (page, visit):
        assert page.get_by_text("hi").is_visible()
    assert sorted(visit.external_requests) == [
        "http://203.0.113.9/x.png",
        "https://cdn.example.org/b.css",
    ]
    assert "boom" in visit.console_errors
    assert any("undefinedFunction" in e for e in visit.console_errors)
