"""The data-quality page: one self-contained ``data_docs/index.html`` built from the audit schema.

Great Expectations' own Data Docs loaded jQuery and bootstrap from CDNs (a blank page offline)
and said "Status: Failed" for a snapshot that was published with only a warning. This page is the
project's own: plain HTML with inline CSS and inline SVG, no script, no font, no image, nothing
fetched, so it opens the same on an air-gapped machine. It reads only ``audit`` tables, with a
few bounded queries, so it is cheap enough to rebuild after every pipeline step.

Sections, top down (each with a stable ``id`` for tests and bookmarks):

- ``#status``: tonight's outcome for the newest snapshot (by snapshot date, then load time) in one
  sentence on a coloured banner: green published and clean, amber published with warnings (never
  "failed"), red refused, grey anything else; the current publication and when the page was built.
- ``#checks``: every check of the newest snapshot that was validated (its latest run): failed
  errors, then warnings, then (folded) the passing ones.
- ``#quarantine``: the newest snapshot's quarantined rows by object and reason.
- ``#row-counts``: rows per object over the last :data:`ROW_COUNT_SNAPSHOTS` snapshots.
- ``#history``: failed checks and refused snapshots, newest first, at most :data:`HISTORY_LIMIT`.

What never reaches the page: ``details.examples`` of a check (whole offending rows, with
case-system ids), ``record_id`` and ``record`` of the quarantine, and any quoted value in a
quarantine or refusal reason (a reason quotes the offending value, e.g. a duplicated key).
"""

from __future__ import annotations

import html
import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from fiw import snapshots
from fiw.quality.results import latest_run_counts

ROW_COUNT_SNAPSHOTS = 30
HISTORY_LIMIT = 200
VALUES_SHOWN = 20  # non-personal offending values listed per check
TEXT_LIMIT = 300  # characters of a reason, an error or an observed value
DROP = (
    0.5  # a row count below half the previous snapshot's is highlighted (FIW_VOLUME_DROP's default)
)

# A quoted value inside a reason ('P123' is duplicated), and the lines a duplicate key lists.
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_QUOTED_SQL = r"'[^']*'|\"[^\"]*\"|\(value withheld: personal data\)|\(also on lines? [^)]*\)"


# --------------------------------------------------------------------------- small helpers


def _e(value: Any) -> str:
    """``value`` as escaped HTML text; None as nothing."""
    return "" if value is None else html.escape(str(value), quote=True)


def _bounded(text: str, limit: int = TEXT_LIMIT) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _scrub(reason: str | None) -> str:
    """A refusal reason as the page shows it: quoted values blanked, one line, bounded."""
    return _bounded(_QUOTED.sub("'…'", reason or ""), 800)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


# --------------------------------------------------------------------------- 1. status


@dataclass(frozen=True)
class Status:
    """The banner: a colour (``ok``, ``warning``, ``refused``, ``neutral``) and a sentence."""

    level: str
    sentence: str


def _newest_snapshot(con: duckdb.DuckDBPyConnection) -> dict | None:
    found = _rows(
        con,
        "select snapshot_id, snapshot_date, status, reason from audit.snapshots"
        " order by snapshot_date desc, loaded_at desc nulls last limit 1",
    )
    return found[0] if found else None


def _publication_text(pub: snapshots.Snapshot | None) -> str:
    return f"the publication stays at {pub.snapshot_date}" if pub else "nothing is published yet"


def status_of(con: duckdb.DuckDBPyConnection) -> Status:
    """The one-sentence outcome of the newest snapshot. A published snapshot with failed warning
    checks is amber, "published with N warnings": it was published, so it never reads as failed."""
    newest = _newest_snapshot(con)
    if newest is None:
        return Status("neutral", "No snapshot has been loaded yet.")
    day, status = newest["snapshot_date"], newest["status"]
    pub = snapshots.published(con)
    if status in (snapshots.PUBLISHED, snapshots.SUPERSEDED):
        checks, _, warnings = latest_run_counts(con, newest["snapshot_id"])
        if warnings:
            return Status(
                "warning", f"Snapshot {day} published with {_plural(warnings, 'warning')}"
            )
        passed = f"all {_plural(checks, 'check')} passed" if checks else "all checks passed"
        return Status("ok", f"Snapshot {day} published, {passed}")
    if status in snapshots.REFUSED:
        reason = _scrub(newest["reason"])
        why = f": {reason}" if reason else ""
        return Status(
            "refused", f"Snapshot {day} refused ({status}){why}; {_publication_text(pub)}"
        )
    if status == snapshots.DUPLICATE:
        return Status(
            "neutral",
            f"Snapshot {day} is a duplicate of one already loaded; {_publication_text(pub)}",
        )
    waiting = {
        snapshots.LOADED: "is loaded and waiting to be validated",
        snapshots.VALIDATED: "passed validation and is waiting to be published",
    }.get(status, f"is {status}")
    current = f"the publication is at {pub.snapshot_date}" if pub else "nothing is published yet"
    return Status("neutral", f"Snapshot {day} {waiting}; {current}")


