"""The model of a whole release, every file at once (docs/audiences.md, "The intruder"), read
from the disclosure-controlled marts that the release files are written from:

- ``outcome_metrics`` (programme windows) and ``outcome_years`` (financial years, segment all):
  :func:`fiw.disclosure.model.metric_model`, with their windows' dates and the extract date, so
  the relations across overlapping windows and those of some windows only are in;
- ``metric_differences``: no count of its own (a comparison is suppressed whole when either cell
  it compares is; the rest are functions of the two published cells);
- ``caseload_monthly``: a hidden ``open_children`` lies in ``[1, threshold + 1]`` (a team with a
  worker has a child; ``c`` stands for 1 to threshold + 1);
- ``matched_outcomes`` and ``matched_balance``: the sample's four counts; each outcome's cases and
  cases with it, per side and comparison, with the dropped cases (unmatched minus matched); each
  balance category's counts, before matching (the share times the cases) and after (matched
  treated cases), with the relations the ``disclosure`` meta of ``matched_outcomes.yml`` declares
  and the characteristics' categories adding up to the cases.

:func:`audit_release` runs the audit on it; the validation step calls it before anything is
published (:mod:`fiw.quality.execution`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date
from functools import cache

import duckdb
import yaml

from fiw.disclosure.cells import CellKey, PublishedCell
from fiw.disclosure.model import Model, Window, metric_model
from fiw.disclosure.relations import FOLLOW_UP_MONTHS, add_months

METRIC_TABLES = ("marts.outcome_metrics_suppressed", "marts.outcome_years_suppressed")
CASELOAD = "marts.caseload_monthly_suppressed"
MATCHED_OUTCOMES = "marts.matched_outcomes_suppressed"
MATCHED_BALANCE = "marts.matched_balance_suppressed"
SAMPLE = ("treated_matched", "treated_dropped", "control_matched", "control_dropped")


@dataclass(frozen=True)
class RowKey:
    """A row of a released table other than the metrics: the file and what names the row."""

    table: str
    row: str

    def __str__(self) -> str:
        return f"{self.table} {self.row}"


@cache
def matched_meta() -> dict:
    """The ``disclosure`` meta block of ``matched_outcomes.yml``."""
    from fiw.settings import DBT_PROJECT_DIR

    path = DBT_PROJECT_DIR / "models" / "marts" / "matched_outcomes.yml"
    for model in yaml.safe_load(path.read_text())["models"]:
        if model["name"] == "matched_outcomes":
            return model["config"]["meta"]["disclosure"]
    raise ValueError(f"{path} declares no disclosure relations")


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict]:
    result = con.execute(sql)  # on the caller's connection: its transaction sees the marts
    names = [d[0] for d in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def metrics_cells(
    con: duckdb.DuckDBPyConnection,
) -> tuple[list[PublishedCell], dict[str, Window], date | None]:
    cells, windows, as_of = [], {}, None
    for table in METRIC_TABLES:
        for r in _rows(
            con,
            "select window_name, window_start, window_end, segment, metric, numerator,"
            f" denominator, as_of_date from {table}",
        ):
            key = CellKey(r["window_name"], r["segment"], r["metric"])
            cells.append(PublishedCell(key, r["numerator"], r["denominator"]))
            windows[r["window_name"]] = Window(r["window_start"], r["window_end"])
            as_of = r["as_of_date"]
    return cells, windows, as_of


def caseload_model(con: duckdb.DuckDBPyConnection, threshold: int) -> Model:
    model = Model()
    for r in _rows(
        con,
        f"select team_id, month_end, open_children, workers, suppressed from {CASELOAD}"
        " order by team_id, month_end",
    ):
        key = RowKey("caseload_monthly", f"{r['team_id']} {r['month_end']}")
        var = (key, "open_children")
        model.count(var, None if r["suppressed"] else r["open_children"])
        if r["workers"]:
            model.at_most([(-1.0, var)], -1.0, "a team with a worker has a child", key)
        if r["suppressed"]:
            model.at_most([(1.0, var)], threshold + 1.0, f"c stands for 1 to {threshold + 1}", key)
    return model


def matched_model(
    con: duckdb.DuckDBPyConnection, windows: dict[str, Window], as_of: date | None
) -> Model:
    model = Model()
    meta = matched_meta()
    outcomes = _rows(con, f"select * from {MATCHED_OUTCOMES} order by outcome, comparison")
    if not outcomes:
        return model
    sample_key = RowKey("matched_outcomes", "sample")
    first = outcomes[0]
    sample = {c: (sample_key, c) for c in SAMPLE}
    for c in SAMPLE:
        model.count(sample[c], first[c])

    def var(outcome: str, comparison: str, count: str):
        return (RowKey("matched_outcomes", f"{outcome} / {comparison}"), count)

    sides = (("treated", "treated_matched", "treated_dropped"),
             ("control", "control_matched", "control_dropped"))  # fmt: skip
    for r in outcomes:
        key = var(r["outcome"], r["comparison"], "")[0]
        for side, _, _ in sides:
            cases, count = (
                var(r["outcome"], r["comparison"], f"{side}_cases"),
                var(r["outcome"], r["comparison"], f"{side}_count"),
            )
            model.count(cases, r[f"{side}_cases"])
            model.count(count, r[f"{side}_count"])
            model.at_most([(1.0, count), (-1.0, cases)], 0.0, f"{side} count <= cases", key)
            model.complements.append((key, cases, count))
    names = sorted({r["outcome"] for r in outcomes})
    control = windows.get(first["control_window"])
    complete = (
        control is not None
        and as_of is not None
        and add_months(control.end, int(first["follow_up_months"]) + FOLLOW_UP_MONTHS) <= as_of
    )
    for o in names:
        dropped = RowKey("matched_outcomes", f"{o} / dropped")
        for side, matched, lost in sides:
            m_cases, u_cases = (
                var(o, "matched", f"{side}_cases"),
                var(o, "unmatched", f"{side}_cases"),
            )
            m_count, u_count = (
                var(o, "matched", f"{side}_count"),
                var(o, "unmatched", f"{side}_count"),
            )
            if o in meta["every_case"]:
                model.equal(
                    [(1.0, m_cases), (-1.0, sample[matched])],
                    f"{o}: every matched {side} case",
                    m_cases[0],
                )
                model.equal(
                    [(1.0, u_cases), (-1.0, sample[matched]), (-1.0, sample[lost])],
                    f"{o}: every {side} case, matched or dropped",
                    u_cases[0],
                )
            # the dropped cases: unmatched minus matched, with and without the outcome
            model.at_most(
                [(1.0, m_cases), (-1.0, u_cases)],
                0.0,
                f"{o}: matched {side} cases are among all",
                dropped,
            )
            model.at_most(
                [(1.0, m_count), (-1.0, u_count)],
                0.0,
                f"{o}: matched {side} with it are among all",
                dropped,
            )
            model.at_most(
                [(1.0, u_count), (-1.0, m_count), (-1.0, u_cases), (1.0, m_cases)],
                0.0,
                f"{o}: dropped {side} cases with it are among the dropped",
                dropped,
            )
            model.complements.append((dropped, u_cases, m_cases))
            model.complements.append((dropped, u_count, m_count))
            outer = meta["within"].get(o)
            if outer is None:
                continue
            for comparison in ("matched", "unmatched"):
                inner_cases = var(o, comparison, f"{side}_cases")
                outer_count = var(outer, comparison, f"{side}_count")
                label = f"{o}'s {side} cases ({comparison}) are {outer} {side} cases with it"
                if side == "control" and o in meta["equal_on_control_side"] and complete:
                    model.equal([(1.0, inner_cases), (-1.0, outer_count)], label, inner_cases[0])
                else:
                    model.at_most(
                        [(1.0, inner_cases), (-1.0, outer_count)], 0.0, label, inner_cases[0]
                    )
            model.at_most(
                [(1.0, u_cases), (-1.0, m_cases), (-1.0, var(outer, "unmatched", f"{side}_count")),
                 (1.0, var(outer, "matched", f"{side}_count"))],
                0.0,
                f"{o}'s dropped {side} cases are {outer} dropped cases with it",
                dropped,
            )  # fmt: skip
    _balance(model, con, sample, first)
    return model


def _balance(model: Model, con: duckdb.DuckDBPyConnection, sample: dict, first: dict) -> None:
    rows = _rows(
        con,
        "select characteristic, category, treated_mean_before, control_mean_before,"
        f" treated_mean_after, suppressed from {MATCHED_BALANCE} order by characteristic, category",
    )
    sizes = {
        "treated_before": (first["treated_matched"] or 0) + (first["treated_dropped"] or 0),
        "control_before": (first["control_matched"] or 0) + (first["control_dropped"] or 0),
        "treated_after": first["treated_matched"] or 0,
    }
    totals = {
        "treated_before": [sample["treated_matched"], sample["treated_dropped"]],
        "control_before": [sample["control_matched"], sample["control_dropped"]],
        "treated_after": [sample["treated_matched"]],
    }
    means = {"treated_before": "treated_mean_before", "control_before": "control_mean_before",
             "treated_after": "treated_mean_after"}  # fmt: skip
    by_characteristic: dict[str, list[dict]] = {}
    for r in rows:
        by_characteristic.setdefault(r["characteristic"], []).append(r)
    for characteristic, members in by_characteristic.items():
        yes_no = [m["category"] for m in members] == ["true"]
        keys = []
        for r in members:
            key = RowKey("matched_balance", f"{characteristic} = {r['category']}")
            keys.append(key)
            for count, mean in means.items():
                value = None
                if not r["suppressed"] and r[mean] is not None:
                    value = round(float(r[mean]) * sizes[count])  # the share times the cases
                elif not r["suppressed"]:
                    value = 0  # no case on that side
                model.count((key, count), value)
            model.at_most(
                [(1.0, (key, "treated_after")), (-1.0, (key, "treated_before"))],
                0.0,
                "matched treated cases in the category are among its treated cases",
                key,
            )
            model.complements.append((key, (key, "treated_before"), (key, "treated_after")))
        for count in means:
            label = f"{characteristic}: categories add up to the {count.replace('_', ' ')} cases"
            terms = [(1.0, (k, count)) for k in keys] + [(-1.0, t) for t in totals[count]]
            if yes_no:
                model.at_most(terms, 0.0, label.replace("add up to", "are at most"), keys[0])
            else:
                model.equal(terms, label, keys[0])


def release_model(con: duckdb.DuckDBPyConnection, threshold: int) -> Model:
    """Every count of the release the marts on ``con`` would publish, and every relation."""
    cells, windows, as_of = metrics_cells(con)
    model = metric_model(cells, windows=windows, as_of=as_of)
    model.extend(caseload_model(con, threshold))
    model.extend(matched_model(con, windows, as_of))
    return model


def audit_release(con: duckdb.DuckDBPyConnection, threshold: int):
    """The audit's findings on the whole release (:func:`fiw.disclosure.audit.audit_model`)."""
    from fiw.disclosure.audit import Finding, audit_model

    model = release_model(con, threshold)
    findings = audit_model(model, threshold)
    # the release's design: programme windows do not overlap one another (their segment counts
    # would be differenced; the model relates windows in segment all only)
    programme = {w: span for w, span in _windows(con, METRIC_TABLES[0]).items()}
    for a, b in itertools.combinations(sorted(programme), 2):
        if programme[a].start <= programme[b].end and programme[b].start <= programme[a].end:
            findings.insert(
                0,
                Finding.inconsistent(
                    RowKey("programme_windows", f"{a} / {b}"),
                    threshold,
                    f"programme windows {a} and {b} overlap: their segments' counts could be"
                    " subtracted from one another (docs/audiences.md, The release)",
                ),
            )
    return findings, model


def _windows(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, Window]:
    return {
        r["window_name"]: Window(r["window_start"], r["window_end"])
        for r in _rows(con, f"select distinct window_name, window_start, window_end from {table}")
    }


if __name__ == "__main__":
    # python -m fiw.disclosure.release HOME: the audit of the release HOME's warehouse would
    # publish, timed (bench/RESULTS.md quotes it); read-only, so not while a run holds the file.
    import sys
    import time
    from pathlib import Path

    from fiw.settings import suppression_threshold

    warehouse = Path(sys.argv[1]) / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        started = time.perf_counter()
        found, whole = audit_release(connection, suppression_threshold())
        seconds = time.perf_counter() - started
    hidden = sum(v is None for v in whole.values.values())
    print(
        f"{len(whole.values)} counts, {hidden} suppressed, {len(whole.relations)} relations:"
        f" {len(found)} findings in {seconds:.2f} s"
    )
    for finding in found[:20]:
        print(finding.describe())
