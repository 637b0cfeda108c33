"""What ``fiw run``, ``fiw status`` and ``fiw metrics`` print: readable tables for people."""

from __future__ import annotations

from datetime import datetime

import duckdb
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from fiw.quality.results import values_text
from fiw.run.launcher import RunOutcome
from fiw.settings import Settings
from fiw.snapshots import REFUSED, as_utc, last_published_at, stale_since, utc_now
from fiw.warehouse import connect

STATUS_STYLE = {"published": "green", "validated": "green", "loaded": "cyan"}


def _style(status: str) -> str:
    return "red" if status in REFUSED else STATUS_STYLE.get(status, "yellow")


def _snapshot_table(title: str, rows: list[tuple]) -> Table:
    table = Table(title=title, title_justify="left")
    for name in ("extract date", "status", "rows", "quarantined", "reason"):
        table.add_column(name, justify="right" if name in ("rows", "quarantined") else "left")
    for snapshot_date, status, rows_loaded, rows_quarantined, reason in rows:
        table.add_row(
            str(snapshot_date),
            f"[{_style(status)}]{status}[/]",
            f"{rows_loaded:,}" if rows_loaded is not None else "",
            f"{rows_quarantined:,}" if rows_quarantined is not None else "",
            escape((reason or "")[:300]),
        )
    return table


def skipped_folders_table(con: duckdb.DuckDBPyConnection) -> Table | None:
    """The folders the latest load skipped (incomplete, or not named as a date), from
    ``audit.skipped_folders``; None when there are none (or the warehouse predates the table)."""
    exists = con.execute(
        "select count(*) from duckdb_tables() "
        "where schema_name = 'audit' and table_name = 'skipped_folders'"
    ).fetchone()[0]
    if not exists:
        return None
    rows = con.execute(
        "select folder, status, reason, seen_at from audit.skipped_folders order by folder"
    ).fetchall()
    if not rows:
        return None
    table = Table(title="Folders skipped by the latest load", title_justify="left")
    for name in ("folder", "status", "skipped since", "reason"):
        table.add_column(name)
    for folder, status, reason, seen_at in rows:
        seen = f"{seen_at:%Y-%m-%d %H:%M:%S}" if seen_at is not None else ""
        table.add_row(escape(folder), f"[yellow]{status}[/]", seen, escape(reason or ""))
    return table


def print_run(console: Console, settings: Settings, outcome: RunOutcome) -> None:
    with connect(settings, read_only=True) as con:
        changed = outcome.changed
        if changed:
            marks = ",".join("?" * len(changed))
            rows = con.execute(
                "select snapshot_date, status, rows_loaded, rows_quarantined, reason "
                f"from audit.snapshots where snapshot_id in ({marks}) order by snapshot_date",
                changed,
            ).fetchall()
            console.print(_snapshot_table("Snapshots this run", rows))
            objects = con.execute(
                "select s.snapshot_date, o.object, o.rows, o.rows_quarantined "
                "from audit.snapshot_objects o join audit.snapshots s using (snapshot_id) "
                f"where o.snapshot_id in ({marks}) order by s.snapshot_date, o.object",
                changed,
            ).fetchall()
            if objects:
                table = Table(title="Rows loaded per object", title_justify="left")
                for name in ("extract date", "object", "rows", "quarantined", "share"):
                    table.add_column(name, justify="left" if name == "object" else "right")
                for snapshot_date, obj, n, q in objects:
                    share = f"{q / n:.1%}" if n else "-"
                    table.add_row(str(snapshot_date), obj, f"{n:,}", f"{q:,}", share)
                console.print(table)
        elif outcome.exit_code == 0:
            console.print("Nothing new: every snapshot found was already loaded.")
        skipped = skipped_folders_table(con)
        if skipped is not None:
            console.print(skipped)
        published = con.execute(
            "select snapshot_date, published_at from audit.snapshots where status = 'published'"
        ).fetchone()
    for message in outcome.messages:
        console.print(f"[red]{escape(message)}[/red]")
    if published:
        console.print(
            f"Published: snapshot {published[0]} (at {published[1]:%Y-%m-%d %H:%M:%S}) "
            f"in {settings.published_path}"
        )
    else:
        console.print("[yellow]Nothing is published yet.[/yellow]")
    _print_warnings(console, settings, outcome.run_ids)
    docs = settings.data_docs_dir / "index.html"
    if docs.exists():
        console.print(f"Data quality: {docs}")
    if outcome.run_ids:
        console.print(f"Dagster runs: {', '.join(outcome.run_ids)}")
        console.print(f"Run log (Dagster events, dbt output, tracebacks): {outcome.log_file}")


def _print_warnings(console: Console, settings: Settings, run_ids: list[str]) -> None:
    """Every warning-severity check that failed in this command's runs: published regardless,
    and said here (check, table, count, values), so the cron mail carries it."""
    if not run_ids:
        return
    marks = ",".join("?" * len(run_ids))
    with connect(settings, read_only=True) as con:
        rows = con.execute(
            "select snapshot_date, suite, table_name, expectation, column_name, unexpected_count,"
            f" details from audit.dq_results where run_id in ({marks}) and not success"
            " and severity = 'warning' order by snapshot_date, suite, table_name, expectation",
            run_ids,
        ).fetchall()
    for day, suite, table, check, column, n, details in rows:
        where = f"{table}.{column}" if column else table
        count = "" if n is None else f" on {n:,} row{'' if n == 1 else 's'}"
        values = values_text(details)
        eg = f", e.g. {values}" if values else ""
        console.print(
            f"[yellow]warning: snapshot {day}: {escape(check)} ({suite}) on {escape(where)}"
            f" failed{count}{escape(eg)}[/yellow]",
            highlight=False,
        )


