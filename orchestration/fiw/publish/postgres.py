"""Publish to PostgreSQL too (``FIW_PUBLISH_URL``): the analysts' tier and the release, with roles.

Analysts at their own desks (Power BI, Excel, R, SQL clients) read a database server, not a file.
When ``FIW_PUBLISH_URL`` is set, every publication also goes to that PostgreSQL database:

- schema ``analytics``: every table of ``published.duckdb``, same columns, types and rows, read
  by role ``fiw_analyst``;
- schema ``release``: every CSV file of ``release/`` (not the ``.meta.csv`` files, which become
  the column comments), as text columns holding exactly the file's values (``c``, ``z``, ``x``,
  ``low`` included; an empty field is NULL), read by ``fiw_analyst`` and ``fiw_public``;
- ``COMMENT ON`` every schema, table and column (the dbt descriptions of ``published.duckdb``, the
  labels of the ``.meta.csv`` files).

The roles (:func:`roles_sql`, run once by an administrator: ``fiw postgres-roles``): ``fiw_loader``
logs in, owns both schemas and everything in them; ``fiw_analyst`` and ``fiw_public`` are group
roles that people's own logins are granted. Nobody else may connect to the database, create
anything in it, or use its ``public`` schema; the loader grants only ``USAGE`` on the two schemas
and ``SELECT`` on their tables.

One publication is one transaction (:func:`stage`, then :meth:`Staged.swap`):

1. take an advisory lock (one publisher at a time), ``SET LOCAL ROLE fiw_loader``;
2. create ``analytics_new`` and ``release_new``, load them (``COPY ... FROM STDIN``: DuckDB writes
   each table to a scratch CSV file beside ``published.duckdb``, owner-only, removed at once),
   comment and grant them: readers are not affected, nothing is committed yet;
3. the swap, in a savepoint: ``LOCK TABLE`` every table of the live ``analytics`` and ``release``
   in ``ACCESS EXCLUSIVE`` mode within 500 ms (``statement_timeout``), then rename ``analytics`` to
   ``analytics_old`` and ``analytics_new`` to ``analytics`` (and the same for ``release``), drop
   the old schemas, commit. The lock waits for the statements (and transactions) that are reading
   the old tables to end, so a reader's statement or transaction sees the old publication or the
   new one, never a mixture; a reader arriving meanwhile waits (at most the lock timeout plus the
   renames, milliseconds) and then reads the new tables. When a reader holds the old tables longer
   than the timeout (a transaction left open), the savepoint is rolled back, which lets every
   waiting reader go on, and the swap is tried again a moment later, for up to 5 minutes; then
   the publication fails naming the blocking sessions.

A failure anywhere (the server unreachable, a role missing, a killed run) rolls the transaction
back: the old publication stays whole in PostgreSQL. :func:`fiw.publish.publish` stages before it
swaps ``published.duckdb`` and swaps PostgreSQL just before the files, so a PostgreSQL failure
fails the run with the files and the audit unchanged too (the next run publishes again).
"""

from __future__ import annotations

import contextlib
import csv
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from fiw.faults import pause_point
from fiw.publish.database import PublishError

ANALYTICS, RELEASE = "analytics", "release"
SCHEMAS = (ANALYTICS, RELEASE)
LOADER, ANALYST, PUBLIC = "fiw_loader", "fiw_analyst", "fiw_public"
READERS = {ANALYTICS: (ANALYST,), RELEASE: (ANALYST, PUBLIC)}
SCHEMA_COMMENTS = {
    ANALYTICS: (
        "fiw's analysts' tier: the tables of published.duckdb (pseudonymised record-level marts, "
        "suppressed aggregates, data-quality results, snapshot history), replaced whole by each "
        "nightly publication. Nothing here may leave the authority: share from schema release."
    ),
    RELEASE: (
        "fiw's open-data release: the CSV files of release/ (aggregates after primary and "
        "secondary suppression), one table per file, values exactly as in the file "
        "(c: suppressed, z: not applicable, x: not available). Fit to share."
    ),
}
LOCK_TIMEOUT_MS = 500  # the longest a reader waits behind the swap's locks (plus the renames)
SWAP_WAIT_SECONDS = 300.0  # how long the swap keeps retrying while readers hold the old tables
ADVISORY_KEY = 0x66697770  # 'fiwp': one fiw publication at a time per database

