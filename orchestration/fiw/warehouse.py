"""The warehouse database: one owner-only DuckDB file, its schemas and the audit tables.

Every step opens ``warehouse.duckdb`` through :func:`connect`, so the file is always created with
owner-only permissions and the ``audit`` tables always exist before anyone reads them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from fiw.settings import Settings, hmac_pads

SCHEMAS = ("raw", "staging", "intermediate", "marts", "audit")

AUDIT_DDL = """
create table if not exists audit.snapshots (
    snapshot_id varchar primary key,
    snapshot_date date not null,
    source varchar,
    checksum varchar,
    status varchar not null,
    reason varchar,
    rows_loaded bigint,
    rows_quarantined bigint,
    loaded_at timestamp,
    published_at timestamp
);
create table if not exists audit.snapshot_objects (
    snapshot_id varchar,
    object varchar,
    source_file varchar,
    rows bigint,
    rows_quarantined bigint
);
create table if not exists audit.quarantine (
    snapshot_id varchar,
    snapshot_date date,
    object varchar,
    source_file varchar,
    line_number bigint,
    record_id varchar,
    reasons varchar,
    record varchar
);
create table if not exists audit.dq_results (
    run_id varchar,
    checked_at timestamp,
    snapshot_id varchar,
    snapshot_date date,
    suite varchar,
    table_name varchar,
    expectation varchar,
    column_name varchar,
    severity varchar,
    success boolean,
    unexpected_count bigint,
    details varchar
);
create table if not exists audit.publications (
    run_id varchar,
    snapshot_id varchar,
    snapshot_date date,
    published_at timestamp
);
create table if not exists audit.hash_key (ipad blob, opad blob);
create table if not exists audit.skipped_folders (
    folder varchar,
    status varchar,
    reason varchar,
    seen_at timestamp
);
"""


def _create_owner_only(path: os.PathLike) -> None:
    """DuckDB creates files with the process umask; make the file first, 0600, then let it in."""
    if not os.path.exists(path):
        # An empty file is not a valid DuckDB database, so let DuckDB create it under a tight umask.
        old = os.umask(0o077)
        try:
            duckdb.connect(str(path)).close()
        finally:
            os.umask(old)
    os.chmod(path, 0o600)
    wal = f"{os.fspath(path)}.wal"
    if os.path.exists(wal):
        os.chmod(wal, 0o600)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    for schema in SCHEMAS:
        con.execute(f"create schema if not exists {schema}")
    con.execute(AUDIT_DDL)


@contextmanager
def connect(settings: Settings, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open ``warehouse.duckdb`` (created owner-only, with the audit schema) and close it after."""
    settings.ensure_home()
    _create_owner_only(settings.warehouse_path)
    con = duckdb.connect(str(settings.warehouse_path), read_only=read_only)
    try:
        if not read_only:
            ensure_schema(con)
        yield con
    finally:
        con.close()


def write_hash_key(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Store the HMAC pads of the pseudonymisation key for dbt's ``keyed_hash`` macro."""
    ipad, opad = hmac_pads(settings.pseudonymisation_key())
    con.execute("delete from audit.hash_key")
    con.execute("insert into audit.hash_key values (?, ?)", [ipad, opad])
