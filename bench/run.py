"""The benchmark: fiw against plain DuckDB at three sizes, per stage, medians of repeated runs.

    .venv/bin/python bench/run.py [--sizes 12000,200000,2000000] [--repeats 3 | 3,3,1] [--write]
        [--returns] [--postgres]

``--repeats`` is one count for every size or one per size. For each size it generates the exports
once (timed; exports already in ``bench/out`` are reused and their generation figures read from
``bench/out/gen-<children>.log``, the ``/usr/bin/time -v`` output of the run that wrote them),
then per repeat runs ``fiw run`` from a cold
home folder and the baseline (``baseline.sql``) over the same CSV files, each as a child process
whose peak memory is read from ``wait4``. Per-stage wall times come from the Dagster run's step
statistics, per-stage peak memory from the metadata each step records. The baseline's numerators
and denominators must equal ``marts.outcome_metrics``: a differential test on large data. With
``--write`` the table goes to ``bench/RESULTS.md``.

``--returns`` also writes each size's authority as statutory returns (``fiw generate --format
returns``: every collection year up to the same date) and, per repeat, runs ``fiw run`` on them
from a cold home right after the SSD run: the load step of each (Dagster's ``raw_snapshots``
step) and its whole run are printed side by side with their ratio (issue 12: returns load in at
most twice the SSD snapshot's time).

``--postgres`` also builds each size's last snapshot on a throw-away PostgreSQL server (issue 15:
``fiw build-postgres``, the same dbt project: sources copied, dbt, disclosure control) and
publishes it there as ``FIW_PUBLISH_URL`` would (``fiw.publish.postgres``: the analysts' tier and
the release, roles included), beside DuckDB's dbt and publish steps of the same ``fiw run``; the
metric rows of the two builds are compared.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
AS_OF = date(2017, 11, 30)
# Everything from this line on in RESULTS.md is written by hand and kept by --write.
NOTES_MARKER = "<!-- notes: kept by --write -->"
STAGES = {
    "raw_snapshots": "load",
    "dbt_models": "dbt",
    "quality_checks": "validation",
    "published__database": "publish",
}
FOLDED = {"audit__validated_snapshot": "validation"}  # the gate: part of validation's time


@dataclass
class Measure:
    seconds: float
    peak_mib: float
    extra: dict = field(default_factory=dict)


def run_measured(args: list[str], env: dict | None = None) -> Measure:
    """Run a child process; wall time and its (and its descendants') peak resident memory."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    output = proc.stdout.read().decode() if proc.stdout else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0,):
        raise SystemExit(f"{' '.join(args)} exited {proc.returncode}\n{output[-3000:]}")
    return Measure(seconds, usage.ru_maxrss / 1024)


def _gen_log(children: int, fmt: str) -> str:
    return f"gen-{children}.log" if fmt == "ssd" else f"gen-{fmt}-{children}.log"


def _logged_generation(children: int, fmt: str = "ssd") -> Measure:
    """Wall time and peak memory of an earlier ``fiw generate`` from its ``time -v`` log."""
    log = OUT / _gen_log(children, fmt)
    text = log.read_text() if log.exists() else ""
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", text)
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    if not wall or not peak:
        return Measure(float("nan"), float("nan"))
    seconds = sum(float(p) * 60**i for i, p in enumerate(reversed(wall.group(1).split(":"))))
    return Measure(seconds, int(peak.group(1)) / 1024, {"from_log": True})


def generate(children: int, fmt: str = "ssd") -> tuple[Path, Measure]:
    name = "exports" if fmt == "ssd" else f"exports-{fmt}"
    exports = OUT / f"{name}-{children}"
    if (exports / AS_OF.isoformat() / "_SUCCESS").exists():
        return exports, _logged_generation(children, fmt)
    shutil.rmtree(exports, ignore_errors=True)
    fiw = str(Path(sys.executable).parent / "fiw")
    gen = [fiw, "generate", "--format", fmt, "--out", str(exports), "--children", str(children)]
    measure = run_measured(gen)
    minutes, seconds = divmod(measure.seconds, 60)
    (OUT / _gen_log(children, fmt)).write_text(  # the lines _logged_generation reads
        f'\tCommand being timed: "{" ".join(gen)}"\n'
        f"\tElapsed (wall clock) time (h:mm:ss or m:ss): {int(minutes)}:{seconds:05.2f}\n"
        f"\tMaximum resident set size (kbytes): {int(measure.peak_mib * 1024)}\n"
    )
    return exports, measure


def stage_figures(home: Path) -> dict[str, tuple[float, float]]:
    """Per stage: (seconds, peak MiB of the process and its dbt child so far)."""
    from dagster import DagsterInstance, RunsFilter

    instance = DagsterInstance.from_config(str(home / "dagster"))
    try:
        run = instance.get_run_records(RunsFilter(job_name="nightly"), limit=1)[0].dagster_run
        stats = instance.get_run_step_stats(run.run_id)
        peaks: dict[str, float] = {}
        for record in instance.get_records_for_run(run.run_id).records:
            event = record.event_log_entry.dagster_event
            if event and (event.is_step_materialization or event.is_asset_observation):
                data = event.event_specific_data
                inner = (
                    data.materialization
                    if event.is_step_materialization
                    else data.asset_observation
                )
                meta = inner.metadata
                if "peak_rss_mib" in meta:
                    peak = max(meta["peak_rss_mib"].value, meta["peak_child_rss_mib"].value)
                    peaks[event.step_key] = max(peaks.get(event.step_key, 0.0), peak)
    finally:
        instance.dispose()
    stages: dict[str, tuple[float, float]] = {}
    for s in stats:
        if s.end_time and s.start_time:
            name = STAGES.get(s.step_key) or FOLDED.get(s.step_key) or s.step_key
            seconds, peak = stages.get(name, (0.0, 0.0))
            peak = max(peak, peaks.get(s.step_key, 0.0))
            stages[name] = (seconds + s.end_time - s.start_time, peak)
    return stages


def fiw_run(exports: Path, home: Path) -> Measure:
    shutil.rmtree(home, ignore_errors=True)
    fiw = str(Path(sys.executable).parent / "fiw")
    measure = run_measured([fiw, "run", "--exports", str(exports), "--home", str(home)])
    measure.extra = stage_figures(home)
    return measure


def baseline(exports: Path) -> Measure:
    script = [sys.executable, str(HERE / "baseline.py"), str(exports / AS_OF.isoformat())]
    return run_measured(script)


def compare_with_baseline(exports: Path, home: Path) -> int:
    """Rows whose numerator or denominator differ between the marts and the baseline."""
    sys.path.insert(0, str(HERE.parent))
    from bench.baseline import differences

    return len(differences(exports / AS_OF.isoformat(), home / "warehouse.duckdb"))


def postgres_figures(home: Path) -> dict:
    """Build ``home``'s published snapshot on a fresh PostgreSQL server and publish it there."""
    sys.path.insert(0, str(HERE.parent))
    from fiw.publish.postgres import create_roles, publish_to_postgres

    from tests.fixtures.postgres import start_server, stop_server

    server = start_server()
    try:
        build_db = server.new_database("bench_build")
        fiw = str(Path(sys.executable).parent / "fiw")
        args = [fiw, "build-postgres", "--home", str(home), "--url", server.url(build_db)]
        start = time.perf_counter()
        done = subprocess.run(args, capture_output=True, text=True)
        build_seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"fiw build-postgres exited {done.returncode}\n{done.stdout[-3000:]}")
        steps = dict(
            (m[1], float(m[2])) for m in re.finditer(r"([a-z ]+?) ([0-9.]+) s", done.stdout)
        )
        differing = _compare_metrics(home, server, build_db)
        publish_db = server.new_database("bench_publish")
        create_roles(server.url(publish_db))
        with server.connect(publish_db, autocommit=True) as con:
            con.execute("alter role fiw_loader password 'bench'")
        scratch = home / "bench-pg-scratch.csv"
        start = time.perf_counter()
        publish_to_postgres(
            server.url(publish_db, user="fiw_loader", password="bench"),
            home / "published.duckdb", home / "release", scratch,
        )  # fmt: skip
        publish_seconds = time.perf_counter() - start
    finally:
        stop_server(server)
    return {
        "build_seconds": build_seconds,
        "steps": {k.strip(", "): v for k, v in steps.items()},
        "publish_seconds": publish_seconds,
        "differing": differing,
    }