def _status_section(con: duckdb.DuckDBPyConnection, built_at: datetime) -> str:
    status = status_of(con)
    pub = _rows(
        con,
        "select snapshot_date, published_at from audit.snapshots where status = ?"
        " order by published_at desc limit 1",
        [snapshots.PUBLISHED],
    )
    published = (
        f"Published now: snapshot {_e(pub[0]['snapshot_date'])}"
        f" (since {_e(_time(pub[0]['published_at']))} UTC)."
        if pub
        else "Published now: nothing yet."
    )
    return (
        f'<section id="status" class="status {status.level}">'
        f'<p id="status-sentence" class="sentence">{_e(status.sentence)}</p>'
        f'<p class="meta"><span id="publication">{published}</span> '
        f'<span id="built-at">Page built {_e(_time(built_at))}.</span></p>'
        "</section>"
    )


def _time(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.strftime("%Y-%m-%d %H:%M") + (" UTC" if moment.tzinfo else "")


# --------------------------------------------------------------------------- 2. checks


def _details(raw: str | None) -> tuple[dict, str]:
    """(JSON details, plain text): Great Expectations rows hold JSON, dbt's rows its message."""
    if not raw:
        return {}, ""
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}, _bounded(raw)
    return (parsed, "") if isinstance(parsed, dict) else ({}, _bounded(raw))


