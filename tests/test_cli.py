"""The ``fiw`` command as a person meets it: errors with a cause and what to do (never a
traceback on the screen), the exit codes of docs/interface.md, ``--version`` and ``--help``.

Each case is an expected condition that stops ``fiw`` before it touches anything (so no Dagster
run is needed), except the last, which runs the nightly job on a future-dated folder, a folder
that is not a date and one still being written.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from fiw.contract import REPO_ROOT

from tests.fixtures.extract_helpers import without_file_permission_override
from tests.fixtures.pipeline import DAY1, add_snapshot, env_for, fiw, plain, source


def _settings_in_interface_md() -> list[str]:
    """Every variable of the Settings table of docs/interface.md."""
    text = (REPO_ROOT / "docs" / "interface.md").read_text()
    table = text.split("## Settings", 1)[1].split("##", 1)[0]
    return sorted(set(re.findall(r"`(FIW_[A-Z_]+)`", table)))


def assert_actionable(result: subprocess.CompletedProcess, code: int, *fragments: str) -> None:
    out = plain(result.stdout + result.stderr)
    assert result.returncode == code, out
    assert "Traceback" not in out, out
    for fragment in fragments:
        assert fragment in out, (fragment, out)


def test_version_names_fiw_and_the_stack():
    result = fiw("--version")
    assert result.returncode == 0
    assert re.match(r"fiw \d+\.\d+\.\d+ \(dagster 1\.13\.\d+, dbt-core 1\.11", plain(result.stdout))


def test_run_help_lists_the_exit_codes_and_every_setting():
    result = fiw("run", "--help")
    assert result.returncode == 0
    out = result.stdout
    for code in ("0", "1", "2"):
        assert re.search(rf"^\s+{code}\s+\S", out, re.M), code
    names = _settings_in_interface_md()
    assert len(names) >= 8
    missing = [n for n in names if n not in out]
    assert not missing, missing


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("FIW_QUARANTINE_THRESHOLD", "5%", "a share between 0 and 1"),
        ("FIW_QUARANTINE_THRESHOLD", "1.5", "a share between 0 and 1"),
        ("FIW_VOLUME_DROP", "-0.1", "a share between 0 and 1"),
        ("FIW_RETENTION_DAYS", "-1", "a whole number of at least 1"),
        ("FIW_RETENTION_DAYS", "ten", "a whole number of at least 1"),
        ("FIW_STALE_HOURS", "0", "a number of at least 1"),
        ("FIW_ANALYST_GROUP", "no-such-group-fiw", "an existing operating-system group"),
        ("FIW_ALERT_URLS", "team-inbox", "Apprise's syntax"),
        ("FIW_ALERT_URLS", "json://ok.example,://broken", "Apprise's syntax"),
        ("FIW_WAREHOUSE_WAIT_SECONDS", "-5", "a number of at least 0"),
        ("FIW_PUBLISH_URL", "mysql://fiw:pw@db/fiw", "a SQLAlchemy URL of a PostgreSQL database"),
    ],
)
def test_a_setting_that_makes_no_sense_stops_fiw_before_it_touches_anything(
    tmp_path, name, value, expected
):
    home, exports = tmp_path / "home", tmp_path / "exports"
    exports.mkdir()
    result = fiw("run", "--exports", str(exports), "--home", str(home), **{name: value})
    assert_actionable(result, 1, f"setting {name}=", expected, f"Fix or unset {name}")
    assert not home.exists()
    # the other commands check the settings too
    assert_actionable(fiw("status", "--home", str(home), **{name: value}), 1, name)


def test_a_missing_exports_folder_is_one_message_and_exit_1(tmp_path):
    home = tmp_path / "home"
    result = fiw("run", "--exports", "/no/such/folder", "--home", str(home))
    assert_actionable(
        result, 1, "exports folder /no/such/folder does not exist", "Point --exports or FIW_EXPORTS"
    )
    out = plain(result.stdout)
    assert "Nothing new" not in out and "Data quality:" not in out
    assert len(result.stdout.strip().splitlines()) <= 4
    assert not home.exists()


def test_a_database_url_that_does_not_exist_creates_nothing_and_records_nothing(tmp_path):
    home, db = tmp_path / "home", tmp_path / "ssd.db"
    result = fiw("run", "--exports", f"sqlite:///{db}", "--home", str(home))
    assert_actionable(
        result, 1, f"exports database file {db} does not exist", "no file was created"
    )
    assert not db.exists()
    assert not (home / "warehouse.duckdb").exists()


def test_a_home_this_user_cannot_write_is_one_message_and_exit_1(tmp_path):
    exports, home = tmp_path / "exports", tmp_path / "home"
    exports.mkdir()
    home.mkdir()
    home.chmod(0o555)
    drop = without_file_permission_override()
    result = subprocess.run(
        [*drop, sys.executable, "-m", "fiw.cli", "run", "--exports", str(exports)]
        + ["--home", str(home)],
        capture_output=True,
        text=True,
        env=env_for(),
        timeout=120,
    )
    assert_actionable(result, 1, f"home {home} is not writable by this user", "Run as the service")
    assert list(home.iterdir()) == []


def test_an_unexpected_error_prints_one_line_and_the_log_holding_the_traceback(tmp_path):
    exports, home = tmp_path / "exports", tmp_path / "home"
    exports.mkdir()
    home.mkdir()
    (home / "warehouse.duckdb").write_bytes(b"this is not a DuckDB file" * 100)
    result = fiw("status", "--home", str(home))
    assert_actionable(result, 1, "fiw status failed:", "The traceback is in")
    log = Path(re.search(r"The traceback is in (\S+?)\.?$", result.stdout.strip(), re.M)[1])
    assert "Traceback (most recent call last)" in log.read_text()
    assert log.stat().st_mode & 0o077 == 0  # owner-only: a traceback can hold values


def test_make_dagster_loads_on_a_fresh_clone_without_a_dbt_manifest(tmp_path):
    """The definitions prepare the dbt manifest themselves when it is missing (a fresh clone)."""
    clone = tmp_path / "clone"
    skip = shutil.ignore_patterns("target", "logs", "__pycache__", "*.egg-info", ".user.yml")
    for name in ("orchestration", "dbt_project", "seeds", "expectations", "deploy"):
        shutil.copytree(REPO_ROOT / name, clone / name, ignore=skip)
    shutil.copy2(REPO_ROOT / "workspace.yaml", clone / "workspace.yaml")
    assert not (clone / "dbt_project" / "target" / "manifest.json").exists()
    code = "from fiw.definitions import defs; print(defs.resolve_job_def('nightly').name)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=clone / "orchestration",
        env=env_for(
            PYTHONPATH=str(clone / "orchestration"),
            FIW_HOME=str(tmp_path / "home"),
            FIW_EXPORTS=str(tmp_path / "exports"),
        ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("nightly")
    assert (clone / "dbt_project" / "target" / "manifest.json").exists()


@pytest.mark.slow
def test_future_dated_and_skipped_folders_are_refused_listed_and_the_run_fails_in_dagster(
    tmp_path, tmp_path_factory
):
    src = source(tmp_path_factory)
    exports, home = tmp_path / "exports", tmp_path / "home"
    exports.mkdir()
    add_snapshot(src, exports, DAY1)
    add_snapshot(src, exports, DAY1, as_name="2999-01-01")
    add_snapshot(src, exports, DAY1, as_name="backup-old")
    result = fiw("run", "--exports", str(exports), "--home", str(home))
    out = plain(result.stdout)
    assert_actionable(
        result,
        2,
        "snapshot 2999-01-01 rejected: folder 2999-01-01 is dated after today",
        "future-dated, not loaded",
        "backup-old",  # listed among the skipped folders
        f"Published: snapshot {DAY1}",
    )
    # one plain line per step, and no Dagster noise about checks that were never run
    for step in ("extract:", "dbt:", "validation:", "publish:"):
        assert re.search(rf"^\d\d:\d\d {step}", result.stdout, re.M), step
    assert "Blocking asset check" not in out and "emitted no result" not in out
    assert "Nothing new" not in out

    status = fiw("status", "--home", str(home))
    assert "backup-old" in plain(status.stdout) and "not_a_snapshot" in plain(status.stdout)

    # the Dagster run failed, and says why
    from dagster import DagsterInstance, DagsterRunStatus

    instance = DagsterInstance.from_config(str(home / "dagster"))
    try:
        (record,) = instance.get_run_records()
        run = record.dagster_run
        assert run.status == DagsterRunStatus.FAILURE
        assert "2999-01-01 rejected" in run.tags["fiw/refused"]
        failure = [
            e
            for e in instance.all_logs(run.run_id)
            if e.dagster_event and e.dagster_event.is_run_failure
        ]
        assert "2999-01-01" in str(failure[0].dagster_event.event_specific_data.error)
    finally:
        instance.dispose()

    again = fiw("run", "--exports", str(exports), "--home", str(home))
    assert_actionable(again, 0, "Nothing new")
    rows = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True).execute(
        "select count(*) from audit.snapshots where snapshot_date = date '2999-01-01'"
    )
    assert rows.fetchone()[0] == 1
