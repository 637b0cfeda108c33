"""The dbt project built on PostgreSQL (dbt-postgres), from a snapshot the nightly load extracted.

The nightly load extracts into DuckDB and builds there. ``fiw build-postgres --url URL`` builds one
of its snapshots (by default the published one) with the same dbt project on a PostgreSQL
database, for an authority or a regional partnership whose analysts share a server:

1. **sources**: the dbt sources of that snapshot are copied from ``warehouse.duckdb``, and
   nothing else: the rows of every ``raw.ssd_*`` table that belong to it, and ``audit.snapshots``,
   ``audit.dq_results`` and ``audit.hash_key`` (its HMAC pads as ``bytea``, so ``keyed_hash``
   gives the same pseudonyms); all of them replaced in one transaction;
2. ``dbt build --target postgres``: every model, test and unit test, except the disclosure-
   controlled models and what reads them;
3. **disclosure control**: dbt-postgres runs no Python models, so the search that chooses the
   complementary cells (:func:`fiw.disclosure.table.suppress_release` for the programme windows
   and the financial years together, :func:`fiw.disclosure.table.suppress_table` for the monthly
   trends, as DuckDB's Python models ``outcome_metrics_suppressed``, ``outcome_years_suppressed``
   and ``outcome_trends_suppressed`` call them) runs here, on the database's ``marts.*``, into
   schema ``suppression``;
4. ``dbt build --target postgres --select outcome_metrics_suppressed+ ...``: on PostgreSQL those
   names are SQL models (``models/marts/postgres/``) that read schema ``suppression``; their
   tests, and the models downstream, are DuckDB's.

dbt reads the connection from ``FIW_PG_HOST``, ``FIW_PG_PORT``, ``FIW_PG_USER``,
``FIW_PG_PASSWORD`` and ``FIW_PG_DATABASE`` (the ``postgres`` output of ``profiles.yml``), set
here from the URL for its process only. The user needs ``CREATE`` on the database (dbt creates the
schemas ``raw``, ``audit``, ``reference``, ``staging``, ``intermediate``, ``marts`` and
``suppression``): this is a build database, not the published one (``FIW_PUBLISH_URL``), which
only the publication writes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from fiw.disclosure.table import COLUMNS, suppress_release, suppress_table
from fiw.errors import FiwError
from fiw.publish.database import PublishError
from fiw.publish.postgres import (
    connect,
    connection_args,
    copy_file,
    ident,
    literal,
    postgres_type,
)
from fiw.settings import DBT_PROJECT_DIR, dbt_executable, suppression_threshold

SUPPRESSED = ("outcome_metrics_suppressed", "outcome_years_suppressed", "outcome_trends_suppressed")
SUPPRESSION_SCHEMA = "suppression"
WHAT = "PostgreSQL build database"
# the audit tables dbt declares as sources (nothing else of the audit, e.g. quarantined rows)
AUDIT = ("snapshots", "hash_key", "dq_results")
# what suppression.<table> holds: the model's columns and their PostgreSQL types
SUPPRESSED_TYPES = {
    "window_name": "text",
    "window_start": "date",
    "window_end": "date",
    "segment": "text",
    "metric": "text",
    "numerator": "bigint",
    "denominator": "bigint",
    "rate": "double precision",
    "ci_low": "double precision",
    "ci_high": "double precision",
    "suppressed": "boolean",
    "as_of_date": "date",
}


@dataclass
class Build:
    """What :func:`build` did: the snapshot, the seconds of each step and dbt's summaries."""

    snapshot_id: str
    seconds: dict[str, float] = field(default_factory=dict)
    summaries: list[str] = field(default_factory=list)