def _compare_metrics(home: Path, server, database: str) -> int:
    """marts.outcome_metrics rows whose counts differ between DuckDB and PostgreSQL."""
    sql = "select window_name, segment, metric, numerator, denominator from marts.outcome_metrics"
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as d:
        mine = set(d.execute(sql).fetchall())
    with server.connect(database) as con:
        theirs = set(con.execute(sql).fetchall())
    return len(mine ^ theirs) if mine else -1


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def bench_size(
    children: int, repeats: int, with_returns: bool = False, with_postgres: bool = False
) -> dict:
    exports, gen = generate(children)
    if with_returns:
        returns_exports, _ = generate(children, "returns")
    home = OUT / f"home-{children}"
    runs, bases, returns_runs = [], [], []
    for i in range(repeats):  # interleaved, so both see the same machine load
        runs.append(fiw_run(exports, home))
        if with_returns:
            returns_runs.append(fiw_run(returns_exports, OUT / f"home-returns-{children}"))
        bases.append(baseline(exports))
        print(
            f"  repeat {i + 1}: fiw {runs[-1].seconds:.1f} s "
            + " ".join(f"{k} {v[0]:.1f}" for k, v in runs[-1].extra.items())
            + f", baseline {bases[-1].seconds:.1f} s"
            + (
                f", returns: fiw {returns_runs[-1].seconds:.1f} s, load "
                f"{returns_runs[-1].extra['load'][0]:.1f} s"
                if with_returns
                else ""
            ),
            flush=True,
        )
    mismatches = compare_with_baseline(exports, home)
    postgres = postgres_figures(home) if with_postgres else None
    rows = sum(
        duckdb.connect()
        .execute(f"select count(*) from read_csv('{f}', all_varchar=true)")
        .fetchall()[0][0]
        for f in (exports / AS_OF.isoformat()).glob("*.csv")
    )
    stages = {
        name: (
            median([r.extra.get(name, (0.0, 0.0))[0] for r in runs]),
            max(r.extra.get(name, (0.0, 0.0))[1] for r in runs),
        )
        for name in STAGES.values()
    }
    return {
        "children": children,
        "repeats": repeats,
        "rows": rows,
        "generate": gen,
        "fiw_seconds": median([r.seconds for r in runs]),
        "fiw_peak_mib": max(r.peak_mib for r in runs),
        "stages": stages,
        "baseline_seconds": median([b.seconds for b in bases]),
        "baseline_peak_mib": max(b.peak_mib for b in bases),
        "mismatches": mismatches,
        "returns": returns_figures(returns_exports, returns_runs) if with_returns else None,
        "postgres": postgres,
    }


