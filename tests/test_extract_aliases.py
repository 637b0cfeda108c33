"""Columns renamed between SSD versions load under their contract name (exports.md).

The other names are data, ``seeds/ssd_column_aliases.csv`` (object, column, alias, note), read by
the extractor for both sources. A file (or table) holding one contract column under two of its
names is ambiguous and rejects the snapshot, naming the file and both columns.
"""

from __future__ import annotations

import shutil

import pytest
from fiw import contract
from fiw.contract import column_aliases
from fiw.extract import LOADED, REJECTED
from fiw.extract.database_source import SNAPSHOT_DATE_ENV
from fiw.extract.load import load_new_snapshots

from tests.fixtures.extract_helpers import load, quarantine, query, settings_for
from tests.fixtures.ssd_builder import minimal_snapshot, write_snapshot, write_sqlite

DAY = "2026-11-24"


def _renamed(data, obj: str, column: str, alias: str, keep: bool = False):
    """``data`` with ``column`` of ``obj`` arriving as ``alias`` in its place (``keep``: as
    itself too, and ``alias`` last)."""
    for i, row in enumerate(data[obj]):
        if keep:
            row[alias] = row[column]
        else:
            data[obj][i] = {(alias if k == column else k): v for k, v in row.items()}
    return data


def _headers(data) -> dict[str, list[str]]:
    """Each object's columns exactly as its rows name them, in their order."""
    return {obj: list(rows[0]) for obj, rows in data.items()}


def _load_csv(tmp_path, data):
    write_snapshot(tmp_path / "exports", DAY, data, columns=_headers(data))
    settings = settings_for(tmp_path, quarantine_threshold=1.0)
    (outcome,) = load(settings).outcomes
    return settings, outcome


def _load_db(tmp_path, monkeypatch, data):
    monkeypatch.setenv(SNAPSHOT_DATE_ENV, DAY)
    url = write_sqlite(tmp_path / "ssd.sqlite", data, columns=_headers(data))
    settings = settings_for(tmp_path, exports=url, quarantine_threshold=1.0)
    (outcome,) = load_new_snapshots(settings).outcomes
    return settings, outcome


@pytest.fixture
def aliases_csv(tmp_path, monkeypatch):
    """A copy of ``seeds/`` in use for this test only; yields its alias list to append to."""
    seeds = tmp_path / "seeds"
    shutil.copytree(contract.SEEDS_DIR, seeds)
    monkeypatch.setattr(contract, "SEEDS_DIR", seeds)
    column_aliases.cache_clear()
    yield seeds / "ssd_column_aliases.csv"
    column_aliases.cache_clear()  # before monkeypatch restores SEEDS_DIR: the next call rereads