def _snapshot(src: duckdb.DuckDBPyConnection, snapshot_id: str | None) -> str:
    if snapshot_id:
        found = src.execute(
            "select count(*) from audit.snapshots where snapshot_id = ?", [snapshot_id]
        ).fetchone()[0]
        if not found:
            raise FiwError(f"no snapshot {snapshot_id} in the warehouse.", "See `fiw status`.")
        return snapshot_id
    row = src.execute(
        "select snapshot_id from audit.snapshots where status = 'published'"
        " order by published_at desc limit 1"
    ).fetchone()
    if row is None:
        raise FiwError(
            "the warehouse has published no snapshot to build on PostgreSQL.",
            "Run `fiw run` first, or name a snapshot with --snapshot.",
        )
    return row[0]


def _columns(src, schema: str, table: str) -> list[tuple[str, str]]:
    return src.execute(
        "select column_name, data_type from duckdb_columns() where schema_name = ?"
        " and table_name = ? order by column_index",
        [schema, table],
    ).fetchall()


def _pg_type(duckdb_type: str) -> str:
    return "bytea" if duckdb_type == "BLOB" else postgres_type(duckdb_type)


def _exported(column: str, duckdb_type: str) -> str:
    """The column as DuckDB writes it to CSV for PostgreSQL's COPY (bytea in its hex form)."""
    if duckdb_type == "BLOB":
        return f"'\\x' || lower(hex({ident(column)}))"
    return ident(column)


def mirror_sources(warehouse: Path, url: str, snapshot_id: str | None, scratch: Path) -> str:
    """Copy the dbt sources of one snapshot from ``warehouse`` to ``url`` (step 1); returns the
    snapshot's id."""
    try:
        src = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error as e:  # most often: a run holds it (DuckDB's file lock)
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise FiwError(
            f"the warehouse {warehouse} cannot be read: {first}",
            "If a run holds it, try again when it has ended (`fiw status`).",
        ) from None
    try:
        snapshot_id = _snapshot(src, snapshot_id)
        tables = src.execute(
            "select schema_name, table_name from duckdb_tables() where schema_name = 'raw'"
            f" or (schema_name = 'audit' and table_name in ({', '.join(map(literal, AUDIT))}))"
            " order by 1, 2"
        ).fetchall()
        with connect(url, WHAT) as con:
            for schema in ("raw", "audit"):
                con.execute(f"create schema if not exists {schema}")
            for schema, table in tables:
                columns = _columns(src, schema, table)
                relation = f"{schema}.{ident(table)}"
                con.execute(f"drop table if exists {relation}")
                con.execute(
                    f"create table {relation} ("
                    + ", ".join(f"{ident(c)} {_pg_type(t)}" for c, t in columns)
                    + ")"
                )
                where = f" where _snapshot_id = {literal(snapshot_id)}" if schema == "raw" else ""
                select = ", ".join(_exported(c, t) for c, t in columns)
                try:
                    src.execute(
                        f"copy (select {select} from {relation}{where})"
                        f" to {literal(str(scratch))} (format csv, header false)"
                    )
                    copy_file(con, f"copy {relation} from stdin (format csv)", scratch)
                finally:
                    scratch.unlink(missing_ok=True)
            con.commit()
    finally:
        src.close()
    return snapshot_id


def _env(url: str, snapshot_id: str) -> dict[str, str]:
    args = connection_args(url)
    return {
        **os.environ,
        "FIW_PG_HOST": str(args.get("host", "127.0.0.1")),
        "FIW_PG_PORT": str(args.get("port", 5432)),
        "FIW_PG_USER": str(args.get("user", "")),
        "FIW_PG_PASSWORD": str(args.get("password", "")),
        "FIW_PG_DATABASE": str(args.get("dbname", "")),
        "FIW_SNAPSHOT_ID": snapshot_id,
    }


