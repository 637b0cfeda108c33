"""The whole dbt build on PostgreSQL (``fiw build-postgres``, fiw.dbt_postgres) on a real server.

The session's small authority (tests/fixtures/nightly.py), built by the nightly job on DuckDB, is
built again on PostgreSQL from the same snapshot: every model, test and unit test passes there,
and every table of ``marts`` (the metrics, the trends, the comparisons, caseloads, plan episodes,
the matched comparison, and their disclosure-controlled copies) holds the same rows on both.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from tests.fixtures.nightly import fiw

pytestmark = pytest.mark.slow

SSD_OBJECTS = (
    "person", "cin_episodes", "cin_assessments", "cin_plans", "cp_plans", "cla_episodes",
    "involvements", "professionals", "department",
)  # fmt: skip


@pytest.fixture(scope="module")
def home(nightly_home: Path) -> Path:
    return nightly_home


@pytest.fixture(scope="module")
def built(home, postgres_server):
    """(the server's URL of the build database, ``fiw build-postgres``'s completed process)."""
    url = postgres_server.url(postgres_server.new_database("dbt"))
    done = fiw("build-postgres", "--home", str(home), "--url", url)
    return url, done


def _duckdb_nodes() -> int:
    """How many seeds, models, tests and unit tests ``dbt build`` runs on DuckDB (the manifest
    the Dagster code location reads, parsed for the default target)."""
    from fiw.resources import ensure_dbt_manifest

    manifest = json.loads(ensure_dbt_manifest().read_text())
    kinds = ("seed", "model", "test", "snapshot")
    nodes = [n for n in manifest["nodes"].values() if n["resource_type"] in kinds]
    assert {n["language"] for n in nodes if n["name"] == "outcome_metrics_suppressed"} == {"python"}
    return len(nodes) + len(manifest["unit_tests"])


def test_every_model_test_and_unit_test_passes_on_postgres(built):
    _, done = built
    assert done.returncode == 0, done.stdout + done.stderr
    totals = [
        {k: int(v) for k, v in (part.split("=") for part in line.split() if "=" in part)}
        for line in done.stdout.splitlines()
        if "PASS=" in line
    ]
    assert len(totals) == 2  # before and after the disclosure control
    assert all(t["ERROR"] == 0 and t["WARN"] == 0 and t["SKIP"] == 0 for t in totals), totals
    assert sum(t["PASS"] for t in totals) == _duckdb_nodes()  # the same nodes, none left out


def _value(v):
    """A value as both databases can agree on it: numbers as floats, dates as dates."""
    if isinstance(v, Decimal | int) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, dt.datetime):
        return v.date() if v.time() == dt.time() else v
    return v


def _key(row: tuple) -> tuple:
    """Sort key: the row's non-float values, then its floats rounded (NULLs first)."""
    return tuple(
        (0, "") if v is None else (1, f"{v:.6e}") if isinstance(v, float) else (1, str(v))
        for v in row
    )


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def test_every_mart_holds_the_same_rows_on_both(built, home, postgres_server):
    import psycopg
    from fiw.publish.postgres import connection_args

    url, done = built
    assert done.returncode == 0, done.stdout + done.stderr
    src = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        tables = [
            t
            for (t,) in src.execute(
                "select table_name from duckdb_tables() where schema_name = 'marts' order by 1"
            ).fetchall()
        ]
        assert {"outcome_metrics", "outcome_trends_suppressed", "metric_differences"} <= set(tables)
        compared = 0
        with psycopg.connect(**connection_args(url)) as pg:
            for table in tables:
                columns = [
                    c
                    for (c,) in src.execute(
                        "select column_name from duckdb_columns() where schema_name = 'marts'"
                        " and table_name = ? order by column_index",
                        [table],
                    ).fetchall()
                ]
                pg_columns = [
                    c
                    for (c,) in pg.execute(
                        "select column_name from information_schema.columns where table_schema"
                        " = 'marts' and table_name = %s order by ordinal_position",
                        [table],
                    ).fetchall()
                ]
                assert pg_columns == columns, table
                select = f"select {', '.join(columns)} from marts.{table}"
                mine = sorted(
                    (tuple(map(_value, r)) for r in src.execute(select).fetchall()), key=_key
                )
                theirs = sorted(
                    (tuple(map(_value, r)) for r in pg.execute(select).fetchall()), key=_key
                )
                assert len(mine) == len(theirs), table
                differing = [
                    (a, b) for a, b in zip(mine, theirs, strict=True) if not all(map(_same, a, b))
                ]
                assert not differing, (table, len(differing), differing[:3])
                compared += len(mine)
        assert compared > 10_000  # the trends alone are 85 windows x 9 segments x 11 metrics
    finally:
        src.close()


