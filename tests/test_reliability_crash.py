"""Crash safety: SIGKILL ``fiw run`` during load, dbt, validation and publication, then run again.

Two copies of a home that has published DAY1 receive DAY2; in each, a chain of runs is killed one
stage further each time (load, dbt twice; validation, publication), and a last run recovers. After
every kill the publication must be the old file byte for byte; after the recovery it must be a
whole DuckDB holding DAY2 with the same data a clean run publishes, and nothing may be loaded,
recorded or published twice.

The kills hit deterministic points: ``FIW_TEST_PAUSE_AT`` (``fiw.faults``) for load, validation
and publication; for dbt, the moment the ``dbt build`` child exists and has replaced a table.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from tests.fixtures import pipeline as p

pytestmark = pytest.mark.slow


def _dbt_build(bg: p.Background) -> list[int]:
    return [pid for pid, cmd in bg.children() if "dbt" in cmd and " build " in f"{cmd} "]


def _dbt_has_replaced_a_table(home: Path, logs_before: set[Path]):
    def check(bg: p.Background) -> bool:
        logs = set((home / "logs").glob("*.log")) - logs_before
        return bool(_dbt_build(bg)) and any("OK created" in f.read_text() for f in logs)

    return check


def _observe(home: p.Home) -> dict:
    return {
        "published_sha": p.sha256(home.published),
        "statuses": p.statuses(home.home),
        "raw": p.raw_counts(home.home),
        "publications": p.audit_rows(home.home, "publications", "snapshot_date"),
        # Great Expectations results per run (dbt test results are recorded by each dbt build).
        "gx_rows": p.query(
            home.warehouse,
            "select run_id, count(*) from audit.dq_results where suite <> 'dbt_tests'"
            " group by run_id order by run_id",
        ),
        "quarantine": len(p.audit_rows(home.home, "quarantine")),
        "tmp_files": sorted(f.name for f in home.home.glob("published.duckdb.tmp-*")),
    }


def _early_chain(home: p.Home, logs: Path, seen: dict) -> None:
    """Kills at load, during dbt (whole group), during dbt (fiw alone), then a recovery run."""
    # load: inside the snapshot transaction, raw and audit rows written, not committed.
    bg = p.start_paused(home.exports, home.home, logs, "load")
    bg.kill()
    seen["load"] = _observe(home) | {"returncode": bg.proc.returncode}

    # dbt, whole process group: dbt has replaced at least one table when both die.
    before = set((home.home / "logs").glob("*.log"))
    bg = p.start(home.exports, home.home, logs)
    bg.wait_for(_dbt_has_replaced_a_table(home.home, before), "dbt replacing tables")
    bg.kill()
    seen["dbt"] = _observe(home) | {"returncode": bg.proc.returncode}

    # dbt, the fiw process alone (as the OOM killer would): dbt lives on as an orphan holding
    # warehouse.duckdb; the next run must wait for it, not fail or corrupt anything.
    before = set((home.home / "logs").glob("*.log"))
    bg = p.start(home.exports, home.home, logs)
    bg.wait_for(_dbt_has_replaced_a_table(home.home, before), "dbt replacing tables")
    orphans = _dbt_build(bg)
    os.kill(bg.proc.pid, signal.SIGKILL)
    bg.proc.wait(timeout=30)
    time.sleep(0.5)
    seen["orphan"] = {
        "orphans": orphans,
        "alive_after_parent_died": [pid for pid in orphans if Path(f"/proc/{pid}").exists()],
    }
    result = p.run(home.exports, home.home)
    seen["orphan"]["still_alive_after_next_run"] = [
        pid for pid in orphans if Path(f"/proc/{pid}").exists()
    ]
    seen["recovered"] = _observe(home) | {"result": result}


def _late_chain(home: p.Home, logs: Path, seen: dict) -> None:
    """Kills during validation and during publication, then a recovery run."""
    # validation, between two suites.
    bg = p.start_paused(home.exports, home.home, logs, "validation")
    bg.kill()
    seen["validation"] = _observe(home) | {"returncode": bg.proc.returncode}

    # publication: the new file is written beside the old one, not yet renamed into place.
    bg = p.start_paused(home.exports, home.home, logs, "publish")
    seen["publish_tmp_valid"] = [
        p.query(f, "select distinct as_of_date from outcome_metrics")
        for f in home.home.glob("published.duckdb.tmp-*")
        if not f.name.endswith(".wal")
    ]
    bg.kill()
    seen["publish"] = _observe(home) | {"returncode": bg.proc.returncode}

    result = p.run(home.exports, home.home)
    seen["recovered"] = _observe(home) | {"result": result}


@pytest.fixture(scope="module")
def chains(tmp_path_factory) -> dict[str, tuple[p.Home, dict]]:
    """Two homes, each a copy of the shared DAY1 publication that has received DAY2; the two
    chains of kills run side by side (each run mostly waits, and the suite must stay short)."""
    base = p.baseline(tmp_path_factory)
    out = {}
    threads = []
    errors: list[BaseException] = []
    for name, chain in (("early", _early_chain), ("late", _late_chain)):
        root = tmp_path_factory.mktemp(f"crash_{name}")
        home = base.copy(root)
        p.add_snapshot(p.source(tmp_path_factory), home.exports, p.DAY2)
        seen = {"before": _observe(home)}
        out[name] = (home, seen)

        def target(chain=chain, home=home, root=root, seen=seen):
            try:
                chain(home, root / "out", seen)
            except BaseException as exc:  # re-raised below, in the test's thread
                errors.append(exc)

        threads.append(threading.Thread(target=target))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=2 * p.RUN_TIMEOUT)
    if errors:
        raise errors[0]
    return out


def _stage(chains, stage: str) -> tuple[p.Home, dict]:
    return chains["early" if stage in ("load", "dbt", "orphan") else "late"]


@pytest.mark.parametrize("stage", ["load", "dbt", "validation", "publish"])
def test_a_killed_run_leaves_the_old_publication_byte_for_byte(chains, stage):
    home, seen = _stage(chains, stage)
    assert seen[stage]["returncode"] == -signal.SIGKILL
    assert seen[stage]["published_sha"] == seen["before"]["published_sha"]
    assert seen[stage]["publications"] == [(p.DAY1,)]
    p.assert_valid_publication(home.published, p.DAY2)  # (after recovery: the new one, whole)


def test_kill_during_load_leaves_nothing_of_the_snapshot(chains):
    _, seen = _stage(chains, "load")
    assert p.DAY2 not in seen["load"]["statuses"]
    assert seen["load"]["raw"] == seen["before"]["raw"]
    assert seen["load"]["quarantine"] == seen["before"]["quarantine"]


def test_kill_during_dbt_keeps_the_loaded_snapshot_once(chains):
    _, seen = _stage(chains, "dbt")
    assert seen["dbt"]["statuses"] == {p.DAY1: "published", p.DAY2: "loaded"}
    day2 = {k: n for k, n in seen["dbt"]["raw"].items() if k[1] == p.DAY2}
    assert day2 and all(n > 0 for n in day2.values())
    assert {k: n for k, n in seen["dbt"]["raw"].items() if k[1] == p.DAY1} == seen["before"]["raw"]


def test_an_orphaned_dbt_is_waited_for_by_the_next_run(chains):
    _, seen = _stage(chains, "orphan")
    orphan = seen["orphan"]
    assert orphan["orphans"], "the dbt child was not seen"
    # Killing fiw alone does not kill its dbt: that is the situation being tested.
    assert orphan["alive_after_parent_died"] == orphan["orphans"]
    result = seen["recovered"]["result"]
    assert result.returncode == 0, result.stdout + result.stderr
    text = p.plain(result.stdout)
    assert f"is held by another process (PID {orphan['orphans'][0]}: " in text
    assert "Waiting: " in text  # shown at once, before the run loads anything
    assert "e.g. a dbt left running by a killed run: waiting up to 300s for it to end." in text
    assert orphan["still_alive_after_next_run"] == []


def test_kill_during_validation_records_no_partial_results(chains):
    _, seen = _stage(chains, "validation")
    assert seen["validation"]["statuses"] == {p.DAY1: "published", p.DAY2: "loaded"}
    assert seen["validation"]["gx_rows"] == seen["before"]["gx_rows"]
    assert seen["validation"]["raw"] != seen["before"]["raw"]  # DAY2 is in raw, once
    assert seen["validation"]["tmp_files"] == []


def test_kill_during_publication_leaves_old_file_and_an_orphan_temporary(chains):
    _, seen = _stage(chains, "publish")
    # The new file was complete (DAY2) when the rename was cut off.
    assert seen["publish_tmp_valid"] == [[(p.DAY2,)]]
    assert seen["publish"]["tmp_files"], "the killed publication left no temporary file"
    assert seen["publish"]["statuses"] == {p.DAY1: "published", p.DAY2: "validated"}


def test_the_run_after_a_killed_publication_repairs_and_says_so(chains):
    _, seen = chains["late"]
    result = seen["recovered"]["result"]
    assert result.returncode == 0, result.stdout + result.stderr
    out = p.plain(result.stdout)
    assert "Recovered: removed an unfinished publication left by an interrupted run: " in out
    assert (
        "Recovered: snapshot 2017-11-30 was validated but an interrupted run did not publish it:"
        " building, validating and publishing it again"
    ) in out
    assert "Recovered: marked Dagster run " in out
    assert "Recovered: freed the warehouse pool slot held by ended Dagster run " in out


@pytest.mark.parametrize("name", ["early", "late"])
def test_the_next_run_publishes_the_new_snapshot(chains, name):
    home, seen = chains[name]
    result = seen["recovered"]["result"]
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Published: snapshot 2017-11-30" in p.plain(result.stdout)
    after = seen["recovered"]
    assert after["tmp_files"] == []
    assert after["statuses"] == {p.DAY1: "superseded", p.DAY2: "published"}
    assert after["publications"] == [(p.DAY1,), (p.DAY2,)]
    p.assert_valid_publication(home.published, p.DAY2)
    targets = home.home / "dbt_target"
    assert not targets.exists() or [f for f in targets.iterdir() if f.is_dir()] == []


@pytest.mark.parametrize("name", ["early", "late"])
def test_nothing_is_duplicated_after_the_crashes(chains, name, tmp_path_factory):
    home, seen = chains[name]
    clean = p.clean(tmp_path_factory)
    clean_raw = p.raw_counts(clean.home)
    assert seen["recovered"]["raw"] == {k: n for k, n in clean_raw.items() if k[1] != p.OLD}
    old_id = p.query(
        clean.warehouse, "select snapshot_id from audit.snapshots where snapshot_date = ?", [p.OLD]
    )[0][0]
    for table, cols in [
        ("snapshots", "snapshot_id, snapshot_date, checksum, rows_loaded, rows_quarantined"),
        ("snapshot_objects", "*"),
        ("quarantine", "snapshot_id, object, source_file, line_number, record_id, reasons"),
    ]:
        got = p.audit_rows(home.home, table, cols)
        want = [r for r in p.audit_rows(clean.home, table, cols) if r[0] != old_id]
        assert got == want, table
    # Every validation that recorded anything recorded all of it (no half-written suite run).
    full = p.query(
        clean.warehouse,
        "select count(*) from audit.dq_results where suite <> 'dbt_tests' and snapshot_date = ?",
        [p.DAY2],
    )[0][0]
    day2_runs = p.query(
        home.warehouse,
        "select run_id, count(*) from audit.dq_results where suite <> 'dbt_tests'"
        " and snapshot_date = ? group by run_id",
        [p.DAY2],
    )
    assert day2_runs and {n for _, n in day2_runs} == {full}


@pytest.mark.parametrize("name", ["early", "late"])
def test_recovered_publication_holds_what_a_clean_run_publishes(chains, name, tmp_path_factory):
    home, _ = chains[name]
    clean = p.clean(tmp_path_factory)
    assert p.data_tables(home.published) == p.data_tables(clean.published)
    assert p.data_tables_as_stored(home.published) == p.data_tables_as_stored(clean.published)


@pytest.mark.parametrize(("name", "killed"), [("early", 3), ("late", 2)])
def test_dagster_runs_left_started_by_the_kills_are_marked_failed(chains, name, killed):
    home, _ = chains[name]
    instance = DagsterInstance.from_config(str(home.home / "dagster"))
    try:
        started = instance.get_runs(
            RunsFilter(statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING])
        )
        failed = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.FAILURE]))
        held = instance.event_log_storage.get_concurrency_info("warehouse").claimed_slots
    finally:
        instance.dispose()
    assert started == []
    assert len(failed) == killed
    assert held == []