# DuckDB type -> PostgreSQL type (DECIMAL(p,s) is numeric(p,s)); anything else fails loudly.
TYPES = {
    "BOOLEAN": "boolean",
    "TINYINT": "smallint",
    "SMALLINT": "smallint",
    "INTEGER": "integer",
    "BIGINT": "bigint",
    "HUGEINT": "numeric(39, 0)",
    "FLOAT": "real",
    "DOUBLE": "double precision",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "VARCHAR": "text",
}


def postgres_type(duckdb_type: str) -> str:
    decimal = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", duckdb_type)
    if decimal:
        return f"numeric({decimal[1]}, {decimal[2]})"
    try:
        return TYPES[duckdb_type]
    except KeyError:
        raise PublishError(f"no PostgreSQL type for DuckDB's {duckdb_type}") from None


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def shown(url: str) -> str:
    """``url`` with its password hidden."""
    import sqlalchemy as sa

    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - settings.py checked it; never print a password
        return url.split("://", 1)[0] + "://..."


def connection_args(url: str) -> dict[str, object]:
    """psycopg's keyword arguments for a SQLAlchemy URL (``postgresql+psycopg://...``)."""
    import sqlalchemy as sa

    u = sa.make_url(url)
    args: dict[str, object] = {
        "host": u.host,
        "port": u.port,
        "user": u.username,
        "password": u.password,
        "dbname": u.database,
    }
    args.update({k: v if isinstance(v, str) else v[-1] for k, v in u.query.items()})
    return {k: v for k, v in args.items() if v is not None}


def connect(url: str, what: str = "publication database", **kw):
    """A psycopg connection to ``url`` (``what`` it is, for the message and the server's
    application_name); :class:`PublishError` (password hidden) when it fails."""
    import psycopg

    name = "fiw publish" if what == "publication database" else f"fiw {what}"
    try:
        return psycopg.connect(**connection_args(url), application_name=name, **kw)
    except psycopg.Error as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        password = connection_args(url).get("password")
        if password:
            first = first.replace(str(password), "***")
        raise PublishError(f"{what} {shown(url)} cannot be reached: {first}") from None


# ---------------------------------------------------------------------------------------------
# Roles


def roles_sql(database: str) -> list[str]:
    """The statements that set up the roles and lock down ``database`` (idempotent).

    Run by an administrator (a superuser, or a role with CREATEROLE that owns the database),
    once, and again after an upgrade of fiw; the README gives them. They create ``fiw_loader``
    (LOGIN; give it a password with ``ALTER ROLE``), ``fiw_analyst`` and ``fiw_public`` (NOLOGIN:
    grant them to people's logins), let only these connect, let only the loader create schemas,
    and close the ``public`` schema: in this database nobody but the loader sees anything."""
    db = ident(database)
    create = "\n".join(
        f"  if not exists (select from pg_roles where rolname = '{role}') then"
        f" create role {role} {login}; end if;"
        for role, login in ((LOADER, "login"), (ANALYST, "nologin"), (PUBLIC, "nologin"))
    )
    return [
        f"do $$ begin\n{create}\nend $$",
        f"alter role {LOADER} nosuperuser nocreatedb nocreaterole",
        f"alter role {ANALYST} nologin nosuperuser nocreatedb nocreaterole",
        f"alter role {PUBLIC} nologin nosuperuser nocreatedb nocreaterole",
        f"revoke all on database {db} from public",
        f"grant connect, temporary, create on database {db} to {LOADER}",
        f"grant connect on database {db} to {ANALYST}, {PUBLIC}",
        "revoke all on schema public from public",
    ]


def create_roles(admin_url: str) -> list[str]:
    """Run :func:`roles_sql` on the database of ``admin_url`` (an administrator's URL)."""
    import sqlalchemy as sa

    database = sa.make_url(admin_url).database
    statements = roles_sql(database)
    with connect(admin_url, autocommit=True) as con:
        for statement in statements:
            con.execute(statement)
    return statements


# ---------------------------------------------------------------------------------------------
# Publication