def _dbt(selection: list[str], env: dict[str, str], target: Path) -> str:
    """``dbt build --target postgres`` with ``selection``; its summary line, or a FiwError."""
    command = [
        dbt_executable(), "build", "--target", "postgres", *selection,
        "--profiles-dir", str(DBT_PROJECT_DIR), "--project-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(target), "--log-path", str(target / "logs"),
        "--no-use-colors", "--no-send-anonymous-usage-stats",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    summary = next((line.split("  ", 1)[-1] for line in reversed(lines) if "PASS=" in line), "")
    if done.returncode != 0:
        failures = [line for line in lines if " ERROR " in line or " FAIL " in line][:10]
        detail = "\n".join(failures) or "\n".join(lines[-15:])
        raise FiwError(
            f"dbt build on PostgreSQL failed (exit {done.returncode}): {summary}\n{detail}",
            f"dbt's log: {target / 'logs' / 'dbt.log'}",
        )
    return summary


def suppress_on_postgres(url: str, threshold: int) -> dict[str, int]:
    """Step 3: disclosure control of ``marts.outcome_metrics`` with ``marts.outcome_years``, and
    of ``marts.outcome_trends``, into ``suppression.*``; returns the number of suppressed cells of
    each."""
    hidden: dict[str, int] = {}
    with connect(url, WHAT) as con:
        con.execute(f"create schema if not exists {SUPPRESSION_SCHEMA}")

        def read(source: str) -> pd.DataFrame:
            with con.cursor() as cur:
                cur.execute(f"select {', '.join(COLUMNS)} from marts.{ident(source)}")
                return pd.DataFrame(cur.fetchall(), columns=list(COLUMNS))

        metrics, years, chosen = suppress_release(
            read("outcome_metrics"), read("outcome_years"), threshold
        )
        trends, trends_chosen = suppress_table(read("outcome_trends"), threshold)
        for source, table, count in (
            ("outcome_metrics", metrics, int(metrics["suppressed"].sum())),
            ("outcome_years", years, int(years["suppressed"].sum())),
            ("outcome_trends", trends, len(trends_chosen.all)),
        ):
            relation = f"{SUPPRESSION_SCHEMA}.{ident(source)}"
            con.execute(f"drop table if exists {relation}")
            con.execute(
                f"create table {relation} ("
                + ", ".join(f"{ident(c)} {SUPPRESSED_TYPES[c]}" for c in COLUMNS)
                + ")"
            )
            with con.cursor() as cur, cur.copy(f"copy {relation} from stdin") as copy:
                for row in table.itertuples(index=False):
                    copy.write_row([None if pd.isna(v) else v for v in row])
            hidden[f"{source}_suppressed"] = count
        con.commit()
    return hidden


def build(warehouse: Path, url: str, snapshot_id: str | None = None) -> Build:
    """Steps 1 to 4: one snapshot of ``warehouse`` built by dbt on ``url``. dbt's files and logs
    are kept in ``dbt_target/postgres/`` beside the warehouse until the next build."""
    started = time.perf_counter()
    targets = warehouse.parent / "dbt_target" / "postgres"
    shutil.rmtree(targets, ignore_errors=True)
    targets.mkdir(parents=True, mode=0o700)
    with tempfile.TemporaryDirectory(prefix="fiw-dbt-postgres-", dir=targets) as tmp:
        scratch = Path(tmp) / "copy.csv"
        try:
            snapshot_id = mirror_sources(warehouse, url, snapshot_id, scratch)
        except PublishError as e:
            raise FiwError(f"{e}.", "Check the URL given to --url.") from None
        done = Build(snapshot_id)
        done.seconds["sources"] = time.perf_counter() - started
        env = _env(url, snapshot_id)
        downstream = [f"{name}+" for name in SUPPRESSED]
        mark = time.perf_counter()
        done.summaries.append(_dbt(["--exclude", *downstream], env, targets / "before"))
        done.seconds["dbt build"] = time.perf_counter() - mark
        mark = time.perf_counter()
        suppress_on_postgres(url, suppression_threshold())
        done.seconds["disclosure control"] = time.perf_counter() - mark
        mark = time.perf_counter()
        done.summaries.append(_dbt(["--select", *downstream], env, targets / "after"))
        done.seconds["dbt build"] += time.perf_counter() - mark
    done.seconds["total"] = time.perf_counter() - started
    return done
