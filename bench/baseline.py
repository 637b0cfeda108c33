"""The plain-DuckDB baseline: ``baseline.sql`` over one snapshot folder, in one process.

    python bench/baseline.py <snapshot folder> [--as-of DATE]

prints the metrics; ``compute`` is what the benchmark and the differential test call.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
SEEDS = HERE.parent / "seeds"
COLUMNS = (
    "window_name, window_start, window_end, segment, metric, numerator, denominator, rate, "
    "as_of_date"
)


def compute(snapshot: Path, as_of: str | None = None, transition_days: int = 7) -> list[tuple]:
    """Rows of ``outcome_metrics`` (unsuppressed) computed straight from the CSV files."""
    sql = (HERE / "baseline.sql").read_text()
    for name, value in {
        "{snapshot}": str(snapshot),
        "{seeds}": str(SEEDS),
        "{as_of}": as_of or snapshot.name,
        "{transition_days}": str(transition_days),
    }.items():
        sql = sql.replace(name, value)
    con = duckdb.connect()
    try:
        con.execute(sql)
        return con.execute(
            f"select {COLUMNS} from baseline_outcome_metrics order by all"
        ).fetchall()
    finally:
        con.close()


def differences(snapshot: Path, warehouse: Path) -> dict[tuple, tuple]:
    """(window, segment, metric) -> ((numerator, denominator) in marts.outcome_metrics, in the
    baseline) for every row where they differ, or where one side lacks the row."""
    expected = {(r[0], r[3], r[4]): (r[5], r[6]) for r in compute(snapshot)}
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        actual = {
            (w, s, m): (n, d)
            for w, s, m, n, d in con.execute(
                "select window_name, segment, metric, numerator, denominator "
                "from marts.outcome_metrics"
            ).fetchall()
        }
    finally:
        con.close()
    return {
        key: (actual.get(key), expected.get(key))
        for key in set(actual) | set(expected)
        if actual.get(key) != expected.get(key)
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("snapshot", type=Path)
    parser.add_argument("--as-of")
    args = parser.parse_args()
    for row in compute(args.snapshot, args.as_of):
        if row[3] == "all":
            print(*row[:1], *row[3:8], sep="\t")
    return 0


if __name__ == "__main__":
    sys.exit(main())