def test_an_unreachable_database_is_refused_in_one_line(home, tmp_path):
    done = fiw(
        "build-postgres", "--home", str(home),
        "--url", "postgresql+psycopg://fiw:secret-pw@127.0.0.1:9/fiw?connect_timeout=2",
    )  # fmt: skip
    said = " ".join((done.stderr + done.stdout).split())
    assert done.returncode == 1
    assert "PostgreSQL build database postgresql+psycopg://fiw:***@127.0.0.1:9/fiw" in said
    assert "cannot be reached" in said and "Connection refused" in said
    assert "secret-pw" not in said and "Traceback" not in said


def test_a_warehouse_with_nothing_published_is_refused(tmp_path):
    empty = tmp_path / "home"
    empty.mkdir()
    duckdb.connect(str(empty / "warehouse.duckdb")).execute(
        "create schema audit; create table audit.snapshots (snapshot_id varchar,"
        " snapshot_date date, status varchar, published_at timestamp)"
    ).close()
    done = fiw("build-postgres", "--home", str(empty), "--url", "postgresql+psycopg://x@h/db")
    assert done.returncode == 1
    assert "published no snapshot" in " ".join((done.stderr + done.stdout).split())


def test_the_snapshot_built_is_the_published_one(built, home):
    import psycopg
    from fiw.publish.postgres import connection_args

    url, done = built
    assert done.returncode == 0, done.stdout + done.stderr
    src = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        (published,) = src.execute(
            "select snapshot_id from audit.snapshots where status = 'published'"
        ).fetchone()
        raw_rows = src.execute(
            "select count(*) from raw.ssd_cin_episodes where _snapshot_id = ?", [published]
        ).fetchone()[0]
    finally:
        src.close()
    assert f"snapshot {published[:12]} built on PostgreSQL" in done.stdout
    with psycopg.connect(**connection_args(url)) as pg:
        snapshots = pg.execute("select distinct _snapshot_id from raw.ssd_cin_episodes").fetchall()
        assert snapshots == [(published,)]  # only that snapshot's rows were copied
        copied = {
            f"{schema}.{table}"
            for schema, table in pg.execute(
                "select table_schema, table_name from information_schema.tables"
                " where table_schema in ('raw', 'audit')"
            ).fetchall()
        }
        # the dbt sources and nothing else of the warehouse (no quarantined rows, no runs)
        assert copied == {f"raw.ssd_{o}" for o in SSD_OBJECTS} | {
            "audit.snapshots",
            "audit.hash_key",
            "audit.dq_results",
        }
        assert pg.execute("select count(*) from raw.ssd_cin_episodes").fetchone()[0] == raw_rows
        (current,) = pg.execute(
            "select snapshot_id from staging.stg_ssd__current_snapshot"
        ).fetchone()
        assert current == published


def test_a_warehouse_held_by_a_run_is_refused_in_one_line(tmp_path):
    held = tmp_path / "home"
    held.mkdir()
    writer = duckdb.connect(str(held / "warehouse.duckdb"))  # another process's lock, as a run's
    try:
        done = fiw("build-postgres", "--home", str(held), "--url", "postgresql+psycopg://x@h/db")
    finally:
        writer.close()
    said = " ".join((done.stderr + done.stdout).split())
    assert done.returncode == 1
    assert "cannot be read" in said and "fiw status" in said and "Traceback" not in said
