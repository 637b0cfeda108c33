"""The ``fiw`` command: generate | run | status | metrics | report (see docs/interface.md)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import traceback
from datetime import date, datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from fiw.errors import EXIT_ERROR, FiwError
from fiw.settings import Settings

# Piped output (cron mail, CI logs) gets room for the metric names instead of rich's 80 columns,
# unless COLUMNS says otherwise.
console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 120)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a share between 0 and 1, not {text}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"a whole number of at least 1, not {text}")
    return value


def _settings(args: argparse.Namespace, exports: bool = False) -> Settings:
    return Settings.resolve(home=args.home, exports=args.exports if exports else None)


def cmd_generate(args: argparse.Namespace) -> int:
    from fiw.synthetic import generate

    if args.format == "returns":
        from fiw.synthetic.returns import generate_returns

        report = generate_returns(
            Path(args.out), children=args.children, seed=args.seed, as_of=args.as_of
        )
        console.print(report.summary())
        return 0
    report = generate(
        Path(args.out),
        children=args.children,
        seed=args.seed,
        as_of=args.as_of,
        snapshots=args.snapshots,
        defects=args.defects,
        progress=sys.stderr.isatty(),
    )
    console.print(report.summary() if hasattr(report, "summary") else report)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings(args, exports=True)
    console.print(
        f"fiw run: exports {escape(settings.safe_exports)}, home {settings.home}", highlight=False
    )
    from fiw.extract import check_source
    from fiw.report import print_run
    from fiw.run.launcher import run_nightly

    settings.check_home_writable()
    check_source(settings)
    outcome = run_nightly(settings, console)
    print_run(console, settings, outcome)
    return outcome.exit_code


def cmd_prepare(args: argparse.Namespace) -> int:
    from fiw.run.launcher import prepare_environment

    settings = _settings(args, exports=True)
    settings.check_home_writable()
    prepare_environment(settings)
    from dagster import DagsterInstance

    from fiw.resources import ensure_dbt_manifest  # importing it prepares the manifest already

    # Create the run, event and schedule storages now, before the daemon and the webserver both
    # start on an empty instance and race to create them.
    DagsterInstance.from_config(str(settings.dagster_home)).dispose()

    console.print(
        f"Prepared {settings.dagster_home / 'dagster.yaml'} (from deploy/dagster.yaml) and the "
        f"dbt manifest {ensure_dbt_manifest()}",
        highlight=False,
    )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from fiw.report import print_status

    return print_status(console, _settings(args))


def cmd_metrics(args: argparse.Namespace) -> int:
    from fiw.report import print_metrics

    return print_metrics(console, _settings(args), args.segment)


def cmd_report(args: argparse.Namespace) -> int:
    from fiw.publish.report import build_report

    settings = _settings(args)
    release = settings.home / "release"
    if not (release / "outcome_metrics.csv").is_file():
        raise FiwError(
            f"nothing is published in {settings.home}: there is no release/outcome_metrics.csv.",
            "Run `fiw run` first; the report is built from the published release.",
        )
    path = build_report(release.resolve())
    console.print(f"Evaluation report: {release / path.name}", highlight=False)
    return 0


def cmd_postgres_roles(args: argparse.Namespace) -> int:
    from fiw.publish import PublishError
    from fiw.publish.postgres import create_roles, roles_sql

    if not args.apply:
        print(";\n".join(roles_sql(args.database)) + ";")
        return 0
    try:
        create_roles(args.apply)
    except PublishError as e:
        raise FiwError(f"{e}.", "Check the administrator's URL given to --apply.") from None
    print("roles fiw_loader, fiw_analyst and fiw_public are ready; give fiw_loader a password")
    return 0


def cmd_build_postgres(args: argparse.Namespace) -> int:
    from fiw.dbt_postgres import build

    settings = _settings(args)
    if not settings.warehouse_path.exists():
        raise FiwError(f"no warehouse at {settings.warehouse_path}.", "Run `fiw run` first.")
    url = args.url or os.environ.get("FIW_DBT_POSTGRES_URL", "")
    if not url:
        raise FiwError(
            "no PostgreSQL database to build on.", "Give --url or $FIW_DBT_POSTGRES_URL."
        )
    done = build(settings.warehouse_path, url, args.snapshot)
    print(f"snapshot {done.snapshot_id[:12]} built on PostgreSQL:")
    for summary in done.summaries:
        print(f"  {summary}")
    print("  " + ", ".join(f"{step} {seconds:.1f} s" for step, seconds in done.seconds.items()))
    return 0


RUN_EPILOG = """\
exit codes:
  0  every snapshot found was loaded and the newest good one is published (or nothing was new)
  1  any other error: a bad setting, no exports, a home it cannot write, another run in progress,
     a failed step (the message names it; the traceback is in the run's log file)
  2  a snapshot was refused (rejected, over the quarantine threshold, or failed validation): it
     is never published; the newest good snapshot stays or becomes the publication

environment:
  FIW_EXPORTS               exports folder or SQLAlchemy URL (default ./exports)
  FIW_HOME                  home folder (default ./warehouse)
  FIW_PSEUDONYMISATION_KEY  the HMAC key (default: a 0600 key file made in the home)
  FIW_QUARANTINE_THRESHOLD  share of an object's rows quarantined above which a snapshot is
                            refused (default 0.05)
  FIW_VOLUME_DROP           share of an object's rows lost since the last accepted snapshot
                            above which it is refused (default 0.5)
  FIW_ANALYST_GROUP         operating-system group that reads the analysts' tier (default unset)
  FIW_STALE_HOURS           hours without a publication before the data is called stale (36)
  FIW_ALERT_URLS            where alerts go, Apprise URLs, comma-separated (default unset)
  FIW_RETENTION_DAYS        days of raw snapshots kept, by extract date (default 400)
  FIW_WAREHOUSE_WAIT_SECONDS  how long to wait for a process holding the warehouse (300)
  FIW_PUBLISH_URL           also publish to this PostgreSQL database, a SQLAlchemy URL such as
                            postgresql+psycopg://fiw_loader@db/fiw (default unset: files only)

The contract: docs/interface.md.
"""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for name in ("fiw", "dagster", "dbt-core", "dbt-duckdb", "great-expectations", "duckdb"):
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name} (not installed)")
    return f"{parts[0]} ({', '.join(parts[1:])})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fiw", description="Family insights warehouse")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write synthetic SSD snapshot folders")
    gen.add_argument("--out", required=True, help="exports folder to write snapshot folders into")
    gen.add_argument("--children", type=_positive, default=12000, help="children ever referred")
    gen.add_argument("--seed", type=int, default=1, help="same seed, same bytes")
    gen.add_argument("--as-of", type=_date, default=date(2017, 11, 30), help="newest extract date")
    gen.add_argument("--snapshots", type=_positive, default=1, help="nightly folders to write")
    gen.add_argument("--defects", type=_share, default=0.0, help="share of rows with errors")
    gen.add_argument(
        "--format",
        choices=("ssd", "returns"),
        default="ssd",
        help="ssd: nightly SSD folders; returns: one folder of statutory returns (SSDA903 and "
        "CIN census, one per collection year up to --as-of; --snapshots and --defects unused)",
    )
    gen.set_defaults(func=cmd_generate)

    home_help = "home folder (default $FIW_HOME, else ./warehouse)"
    run = sub.add_parser(
        "run",
        help="load, build, validate and publish through Dagster",
        description="Load every complete snapshot not loaded yet (oldest first), build the dbt "
        "models, validate, and publish the newest snapshot that passed. Runs the same Dagster job "
        "as the daemon's schedule and sensor, one run at a time.",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--exports", help="exports folder or SQLAlchemy URL ($FIW_EXPORTS)")
    run.add_argument("--home", help=home_help)
    run.set_defaults(func=cmd_run)

    prepare = sub.add_parser(
        "prepare",
        help="write the home's Dagster instance file and the dbt manifest (before dagster dev, "
        "the daemon or the webserver start)",
    )
    prepare.add_argument("--exports", help="exports folder or SQLAlchemy URL ($FIW_EXPORTS)")
    prepare.add_argument("--home", help=home_help)
    prepare.set_defaults(func=cmd_prepare)

    status = sub.add_parser("status", help="snapshots, last publication, data-quality failures")
    status.add_argument("--home", help=home_help)
    status.set_defaults(func=cmd_status)

    metrics = sub.add_parser("metrics", help="print the published outcome metrics")
    metrics.add_argument("--home", help=home_help)
    metrics.add_argument("--segment", default="all", help="a segment, or '*' for every one")
    metrics.set_defaults(func=cmd_metrics)

    report = sub.add_parser(
        "report",
        help="rebuild release/report.html, the evaluation report, from the current release",
        description="Rebuild the evaluation report (release/report.html) from the open-data CSV "
        "files of the current release, as every publication does. It reads nothing else.",
    )
    report.add_argument("--home", help=home_help)
    report.set_defaults(func=cmd_report)

    roles = sub.add_parser(
        "postgres-roles",
        help="the SQL that sets up the PostgreSQL roles of FIW_PUBLISH_URL (for an administrator)",
        description="Print (or, with --apply, run) the idempotent statements that create the "
        "roles fiw_loader, fiw_analyst and fiw_public and lock down the publication database "
        "(README, 'Publishing to PostgreSQL').",
    )
    roles.add_argument("--database", default="fiw", help="the publication database's name")
    roles.add_argument("--apply", metavar="ADMIN_URL", help="run them as this administrator")
    roles.set_defaults(func=cmd_postgres_roles)

    pg_build = sub.add_parser(
        "build-postgres",
        help="build a snapshot with the dbt project on a PostgreSQL database (dbt-postgres)",
        description="Copy one snapshot's dbt sources from the warehouse to a PostgreSQL database "
        "and run the whole dbt build there: every model, test and unit test, disclosure control "
        "included (README, 'Building on PostgreSQL'). The user needs CREATE on the database.",
    )
    pg_build.add_argument("--home", help=home_help)
    pg_build.add_argument(
        "--url", help="SQLAlchemy URL of the build database ($FIW_DBT_POSTGRES_URL)"
    )
    pg_build.add_argument("--snapshot", help="a snapshot id (default: the published one)")
    pg_build.set_defaults(func=cmd_build_postgres)
    return parser


def _log_crash(args: argparse.Namespace) -> Path:
    """Write the traceback of an unexpected error to the home's logs/ (else the temp folder)."""
    text = traceback.format_exc()
    stamp = f"{datetime.now():%Y%m%d-%H%M%S}"
    candidates = []
    with contextlib.suppress(Exception):
        candidates.append(Settings.resolve(home=getattr(args, "home", None)).home / "logs")
    candidates.append(Path(tempfile.gettempdir()))
    for folder in candidates:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"fiw-{args.command}-{stamp}-{os.getpid()}.log"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text)
            return path
        except OSError:
            continue
    return Path("(no writable log folder)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.umask(0o077)  # everything fiw writes is owner-only unless it says otherwise
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except FiwError as exc:
        console.print(f"[red]fiw {args.command}:[/red] {escape(exc.lines()[0])}", highlight=False)
        for line in exc.lines()[1:]:
            console.print(f"  {escape(line)}", highlight=False)
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - a bug or an outage: one line, the details in a log
        log = _log_crash(args)
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        console.print(
            f"[red]fiw {args.command} failed:[/red] {type(exc).__name__}: {escape(first)}",
            highlight=False,
        )
        console.print(f"  The traceback is in {log}.", highlight=False)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
