"""The ``fiw`` command: generate | run | status | metrics (see shared/spec/interface.md)."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.markup import escape

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


def cmd_generate(args: argparse.Namespace) -> int:
    from fiw.synthetic import generate

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
    from fiw.report import print_run
    from fiw.runner import EXIT_ERROR, RunInProgress, run_lock, run_nightly

    settings = Settings.resolve(home=args.home, exports=args.exports)
    try:
        with run_lock(settings):
            outcome = run_nightly(
                settings, notify=lambda note: console.print(f"[yellow]{note}[/yellow]")
            )
    except RunInProgress as exc:
        console.print(f"[red]fiw run refused:[/red] {escape(str(exc))}")
        return EXIT_ERROR
    print_run(console, settings, outcome)
    return outcome.exit_code


def cmd_status(args: argparse.Namespace) -> int:
    from fiw.report import print_status

    return print_status(console, Settings.resolve(home=args.home))


def cmd_metrics(args: argparse.Namespace) -> int:
    from fiw.report import print_metrics

    return print_metrics(console, Settings.resolve(home=args.home), args.segment)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fiw", description="Family insights warehouse")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write synthetic SSD snapshot folders")
    gen.add_argument("--out", required=True, help="exports folder to write snapshot folders into")
    gen.add_argument("--children", type=_positive, default=12000, help="children ever referred")
    gen.add_argument("--seed", type=int, default=1, help="same seed, same bytes")
    gen.add_argument("--as-of", type=_date, default=date(2017, 11, 30), help="newest extract date")
    gen.add_argument("--snapshots", type=_positive, default=1, help="nightly folders to write")
    gen.add_argument("--defects", type=_share, default=0.0, help="share of rows with errors")
    gen.set_defaults(func=cmd_generate)

    home_help = "home folder (default $FIW_HOME, else ./warehouse)"
    run = sub.add_parser("run", help="load, build, validate and publish through Dagster")
    run.add_argument("--exports", help="exports folder or SQLAlchemy URL ($FIW_EXPORTS)")
    run.add_argument("--home", help=home_help)
    run.set_defaults(func=cmd_run)

    status = sub.add_parser("status", help="snapshots, last publication, data-quality failures")
    status.add_argument("--home", help=home_help)
    status.set_defaults(func=cmd_status)

    metrics = sub.add_parser("metrics", help="print the published outcome metrics")
    metrics.add_argument("--home", help=home_help)
    metrics.add_argument("--segment", default="all", help="a segment, or '*' for every one")
    metrics.set_defaults(func=cmd_metrics)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