def _value_text(value: Any) -> str:
    """One offending value as text: ``{"team_id": "T999", "records": 4}`` reads
    "team_id T999, records 4"."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {_bounded(str(v), 80)}" for k, v in value.items())
    return _bounded(str(value), 80)


def _details_html(raw: str | None) -> str:
    """The non-personal part of a check's details: its ``values`` (offending codes, team ids and
    the like, with counts), ``observed`` and ``error``. ``examples`` holds whole rows with
    case-system ids and is never read."""
    details, text = _details(raw)
    parts = []
    values = details.get("values")
    if values:
        values = values if isinstance(values, list) else [values]
        items = "".join(f"<li>{_e(_value_text(v))}</li>" for v in values[:VALUES_SHOWN])
        more = len(values) - VALUES_SHOWN
        if more > 0:
            items += f"<li>and {more:,} more</li>"
        parts.append(f'<ul class="values">{items}</ul>')
    if details.get("observed") is not None:
        observed = _bounded(json.dumps(details["observed"], default=str))
        parts.append(f'<p class="observed">observed {_e(observed)}</p>')
    if details.get("error"):
        first = str(details["error"]).splitlines()[0] if str(details["error"]) else ""
        parts.append(f'<p class="error-text">could not run: {_e(_bounded(first))}</p>')
    if text:
        parts.append(f'<p class="message">{_e(text)}</p>')
    return "".join(parts)


def _result(row: dict) -> str:
    if row["success"]:
        return "passed"
    return "warning" if row["severity"] == "warning" else "failed"


def _check_row(row: dict) -> str:
    result = _result(row)
    outcome = "passed" if result == "passed" else "failed"
    severity = "warning" if row["severity"] == "warning" else "error"
    details, _ = _details(row["details"])
    ref = f' <span class="ref">({_e(details["ref"])})</span>' if details.get("ref") else ""
    count = "" if row["unexpected_count"] is None else f"{row['unexpected_count']:,}"
    return (
        f'<tr class="check {severity} {outcome}" data-expectation="{_e(row["expectation"])}">'
        f"<td>{_e(row['suite'])}</td><td>{_e(row['table_name'])}</td>"
        f'<td class="name">{_e(row["expectation"])}{ref}</td>'
        f"<td>{_e(row['column_name'])}</td><td>{severity}</td>"
        f'<td class="result">{result}</td><td class="num">{count}</td>'
        f"<td>{_details_html(row['details'])}</td></tr>"
    )


_CHECK_HEAD = (
    "<thead><tr><th>Suite</th><th>Table</th><th>Check</th><th>Column</th><th>Severity</th>"
    "<th>Result</th><th>Unexpected</th><th>Details</th></tr></thead>"
)


def _latest_run(con: duckdb.DuckDBPyConnection) -> dict | None:
    """The newest validation run: of the newest snapshot (by date) that was checked at all."""
    found = _rows(
        con,
        "select snapshot_id, snapshot_date, run_id, checked_at from audit.dq_results"
        " order by snapshot_date desc, checked_at desc limit 1",
    )
    return found[0] if found else None


def _checks_section(con: duckdb.DuckDBPyConnection) -> str:
    run = _latest_run(con)
    head = '<section id="checks"><h2>Checks</h2>'
    if run is None:
        return head + '<p class="empty">No snapshot has been validated yet.</p></section>'
    rows = _rows(
        con,
        """
        select suite, table_name, expectation, column_name, severity, success,
               unexpected_count, details
        from audit.dq_results where snapshot_id = ? and run_id = ?
        order by coalesce(success, false), severity = 'warning', suite, table_name,
                 expectation, column_name
        """,
        [run["snapshot_id"], run["run_id"]],
    )
    failed = [r for r in rows if not r["success"]]
    passed = [r for r in rows if r["success"]]
    status = _rows(
        con, "select status from audit.snapshots where snapshot_id = ?", [run["snapshot_id"]]
    )
    outcome = f" ({status[0]['status']})" if status else ""
    out = [
        head,
        f'<p class="meta">Snapshot {_e(run["snapshot_date"])}{_e(outcome)}, run '
        f"{_e(run['run_id'])}, checked {_e(_time(run['checked_at']))}: "
        f"{_plural(len(rows), 'check')}, {len(failed):,} not passed.</p>",
    ]
    if failed:
        body = "".join(_check_row(r) for r in failed)
        out.append(f'<table id="failed-checks">{_CHECK_HEAD}<tbody>{body}</tbody></table>')
    else:
        out.append('<p class="empty">Every check passed.</p>')
    if passed:
        body = "".join(_check_row(r) for r in passed)
        out.append(
            f'<details id="passed-checks"><summary>{_plural(len(passed), "passing check")}'
            f"</summary><table>{_CHECK_HEAD}<tbody>{body}</tbody></table></details>"
        )
    out.append("</section>")
    return "".join(out)


# --------------------------------------------------------------------------- 3. quarantine


def _quarantine_section(con: duckdb.DuckDBPyConnection) -> str:
    """Quarantined rows of the newest snapshot by object and kind of reason. A row can break
    several rules (``reasons`` joined by "; "), so it counts once under each; the quoted value
    and the duplicate's other lines are cut so that one rule is one line, with no value in it."""
    newest = _newest_snapshot(con)
    head = '<section id="quarantine"><h2>Quarantine</h2>'
    if newest is None:
        return head + '<p class="empty">No snapshot has been loaded yet.</p></section>'
    rows = _rows(
        con,
        f"""
        with split as (
            select object, trim(unnest(string_split(reasons, '; '))) as reason
            from audit.quarantine where snapshot_id = ?
        )
        select object,
               trim(regexp_replace(regexp_replace(reason, $${_QUOTED_SQL}$$, '', 'g'),
                                   '\\s+', ' ', 'g')) as reason,
               count(*) as n
        from split where reason <> ''
        group by all order by object, n desc, reason
        """,
        [newest["snapshot_id"]],
    )
    total = con.execute(
        "select count(*) from audit.quarantine where snapshot_id = ?", [newest["snapshot_id"]]
    ).fetchone()[0]
    out = [
        head,
        f'<p class="meta">Snapshot {_e(newest["snapshot_date"])}: '
        f'<span id="quarantine-total">{_plural(total, "row")} quarantined</span>.</p>',
    ]
    if rows:
        body = "".join(
            f'<tr class="quarantine" data-object="{_e(r["object"])}"><td>{_e(r["object"])}</td>'
            f'<td>{_e(r["reason"])}</td><td class="num">{r["n"]:,}</td></tr>'
            for r in rows
        )
        out.append(
            '<table id="quarantine-reasons"><thead><tr><th>Object</th><th>Reason</th>'
            f"<th>Rows</th></tr></thead><tbody>{body}</tbody></table>"
        )
    out.append("</section>")
    return "".join(out)


# --------------------------------------------------------------------------- 4. row counts


