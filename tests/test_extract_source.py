"""The exports themselves cannot be read: a missing folder, a database that is not there.

These are not snapshots to refuse but a wrong setting or an outage: ``FiwError`` (a cause, then
what to do), raised before anything is written, by ``load_new_snapshots`` and by ``check_source``
(which the run launcher calls before it starts).
"""

from __future__ import annotations

import importlib.util
import sqlite3

import pytest
from fiw.errors import FiwError
from fiw.extract import REJECTED, check_source, load_new_snapshots
from fiw.extract.database_source import SNAPSHOT_DATE_ENV
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

from tests.fixtures.extract_helpers import query, settings_for
from tests.fixtures.ssd_builder import minimal_snapshot, write_sqlite

DAY = "2026-11-24"


def _both_refuse(settings) -> FiwError:
    """check_source and load_new_snapshots raise the same FiwError; return it."""
    with pytest.raises(FiwError) as checked:
        check_source(settings)
    with pytest.raises(FiwError) as loaded:
        load_new_snapshots(settings)
    assert loaded.value.lines() == checked.value.lines()
    assert loaded.value.exit_code == 1
    return loaded.value


def test_missing_exports_folder_is_a_fiw_error_and_records_nothing(tmp_path):
    settings = settings_for(tmp_path)  # tmp_path/exports was never made
    error = _both_refuse(settings)
    assert error.cause == f"exports folder {tmp_path / 'exports'} does not exist."
    assert error.action == (
        "Point --exports or FIW_EXPORTS at the folder that holds the dated snapshot folders "
        "(YYYY-MM-DD/), or at an SSD database URL; nothing was loaded."
    )
    assert not settings.home.exists()  # not even the warehouse was created


def test_missing_exports_folder_with_a_warehouse_records_nothing(tmp_path):
    settings = settings_for(tmp_path)
    query(settings, "select 1")  # an existing warehouse, as after earlier runs
    with pytest.raises(FiwError, match="does not exist"):
        load_new_snapshots(settings)
    assert query(settings, "select count(*) from audit.snapshots") == [(0,)]
    assert query(settings, "select count(*) from audit.skipped_folders") == [(0,)]


def test_exports_that_is_a_file_is_a_fiw_error(tmp_path):
    (tmp_path / "exports").write_text("not a folder")
    error = _both_refuse(settings_for(tmp_path))
    assert error.cause == f"exports folder {tmp_path / 'exports'} is a file, not a folder."


def test_existing_exports_folder_passes_the_check(tmp_path):
    (tmp_path / "exports").mkdir()
    settings = settings_for(tmp_path)
    check_source(settings)
    assert load_new_snapshots(settings).outcomes == []


def test_sqlite_url_of_a_missing_file_is_a_fiw_error_and_creates_no_file(tmp_path, monkeypatch):
    monkeypatch.setenv(SNAPSHOT_DATE_ENV, DAY)
    missing = tmp_path / "no" / "ssd.sqlite"
    missing.parent.mkdir()
    settings = settings_for(tmp_path, exports=f"sqlite:///{missing}")
    error = _both_refuse(settings)
    assert error.cause == (
        f"exports database file {missing} does not exist (exports sqlite:///{missing}); "
        "no file was created."
    )
    assert "Point --exports or FIW_EXPORTS at the SQLite file the exporter writes" in error.action
    assert list(missing.parent.iterdir()) == []  # SQLAlchemy would have made an empty database
    assert not settings.home.exists()  # nothing recorded: no rejected snapshot dated today


def test_relative_sqlite_url_is_checked_against_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FiwError) as e:
        check_source(settings_for(tmp_path, exports="sqlite:///ssd.db"))
    assert e.value.cause.startswith(f"exports database file {tmp_path / 'ssd.db'} does not exist")
    assert not (tmp_path / "ssd.db").exists()


def test_in_memory_sqlite_url_is_a_fiw_error(tmp_path):
    with pytest.raises(FiwError, match="names no SQLite file"):
        check_source(settings_for(tmp_path, exports="sqlite://"))