def returns_figures(exports: Path, runs: list[Measure]) -> dict:
    folder = exports / AS_OF.isoformat()
    years = sorted(p.stem for p in folder.glob("cin/*.xml"))
    return {
        "years": f"{years[0]}-{years[-1]} ({len(years)})" if years else "none",
        "fiw_seconds": median([r.seconds for r in runs]),
        "load_seconds": median([r.extra.get("load", (0.0, 0.0))[0] for r in runs]),
        "load_peak_mib": max(r.extra.get("load", (0.0, 0.0))[1] for r in runs),
    }


def render(results: list[dict], command: str) -> str:
    repeats = ", ".join(f"{r['repeats']} at {r['children']:,}" for r in results)
    lines = [
        "# Benchmark results",
        "",
        f"- date: {datetime.now():%Y-%m-%d %H:%M}",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
        f"Python {platform.python_version()}, DuckDB {duckdb.__version__}",
        f"- command: `{command}`",
        f"- figures: medians of the runs ({repeats}; peaks: the largest); `fiw run` from a cold "
        "home; the baseline run after each `fiw run`",
        "- generate: a `*` marks figures read from `bench/out/gen-<children>.log` (exports reused)",
        "",
        "| children | CSV rows | generate s (MiB) | fiw run s | load s | dbt s | validation s "
        "| publish s | fiw peak MiB | baseline s (MiB) | fiw / baseline | validation share "
        "| metric rows differing |",
        "|" + "---|" * 13,
    ]
    for r in results:
        st = r["stages"]
        lines.append(
            f"| {r['children']:,} | {r['rows']:,} | {r['generate'].seconds:.1f} "
            f"({r['generate'].peak_mib:.0f}){'*' if r['generate'].extra else ''} "
            f"| {r['fiw_seconds']:.1f} | {st['load'][0]:.1f} "
            f"| {st['dbt'][0]:.1f} | {st['validation'][0]:.1f} | {st['publish'][0]:.1f} "
            f"| {r['fiw_peak_mib']:.0f} | {r['baseline_seconds']:.1f} "
            f"({r['baseline_peak_mib']:.0f}) | {r['fiw_seconds'] / r['baseline_seconds']:.1f}x "
            f"| {st['validation'][0] / r['fiw_seconds']:.0%} | {r['mismatches']} |"
        )
    lines.append("")
    lines.append("Throughput (CSV rows per second; generation's peak memory is in the table):")
    lines.append("")
    for r in results:
        gen, load = r["generate"].seconds, r["stages"]["load"][0]
        lines.append(
            f"- {r['children']:,} children: generate {r['rows'] / gen:,.0f} rows/s, "
            f"load {r['rows'] / load:,.0f} rows/s, whole run {r['rows'] / r['fiw_seconds']:,.0f}"
            " rows/s"
        )
    if any(r.get("returns") for r in results):
        lines.append("")
        lines.append(
            "Statutory returns (`--returns`: the same authority as SSDA903 and CIN census files, "
            "every collection year to the same date; `fiw run` from a cold home after each SSD "
            "run; load = the `raw_snapshots` step):"
        )
        lines.append("")
        for r in results:
            ret = r.get("returns")
            if ret:
                ssd_load = r["stages"]["load"][0]
                lines.append(
                    f"- {r['children']:,} children, collection years {ret['years']}: load "
                    f"{ret['load_seconds']:.2f} s vs SSD {ssd_load:.2f} s "
                    f"(**{ret['load_seconds'] / ssd_load:.1f}x**, peak {ret['load_peak_mib']:.0f} "
                    f"MiB); whole run {ret['fiw_seconds']:.1f} s vs {r['fiw_seconds']:.1f} s "
                    f"({ret['fiw_seconds'] / r['fiw_seconds']:.1f}x)"
                )
    if any(r.get("postgres") for r in results):
        lines.append("")
        lines.append(
            "PostgreSQL (`--postgres`: the last run's snapshot built by `fiw build-postgres` on a "
            "local throw-away server, then published there as `FIW_PUBLISH_URL` does; DuckDB's "
            "figures are the dbt and publish steps of `fiw run`):"
        )
        lines.append("")
        for r in results:
            pg = r.get("postgres")
            if pg:
                st, steps = r["stages"], pg["steps"]
                lines.append(
                    f"- {r['children']:,} children: build: DuckDB dbt {st['dbt'][0]:.1f} s, "
                    f"PostgreSQL {pg['build_seconds']:.1f} s (sources "
                    f"{steps.get('sources', 0):.1f}, dbt {steps.get('dbt build', 0):.1f}, "
                    f"disclosure control {steps.get('disclosure control', 0):.1f}); publish: "
                    f"DuckDB {st['publish'][0]:.1f} s, PostgreSQL {pg['publish_seconds']:.1f} s; "
                    f"metric rows differing: {pg['differing']}"
                )
    lines.append("")
    lines.append("Per-stage peak memory (MiB, process or its dbt child, whichever is larger):")
    lines.append("")
    for r in results:
        peaks = ", ".join(f"{k} {v[1]:.0f}" for k, v in r["stages"].items())
        lines.append(f"- {r['children']:,} children: {peaks}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="12000,200000,2000000")
    parser.add_argument("--repeats", default="3", help="one count, or one per size: 3,3,1")
    parser.add_argument("--write", action="store_true", help="write bench/RESULTS.md")
    parser.add_argument(
        "--returns",
        action="store_true",
        help="also time loading the same authority's statutory returns (fiw generate --format "
        "returns) beside its SSD snapshot",
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="also build and publish each size's snapshot on a throw-away PostgreSQL server",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    repeats = [int(r) for r in args.repeats.split(",")]
    if len(repeats) == 1:
        repeats *= len(sizes)
    if len(repeats) != len(sizes):
        parser.error("--repeats: one count, or one per size")
    results = []
    for size, n in zip(sizes, repeats, strict=True):
        print(f"benchmarking {size:,} children, {n} runs ...", flush=True)
        results.append(bench_size(size, n, args.returns, args.postgres))
        print(render(results[-1:], ""), flush=True)
    text = render(results, "python bench/run.py " + " ".join(sys.argv[1:]))
    print(text)
    if args.write:
        results_md = HERE / "RESULTS.md"
        old = results_md.read_text() if results_md.exists() else ""
        notes = old[old.index(NOTES_MARKER) :] if NOTES_MARKER in old else ""
        results_md.write_text(text + ("\n" + notes if notes else ""))
    return 1 if any(r["mismatches"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