@dataclass
class Staged:
    """A publication loaded into ``analytics_new``/``release_new``, not yet committed."""

    url: str
    con: object  # psycopg.Connection, in its open transaction

    def swap(self, wait_seconds: float = SWAP_WAIT_SECONDS) -> None:
        """Swap the new schemas in and commit (module doc, step 3); closes the connection."""
        import psycopg

        con = self.con
        deadline = time.monotonic() + wait_seconds
        pause = 0.05
        try:
            while True:
                try:
                    with con.transaction():  # a savepoint: a lock timeout keeps the load
                        _swap(con)
                    break
                except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled):
                    if time.monotonic() > deadline:
                        blockers = _blockers(con)
                        raise PublishError(
                            f"publication database {shown(self.url)}: readers held the published "
                            f"tables for more than {wait_seconds:g} s (sessions {blockers}); "
                            "the old publication stays"
                        ) from None
                    time.sleep(pause * (0.5 + random.random()))
                    pause = min(pause * 2, 2.0)
            con.commit()
        except psycopg.Error as e:
            raise PublishError(f"publication database {shown(self.url)}: {e}") from e
        finally:
            self.close()

    def close(self) -> None:
        """Roll back whatever is not committed and disconnect."""
        with contextlib.suppress(Exception):
            self.con.close()


def _live_tables(con) -> list[str]:
    rows = con.execute(
        "select quote_ident(n.nspname) || '.' || quote_ident(c.relname) from pg_class c"
        " join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = any(%s) and c.relkind in ('r', 'v', 'm', 'p')"
        " order by n.nspname, c.relname",
        [list(SCHEMAS)],
    ).fetchall()
    return [r[0] for r in rows]


def _swap(con) -> None:
    live = _live_tables(con)
    if live:
        # statement_timeout bounds the whole LOCK (lock_timeout bounds each table's wait only):
        # no reader ever waits longer, and never as long as deadlock_timeout (1 s by default),
        # so a reader that holds one table and wants another is not the one a deadlock kills.
        con.execute(f"set local statement_timeout = {LOCK_TIMEOUT_MS}")
        con.execute(f"lock table {', '.join(live)} in access exclusive mode")
        con.execute("set local statement_timeout = 0")
    existing = {
        r[0]
        for r in con.execute(
            "select nspname from pg_namespace where nspname = any(%s)", [list(SCHEMAS)]
        ).fetchall()
    }
    for schema in SCHEMAS:
        if schema in existing:
            con.execute(f"alter schema {schema} rename to {schema}_old")
        con.execute(f"alter schema {schema}_new rename to {schema}")
    for schema in SCHEMAS:
        if schema in existing:
            con.execute(f"drop schema {schema}_old cascade")
    pause_point("postgres")  # test hook (fiw.faults): a kill here must leave the old publication


def _blockers(con) -> list[int]:
    with contextlib.suppress(Exception):
        con.rollback()
        rows = con.execute(
            "select distinct l.pid from pg_locks l join pg_class c on c.oid = l.relation"
            " join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname = any(%s) and l.pid <> pg_backend_pid()",
            [list(SCHEMAS)],
        ).fetchall()
        return sorted(r[0] for r in rows)
    return []


def stage(url: str, published_db: Path, release_dir: Path, scratch: Path) -> Staged:
    """Load ``published_db`` (a closed DuckDB file) and the CSV files of ``release_dir`` into
    ``analytics_new`` and ``release_new`` of the database at ``url``, in a transaction left open
    for :meth:`Staged.swap`. ``scratch`` is a file name for the COPY data (removed again)."""
    import psycopg

    con = connect(url)
    staged = Staged(url, con)
    try:
        con.execute("select pg_advisory_xact_lock(%s)", [ADVISORY_KEY])
        try:
            con.execute(f"set local role {LOADER}")
        except psycopg.errors.Error as e:
            raise PublishError(
                f"publication database {shown(url)}: cannot act as {LOADER} ({e}). Create the "
                'roles (README, "Publishing to PostgreSQL") and publish as fiw_loader'
            ) from None
        for schema in SCHEMAS:
            con.execute(f"drop schema if exists {schema}_new cascade")
            con.execute(f"create schema {schema}_new")
            con.execute(f"comment on schema {schema}_new is {literal(SCHEMA_COMMENTS[schema])}")
        _load_analytics(con, published_db, scratch)
        _load_release(con, release_dir)
        for schema, readers in READERS.items():
            roles = ", ".join(readers)
            con.execute(f"revoke all on all tables in schema {schema}_new from public")
            con.execute(f"grant usage on schema {schema}_new to {roles}")
            con.execute(f"grant select on all tables in schema {schema}_new to {roles}")
    except psycopg.Error as e:
        staged.close()
        raise PublishError(f"publication database {shown(url)}: {e}") from e
    except BaseException:
        staged.close()
        raise
    return staged