def _sparkline(counts: list[int | None], drops: set[int]) -> str:
    """Inline SVG line of ``counts`` (oldest first); a red dot where the count dropped."""
    width, height, pad = 120, 24, 3
    known = [c for c in counts if c is not None]
    if not known:
        return ""
    top = max(known) or 1
    step = (width - 2 * pad) / max(len(counts) - 1, 1)

    def point(i: int, c: int) -> tuple[float, float]:
        return pad + i * step, height - pad - (height - 2 * pad) * c / top

    pts = [point(i, c) for i, c in enumerate(counts) if c is not None]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
    dots = "".join(
        f'<circle class="drop" cx="{point(i, counts[i])[0]:.1f}" '
        f'cy="{point(i, counts[i])[1]:.1f}" r="2.5"/>'
        for i in sorted(drops)
        if counts[i] is not None
    )
    return (
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="rows per snapshot"><polyline points="{line}"/>{dots}</svg>'
    )


def _drops(counts: list[int | None], drop: float) -> set[int]:
    """Indexes (oldest first) where the count fell by more than ``drop`` since the one before."""
    found = set()
    for i in range(1, len(counts)):
        before, now = counts[i - 1], counts[i]
        if before and now is not None and now < before * (1 - drop):
            found.add(i)
    return found


def _row_counts_section(con: duckdb.DuckDBPyConnection, drop: float) -> str:
    snaps = _rows(
        con,
        """
        select snapshot_id, snapshot_date, status from audit.snapshots
        where snapshot_id in (select snapshot_id from audit.snapshot_objects)
        order by snapshot_date desc, loaded_at desc nulls last limit ?
        """,
        [ROW_COUNT_SNAPSHOTS],
    )
    head = (
        f'<section id="row-counts"><h2>Rows per object, last {ROW_COUNT_SNAPSHOTS} snapshots</h2>'
    )
    if not snaps:
        return head + '<p class="empty">No snapshot has been loaded yet.</p></section>'
    snaps.reverse()  # oldest first: the sparkline runs left to right
    ids = [s["snapshot_id"] for s in snaps]
    counts: dict[str, dict[str, int]] = {}
    for r in _rows(
        con,
        "select object, snapshot_id, sum(rows)::bigint as n from audit.snapshot_objects"
        " where snapshot_id in (select unnest(?)) group by all",
        [ids],
    ):
        counts.setdefault(r["object"], {})[r["snapshot_id"]] = r["n"]
    header = "".join(
        f'<th class="{_status_class(s["status"])}" title="{_e(s["status"])}">'
        f"{_e(s['snapshot_date'])}<br><small>{_e(s['status'])}</small></th>"
        for s in reversed(snaps)
    )
    body = []
    for obj in sorted(counts):
        series = [counts[obj].get(i) for i in ids]
        drops = _drops(series, drop)
        cells = "".join(
            f'<td class="num{" drop" if i in drops else ""}">'
            f"{'' if series[i] is None else f'{series[i]:,}'}</td>"
            for i in reversed(range(len(series)))
        )
        body.append(
            f'<tr class="object" data-object="{_e(obj)}"><th>{_e(obj)}</th>'
            f"<td>{_sparkline(series, drops)}</td>{cells}</tr>"
        )
    return (
        head + '<p class="meta">Newest first; a red cell lost more than '
        f"{drop:.0%} of the rows of the snapshot before it.</p>"
        '<div class="scroll"><table id="row-count-table"><thead><tr><th>Object</th>'
        f"<th>Trend</th>{header}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
        "</section>"
    )


def _status_class(status: str) -> str:
    return "refused" if status in snapshots.REFUSED else "accepted"


# --------------------------------------------------------------------------- 5. history


def _history_section(con: duckdb.DuckDBPyConnection) -> str:
    """Every failed check and every refused snapshot over the kept history, newest first, with
    the snapshot's outcome: a warning on a published snapshot reads as published."""
    refused = ", ".join(f"'{s}'" for s in snapshots.REFUSED)
    rows = _rows(
        con,
        f"""
        select * from (
            select d.snapshot_date, d.checked_at as happened_at, 'check' as kind, d.suite,
                   d.table_name, d.expectation, d.column_name, d.severity, d.unexpected_count,
                   null as reason, s.status
            from audit.dq_results d left join audit.snapshots s using (snapshot_id)
            where not coalesce(d.success, false)
            union all
            select snapshot_date, loaded_at, 'refused', null, null, null, null, 'error', null,
                   reason, status
            from audit.snapshots where status in ({refused})
        )
        order by snapshot_date desc, happened_at desc nulls last, kind desc, table_name, expectation
        limit ?
        """,
        [HISTORY_LIMIT],
    )
    head = '<section id="history"><h2>History of failures</h2>'
    if not rows:
        return head + '<p class="empty">Nothing has failed.</p></section>'
    body = "".join(_history_row(r) for r in rows)
    return (
        head + f'<p class="meta">Newest first, at most {HISTORY_LIMIT}.</p>'
        '<table id="history-table"><thead><tr><th>Snapshot</th><th>Snapshot outcome</th>'
        "<th>What</th><th>Severity</th><th>Unexpected</th></tr></thead>"
        f"<tbody>{body}</tbody></table></section>"
    )