def _append(path, row: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(row + "\n")


def test_the_renamed_columns_of_exports_md_are_in_the_seed():
    aliases = column_aliases()
    assert aliases["ssd_person"]["pers_single_unique_id"] == "pers_common_child_id"
    assert aliases["ssd_cla_episodes"]["clae_cla_episode_ceased"] == (
        "clae_cla_episode_ceased_date"
    )


@pytest.mark.parametrize("alias", ["pers_single_unique_id", "Pers_Single_Unique_ID"])
def test_alias_loads_as_the_contract_column(tmp_path, alias):
    data = _renamed(minimal_snapshot(), "ssd_person", "pers_common_child_id", alias)
    settings, outcome = _load_csv(tmp_path, data)
    assert outcome.status == LOADED and outcome.rows_quarantined == 0, outcome.reason
    assert query(
        settings,
        "select pers_person_id, pers_common_child_id, _extra from raw.ssd_person "
        "order by pers_person_id",
    ) == [("P1", "9990000001", None), ("P2", "9990000002", None)]


def test_an_aliased_column_keeps_its_rules(tmp_path):
    data = _renamed(
        minimal_snapshot(),
        "ssd_cla_episodes",
        "clae_cla_episode_ceased_date",
        "clae_cla_episode_ceased",
    )
    row = data["ssd_cla_episodes"][0]
    row["clae_cla_episode_ceased"] = "2000-01-01 00:00:00.000"  # before its start
    settings, outcome = _load_csv(tmp_path, data)
    assert outcome.status == LOADED
    (entry,) = quarantine(settings, "ssd_cla_episodes")
    assert entry[0:2] == ("ssd_cla_episodes.csv", 2)
    assert entry[3].startswith(
        "clae_cla_episode_ceased_date '2000-01-01 00:00:00.000' is before clae_cla_episode_start"
    )


def test_contract_name_and_alias_in_one_file_rejects_naming_both(tmp_path):
    data = _renamed(
        minimal_snapshot(), "ssd_person", "pers_common_child_id", "PERS_SINGLE_UNIQUE_ID", keep=True
    )
    settings, outcome = _load_csv(tmp_path, data)
    assert outcome.status == REJECTED
    assert outcome.reason == (
        "rejected whole, nothing loaded: ssd_person.csv: line 1 (header): columns "
        "pers_common_child_id (column 7) and pers_single_unique_id (column 9) are both "
        "pers_common_child_id (under its names in different SSD versions): ambiguous, keep one "
        "of them"
    )
    assert query(settings, "select count(*) from raw.ssd_person") == [(0,)]


def test_two_aliases_of_one_column_reject(tmp_path, aliases_csv):
    _append(aliases_csv, "ssd_person,pers_common_child_id,pers_nhs_number,a second other name")
    data = _renamed(minimal_snapshot(), "ssd_person", "pers_common_child_id", "pers_nhs_number")
    data = _renamed(data, "ssd_person", "pers_nhs_number", "pers_single_unique_id", keep=True)
    _, outcome = _load_csv(tmp_path, data)
    assert outcome.status == REJECTED
    assert (
        "ssd_person.csv: line 1 (header): columns pers_nhs_number (column 7) and "
        "pers_single_unique_id (column 9) are both pers_common_child_id"
    ) in outcome.reason


def test_missing_column_under_every_name_is_still_missing(tmp_path):
    data = minimal_snapshot()
    for row in data["ssd_person"]:
        del row["pers_common_child_id"]
    _, outcome = _load_csv(tmp_path, data)
    assert outcome.status == REJECTED
    assert "ssd_person.csv: required column pers_common_child_id missing" in outcome.reason


def test_database_table_honours_aliases(tmp_path, monkeypatch):
    data = _renamed(
        minimal_snapshot(), "ssd_person", "pers_common_child_id", "PERS_SINGLE_UNIQUE_ID"
    )
    data = _renamed(
        data, "ssd_cla_episodes", "clae_cla_episode_ceased_date", "clae_cla_episode_ceased"
    )
    settings, outcome = _load_db(tmp_path, monkeypatch, data)
    assert outcome.status == LOADED and outcome.rows_quarantined == 0, outcome.reason
    assert query(
        settings, "select pers_common_child_id, _extra from raw.ssd_person order by 1"
    ) == [("9990000001", None), ("9990000002", None)]
    ceased = query(settings, "select count(clae_cla_episode_ceased_date) from raw.ssd_cla_episodes")
    assert ceased == [
        (sum(r["clae_cla_episode_ceased"] is not None for r in data["ssd_cla_episodes"]),)
    ]


def test_database_table_with_both_names_is_rejected(tmp_path, monkeypatch):
    data = _renamed(
        minimal_snapshot(), "ssd_person", "pers_common_child_id", "pers_single_unique_id", keep=True
    )
    settings, outcome = _load_db(tmp_path, monkeypatch, data)
    assert outcome.status == REJECTED
    assert (
        "table:ssd_person: columns pers_common_child_id (column 7) and pers_single_unique_id "
        "(column 9) are both pers_common_child_id"
    ) in outcome.reason
    assert query(settings, "select count(*) from raw.ssd_person") == [(0,)]


def test_the_list_is_data_a_new_row_is_honoured(tmp_path, aliases_csv):
    _append(aliases_csv, "ssd_department,dept_team_name,DEPT_NAME,a name a local script uses")
    data = _renamed(minimal_snapshot(), "ssd_department", "dept_team_name", "dept_name")
    settings, outcome = _load_csv(tmp_path, data)
    assert outcome.status == LOADED, outcome.reason
    assert query(settings, "select dept_team_name from raw.ssd_department order by 1") == [
        ("Unit 1",),
        ("Unit 2",),
    ]


@pytest.mark.parametrize(
    ("row", "error"),
    [
        ("ssd_nothing,x,y,", "'ssd_nothing' is not a contract object"),
        ("ssd_person,pers_nothing,y,", "'pers_nothing' is not a column of ssd_person"),
        ("ssd_person,pers_dob,pers_surname,", "alias 'pers_surname' is itself a column"),
        (
            "ssd_person,pers_dob,pers_single_unique_id,",
            "given for pers_common_child_id and pers_dob",
        ),
    ],
)
def test_a_wrong_alias_list_is_refused(aliases_csv, row, error):
    _append(aliases_csv, row)
    with pytest.raises(ValueError, match=error):
        column_aliases()