def copy_file(con, statement: str, path: Path) -> None:
    with con.cursor() as cur, cur.copy(statement) as copy, path.open("rb") as f:
        while chunk := f.read(1 << 20):
            copy.write(chunk)


def _load_analytics(con, published_db: Path, scratch: Path) -> None:
    src = duckdb.connect(str(published_db), read_only=True)
    try:
        tables = src.execute(
            "select table_name, comment from duckdb_tables() where schema_name = 'main'"
            " order by table_name"
        ).fetchall()
        for table, comment in tables:
            columns = src.execute(
                "select column_name, data_type, comment from duckdb_columns()"
                " where schema_name = 'main' and table_name = ? order by column_index",
                [table],
            ).fetchall()
            missing = [c for c, _, text in columns if not text] + ([] if comment else [table])
            if missing:
                raise PublishError(f"analytics.{table}: no description for {missing}")
            relation = f"{ANALYTICS}_new.{ident(table)}"
            cols = ", ".join(f"{ident(c)} {postgres_type(t)}" for c, t, _ in columns)
            con.execute(f"create table {relation} ({cols})")
            try:
                target = str(scratch).replace("'", "''")
                src.execute(
                    f"copy (select * from main.{ident(table)}) to '{target}'"
                    " (format csv, header false)"
                )
                copy_file(con, f"copy {relation} from stdin (format csv)", scratch)
            finally:
                scratch.unlink(missing_ok=True)
            con.execute(f"comment on table {relation} is {literal(comment)}")
            for column, _, text in columns:
                con.execute(f"comment on column {relation}.{ident(column)} is {literal(text)}")
    finally:
        src.close()


def release_tables(release_dir: Path) -> dict[str, Path]:
    """Table name -> CSV file: every ``<name>.csv`` of the release that has its ``.meta.csv``."""
    return {
        p.name[: -len(".csv")]: p
        for p in sorted(release_dir.glob("*.csv"))
        if not p.name.endswith(".meta.csv")
    }


def _load_release(con, release_dir: Path) -> None:
    for table, path in release_tables(release_dir).items():
        meta_path = path.with_name(f"{table}.meta.csv")
        if not meta_path.exists():
            raise PublishError(f"release/{path.name} has no {meta_path.name} to describe it")
        with meta_path.open(newline="", encoding="utf-8") as f:
            labels = {row["col_name"]: row["label"] for row in csv.DictReader(f)}
        with path.open(newline="", encoding="utf-8") as f:
            header = next(csv.reader(f), [])
        undescribed = [c for c in header if not labels.get(c)]
        if not header or undescribed:
            raise PublishError(f"release/{path.name}: no label for columns {undescribed}")
        relation = f"{RELEASE}_new.{ident(table)}"
        con.execute(f"create table {relation} ({', '.join(f'{ident(c)} text' for c in header)})")
        copy_file(con, f"copy {relation} from stdin (format csv, header true)", path)
        con.execute(
            f"comment on table {relation} is "
            + literal(
                f"The open-data file release/{path.name} as published, one row per line, every "
                "value as written in the file (c: suppressed, z: not applicable, x: not "
                f"available, low: rounds to 0); its columns are described in {meta_path.name}."
            )
        )
        for column in header:
            con.execute(
                f"comment on column {relation}.{ident(column)} is {literal(labels[column])}"
            )


def publish_to_postgres(url: str, published_db: Path, release_dir: Path, scratch: Path) -> None:
    """Stage and swap in one go (for tests and tools; :func:`fiw.publish.publish` splits them)."""
    stage(url, published_db, release_dir, scratch).swap()