def _history_row(r: dict) -> str:
    severity = "warning" if r["severity"] == "warning" else "error"
    if r["kind"] == "refused":
        reason = _scrub(r["reason"])
        what = f"snapshot refused{': ' + reason if reason else ''}"
    else:
        column = f".{r['column_name']}" if r["column_name"] else ""
        what = f"{r['suite']}: {r['table_name']}{column} {r['expectation']}"
    count = "" if r["unexpected_count"] is None else f"{r['unexpected_count']:,}"
    return (
        f'<tr class="history {r["kind"]} {severity}"><td>{_e(r["snapshot_date"])}</td>'
        f"<td>{_e(r['status'])}</td><td>{_e(what)}</td><td>{severity}</td>"
        f'<td class="num">{count}</td></tr>'
    )


# --------------------------------------------------------------------------- the page


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
max-width:1200px;padding:1rem 1.5rem;color:#1b1b1b;background:#fff;line-height:1.4}
h1{font-size:1.4rem;margin:.2rem 0 1rem}h2{font-size:1.15rem;margin:1.8rem 0 .5rem}
.status{border-radius:6px;padding:.8rem 1rem;border-left:8px solid}
.status .sentence{font-size:1.2rem;font-weight:600;margin:0 0 .3rem}
.status .meta{margin:0}
.status.ok{background:#e6f4ea;border-color:#1e7e34}
.status.warning{background:#fff4d6;border-color:#b7791f}
.status.refused{background:#fde8e8;border-color:#c0392b}
.status.neutral{background:#eef1f4;border-color:#5b6770}
.meta{color:#444;font-size:.9rem}.empty{color:#555;font-style:italic}
table{border-collapse:collapse;font-size:.88rem;margin:.4rem 0}
th,td{border:1px solid #d5d9dd;padding:.25rem .5rem;text-align:left;vertical-align:top}
thead th{background:#f3f5f7}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.check.error.failed td.result{background:#fde8e8;color:#8b1a1a;font-weight:600}
tr.check.warning.failed td.result{background:#fff4d6;color:#7a4d00;font-weight:600}
tr.check.passed td.result{color:#1e7e34}
ul.values{margin:0;padding-left:1.1rem}p.observed,p.error-text,p.message{margin:0}
.ref{color:#555;font-size:.8rem}
#row-count-table thead th{white-space:nowrap}
th.refused{background:#fde8e8}td.drop{background:#fde8e8;font-weight:600}
.scroll{overflow-x:auto}
svg.spark polyline{fill:none;stroke:#2f6690;stroke-width:1.5}
svg.spark circle.drop{fill:#c0392b}
tr.history.refused td,tr.history.error td{color:#8b1a1a}
tr.history.warning td{color:#7a4d00}
details summary{cursor:pointer;margin:.5rem 0}
"""


def render(
    con: duckdb.DuckDBPyConnection, built_at: datetime | None = None, drop: float = DROP
) -> str:
    """The whole page as HTML text."""
    built_at = built_at or datetime.now(UTC)
    sections = [
        _status_section(con, built_at),
        _checks_section(con),
        _quarantine_section(con),
        _row_counts_section(con, drop),
        _history_section(con),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # No request of any kind: not even the favicon the browser would otherwise ask for.
        '<link rel="icon" href="data:,">'
        "<title>fiw data quality</title>"
        f"<style>{_CSS}</style></head><body><h1>fiw data quality</h1>"
        + "".join(sections)
        + "</body></html>\n"
    )


def build_page(con: duckdb.DuckDBPyConnection, out_dir: Path, *, drop: float = DROP) -> Path:
    """Write ``out_dir/index.html`` from the audit schema and return its path.

    Written to a temporary file in ``out_dir`` and renamed over the old page, so a reader (or a
    crash) never sees half a page. The file is owner-only, like the rest of the warehouse tier."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    page = render(con, drop=drop)
    target = out_dir / "index.html"
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".index-", suffix=".html.tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(page)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
