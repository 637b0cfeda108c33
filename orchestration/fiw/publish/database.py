"""Publish a validated snapshot: build ``published.duckdb`` beside the old one, swap it in.

The new file is written as ``published.duckdb.tmp-<run_id>`` in the home folder (same file system,
so the rename is atomic), holding exactly the tables and columns of interface.md "Published
tables", checked for personal data, checkpointed, closed and fsynced, then ``os.replace``-d onto
``published.duckdb``. A reader that already has the old file open keeps reading the old file (its
inode lives until it closes); a new connection sees the new one; a run that fails at any point
leaves the old file byte for byte and removes its temporary file. Only then are
``audit.snapshots`` (this snapshot ``published``, the previous publication ``superseded``) and
``audit.publications`` updated.

Beside it, in the same step, the release (``release/``: open-data CSV files, ``release.py``, and
the evaluation report built from them, ``report.py``) and
the catalogue (``catalog/``: the dbt docs of the published tables, ``catalog.py``) are written
complete into new folders and swapped in just after the file (``swap.py``); every tier gets its
permissions (``tiers.py``, docs/audiences.md) before anyone can open it.

With ``FIW_PUBLISH_URL`` set, the new file and release are also loaded into PostgreSQL
(``postgres.py``) before anything is swapped, and that transaction commits just before the file
is renamed: a PostgreSQL failure fails the publication with every tier and the audit unchanged.

Disclosure control is not done here: ``outcome_metrics`` is copied from dbt's
``marts.outcome_metrics_suppressed`` (primary and complementary suppression), which the validation
step audits by linear programming before publication; ``matched_outcomes`` and ``matched_balance``
from ``marts.matched_outcomes_suppressed`` and ``marts.matched_balance_suppressed``
(docs/matching.md), which hold no stratum-level figure.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from fiw.faults import pause_point
from fiw.publish import swap, tiers
from fiw.publish.release import write_data_quality, write_release
from fiw.settings import Settings, suppression_threshold

FOLDERS = ("release", "catalog")  # swapped in beside published.duckdb

# interface.md "Published tables": table -> (source, columns). Order is the published order.
PUBLISHED: dict[str, tuple[str, tuple[str, ...]]] = {
    "outcome_metrics": (
        "marts.outcome_metrics_suppressed",
        (
            "window_name", "window_start", "window_end", "segment", "metric", "numerator",
            "denominator", "rate", "suppressed", "as_of_date", "ci_low", "ci_high",
        ),
    ),
    "outcome_years": (
        "marts.outcome_years_suppressed",
        (
            "window_name", "window_start", "window_end", "segment", "metric", "numerator",
            "denominator", "rate", "suppressed", "as_of_date", "ci_low", "ci_high",
        ),
    ),
    "outcome_trends": (
        "marts.outcome_trends_suppressed",
        (
            "window_name", "window_start", "window_end", "segment", "metric", "numerator",
            "denominator", "rate", "suppressed", "as_of_date", "ci_low", "ci_high",
        ),
    ),
    "metric_differences": (
        "marts.metric_differences_suppressed",
        (
            "segment", "metric", "previous_window", "previous_numerator", "previous_denominator",
            "previous_rate", "programme_window", "programme_numerator", "programme_denominator",
            "programme_rate", "difference", "ci_low", "ci_high", "p_value", "verdict",
            "suppressed", "as_of_date",
        ),
    ),
    "plan_episodes": (
        "marts.plan_episodes",
        (
            "plan_episode_id", "child_key", "case_key", "plan_type", "level", "start_date",
            "end_date", "end_reason", "segment",
        ),
    ),
    "plan_transitions": (
        "marts.plan_transitions",
        (
            "from_plan_episode_id", "to_plan_episode_id", "child_key", "from_type", "to_type",
            "direction", "from_end_date", "to_start_date",
        ),
    ),
    "caseload_monthly": (
        "marts.caseload_monthly_suppressed",
        (
            "team_id", "unit_name", "segment", "month_end", "open_children", "workers", "fte",
            "children_per_fte", "suppressed",
        ),
    ),
    "matched_outcomes": (
        "marts.matched_outcomes_suppressed",
        (
            "treated_window", "control_window", "follow_up_months", "outcome", "comparison",
            "treated_cases", "treated_count", "treated_rate", "control_cases", "control_count",
            "control_rate", "difference", "ci_lower", "ci_upper", "treated_matched",
            "treated_dropped", "control_matched", "control_dropped", "suppressed", "as_of_date",
        ),
    ),
    "matched_balance": (
        "marts.matched_balance_suppressed",
        (
            "treated_window", "control_window", "characteristic", "category", "used_in_matching",
            "treated_mean_before", "control_mean_before", "std_diff_before", "treated_mean_after",
            "control_mean_after", "std_diff_after", "suppressed", "as_of_date",
        ),
    ),
    "dq_results": (
        "audit.dq_results",
        (
            "run_id", "checked_at", "snapshot_date", "suite", "table_name", "expectation",
            "column_name", "severity", "success", "unexpected_count", "details",
        ),
    ),
    "snapshots": (
        "audit.snapshots",
        (
            "snapshot_date", "checksum", "status", "reason", "rows_loaded", "rows_quarantined",
            "loaded_at",
        ),
    ),
}  # fmt: skip

# Columns that must hold keyed hashes (lower-case hex HMAC-SHA256), never case-system ids.
HASHED_COLUMNS: dict[str, tuple[str, ...]] = {
    "plan_episodes": ("plan_episode_id", "child_key", "case_key"),
    "plan_transitions": ("from_plan_episode_id", "to_plan_episode_id", "child_key"),
}

# A published column named like personal data fails the publication (interface.md: no name,
# date of birth, NHS number, UPN or postcode reaches published.duckdb).
PERSONAL_COLUMN = re.compile(
    r"(name$|^name|forename|surname|dob|birth|nhs|common_child_id|upn|postcode|address|person_id)",
    re.IGNORECASE,
)
# ...except these, which name units, windows, tables and columns, not people.
NOT_PERSONAL = {"unit_name", "window_name", "table_name", "column_name"}

PUBLISHABLE_STATUSES = ("loaded", "validated", "published")


class PublishError(RuntimeError):
    pass


def _select(table: str, source: str, columns: tuple[str, ...], snapshot_id: str) -> str:
    cols = ", ".join(columns)
    if table == "snapshots":
        # The statuses as they will be once this publication is in place; no source paths.
        exprs = {
            "status": (
                f"case when snapshot_id = '{snapshot_id}' then 'published'"
                " when status = 'published' then 'superseded' else status end as status"
            )
        }
        cols = ", ".join(exprs.get(c, c) for c in columns)
        return f"select {cols} from {source} order by snapshot_date, loaded_at"
    if table == "dq_results":
        # Examples of failing values stay in the warehouse: they can hold case-system ids.
        exprs = {
            "details": (
                "case when json_valid(details) then cast(json_merge_patch(details,"
                " '{\"examples\": null}') as varchar) else details end as details"
            )
        }
        cols = ", ".join(exprs.get(c, c) for c in columns)
        return f"select {cols} from {source} order by checked_at, suite, table_name, expectation"
    # Every column, in order: the same marts give the same rows in the same order, so a re-run
    # publishes the same table bytes (only run ids and timestamps in dq_results/snapshots differ).
    return f"select {cols} from {source} order by {cols}"


def check_no_personal_data(con: duckdb.DuckDBPyConnection, catalog: str) -> None:
    """Raise unless ``catalog`` holds exactly the published tables and columns, none named like
    personal data, and the key columns hold only keyed hashes."""
    got: dict[str, list[str]] = {}
    for table, column in con.execute(
        "select table_name, column_name from duckdb_columns() where database_name = ?"
        " order by table_name, column_index",
        [catalog],
    ).fetchall():
        got.setdefault(table, []).append(column)
    want = {t: list(cols) for t, (_, cols) in PUBLISHED.items()}
    if got != want:
        raise PublishError(f"published tables differ from interface.md: {got} != {want}")
    personal = [
        f"{t}.{c}"
        for t, cols in got.items()
        for c in cols
        if PERSONAL_COLUMN.search(c) and c not in NOT_PERSONAL
    ]
    if personal:
        raise PublishError(f"columns named like personal data: {personal}")
    for table, columns in HASHED_COLUMNS.items():
        for column in columns:
            bad = con.execute(
                f"select {column} from {catalog}.main.{table} where {column} is not null"
                f" and not regexp_full_match({column}, '[0-9a-f]{{64}}') limit 1"
            ).fetchone()
            if bad:
                raise PublishError(f"{table}.{column} holds a value that is not a keyed hash")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    for p in (path, Path(f"{path}.wal")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def remove_stale_temporaries(settings: Settings) -> list[Path]:
    """Remove ``published.duckdb.tmp-*`` files (and their WAL) that a killed run left behind.

    Safe because only one run writes the home folder at a time (``fiw run``'s lock, and the
    ``warehouse`` pool of limit 1 inside the Dagster instance); returns what was removed."""
    removed = sorted(settings.home.glob(f"{settings.published_path.name}.tmp-*"))
    for path in removed:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    for name in FOLDERS:  # folders of an unfinished publication (the live ones are kept)
        removed.extend(swap.remove_stale(settings.home, name))
    return removed


def _check_publishable(con: duckdb.DuckDBPyConnection, snapshot_id: str):
    row = con.execute(
        "select snapshot_date, status from audit.snapshots where snapshot_id = ?", [snapshot_id]
    ).fetchone()
    if row is None:
        raise PublishError(f"snapshot {snapshot_id[:12]} is not in audit.snapshots")
    snapshot_date, status = row
    if status not in PUBLISHABLE_STATUSES:
        raise PublishError(f"snapshot {snapshot_date} has status {status!r}: not publishable")
    newer = con.execute(
        "select snapshot_date from audit.snapshots where status = 'published'"
        " and snapshot_id <> ? and snapshot_date > ?",
        [snapshot_id, snapshot_date],
    ).fetchone()
    if newer:
        raise PublishError(
            f"snapshot {snapshot_date} is older than the publication of {newer[0]}: not published"
        )
    return snapshot_date


def _write_folders(
    settings: Settings,
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    snapshot_id: str,
    snapshot_date,
) -> dict[str, Path]:
    """The new ``release/`` and ``catalog/``, complete and with their tier's permissions, in
    folders of their own beside the live ones (swapped in after ``published.duckdb``).

    The release's evaluation report (``report.html``) is built last, from the release's own CSV
    files only, so that it shows nothing the files do not share."""
    from fiw.publish.catalog import build_catalog
    from fiw.publish.report import build_report

    release = swap.staging_dir(settings.home, "release", run_id)
    write_release(con, release, suppression_threshold())
    write_data_quality(con, release, snapshot_id, snapshot_date)
    build_report(release)
    tiers.share_with_release(release)
    catalog = swap.staging_dir(settings.home, "catalog", run_id)
    build_catalog(catalog)
    tiers.share_with_analysts(settings, catalog)
    return {"release": release, "catalog": catalog}


def publish(
    settings: Settings, con: duckdb.DuckDBPyConnection, snapshot_id: str, run_id: str
) -> Path:
    """Publish ``snapshot_id`` (already validated) from the warehouse open on ``con``; return the
    path of ``published.duckdb``."""
    if not re.fullmatch(r"[0-9A-Za-z_.:-]+", snapshot_id):
        raise ValueError(f"not a snapshot id: {snapshot_id!r}")
    if not re.fullmatch(r"[0-9A-Za-z_.:-]+", run_id):
        raise ValueError(f"run id unusable in a file name: {run_id!r}")
    snapshot_date = _check_publishable(con, snapshot_id)
    target = settings.published_path
    tmp = settings.home / f"{target.name}.tmp-{run_id}"
    remove_stale_temporaries(settings)
    catalog = "fiw_publish_" + re.sub(r"\W", "_", run_id)
    attached = False
    folders: dict[str, Path] = {}
    staged = None  # the PostgreSQL publication (FIW_PUBLISH_URL), loaded but not committed
    try:
        quoted = str(tmp).replace("'", "''")
        con.execute(f"attach '{quoted}' as {catalog}")
        attached = True
        for table, (source, columns) in PUBLISHED.items():
            con.execute(
                f"create table {catalog}.main.{table} as"
                f" {_select(table, source, columns, snapshot_id)}"
            )
        check_no_personal_data(con, catalog)
        from fiw.publish.catalog import describe_tables

        describe_tables(con, catalog)
        con.execute(f"checkpoint {catalog}")
        con.execute(f"detach {catalog}")
        attached = False
        if Path(f"{tmp}.wal").exists():
            raise PublishError(f"{tmp.name}.wal left after checkpoint")
        tiers.share_with_analysts(settings, tmp)  # the analysts' tier: 0640 to their group
        _fsync(tmp)
        folders = _write_folders(settings, con, run_id, snapshot_id, snapshot_date)
        if settings.publish_url:
            from fiw.publish import postgres

            staged = postgres.stage(
                settings.publish_url, tmp, folders["release"], Path(f"{tmp}.pgcopy")
            )
        pause_point("publish")  # test hook (fiw.faults): a kill here must leave the old file
        if staged is not None:  # just before the files: a failure here leaves every tier old
            staged.swap()
        os.replace(tmp, target)
        _fsync(target.parent)  # make the rename itself durable
        for name, folder in folders.items():
            swap.swap_in(settings.home, name, folder)
    except BaseException:
        if staged is not None:
            staged.close()  # rolls back whatever PostgreSQL has not committed
        if attached:
            with contextlib.suppress(duckdb.Error):
                con.execute(f"detach {catalog}")
        _remove(tmp)
        for name in FOLDERS:
            swap.remove_stale(settings.home, name)
        raise
    tiers.apply_permissions(settings)

    published_at = datetime.now(UTC).replace(tzinfo=None)
    con.execute("begin transaction")
    try:
        con.execute(
            "update audit.snapshots set status = 'superseded'"
            " where status = 'published' and snapshot_id <> ?",
            [snapshot_id],
        )
        con.execute(
            "update audit.snapshots set status = 'published', published_at = ?"
            " where snapshot_id = ?",
            [published_at, snapshot_id],
        )
        con.execute(
            "insert into audit.publications (run_id, snapshot_id, snapshot_date, published_at)"
            " values (?, ?, ?, ?)",
            [run_id, snapshot_id, snapshot_date, published_at],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return target


def published_summary(path: Path) -> str:
    """One line per published table with its row count (for logs)."""
    with duckdb.connect(str(path), read_only=True) as c:
        counts = {t: c.execute(f"select count(*) from {t}").fetchone()[0] for t in PUBLISHED}
    return json.dumps(counts)
