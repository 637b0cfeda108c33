"""The SSD read from a PostgreSQL database over SQLAlchemy (psycopg 3), on a real server.

The same raw tables as from the CSV folder, whatever the column types on the server (dates as
``date``, decimals as ``numeric``) and the case of the table names; a read-only login is enough;
an unreachable server, a wrong password or a missing database is a refusal naming the URL with its
password hidden, before anything is written; a missing table is a rejected snapshot.
"""

from __future__ import annotations

from datetime import date

import pytest
from fiw.contract import DATE, DECIMAL, LOAD_ORDER, OBJECTS
from fiw.errors import FiwError
from fiw.extract import LOADED, REJECTED, check_source, load_new_snapshots
from fiw.extract.database_source import SNAPSHOT_DATE_ENV

from tests.fixtures.extract_helpers import query, settings_for
from tests.fixtures.ssd_builder import minimal_snapshot, write_snapshot
from tests.test_extract_load import _raw_without_location

DAY = "2026-11-24"
READER, READER_PASSWORD = "ssd_reader", "reader-password-not-secret"
PG_TYPES = {DATE: "date", DECIMAL: "numeric"}


def write_postgres(server, data, upper: tuple[str, ...] = ()) -> str:
    """A new database holding ``data`` as typed tables (names in ``upper`` in capitals), readable
    by the login ``ssd_reader`` only through SELECT; return its URL as that login."""
    name = server.new_database("ssd")
    with server.connect(name, autocommit=True) as con:
        for obj in LOAD_ORDER:
            if obj not in data:
                continue
            columns = list(OBJECTS[obj].column_names)
            columns += [k for row in data[obj] for k in row if k not in columns]
            kinds = {c.name: c.kind for c in OBJECTS[obj].columns}
            table = f'"{obj.upper()}"' if obj in upper else obj
            con.execute(
                f"create table {table} ("
                + ", ".join(f"{c} {PG_TYPES.get(kinds.get(c), 'text')}" for c in columns)
                + ")"
            )
            with con.cursor() as cur:
                cur.executemany(
                    f"insert into {table} values ({', '.join('%s' for _ in columns)})",
                    [[row.get(c) for c in columns] for row in data[obj]],
                )
        con.execute(
            f"do $$ begin if not exists (select from pg_roles where rolname = '{READER}')"
            f" then create role {READER} login; end if; end $$"
        )
        con.execute(f"alter role {READER} password '{READER_PASSWORD}'")
        con.execute(f"grant select on all tables in schema public to {READER}")
    return server.url(name, READER, READER_PASSWORD)


def test_postgresql_source_gives_the_same_raw_tables_as_csv(postgres_server, tmp_path, monkeypatch):
    data = minimal_snapshot()
    data["ssd_person"][1]["pers_sex"] = "Z"  # a quarantined row too
    data["ssd_department"][0]["dept_cost_centre"] = "CC1"  # an extra column
    write_snapshot(tmp_path / "csv" / "exports", DAY, data)
    csv_settings = settings_for(tmp_path / "csv", quarantine_threshold=1.0)
    assert load_new_snapshots(csv_settings).outcomes[0].status == LOADED

    monkeypatch.setenv(SNAPSHOT_DATE_ENV, DAY)
    url = write_postgres(postgres_server, data, upper=("ssd_person", "ssd_cp_plans"))
    db_settings = settings_for(tmp_path / "db", exports=url, quarantine_threshold=1.0)
    check_source(db_settings)
    (outcome,) = load_new_snapshots(db_settings).outcomes
    assert outcome.status == LOADED and outcome.snapshot_date == date(2026, 11, 24)
    assert outcome.objects["ssd_person"].source_file == "table:SSD_PERSON"
    assert _raw_without_location(db_settings) == _raw_without_location(csv_settings)
    assert query(db_settings, "select object, record_id, reasons from audit.quarantine") == query(
        csv_settings, "select object, record_id, reasons from audit.quarantine"
    )
    assert load_new_snapshots(db_settings).outcomes[0].already_known  # same rows: nothing new


def test_postgresql_missing_table_is_a_rejected_snapshot(postgres_server, tmp_path, monkeypatch):
    monkeypatch.setenv(SNAPSHOT_DATE_ENV, DAY)
    data = minimal_snapshot()
    del data["ssd_cla_episodes"]
    url = write_postgres(postgres_server, data)
    settings = settings_for(tmp_path, exports=url)
    check_source(settings)  # reachable: the source is fine, the snapshot is not
    (outcome,) = load_new_snapshots(settings).outcomes
    assert outcome.status == REJECTED
    shown = url.replace(READER_PASSWORD, "***")
    assert f"required table ssd_cla_episodes is missing from {shown}" in outcome.reason
    assert READER_PASSWORD not in outcome.reason
    assert query(settings, "select count(*) from raw.ssd_person") == [(0,)]


def _refused(settings) -> FiwError:
    with pytest.raises(FiwError) as checked:
        check_source(settings)
    with pytest.raises(FiwError) as loaded:
        load_new_snapshots(settings)
    assert loaded.value.lines() == checked.value.lines()
    assert not settings.home.exists()  # refused before anything was written
    return loaded.value


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nobody listens once it is closed


@pytest.mark.parametrize("what", ["no-server", "wrong-password", "no-database"])
def test_unusable_postgresql_is_a_refusal_naming_the_url(postgres_server, tmp_path, what):
    port = postgres_server.port
    if what == "no-server":
        url = f"postgresql+psycopg://{READER}:s3cret@127.0.0.1:{_closed_port()}/ssd"
        expected = "Connection refused"
    elif what == "wrong-password":
        write_postgres(postgres_server, minimal_snapshot())  # the login exists
        url = f"postgresql+psycopg://{READER}:s3cret@127.0.0.1:{port}/postgres"
        expected = f'password authentication failed for user "{READER}"'
    else:
        url = write_postgres(postgres_server, minimal_snapshot()).rsplit("/", 1)[0] + "/nodb"
        expected = 'database "nodb" does not exist'
    error = _refused(settings_for(tmp_path, exports=url))
    shown = url.replace("s3cret", "***").replace(READER_PASSWORD, "***")
    assert error.cause.startswith(f"exports database {shown} cannot be reached: "), error.cause
    assert expected in error.cause
    assert "s3cret" not in " ".join(error.lines()) and READER_PASSWORD not in error.cause
    assert error.action.startswith("Check that the database is up and reachable")