def print_status(console: Console, settings: Settings) -> int:
    """From the warehouse's audit log; while a run holds the warehouse, from the publication."""
    if not settings.warehouse_path.exists():
        console.print(f"No warehouse at {settings.warehouse_path}: run `fiw run` first.")
        return 1
    try:
        con = duckdb.connect(str(settings.warehouse_path), read_only=True)
        schema = "audit"
    except duckdb.IOException as exc:
        if "lock" not in str(exc).lower():
            raise  # not a run holding it: a damaged file, which the command reports as such
        console.print("[yellow]A run holds the warehouse; showing the last publication.[/yellow]")
        if not settings.published_path.exists():
            console.print("Nothing is published yet.")
            return 1
        con = duckdb.connect(str(settings.published_path), read_only=True)
        schema = "main"
    try:
        return _print_status(console, con, schema, stale_hours=settings.stale_hours)
    finally:
        con.close()


def _print_status(
    console: Console,
    con: duckdb.DuckDBPyConnection,
    schema: str,
    stale_hours: float = 36.0,
    now: datetime | None = None,
) -> int:
    rows = con.execute(
        "select snapshot_date, status, rows_loaded, rows_quarantined, reason "
        f"from {schema}.snapshots order by snapshot_date desc, loaded_at desc limit 30"
    ).fetchall()
    console.print(_snapshot_table("Snapshots (newest first)", rows))
    # Not from the 30 rows shown: a publication older than 30 refused nights is still the one.
    pub = con.execute(
        f"select max(snapshot_date) from {schema}.snapshots where status = 'published'"
    ).fetchone()[0]
    console.print(f"Last publication: snapshot {pub}" if pub else "Nothing published yet.")
    # Publication times are in the audit log only (published.duckdb has none): while a run holds
    # the warehouse, staleness is not shown.
    now = utc_now() if now is None else as_utc(now)
    since = stale_since(con, stale_hours, now) if schema == "audit" else None
    if since is not None:
        what = (
            "nothing published since"
            if last_published_at(con)
            else "nothing published yet; first snapshot recorded"
        )
        hours = (now - since).total_seconds() / 3600
        console.print(
            f"[red]Data is stale: {what} {since:%Y-%m-%d %H:%M} UTC, {hours:.0f} hours ago "
            f"(FIW_STALE_HOURS={stale_hours:g})[/red]"
        )
    skipped = skipped_folders_table(con) if schema == "audit" else None
    if skipped is not None:
        console.print(skipped)
    failures = con.execute(
        "select checked_at, snapshot_date, suite, table_name, expectation, column_name,"
        f" severity, unexpected_count, details from {schema}.dq_results where not success"
        f" and run_id = (select run_id from {schema}.dq_results order by checked_at desc limit 1)"
        " order by severity, suite, table_name"
    ).fetchall()
    if failures:
        table = Table(title="Latest data-quality failures", title_justify="left")
        for name in ("snapshot", "suite", "table", "expectation", "column", "severity", "rows"):
            table.add_column(name)
        table.add_column("values (no personal data)", overflow="fold")
        for _, snap, suite, tbl, exp, col, sev, n, details in failures:
            style = "red" if sev == "error" else "yellow"
            cells = [escape(str(v)) for v in (snap, suite, tbl, exp, col or "")]
            n_text = "" if n is None else str(n)
            table.add_row(*cells, f"[{style}]{sev}[/]", n_text, escape(values_text(details)))
        console.print(table)
    else:
        console.print("Latest data-quality run: no failures.")
    return 0


def _fmt(numerator, denominator, rate, suppressed) -> str:
    if suppressed:
        return "[dim]suppressed[/dim]"
    if rate is None:
        return f"- ({numerator}/{denominator})"
    return f"{rate:.1%} ({numerator:,}/{denominator:,})"


def print_metrics(console: Console, settings: Settings, segment: str = "all") -> int:
    if not settings.published_path.exists():
        console.print(f"Nothing published at {settings.published_path}: run `fiw run` first.")
        return 1
    con = duckdb.connect(str(settings.published_path), read_only=True)
    try:
        rows = con.execute(
            "select window_name, window_start, window_end, segment, metric, numerator,"
            " denominator, rate, suppressed, as_of_date from outcome_metrics"
            " where ? = '*' or segment = ? order by window_start, segment, metric",
            [segment, segment],
        ).fetchall()
    finally:
        con.close()
    if not rows:
        console.print(f"No published metrics for segment {segment!r}.")
        return 1
    windows = list(dict.fromkeys((r[0], r[1], r[2]) for r in rows))
    segments = list(dict.fromkeys(r[3] for r in rows))
    cells = {(r[3], r[4], r[0]): _fmt(r[5], r[6], r[7], r[8]) for r in rows}
    metrics = list(dict.fromkeys(r[4] for r in rows))
    for seg in segments:
        table = Table(
            title=f"Outcome metrics, segment {seg} (as of {rows[0][9]})", title_justify="left"
        )
        table.add_column("metric")
        for name, start, end in windows:
            table.add_column(f"{name}\n{start} to {end}", justify="right")
        for metric in metrics:
            table.add_row(metric, *[cells.get((seg, metric, w[0]), "") for w in windows])
        console.print(table)
    console.print("rate (numerator/denominator); small numbers suppressed as in DfE publications")
    return 0