def test_database_that_cannot_be_opened_names_the_url_and_the_driver_error(tmp_path):
    folder = tmp_path / "a-folder"  # SQLite cannot open a folder as a database
    folder.mkdir()
    settings = settings_for(tmp_path, exports=f"sqlite:///{folder}")
    error = _both_refuse(settings)
    assert error.cause == (
        f"exports database sqlite:///{folder} cannot be reached: unable to open database file."
    )
    assert error.action.startswith("Check that the database is up and reachable")
    assert not settings.home.exists()


def test_file_that_is_not_a_database_cannot_be_reached(tmp_path):
    not_db = tmp_path / "ssd.sqlite"
    not_db.write_text("pers_person_id\nP1\n")
    error = _both_refuse(settings_for(tmp_path, exports=f"sqlite:///{not_db}"))
    assert error.cause.endswith("cannot be reached: file is not a database.")
    assert not_db.read_text() == "pers_person_id\nP1\n"


class _RefusingDialect(SQLiteDialect_pysqlite):
    """A server that refuses the connection, with a driver that echoes the password back (no
    network driver is installed here, so SQLite's DBAPI stands in for one)."""

    def create_connect_args(self, url):
        return [], {"password": url.password}

    def connect(self, *cargs, **cparams):
        raise sqlite3.OperationalError(
            'connection to server at "db.example" (10.0.0.9), port 5432 failed: password '
            f"authentication failed (password {cparams['password']!r})\nIs the server running?"
        )


def test_unreachable_server_names_the_url_with_its_password_masked(tmp_path):
    registry.register("fiwrefusing", __name__, "_RefusingDialect")
    url = "fiwrefusing://fiw:s3cret@db.example:5432/ssd"
    settings = settings_for(tmp_path, exports=url)
    error = _both_refuse(settings)
    assert error.cause == (
        "exports database fiwrefusing://fiw:***@db.example:5432/ssd cannot be reached: "
        'connection to server at "db.example" (10.0.0.9), port 5432 failed: password '
        "authentication failed (password '***')."
    )
    assert "s3cret" not in " ".join(error.lines())
    assert not settings.home.exists()


def test_url_whose_driver_is_not_installed_is_a_fiw_error_with_the_password_masked(tmp_path):
    # pg8000: a PostgreSQL driver fiw does not install (psycopg2 now comes with dbt-postgres)
    assert importlib.util.find_spec("pg8000") is None, "pick a driver that is not installed"
    url = "postgresql+pg8000://fiw:s3cret@127.0.0.1:1/ssd"
    error = _both_refuse(settings_for(tmp_path, exports=url))
    assert error.cause == (
        "exports database postgresql+pg8000://fiw:***@127.0.0.1:1/ssd cannot be used: "
        "No module named 'pg8000'."
    )
    assert "s3cret" not in " ".join(error.lines())


def test_reachable_database_missing_a_table_is_still_a_rejected_snapshot(tmp_path, monkeypatch):
    monkeypatch.setenv(SNAPSHOT_DATE_ENV, DAY)
    data = minimal_snapshot()
    del data["ssd_person"]
    url = write_sqlite(tmp_path / "ssd.db", data)
    settings = settings_for(tmp_path, exports=url)
    check_source(settings)  # reachable: the source is fine, the snapshot is not
    (outcome,) = load_new_snapshots(settings).outcomes
    assert outcome.status == REJECTED
    assert "required table ssd_person is missing" in outcome.reason
    assert query(settings, "select count(*) from audit.snapshots") == [(1,)]


def test_check_source_does_not_touch_a_good_database(tmp_path):
    url = write_sqlite(tmp_path / "ssd.db")
    before = (tmp_path / "ssd.db").read_bytes()
    settings = settings_for(tmp_path, exports=url)
    check_source(settings)
    assert (tmp_path / "ssd.db").read_bytes() == before
    assert not settings.home.exists()
