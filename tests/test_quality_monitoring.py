"""Data-quality monitoring as its users meet it (issue: severity everywhere, pages, alerts).

Two nights on top of a published DAY1, each a real ``fiw run``:
- a team in the referrals that is not in the ``units`` seed: a warning. Published, exit 0, and
  said everywhere: ``fiw run``'s output, ``dq_results`` (warehouse and published) with severity
  and the team id, the Dagster check on ``marts/outcome_metrics`` (WARN, passed=False), the
  data-quality page and ``fiw status``;
- a header-only ``ssd_involvements.csv``: refused (``failed_volume``), exit 2, nothing published.
"""

from __future__ import annotations

import csv
import json
import subprocess

import duckdb
import pytest

from tests.fixtures.pipeline import (
    DAY1,
    DAY2,
    RUN_TIMEOUT,
    add_snapshot,
    baseline,
    fiw,
    plain,
    source,
    start,
)

pytestmark = pytest.mark.slow

NEW_TEAM = "T999"


def _rewrite(path, change) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    rows = change(rows)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return rows


def _new_team(tmp_path_factory):
    """DAY2 with three referrals moved to a team the case system has and the seed does not."""
    home = baseline(tmp_path_factory).copy(tmp_path_factory.mktemp("new_team"))
    folder = add_snapshot(source(tmp_path_factory), home.exports, DAY2)
    _rewrite(
        folder / "ssd_department.csv",
        lambda rows: (
            rows
            + [{"dept_team_id": NEW_TEAM, "dept_team_name": "New team", "dept_team_parent_id": ""}]
        ),
    )
    moved: list[str] = []

    def move(rows):
        for row in rows[:3]:
            row["cine_referral_team"] = NEW_TEAM
            moved.append(row["cine_referral_id"])
        return rows

    episodes = _rewrite(folder / "ssd_cin_episodes.csv", move)
    ids = {r["cine_referral_id"] for r in episodes} | {r["cine_person_id"] for r in episodes}
    ids.discard("")
    return home, moved, ids


