"""Publishing to PostgreSQL (``FIW_PUBLISH_URL``, fiw.publish.postgres) on a real server.

The roles of docs/audiences.md, tried one by one (the permission matrix); readers querying in a
loop while publications are swapped in (never an error, never a mixture, never blocked for more
than the swap); a publication killed mid-swap, or held up by a reader, leaves the old one whole.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import psycopg
import pytest
from fiw import publish as pub
from fiw.errors import SettingError
from fiw.faults import MARKER, PAUSE_ENV
from fiw.publish import PublishError, postgres
from fiw.settings import Settings
from psycopg import errors

from tests.fixtures.pg_publication import (
    ANALYTICS_TABLES,
    LOGINS,
    RELEASE_TABLES,
    counts_query,
    make_publication,
    mixture_query,
    publication_database,
)
from tests.test_publish import NEW, NEW_DATE, OLD, OLD_DATE, build_marts, con, settings, sha256

__all__ = ["con", "settings"]  # fixtures of tests/test_publish.py, used here too

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def pgdb(postgres_server):
    return publication_database(postgres_server)


def publish(pgdb, root: Path, generation: int, rows: int = 300, **swap) -> None:
    db, release = make_publication(root, generation, rows)
    postgres.stage(pgdb.loader_url, db, release, root / "scratch").swap(**swap)


def test_publication_holds_every_table_row_and_description(pgdb, tmp_path):
    db, release = make_publication(tmp_path, 1)
    postgres.publish_to_postgres(pgdb.loader_url, db, release, tmp_path / "scratch")
    with pgdb.connect() as c, duckdb.connect(str(db), read_only=True) as d:
        for table in ANALYTICS_TABLES:
            want = d.execute(f"select * from {table} order by n").fetchall()
            got = c.execute(f"select * from analytics.{table} order by n").fetchall()
            assert got == want  # types too: date, timestamp, numeric(12,4), boolean, '' vs NULL
        for table in RELEASE_TABLES:
            lines = (release / f"{table}.csv").read_text().splitlines()[1:]
            want = [tuple(v or None for v in line.split(",")) for line in lines]
            assert c.execute(f"select * from release.{table}").fetchall() == want
        # COMMENT ON every schema, table and column; everything owned by the loader
        undescribed = c.execute(
            "select n.nspname, c.relname, a.attname from pg_class c"
            " join pg_namespace n on n.oid = c.relnamespace"
            " left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0"
            " and not a.attisdropped"
            " where n.nspname in ('analytics', 'release') and c.relkind = 'r'"
            " and (obj_description(c.oid, 'pg_class') is null"
            " or col_description(c.oid, a.attnum) is null)"
        ).fetchall()
        assert undescribed == []
        assert c.execute(
            "select count(*) from pg_namespace where nspname in ('analytics', 'release')"
            " and obj_description(oid, 'pg_namespace') is not null"
        ).fetchone() == (2,)
        owners = c.execute(
            "select distinct pg_get_userbyid(c.relowner) from pg_class c join pg_namespace n"
            " on n.oid = c.relnamespace where n.nspname in ('analytics', 'release')"
            " union select distinct pg_get_userbyid(nspowner) from pg_namespace"
            " where nspname in ('analytics', 'release')"
        ).fetchall()
        assert owners == [("fiw_loader",)]
    assert pgdb.schemas() == ["analytics", "release"]
    assert not (tmp_path / "scratch").exists()  # the COPY scratch file is gone


def _try(pgdb, user: str, sql: str) -> str:
    """'yes' when ``user`` may run ``sql`` (rolled back), 'no' when refused."""
    try:
        con = pgdb.connect(user)
    except psycopg.OperationalError as e:
        assert "permission denied for database" in str(e)
        return "no"
    try:
        con.execute(sql)
        return "yes"
    except (errors.InsufficientPrivilege, errors.InvalidSchemaName, errors.UndefinedTable):
        return "no"
    finally:
        con.rollback()
        con.close()


ACTIONS = {
    "connect": "select 1",
    "read analytics": "select count(*) from analytics.plan_episodes",
    "read release": "select count(*) from release.outcome_metrics",
    "read public": "select count(*) from public.admin_notes",
    "write analytics": "delete from analytics.plan_episodes",
    "write release": "update release.outcome_metrics set numerator = '1'",
    "create in analytics": "create table analytics.mine (x int)",
    "create in release": "create table release.mine (x int)",
    "create in public": "create table public.mine (x int)",
    "create schema": "create schema mine",
    "temporary table": "create temporary table mine (x int)",
}
# docs/audiences.md: the loader owns; analysts read analytics and release; the public, release.
EXPECTED = {
    "fiw_loader": {a: "yes" for a in ACTIONS} | {"read public": "no", "create in public": "no"},
    "alice": {a: "no" for a in ACTIONS}
    | {"connect": "yes", "read analytics": "yes", "read release": "yes"},
    "partner": {a: "no" for a in ACTIONS} | {"connect": "yes", "read release": "yes"},
    "mallory": {a: "no" for a in ACTIONS},
}


def test_roles_see_only_their_tiers_the_permission_matrix(pgdb, tmp_path):
    with pgdb.connect(autocommit=True) as c:  # something else in the database, by its admin
        c.execute("create table public.admin_notes as select 'not for fiw readers' as note")
    postgres.create_roles(pgdb.server.url(pgdb.name))  # idempotent: a second run changes nothing
    publish(pgdb, tmp_path, 1)
    matrix = {user: {a: _try(pgdb, user, sql) for a, sql in ACTIONS.items()} for user in LOGINS}
    print("\n" + "\n".join(f"{u:10} {m}" for u, m in matrix.items()))
    assert matrix == EXPECTED
    # the grants go with the schemas: the next publication gives the same matrix
    publish(pgdb, tmp_path / "2", 2)
    assert _try(pgdb, "partner", ACTIONS["read release"]) == "yes"
    assert _try(pgdb, "partner", ACTIONS["read analytics"]) == "no"
    assert _try(pgdb, "alice", ACTIONS["read analytics"]) == "yes"


def test_staged_publication_is_invisible_until_the_swap(pgdb, tmp_path):
    publish(pgdb, tmp_path / "1", 1)
    db, release = make_publication(tmp_path / "2", 2)
    staged = postgres.stage(pgdb.loader_url, db, release, tmp_path / "scratch")
    try:
        assert pgdb.schemas() == ["analytics", "release"]  # analytics_new is not committed
        assert pgdb.generations() == {1}
        assert _try(pgdb, "alice", "select * from analytics_new.plan_episodes") == "no"
    finally:
        staged.swap()
    assert pgdb.generations() == {2}
    assert pgdb.schemas() == ["analytics", "release"]


class Reader(threading.Thread):
    """Queries in a loop until stopped: one statement over every table, or a transaction of a
    statement per table; records what it saw, errors, and its slowest query."""

    def __init__(self, pgdb, user: str, transaction: bool):
        super().__init__(daemon=True)
        self.pgdb, self.user, self.transaction = pgdb, user, transaction
        self.seen: list[tuple] = []
        self.errors: list[str] = []
        self.slowest = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        tables = [f"analytics.{t}" for t in ANALYTICS_TABLES] + [
            f"release.{t}" for t in RELEASE_TABLES
        ]
        with self.pgdb.connect(self.user, autocommit=not self.transaction) as con:
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    if self.transaction:  # read committed, one statement per table
                        gens, counts = set(), []
                        for t in tables:
                            g, n = con.execute(
                                f"select array_agg(distinct generation::bigint), count(*) from {t}"
                            ).fetchone()
                            gens.update(g)
                            counts.append(n)
                            time.sleep(0.002)
                        con.commit()
                        self.seen.append((tuple(sorted(gens)), tuple(counts)))
                    else:
                        gens = con.execute(mixture_query()).fetchone()[0]
                        counts = con.execute(counts_query()).fetchone()[0]
                        self.seen.append((tuple(sorted(gens)), None))
                except psycopg.Error as e:
                    self.errors.append(f"{type(e).__name__}: {e}")
                    con.rollback()
                self.slowest = max(self.slowest, time.monotonic() - started)


def test_readers_in_a_loop_never_see_an_error_or_a_mixture(pgdb, tmp_path):
    rows = 3000
    publish(pgdb, tmp_path / "1", 1, rows)
    prepared = [make_publication(tmp_path / str(g), g, rows) for g in range(2, 8)]
    readers = [
        Reader(pgdb, "alice", transaction=False),
        Reader(pgdb, "alice", transaction=True),
        Reader(pgdb, "fiw_loader", transaction=True),
    ]
    for r in readers:
        r.start()
    swaps = []
    try:
        time.sleep(0.2)
        for g, (db, release) in enumerate(prepared, start=2):
            staged = postgres.stage(pgdb.loader_url, db, release, tmp_path / "scratch")
            started = time.monotonic()
            staged.swap()
            swaps.append(time.monotonic() - started)
            time.sleep(0.1)
            assert pgdb.generations() == {g}
    finally:
        for r in readers:
            r.stop.set()
        for r in readers:
            r.join(30)
    full = (rows, rows, rows, rows // 3, rows // 3)
    for r in readers:
        assert r.errors == []
        assert len(r.seen) > 10
        assert all(len(gens) == 1 for gens, _ in r.seen), "a reader saw a mixture"
        assert all(counts in (None, full) for _, counts in r.seen), "a reader saw a part"
        assert {gens[0] for gens, _ in r.seen} >= {1, 7}
        assert r.slowest < 2.0, f"a reader waited {r.slowest:.2f} s"
    print(f"\nslowest reader query {max(r.slowest for r in readers):.3f} s;"
          f" swaps {min(swaps):.3f}-{max(swaps):.3f} s")  # fmt: skip


def test_a_reader_holding_the_old_tables_delays_the_swap_but_nobody_else(pgdb, tmp_path):
    publish(pgdb, tmp_path / "1", 1)
    holder = pgdb.connect("alice")
    holder.execute("select count(*) from analytics.snapshots")  # a transaction left open
    other = Reader(pgdb, "alice", transaction=False)  # another analyst, one statement at a time
    other.start()
    try:
        with pytest.raises(PublishError, match=r"readers held the published tables for more"):
            publish(pgdb, tmp_path / "2", 2, wait_seconds=2)
        assert pgdb.generations() == {1}  # the old publication stays, whole
        assert pgdb.schemas() == ["analytics", "release"]
        holder.rollback()
        publish(pgdb, tmp_path / "3", 3)  # once it lets go, the swap goes through
        assert pgdb.generations() == {3}
    finally:
        other.stop.set()
        other.join(30)
        holder.close()
    assert other.errors == []
    # while the swap retried, the other reader waited at most one lock attempt (0.5 s) at a time
    assert {gens for gens, _ in other.seen} == {(1,), (3,)}
    assert other.slowest < 1.5, f"a reader waited {other.slowest:.2f} s"
    print(f"\nslowest query of another reader while the swap retried: {other.slowest:.3f} s")


def test_a_publication_killed_mid_swap_leaves_the_old_one(pgdb, tmp_path):
    publish(pgdb, tmp_path / "1", 1)
    db, release = make_publication(tmp_path / "2", 2)
    env = dict(os.environ, **{PAUSE_ENV: "postgres"})
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "orchestration"), str(REPO)])
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from fiw.publish import postgres;"
            " postgres.publish_to_postgres(sys.argv[1], *map(Path, sys.argv[2:]))",
            pgdb.loader_url,
            str(db),
            str(release),
            str(tmp_path / "scratch"),
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        line = proc.stderr.readline()
        assert line.startswith(f"{MARKER} postgres"), line + proc.stderr.read()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    deadline = time.monotonic() + 10  # the server notices the lost client and rolls back
    while time.monotonic() < deadline:
        with pgdb.connect() as c:
            if not c.execute(
                "select count(*) from pg_stat_activity where application_name = 'fiw publish'"
            ).fetchone()[0]:
                break
        time.sleep(0.1)
    assert pgdb.generations() == {1}
    assert pgdb.schemas() == ["analytics", "release"]  # no analytics_new or _old left
    with pgdb.connect("alice") as c:
        assert c.execute(counts_query()).fetchone()[0] == [300, 300, 300, 100, 100]
    publish(pgdb, tmp_path / "3", 3)
    assert pgdb.generations() == {3}


def test_an_unreachable_server_is_a_publish_error_with_the_password_hidden(tmp_path):
    db, release = make_publication(tmp_path, 1)
    url = "postgresql+psycopg://fiw_loader:s3cret@127.0.0.1:1/fiw"
    with pytest.raises(PublishError) as caught:
        postgres.stage(url, db, release, tmp_path / "scratch")
    text = str(caught.value)
    assert text.startswith(
        "publication database postgresql+psycopg://fiw_loader:***@127.0.0.1:1/fiw"
        " cannot be reached: "
    )
    assert "s3cret" not in text


def test_a_login_that_cannot_act_as_the_loader_is_refused(postgres_server, tmp_path):
    name = postgres_server.new_database()  # no roles script run here: anyone may connect
    with postgres_server.connect(autocommit=True) as c:
        c.execute(
            "do $$ begin if not exists (select from pg_roles where rolname = 'mallory')"
            " then create role mallory login; end if; end $$"
        )
        c.execute("alter role mallory password 'pw'")
    db, release = make_publication(tmp_path, 1)
    with pytest.raises(PublishError, match="cannot act as fiw_loader"):
        postgres.stage(
            postgres_server.url(name, "mallory", "pw"), db, release, tmp_path / "scratch"
        )
    with postgres_server.connect(name) as c:
        assert c.execute(
            "select count(*) from pg_namespace where nspname like 'analytics%'"
        ).fetchone() == (0,)


# ------------------------------------------------------------------ through fiw.publish.publish


@pytest.fixture
def published_settings(settings, pgdb):
    return dataclasses.replace(settings, publish_url=pgdb.loader_url)


def test_publish_writes_the_same_tables_to_postgresql(published_settings, con, pgdb):
    settings = published_settings
    path = pub.publish(settings, con, OLD, "run-1")
    with pgdb.connect("alice") as c, duckdb.connect(str(path), read_only=True) as d:
        for table, (_, columns) in pub.PUBLISHED.items():
            cols = ", ".join(columns)
            want = d.execute(f"select {cols} from {table} order by all").fetchall()
            got = c.execute(f"select {cols} from analytics.{table} order by {cols}").fetchall()
            assert got == want, table
        for table in ("outcome_metrics", "caseload_monthly"):
            with (settings.home / "release" / f"{table}.csv").open(newline="") as f:
                header, *lines = list(csv.reader(f))
            got = c.execute(f"select * from release.{table}").fetchall()
            assert [d_.name for d_ in c.execute(f"select * from release.{table}").description] == (
                header
            )
            assert got == [tuple(v or None for v in line) for line in lines]
        # the dbt descriptions of published.duckdb, on the server too
        assert (
            c.execute("select col_description('analytics.outcome_metrics'::regclass, 1)").fetchone()
            == d.execute(
                "select comment from duckdb_columns() where table_name = 'outcome_metrics'"
                " and column_name = 'window_name'"
            ).fetchone()
        )
    assert not [p for p in settings.home.iterdir() if "pgcopy" in p.name or "tmp" in p.name]


def _unreachable(settings, monkeypatch):
    return dataclasses.replace(
        settings, publish_url="postgresql+psycopg://fiw_loader:s3cret@127.0.0.1:1/fiw"
    )


def _swap_fails(settings, monkeypatch):
    def boom(con):
        con.execute("alter schema analytics rename to analytics_old")  # half done, then...
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(postgres, "_swap", boom)
    return settings


@pytest.mark.parametrize("breaker", [_unreachable, _swap_fails], ids=["unreachable", "swap-fails"])
def test_a_postgresql_failure_fails_the_publication_and_leaves_every_tier_old(
    published_settings, con, pgdb, monkeypatch, breaker
):
    path = pub.publish(published_settings, con, OLD, "run-1")
    before = sha256(path)
    release_before = {f.name: sha256(f) for f in (published_settings.home / "release").iterdir()}
    with pgdb.connect() as c:
        pg_before = c.execute("select * from analytics.snapshots order by 1").fetchall()
    build_marts(con, NEW_DATE)
    settings = breaker(published_settings, monkeypatch)
    with pytest.raises(PublishError, match="publication database postgresql") as caught:
        pub.publish(settings, con, NEW, "run-2")
    assert "s3cret" not in str(caught.value)
    # files, PostgreSQL and the audit: all as before (the next run publishes again)
    assert sha256(path) == before
    assert {f.name: sha256(f) for f in (settings.home / "release").iterdir()} == release_before
    assert not [p for p in settings.home.iterdir() if "run-2" in p.name]
    with pgdb.connect() as c:
        assert c.execute("select * from analytics.snapshots order by 1").fetchall() == pg_before
    assert pgdb.schemas() == ["analytics", "release"]
    assert con.execute(
        "select snapshot_date, status from audit.snapshots order by 1"
    ).fetchall() == [(OLD_DATE, "published"), (NEW_DATE, "validated")]
    monkeypatch.undo()
    pub.publish(published_settings, con, NEW, "run-3")
    with pgdb.connect() as c:
        assert c.execute(
            "select snapshot_date, status from analytics.snapshots order by 1"
        ).fetchall() == [(OLD_DATE, "superseded"), (NEW_DATE, "published")]


# ------------------------------------------------------------------------------ the setting


@pytest.mark.parametrize(
    "value, shown",
    [
        ("mysql://fiw:s3cret@db.example/fiw", "mysql://fiw:***@db.example/fiw"),
        ("postgresql://fiw:s3cret@db.example", "postgresql://fiw:***@db.example"),
        ("postgresql+pg8000://fiw:s3cret@db/fiw", "postgresql+pg8000://fiw:***@db/fiw"),
        ("db.example:5432/fiw?password=s3cret", "..."),
        ("nosuch://fiw:s3cret@db/fiw", "nosuch://..."),
    ],
)
def test_a_malformed_publish_url_is_one_line_naming_the_setting(monkeypatch, value, shown):
    monkeypatch.setenv("FIW_PUBLISH_URL", value)
    with pytest.raises(SettingError) as caught:
        Settings.resolve(home="/nonexistent/home")
    lines = caught.value.lines()
    assert lines[0].startswith(f"setting FIW_PUBLISH_URL={shown!r} is not valid: a SQLAlchemy URL")
    assert "s3cret" not in " ".join(lines)


def test_a_postgresql_publish_url_is_kept(monkeypatch):
    monkeypatch.setenv("FIW_PUBLISH_URL", " postgresql+psycopg://fiw_loader:pw@db:5432/fiw ")
    assert Settings.resolve(home="/nonexistent/home").publish_url == (
        "postgresql+psycopg://fiw_loader:pw@db:5432/fiw"
    )
    monkeypatch.setenv("FIW_PUBLISH_URL", "")
    assert Settings.resolve(home="/nonexistent/home").publish_url is None


def test_the_roles_command_prints_the_script_and_applies_it(postgres_server):
    from fiw.cli import main

    name = postgres_server.new_database()
    assert main(["postgres-roles", "--apply", postgres_server.url(name)]) == 0
    with postgres_server.connect(name) as c:
        assert c.execute(
            "select has_database_privilege('fiw_analyst', current_database(), 'connect'),"
            " has_database_privilege('public', current_database(), 'connect'),"
            " has_database_privilege('fiw_loader', current_database(), 'create')"
        ).fetchone() == (True, False, True)


# ------------------------------------------------------------------------- fiw run, end to end


@pytest.mark.slow
def test_fiw_run_publishes_to_postgresql_and_a_run_that_cannot_fails(pgdb, tmp_path_factory):
    from tests.fixtures.pipeline import DAY1, DAY2, add_snapshot, plain, query, run, source

    src = source(tmp_path_factory)
    exports, home = tmp_path_factory.mktemp("exports"), tmp_path_factory.mktemp("pg") / "home"
    add_snapshot(src, exports, DAY1)
    first = run(exports, home, FIW_PUBLISH_URL=pgdb.loader_url)
    assert first.returncode == 0, first.stdout + first.stderr
    published = home / "published.duckdb"

    def same_everywhere() -> None:
        with pgdb.connect("alice") as c:
            for table, (_, columns) in pub.PUBLISHED.items():
                cols = ", ".join(columns)
                want = query(published, f"select {cols} from {table} order by all")
                got = c.execute(f"select {cols} from analytics.{table} order by {cols}")
                assert got.fetchall() == want, table
            assert c.execute("select count(*) from release.outcome_metrics").fetchone() == (
                len((home / "release" / "outcome_metrics.csv").read_text().splitlines()) - 1,
            )

    same_everywhere()
    # The server cannot be reached: the run fails, says why, and nothing is published anywhere.
    add_snapshot(src, exports, DAY2)
    before = sha256(published)
    down = "postgresql+psycopg://fiw_loader:s3cret@127.0.0.1:1/fiw"
    failed = run(exports, home, FIW_PUBLISH_URL=down)
    out = plain(failed.stdout + failed.stderr)
    assert failed.returncode == 1, out
    assert "publication database postgresql+psycopg://fiw_loader:***@127.0.0.1:1/fiw" in out
    assert "s3cret" not in out
    assert sha256(published) == before
    same_everywhere()
    # The next run with the server back publishes DAY2 to both.
    again = run(exports, home, FIW_PUBLISH_URL=pgdb.loader_url)
    assert again.returncode == 0, again.stdout + again.stderr
    assert query(published, "select max(snapshot_date) from snapshots where status = 'published'")[
        0
    ] == (DAY2,)
    same_everywhere()
