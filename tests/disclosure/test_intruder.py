"""The intruder of tests/disclosure/intruder.py against a release of fiw, checked with the
warehouse's truth.

It needs a fixture `released_home` yielding a home folder that holds `release/` and
`warehouse.duckdb` (the night's unsuppressed marts), with no run in progress.

- test_no_hidden_count_is_narrowed: no hidden count whose true value is not zero is left, by
  everything the release publishes and docs/ says, in an integer range narrower than the
  threshold (high - low < threshold). A count known to be exactly 0 is not a small number.
- test_intruder_ranges_hold_the_truth: the intruder's ranges contain every true value (else one
  of its relations is wrong, or the data breaks one docs/ states: a finding of its own).
- test_intruder_drops_no_relation: no relation of the intruder is contradicted by the release
  (a dropped relation is one docs/ states that the published figures break).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.disclosure import intruder

THRESHOLD = 5  # dbt var suppression_threshold (default)
SHOW = 40
OUTCOME_FILES = {
    "outcome_metrics.csv": "outcome_metrics",
    "outcome_years.csv": "outcome_years",
    "outcome_trends.csv": "outcome_trends",
}


class Truth:
    """True values of the counts the intruder names, from the unsuppressed marts."""

    def __init__(self, warehouse: Path):
        import duckdb

        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            tables = {
                (s, t)
                for s, t in con.sql(
                    "select table_schema, table_name from information_schema.tables"
                ).fetchall()
            }
            # window start, window end, segment, metric -> (numerator, denominator), per file
            self.cells = {}
            for file, table in OUTCOME_FILES.items():
                if ("marts", table) not in tables:
                    continue
                self.cells[file] = {
                    (str(ws), str(we), seg, met): (n, d)
                    for ws, we, seg, met, n, d in con.sql(
                        f"select window_start, window_end, segment, metric, numerator, denominator "
                        f"from marts.{table}"
                    ).fetchall()
                }
            self.caseload = {
                (t, str(me)): oc
                for t, me, oc in con.sql(
                    "select team_id, month_end, open_children from marts.caseload_monthly"
                ).fetchall()
            }
            cols = [c[0] for c in con.sql("describe marts.matched_outcomes").fetchall()]
            self.outcomes = {}
            for r in con.sql("select * from marts.matched_outcomes").fetchall():
                r = dict(zip(cols, r))
                self.outcomes[(r["outcome"], r["comparison"])] = r
            self.cases = None
            if ("intermediate", "int_matching_cases") in tables:
                ccols = [
                    c[0] for c in con.sql("describe intermediate.int_matching_cases").fetchall()
                ]
                self.cases = [
                    dict(zip(ccols, r))
                    for r in con.sql(
                        "select * from intermediate.int_matching_cases where is_followed_up"
                    ).fetchall()
                ]
        finally:
            con.close()

    def value(self, file: str, row: dict, count: str):
        if file in OUTCOME_FILES:
            key = (row["window_start"], row["window_end"], row["segment"], row["metric"])
            n, d = self.cells.get(file, {}).get(key, (None, None))
            if n is None:  # the same window in another file is the same cell
                for cells in self.cells.values():
                    if key in cells:
                        n, d = cells[key]
                        break
            if n is None:
                return None
            return {"numerator": n, "denominator": d, "denominator - numerator": d - n}[count]
        if file == "caseload_monthly.csv":
            return self.caseload.get((row["team_id"], row["month_end"]))
        if file == "matched_outcomes.csv":
            if not self.outcomes:
                return None
            if row.get("row") == "every row":
                r = next(iter(self.outcomes.values()))
                return r[count]
            side = count.split("_")[0]
            cases, cnt = f"{side}_cases", f"{side}_count"

            def get(comp):
                r = self.outcomes[(row["outcome"], comp)]
                return r[cases], r[cnt]

            if row["comparison"].startswith("dropped"):
                (cm, nm), (cu, nu) = get("matched"), get("unmatched")
                c, n = cu - cm, nu - nm
            else:
                c, n = get(row["comparison"])
            return {cases: c, cnt: n, f"{cases} - {cnt}": c - n}[count]
        if file == "matched_balance.csv":
            if self.cases is None:
                return None
            ch, cat = row["characteristic"], row["category"]
            label, part = count.split(": ")
            side, when = label.split(" ")
            group = "treated" if side == "treated" else "control"
            pop = [c for c in self.cases if c["matching_group"] == group]
            if when == "after":
                pop = [c for c in pop if c["is_matched"]]
            elif when == "dropped":
                pop = [c for c in pop if not c["is_matched"]]

            def is_in(c):
                v = c.get(ch)
                if cat == "true":
                    return bool(v)
                return (v if v is not None else "unknown") == cat

            k = sum(1 for c in pop if is_in(c))
            return k if part == "in category" else len(pop) - k
        return None


@pytest.fixture(scope="module")
def intrusion(released_home):
    home = Path(released_home)
    analysis = intruder.analyse(home / "release", threshold=THRESHOLD, detail_budget_s=0)
    truth = Truth(home / "warehouse.duckdb")
    return analysis, truth


def test_no_hidden_count_is_narrowed(intrusion):
    analysis, truth = intrusion
    bad = []
    for leak in analysis.leaks:
        v = truth.value(leak.file, leak.row, leak.count)
        if v != 0:  # unknown truth counts as a leak
            bad.append(f"{leak.label()}  (true value {v})")
    assert not bad, (
        f"{len(bad)} hidden counts narrowed below {THRESHOLD} by the intruder "
        f"(of {len(analysis.targets)} considered):\n"
        + "\n".join(bad[:SHOW])
        + ("\n..." if len(bad) > SHOW else "")
    )


def test_intruder_ranges_hold_the_truth(intrusion):
    analysis, truth = intrusion
    wrong = []
    for t in analysis.targets:
        v = truth.value(t.file, t.row, t.count)
        if v is None:
            continue
        if not (t.low - 1e-6 <= v <= t.high + 1e-6):
            wrong.append(f"{t.file} {t.row} {t.count}: true {v} outside [{t.low}, {t.high}]")
    assert not wrong, "the intruder's model excludes true values:\n" + "\n".join(wrong[:SHOW])


def test_intruder_drops_no_relation(intrusion):
    analysis, _ = intrusion
    assert not analysis.dropped, "relations contradicted by the release:\n" + "\n".join(
        f"{fam}: {why}" for fam, why in analysis.dropped
    )