def _header_only(tmp_path_factory):
    """DAY2 whose involvements file holds its header and nothing else."""
    home = baseline(tmp_path_factory).copy(tmp_path_factory.mktemp("header_only"))
    folder = add_snapshot(source(tmp_path_factory), home.exports, DAY2)
    _rewrite(folder / "ssd_involvements.csv", lambda rows: [])
    return home


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    """Both nights' ``fiw run`` at once (each is mostly fixed costs and waiting)."""
    team_home, moved, ids = _new_team(tmp_path_factory)
    header_home = _header_only(tmp_path_factory)
    logs = tmp_path_factory.mktemp("logs")
    started = {
        "new_team": (team_home, start(team_home.exports, team_home.home, logs)),
        "header_only": (header_home, start(header_home.exports, header_home.home, logs)),
    }
    results = {}
    for name, (home, bg) in started.items():
        try:
            bg.proc.wait(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            for _, other in started.values():
                other.kill()
            raise AssertionError(f"the {name} run ran over {RUN_TIMEOUT}s") from None
        out, err = bg.stdout.read_text(), bg.stderr.read_text()
        results[name] = (
            home,
            subprocess.CompletedProcess(bg.proc.args, bg.proc.returncode, out, err),
        )
    return results, moved, ids


@pytest.fixture(scope="module")
def new_team(nights):
    results, moved, ids = nights
    home, result = results["new_team"]
    return home, result, moved, ids


@pytest.fixture(scope="module")
def header_only(nights):
    return nights[0]["header_only"]


def _check_records(home, asset: list[str], check: str) -> list:
    """The check's executions, newest first (planned ones included)."""
    from dagster import AssetCheckKey, AssetKey, DagsterInstance

    instance = DagsterInstance.from_config(str(home / "dagster"))
    try:
        key = AssetCheckKey(AssetKey(asset), check)
        return list(instance.event_log_storage.get_asset_check_execution_history(key, limit=5))
    finally:
        instance.dispose()


def _check_evaluation(home, asset: list[str], check: str):
    """The newest evaluation (passed or failed) of the check."""
    from dagster import AssetCheckEvaluation

    for record in _check_records(home, asset, check):
        data = record.event.dagster_event.event_specific_data if record.event else None
        if isinstance(data, AssetCheckEvaluation):
            return data
    raise AssertionError(f"no evaluation of {asset} {check}")


def test_a_warning_is_published_and_printed_with_its_team_and_exit_0(new_team):
    home, result, _, _ = new_team
    out = plain(result.stdout)
    assert result.returncode == 0, out + result.stderr
    assert f"Published: snapshot {DAY2}" in out
    line = next((x for x in out.splitlines() if x.startswith("warning:")), out)
    assert "every_team_is_a_unit (marts) on marts.outcome_metrics failed on 1 row," in line
    assert f"team_id={NEW_TEAM}, records=" in line


def test_dq_results_keep_severity_and_the_team_but_no_case_system_id(new_team):
    home, _, moved, ids = new_team
    for path, schema in ((home.warehouse, "audit"), (home.published, "main")):
        with duckdb.connect(str(path), read_only=True) as con:
            severity, success, n, details = con.execute(
                f"select severity, success, unexpected_count, details from {schema}.dq_results"
                " where expectation = 'every_team_is_a_unit' and snapshot_date = ?",
                [DAY2],
            ).fetchone()
            errors_failed = con.execute(
                f"select count(*) from {schema}.dq_results where snapshot_date = ?"
                " and severity = 'error' and not success",
                [DAY2],
            ).fetchone()[0]
            severities = {
                r[0] for r in con.execute(f"select severity from {schema}.dq_results").fetchall()
            }
        assert (severity, success, n, errors_failed) == ("warning", False, 1, 0), schema
        assert severities == {"error", "warning"}
        values = json.loads(details)["values"]
        assert values == [{"team_id": NEW_TEAM, "records": 3}], schema
    # published: no offending rows, and no case-system id anywhere in the table
    with duckdb.connect(str(home.published), read_only=True) as con:
        text = " ".join(str(r) for r in con.execute("select * from dq_results").fetchall())
    assert "examples" not in text
    assert not [i for i in ids | set(moved) if i in text]


def test_dagster_shows_the_warning_on_the_mart_it_tests(new_team):
    from dagster import AssetCheckSeverity

    home, _, _, _ = new_team
    marts = _check_evaluation(home.home, ["marts", "outcome_metrics"], "marts")
    assert marts.passed is False
    assert marts.severity == AssetCheckSeverity.WARN
    assert NEW_TEAM in marts.metadata["failures"].value
    assert marts.metadata["failed_warnings"].value == 1
    raw = _check_evaluation(home.home, ["raw", "ssd_cin_episodes"], "raw_contract")
    assert raw.passed is True


def test_the_page_and_status_show_the_warning(new_team):
    home, _, moved, _ = new_team
    page = (home.home / "data_docs" / "index.html").read_text()
    assert NEW_TEAM in page and "every_team_is_a_unit" in page
    assert not [i for i in moved if i in page]
    status = fiw("status", "--home", str(home.home))
    text = plain(status.stdout)
    assert status.returncode == 0, text + status.stderr
    row = next(x for x in text.splitlines() if "every_team_is_a_unit" in x)
    assert "warning" in row and f"team_id={NEW_TEAM}" in row


def test_a_header_only_object_is_refused_everywhere(header_only):
    home, result = header_only
    out = plain(result.stdout)
    assert result.returncode == 2, out + result.stderr
    assert f"snapshot {DAY2} failed_volume: ssd_involvements.csv: 0 rows" in out
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        status = dict(con.execute("select snapshot_date, status from audit.snapshots").fetchall())
    with duckdb.connect(str(home.published), read_only=True) as con:
        published = con.execute("select max(as_of_date) from outcome_metrics").fetchone()[0]
    assert status[DAY2] == "failed_volume" and published == DAY1
    page = (home.home / "data_docs" / "index.html").read_text()
    assert "failed_volume" in page and "ssd_involvements" in page
    # refused at load: the DAY2 run planned the checks and never ran them, so none claims that
    # DAY2 passed (the newest evaluation is DAY1's)
    newest = _check_records(home.home, ["marts", "outcome_metrics"], "marts")[0]
    assert newest.status.value not in ("SUCCEEDED", "FAILED")
    marts = _check_evaluation(home.home, ["marts", "outcome_metrics"], "marts")
    assert marts.metadata["snapshot_date"].value == str(DAY1)
